"""``smsgate new-plugin``: a new plugin package that installs, serves and keeps the contract.

The slow test is the whole path of a plugin author: generate a plugin outside the repository,
``pip install`` it into this environment, find it through its entry point, serve a nickname
with it end to end (``smsgate serve``, the plugin's own sandbox and a fake CleverTap, each a
process of its own: a send, and the delivery reports back to CleverTap), run the generated
tests (smsgate's contract suite among them), and uninstall it.
"""

from __future__ import annotations

import base64
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import distribution, entry_points
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import CALLBACK_TOKEN, TOKEN, free_port

from smsgate.cli import main
from smsgate.plugins import load_plugins

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "plugins" / "example_provider"
GENERATED_FILES = [
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "smsgate_acme_sms/__init__.py",
    "smsgate_acme_sms/api.py",
    "smsgate_acme_sms/callbacks.py",
    "smsgate_acme_sms/client.py",
    "smsgate_acme_sms/lookup.py",
    "smsgate_acme_sms/options.py",
    "smsgate_acme_sms/payloads.py",
    "smsgate_acme_sms/py.typed",
    "smsgate_acme_sms/sandbox.py",
    "smsgate_acme_sms/signatures.py",
    "tests/cassettes/README.md",
    "tests/test_contract.py",
    "tests/test_end_to_end.py",
]


def generate(folder: Path, name: str = "acme-sms", *more: str) -> Path:
    result = CliRunner().invoke(main, ["new-plugin", name, "--dir", str(folder), *more])
    assert result.exit_code == 0, result.output
    (project,) = folder.iterdir()
    return project


# --- What is written -------------------------------------------------------------------------


def test_new_plugin_writes_a_package_with_its_entry_point_tests_and_cassette_folder(tmp_path):
    project = generate(tmp_path, "acme-sms", "--vendor", "Acme SMS")

    written = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())
    assert written == GENERATED_FILES
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "smsgate-acme-sms"
    assert pyproject["project"]["entry-points"]["smsgate"] == {"acme_sms": "smsgate_acme_sms"}
    assert pyproject["tool"]["setuptools"]["packages"] == ["smsgate_acme_sms"]
    options = (project / "smsgate_acme_sms" / "options.py").read_text()
    assert "class AcmeSmsOptions(BaseModel):" in options
    assert 'base_url: str = "https://api.acme-sms.test"' in options
    assert (
        "class TestAcmeSmsContract(PluginContract):"
        in (project / "tests/test_contract.py").read_text()
    )


def test_the_generated_code_names_nothing_of_the_example_and_passes_ruff(tmp_path):
    project = generate(tmp_path)

    for path in project.rglob("*"):
        if path.is_file() and path.name != "py.typed":
            text = path.read_text()
            for leftover in ("example_provider", "ExampleOptions", "Example SMS", "example-sms"):
                assert leftover not in text, f"{path.name} still says {leftover}"
            if path.suffix == ".py":
                compile(text, str(path), "exec")
    for command in (["check", "--quiet"], ["format", "--check", "--quiet"]):
        lint = subprocess.run(
            [str(BIN / "ruff"), *command, str(project)], capture_output=True, text=True, check=False
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_module_of_the_example_says_what_a_contributor_changes_there():
    for path in sorted(EXAMPLE.glob("*.py")):
        docstring = path.read_text().split('"""')[1]
        assert "What a contributor changes here:" in docstring, path.name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("pingbix", "a plugin named 'pingbix' is already installed"),
        ("example-provider", "a plugin named 'example_provider' is already installed"),
        ("Bad Name", "use 3 to 40 lower-case letters"),
        ("9lives", "use 3 to 40 lower-case letters"),
        ("x", "use 3 to 40 lower-case letters"),
        ("class", "use 3 to 40 lower-case letters"),
    ],
)
def test_a_taken_or_malformed_name_is_refused(tmp_path, name, message):
    result = CliRunner().invoke(main, ["new-plugin", name, "--dir", str(tmp_path)])

    assert result.exit_code == 2
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_folder_in_use_is_left_alone(tmp_path):
    (tmp_path / "smsgate-acme-sms").mkdir()
    (tmp_path / "smsgate-acme-sms" / "notes.txt").write_text("mine")

    result = CliRunner().invoke(main, ["new-plugin", "acme-sms", "--dir", str(tmp_path)])

    assert result.exit_code == 2
    assert "already exists and is not empty" in result.stderr
    assert [p.name for p in (tmp_path / "smsgate-acme-sms").iterdir()] == ["notes.txt"]


# --- The plugin author's whole path ------------------------------------------------------------

# Unique per run, so that two test runs sharing this environment never touch each other's
# install; "z" sorts it after the built-in plugins in listings.
NAME = f"zkit_{uuid.uuid4().hex[:8]}"
DISTRIBUTION = f"smsgate-{NAME.replace('_', '-')}"
NICKNAME = "kit-in"
API_KEY = "sk_test_kitcheck_0123456789"
SECRET = "whsec_" + base64.b64encode(b"kitcheck-signing-key-0123456789").decode()


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def forget_plugin() -> None:
    """Make this process see the environment as it now is on disk."""
    importlib.invalidate_caches()
    for module in [m for m in sys.modules if m.split(".")[0] == f"smsgate_{NAME}"]:
        del sys.modules[module]


@pytest.fixture
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A plugin generated outside the repository and pip-installed here; uninstalled after."""
    project = generate(tmp_path_factory.mktemp("author"), NAME)
    assert not project.resolve().is_relative_to(REPO)
    # No build isolation: nothing is downloaded; this environment's setuptools builds it.
    done = pip("install", "--no-deps", "--no-build-isolation", "--quiet", str(project))
    assert done.returncode == 0, done.stdout + done.stderr
    forget_plugin()
    try:
        yield project
    finally:
        pip("uninstall", "--yes", DISTRIBUTION)
        forget_plugin()


@dataclass
class Process:
    """A command of ours running in the background, with its log."""

    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def start(stack: ExitStack, args: Sequence[str], port: int, ready: str, log: Path) -> Process:
    """Run ``smsgate ARGS`` until the test ends; return once ``ready`` answers."""
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [str(BIN / "smsgate"), *args], stdout=out, stderr=subprocess.STDOUT, env=os.environ
        )
    process = Process(popen, f"http://127.0.0.1:{port}", log)
    stack.callback(process.stop)
    deadline = time.monotonic() + 30
    while True:
        if popen.poll() is not None:
            raise AssertionError(f"smsgate {args[0]} exited:\n{log.read_text()}")
        try:
            if httpx.get(process.url + ready, timeout=1).status_code < 500:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"smsgate {args[0]} did not start:\n{log.read_text()}")
        time.sleep(0.1)


def received(clevertap: Process, count: int) -> list[dict[str, object]]:
    """The records at the fake CleverTap, once ``count`` have arrived."""
    deadline = time.monotonic() + 30
    while True:
        records: list[dict[str, object]] = httpx.get(f"{clevertap.url}/_fake/received").json()[
            "records"
        ]
        if len(records) >= count:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"CleverTap got {len(records)} of {count} records")
        time.sleep(0.1)


def gateway_config(folder: Path, port: int, sandbox: str, clevertap: str) -> Path:
    path = folder / "smsgate.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            [gateway]
            database_url = "sqlite:///{folder / "gateway.db"}"
            public_url = "http://127.0.0.1:{port}"

            [gateway.delivery]
            relay_poll_interval = 0.2

            [providers.{NICKNAME}]
            plugin = "{NAME}"
            token = "{TOKEN}"
            callback_token = "{CALLBACK_TOKEN}"
            clevertap_callback_url = "{clevertap}/sms/generic?account=KIT-CHECK"
            default_country = "IN"

            [providers.{NICKNAME}.options]
            base_url = "{sandbox}"
            api_key = "{API_KEY}"
            webhook_secret = "{SECRET}"
            sender = "ACMEIN"
            """
        )
    )
    return path


@pytest.mark.slow
def test_a_generated_plugin_installs_serves_a_nickname_and_keeps_the_contract(
    installed: Path, tmp_path: Path
) -> None:
    # Found the way smsgate finds every plugin: its entry point.
    found = {e.name: e.value for e in entry_points(group="smsgate")}
    assert found[NAME] == f"smsgate_{NAME}"
    assert distribution(DISTRIBUTION).version == "0.1.0"
    plugins = load_plugins()
    assert plugins.failures == {}
    assert "sandbox_app" in plugins.get(NAME).hooks
    listed = CliRunner().invoke(main, ["plugins"]).stdout.splitlines()
    header = listed.index(f"{NAME} 0.1.0 (smsgate_{NAME})")
    assert listed[header + 3] == "  health: ok"

    # Served end to end: the gateway, the plugin's sandbox and CleverTap, each a process.
    port, sandbox_port, clevertap_port = free_port(), free_port(), free_port()
    with ExitStack() as stack:
        clevertap = start(
            stack,
            ["fake-clevertap", "--port", str(clevertap_port), "--quiet"],
            clevertap_port,
            "/_fake/received",
            tmp_path / "clevertap.log",
        )
        dlr_url = f"http://127.0.0.1:{port}/callbacks/{NICKNAME}/{CALLBACK_TOKEN}"
        sandbox_args = [
            "sandbox", NAME, "--port", str(sandbox_port), "--dlr-url", dlr_url,
            "--outcomes", "delivered=1,expired=1", "--delay", "0.2", "--seed", "5",
            "--option", f"api_key={API_KEY}", "--option", f"webhook_secret={SECRET}",
        ]  # fmt: skip
        sandbox = start(
            stack, sandbox_args, sandbox_port, "/sandbox/requests", tmp_path / "sandbox.log"
        )
        config = gateway_config(tmp_path, port, sandbox.url, clevertap.url)
        gateway = start(
            stack,
            ["serve", "--config", str(config), "--port", str(port)],
            port,
            "/readyz",
            tmp_path / "gateway.log",
        )
        records = [
            {"to": f"98450{n:05d}", "body": f"kit check {n}", "message_id": f"kit.{n}."}
            for n in range(5)
        ]
        answer = httpx.post(
            f"{gateway.url}/clevertap/{NICKNAME}",
            json={"messages": records},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text

        relayed = received(clevertap, len(records))
        sent = httpx.get(f"{sandbox.url}/sandbox/requests").json()["requests"]
        webhooks = httpx.get(f"{sandbox.url}/sandbox/webhooks").json()["webhooks"]

    assert sorted(str(r["meta"]) for r in relayed) == sorted(r["message_id"] for r in records)
    assert {r["event"] for r in relayed} <= {"delivered", "failed"}
    assert all(r["code"] == "916" for r in relayed if r["event"] == "failed")
    assert sum(len(request["messages"]) for request in sent) == len(records)
    assert len(webhooks) == len(records) and all(w["delivered"] for w in webhooks)

    # The generated tests, smsgate's contract suite among them, pass as written.
    done = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider"],
        cwd=installed,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "passed" in summary and "failed" not in summary and "error" not in summary
    camel = "".join(part.capitalize() for part in NAME.split("_"))
    collected = subprocess.run(
        [str(BIN / "pytest"), "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=installed,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert f"tests/test_contract.py::Test{camel}Contract::" in collected.stdout
