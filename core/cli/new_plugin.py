"""``smsgate new-plugin NAME``: write a new vendor plugin package to start from.

The plugin's modules are smsgate's example plugin (``smsgate_example_provider``, the one the
contract suite runs on in smsgate's own CI) under the new names, so a new plugin starts from
code that works; the rest comes from the templates in ``smsgate/cli/templates/plugin``: its
own ``pyproject.toml`` with the entry point, a README, tests that run the contract suite and
an end-to-end test through a gateway, and a cassette folder. Installed with pip, the new
package passes its tests as written.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import string
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from smsgate.hookspecs import PROJECT_NAME

__all__ = ["PluginNames", "new_plugin", "write_plugin"]

USAGE_ERROR = 2
SOURCE_PACKAGE = "smsgate_example_provider"
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,38}[a-z0-9]$")
_TEMPLATE_SUFFIX = ".tmpl"


@dataclass(frozen=True)
class PluginNames:
    """Every spelling of a new plugin's name."""

    #: The entry-point name, used as ``plugin = "..."`` in the configuration.
    plugin: str
    #: The vendor's name as people write it.
    vendor: str

    @classmethod
    def from_name(cls, name: str, vendor: str | None = None) -> PluginNames:
        """Names from the command line's NAME: ``acme-sms`` and ``acme_sms`` are alike."""
        plugin = name.strip().lower().replace("-", "_")
        if not _NAME.match(plugin) or "__" in plugin or keyword.iskeyword(plugin):
            raise click.BadParameter(
                "use 3 to 40 lower-case letters, digits and - or _, starting with a letter "
                "(e.g. acme-sms)",
                param_hint="NAME",
            )
        return cls(plugin, vendor or " ".join(part.capitalize() for part in plugin.split("_")))

    @property
    def module(self) -> str:
        """The import package: ``smsgate_acme_sms``."""
        return f"smsgate_{self.plugin}"

    @property
    def distribution(self) -> str:
        """The name on PyPI: ``smsgate-acme-sms``."""
        return f"smsgate-{self.hyphenated}"

    @property
    def hyphenated(self) -> str:
        """``acme-sms``: for nicknames and host names."""
        return self.plugin.replace("_", "-")

    @property
    def camel(self) -> str:
        """``AcmeSms``: for class names."""
        return "".join(part.capitalize() for part in self.plugin.split("_"))

    def substitutions(self) -> dict[str, str]:
        """What each ``${...}`` of the templates stands for."""
        try:
            smsgate_version = version("smsgate")
        except PackageNotFoundError:
            smsgate_version = "0.1.0"
        return {
            "plugin": self.plugin,
            "module": self.module,
            "distribution": self.distribution,
            "hyphenated": self.hyphenated,
            "camel": self.camel,
            "vendor": self.vendor,
            "options_class": f"{self.camel}Options",
            "env_prefix": self.plugin.upper(),
            "smsgate_version": smsgate_version,
        }

    def rename(self, source: str) -> str:
        """The example plugin's ``source`` text under this plugin's names."""
        renamed = {
            "Example SMS, the plugin to start a new vendor from.": (
                f"{self.vendor}: a vendor plugin for smsgate, made by `smsgate new-plugin`."
            ),
            "smsgate_example_provider": self.module,
            "example_provider": self.plugin,
            "ExampleOptions": f"{self.camel}Options",
            "Example SMS": self.vendor,
            "example-sms": self.hyphenated,
        }
        pattern = re.compile("|".join(re.escape(name) for name in renamed))
        return pattern.sub(lambda match: renamed[match.group(0)], source)


def write_plugin(names: PluginNames, folder: Path) -> list[Path]:
    """Write the plugin package into ``folder`` (which must not exist or be empty).

    :returns: the files written, relative to ``folder``.
    """
    written: list[Path] = []

    def write(relative: Path, text: str) -> None:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(relative)

    source = files(SOURCE_PACKAGE)
    for item in sorted(source.iterdir(), key=lambda entry: entry.name):
        if item.is_file() and (item.name.endswith(".py") or item.name == "py.typed"):
            write(Path(names.module) / item.name, names.rename(item.read_text(encoding="utf-8")))
    values = names.substitutions()
    for relative, template in _templates(files("smsgate.cli") / "templates" / "plugin", Path()):
        text = string.Template(template.read_text(encoding="utf-8")).substitute(values)
        name = relative.name.removesuffix(_TEMPLATE_SUFFIX)
        # A leading dot would hide the template from package data; it is put back here.
        name = f".{name}" if name == "gitignore" else name
        write(relative.with_name(name), text)
    return written


def _templates(folder: Traversable, relative: Path) -> list[tuple[Path, Traversable]]:
    found: list[tuple[Path, Traversable]] = []
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if item.is_dir():
            found.extend(_templates(item, relative / item.name))
        elif item.name.endswith(_TEMPLATE_SUFFIX):
            found.append((relative / item.name, item))
    return found


def _taken(names: PluginNames) -> str | None:
    """Why the names cannot be used here, if they cannot."""
    if names.plugin in {entry.name for entry in entry_points(group=PROJECT_NAME)}:
        return f"a plugin named {names.plugin!r} is already installed (see `smsgate plugins`)"
    if importlib.util.find_spec(names.module) is not None:
        return f"a Python package named {names.module} is already installed"
    return None


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default="the current directory",
    help="Where to create the plugin's folder (smsgate-NAME).",
)
@click.option("--vendor", default=None, help="The vendor's name as people write it.")
def new_plugin(name: str, directory: Path, vendor: str | None) -> None:
    """Write a new vendor plugin package, smsgate-NAME, to start from.

    Its modules are smsgate's example plugin under the new names; it comes with its own
    pyproject.toml (entry point NAME in the smsgate group), tests that run smsgate's
    contract suite, and a cassette folder. It installs with pip and passes its tests as
    written; then make it speak the vendor's API, starting with api.py.
    """
    names = PluginNames.from_name(name, vendor)
    problem = _taken(names)
    if problem:
        click.echo(f"error: {problem}; choose another NAME", err=True)
        raise SystemExit(USAGE_ERROR)
    folder = directory / names.distribution
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        click.echo(f"error: {folder} already exists and is not empty", err=True)
        raise SystemExit(USAGE_ERROR)
    written = write_plugin(names, folder)
    click.echo(
        f"Created {folder}/ ({len(written)} files): plugin {names.plugin!r}, "
        f"package {names.module}, distribution {names.distribution}."
    )
    click.echo("Next:")
    click.echo(f"  pip install -e '{folder}[test]'")
    click.echo(f"  pytest {folder}")
    click.echo(f"  smsgate sandbox {names.plugin}")
    click.echo(f"Then make it speak the vendor's API, starting with {names.module}/api.py.")
