"""The built wheel: our three import packages and nothing else, with data files and entry points."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
TOP_LEVEL = {"smsgate", "smsgate_pingbix", "smsgate_example_provider"}


def _source_packages() -> dict[str, Path]:
    """Every package folder under the mapped folders, by the import name it installs as."""
    found: dict[str, Path] = {}
    for name, folder in SETUPTOOLS["package-dir"].items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(root).parts
            found[".".join((name, *relative))] = init.parent
    return found


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(SETUPTOOLS["packages"])
    found = set(_source_packages())
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "these listed packages have no folder"


def test_only_our_three_top_level_packages_are_mapped():
    assert set(SETUPTOOLS["package-dir"]) == TOP_LEVEL
    assert {name.split(".")[0] for name in SETUPTOOLS["packages"]} == TOP_LEVEL


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built by pip from a copy of the sources (the repository stays untouched)."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("core", "plugins"):
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("smsgate-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_wheel_holds_only_our_three_packages(wheel):
    top = {name.split("/")[0] for name in wheel.namelist()}
    packages = {name for name in top if not name.endswith(".dist-info")}
    assert packages == TOP_LEVEL
    assert "core" not in top and "plugins" not in top


@pytest.mark.slow
def test_wheel_holds_every_module_and_data_file_of_the_sources(wheel):
    names = set(wheel.namelist())
    expected = {
        f"{name}/{path.relative_to(REPO / folder).as_posix()}"
        for name, folder in SETUPTOOLS["package-dir"].items()
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert expected - names == set()
    assert {
        "smsgate/storage/migrations/env.py",
        "smsgate/storage/migrations/script.py.mako",
        "smsgate/py.typed",
        "smsgate_pingbix/py.typed",
        "smsgate_example_provider/py.typed",
    } <= names
    assert any(n.startswith("smsgate/storage/migrations/versions/0001_") for n in names)
    templates = REPO / "core" / "cli" / "templates"
    assert {
        f"smsgate/cli/templates/{path.relative_to(templates).as_posix()}"
        for path in templates.rglob("*.tmpl")
    } <= names


@pytest.mark.slow
def test_wheel_declares_the_console_script_the_plugin_entry_points_and_the_fixtures(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    declared = configparser.ConfigParser()
    declared.optionxform = str  # type: ignore[assignment,method-assign]
    declared.read_string(wheel.read(entry_points).decode())
    assert dict(declared["console_scripts"]) == {"smsgate": "smsgate.cli:main"}
    assert dict(declared["smsgate"]) == {
        "pingbix": "smsgate_pingbix",
        "example_provider": "smsgate_example_provider",
    }
    assert dict(declared["pytest11"]) == {"smsgate": "smsgate.testing.pytest_plugin"}
