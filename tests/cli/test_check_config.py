"""``smsgate check-config``: exit 0 for a working file, 2 for a bad file, 1 for a broken plugin."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CALLBACK_TOKEN, TOKEN

from smsgate.cli import main
from smsgate.config import load_config

PROVIDER = f"""
[providers.pingbix-in]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
default_country = "IN"

[providers.pingbix-in.options]
userid = "acme"
password = "secret-password"
senderid = "ACMEIN"
"""


def write(folder: Path, text: str, name: str = "smsgate.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_good_file_is_summarised_and_exits_0(tmp_path):
    path = write(tmp_path, '[gateway]\ndatabase_url = "sqlite:///gw.db"\n' + PROVIDER)
    result = run("check-config", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert f"database:   sqlite:///{tmp_path / 'gw.db'}" in result.stdout
    assert "provider pingbix-in (plugin pingbix): ok" in result.stdout
    assert f"{path}: ok, 1 provider(s)" in result.stdout


def test_database_password_is_hidden_in_the_summary(tmp_path):
    url = "postgresql+psycopg://gw:Db-Pa55word@db.internal/smsgate"
    result = run(
        "check-config", "--config", str(write(tmp_path, f'[gateway]\ndatabase_url = "{url}"\n'))
    )
    assert result.exit_code == 0, result.output
    assert "postgresql+psycopg://gw:***@db.internal/smsgate" in result.stdout
    assert "Db-Pa55word" not in result.output


def test_file_is_found_through_smsgate_config(tmp_path):
    path = write(tmp_path, PROVIDER, "elsewhere.toml")
    result = run("check-config", env={"SMSGATE_CONFIG": str(path)})
    assert result.exit_code == 0, result.output
    assert f"{path}: ok" in result.stdout


def test_smsgate_toml_in_the_working_directory_is_the_default(tmp_path, monkeypatch):
    write(tmp_path, PROVIDER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMSGATE_CONFIG", raising=False)
    result = run("check-config")
    assert result.exit_code == 0, result.output
    assert "smsgate.toml: ok, 1 provider(s)" in result.stdout


def test_config_option_wins_over_the_environment(tmp_path):
    good = write(tmp_path, PROVIDER, "good.toml")
    result = run("check-config", "--config", str(good), env={"SMSGATE_CONFIG": "/nowhere.toml"})
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[gatway]\n" + PROVIDER, "gatway: unknown key; did you mean 'gateway'?"),
        (
            PROVIDER.replace(f'token = "{TOKEN}"', 'token = { env = "CT_TOKEN_UNSET" }', 1),
            "providers.pingbix-in.token: environment variable CT_TOKEN_UNSET is not set; "
            "export CT_TOKEN_UNSET=...",
        ),
        (
            PROVIDER.replace('"pingbix"', '"pingbox"', 1),
            "providers.pingbix-in.plugin: no plugin named 'pingbox' is installed",
        ),
        (
            PROVIDER + "read_timeout = 0\n",
            "providers.pingbix-in.options.read_timeout: Input should be greater than 0",
        ),
        (
            PROVIDER.replace("pingbix-in", "PingbixIN"),
            "providers.PingbixIN: bad nickname: it must match [a-z0-9][a-z0-9_-]{0,62}",
        ),
        (
            PROVIDER.replace('default_country = "IN"', 'fallback = "gone"'),
            "providers.pingbix-in.fallback: 'gone' is not another configured nickname",
        ),
        ("[gateway\n", "not valid TOML"),
    ],
    ids=[
        "unknown-key",
        "missing-env",
        "unknown-plugin",
        "bad-option",
        "bad-nickname",
        "fallback",
        "invalid-toml",
    ],
)
def test_bad_file_exits_2_naming_the_file_the_key_and_the_fix(tmp_path, text, problem):
    path = write(tmp_path, text)
    result = run("check-config", "--config", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: invalid configuration\n")
    assert f"  - {problem}" in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_exits_2_and_says_where_it_looked(tmp_path):
    result = run("check-config", "--config", str(tmp_path / "absent.toml"))
    assert result.exit_code == 2
    assert f"{tmp_path / 'absent.toml'}: invalid configuration" in result.stderr
    assert "file not found: pass --config PATH, set SMSGATE_CONFIG" in result.stderr


def test_no_secret_value_appears_in_the_output(tmp_path):
    text = PROVIDER.replace(f'token = "{TOKEN}"', 'token = "Shrt-5"', 1).replace(
        'password = "secret-password"', "password = 31415926535"
    )
    result = run("check-config", "--config", str(write(tmp_path, text)))
    assert result.exit_code == 2
    assert "providers.pingbix-in.token" in result.stderr
    assert "providers.pingbix-in.options.password" in result.stderr
    assert "Shrt-5" not in result.output
    assert "31415926535" not in result.output


def test_broken_plugin_is_reported_and_exits_1_while_the_file_is_valid(tmp_path, install_plugin):
    install_plugin("crashing", "raise ImportError('vendor_sdk is not installed')\n")
    second = textwrap.dedent(
        f"""
        [providers.crashing-one]
        plugin = "crashing"
        token = "{TOKEN}"
        callback_token = "{CALLBACK_TOKEN}"
        clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
        """
    )
    path = write(tmp_path, PROVIDER + second)
    result = run("check-config", "--config", str(path))
    assert result.exit_code == 1
    assert "provider pingbix-in (plugin pingbix): ok" in result.stdout
    assert (
        "provider crashing-one (plugin crashing): BROKEN: plugin 'crashing' failed to import: "
        "ImportError: vendor_sdk is not installed"
    ) in result.stdout
    assert f"{path}: 1 provider(s) cannot work" in result.stderr
    assert "Traceback" not in result.output


def test_a_database_password_in_the_query_is_hidden_in_the_summary(tmp_path):
    url = "postgresql+psycopg:///smsgate?host=127.0.0.1&user=gw&password=QPW0rd"
    result = run(
        "check-config", "--config", str(write(tmp_path, f'[gateway]\ndatabase_url = "{url}"\n'))
    )
    assert result.exit_code == 0, result.output
    assert "postgresql+psycopg:///smsgate?host=127.0.0.1&password=***&user=gw" in result.stdout
    assert "QPW0rd" not in result.output


def test_the_example_file_leaves_auto_migrate_to_its_default(plugins):
    # Its comment says so, and the README's promise (PostgreSQL is not migrated by `serve`)
    # holds for whoever copies it and switches to PostgreSQL.
    config = load_config(Path(__file__).parents[2] / "smsgate.example.toml", plugins, {})
    assert config.settings.gateway.auto_migrate is None
