"""The configuration file: where it is found, what it accepts, and how it reports problems."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from conftest import CALLBACK_TOKEN, TOKEN
from pydantic import BaseModel, ConfigDict, field_validator

from smsgate import hookimpl
from smsgate.config import (
    GatewaySettings,
    ProviderSettings,
    find_config_path,
    load_config,
    resolve_database_url,
)
from smsgate.errors import ConfigError
from smsgate.plugins import PluginSet, load_plugins

REPO = Path(__file__).resolve().parent.parent

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


def write(tmp_path: Path, text: str, name: str = "smsgate.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path, plugins: PluginSet, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, plugins, environ or {})
    return str(caught.value)


# --- where the file is found ---------------------------------------------------------------


def test_config_option_wins_over_environment_and_working_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("SMSGATE_CONFIG", str(tmp_path / "from-env.toml"))
    assert find_config_path(tmp_path / "given.toml") == tmp_path / "given.toml"


def test_environment_variable_is_used_without_config_option(monkeypatch, tmp_path):
    monkeypatch.setenv("SMSGATE_CONFIG", str(tmp_path / "from-env.toml"))
    assert find_config_path(None) == tmp_path / "from-env.toml"


def test_smsgate_toml_in_working_directory_is_the_default(monkeypatch):
    monkeypatch.delenv("SMSGATE_CONFIG", raising=False)
    assert find_config_path(None) == Path("smsgate.toml")


# --- a good file ----------------------------------------------------------------------------


def test_valid_file_gives_providers_with_their_plugin_and_options(tmp_path, plugins):
    config = load_config(write(tmp_path, PROVIDER), plugins, {})
    provider = config.providers["pingbix-in"]
    assert provider.broken is None
    assert provider.plugin is not None and provider.plugin.name == "pingbix"
    assert provider.options is not None and provider.options.model_dump()["userid"] == "acme"
    assert provider.settings.default_country == "IN"
    assert config.broken == {}


def test_secret_can_come_from_an_environment_variable(tmp_path, plugins):
    text = PROVIDER.replace(f'token = "{TOKEN}"', 'token = { env = "CT_TOKEN" }', 1)
    text = text.replace('password = "secret-password"', 'password = { env = "PB_PASSWORD" }')
    environ = {"CT_TOKEN": "token-from-environment", "PB_PASSWORD": "pw-from-environment"}
    config = load_config(write(tmp_path, text), plugins, environ)
    provider = config.providers["pingbix-in"]
    assert provider.settings.token.get_secret_value() == "token-from-environment"
    assert provider.options is not None
    assert provider.options.model_dump()["password"].get_secret_value() == "pw-from-environment"


def test_example_config_is_valid_without_any_environment_variable(plugins):
    config = load_config(REPO / "smsgate.example.toml", plugins, {})
    assert list(config.providers) == ["pingbix-demo"]
    provider = config.providers["pingbix-demo"]
    assert provider.broken is None
    assert provider.settings.default_country == "IN"
    assert provider.options is not None
    assert provider.options.model_dump()["base_url"] == "http://127.0.0.1:9090"
    assert config.database_url == f"sqlite:///{REPO / 'smsgate-demo.db'}"


def _keys(model: type[BaseModel]) -> set[str]:
    keys = set(model.model_fields)
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys |= _keys(field.annotation)
    return keys


def test_example_config_shows_every_key(plugins):
    text = (REPO / "smsgate.example.toml").read_text()
    pingbix_options = plugins.get("pingbix").options_model()
    keys = _keys(GatewaySettings) | _keys(ProviderSettings) | _keys(pingbix_options)
    missing = [
        key
        for key in sorted(keys)
        # A key is shown set, commented out, or as a table header.
        if not re.search(rf"^#? ?{key} =|\.{key}\]$", text, re.MULTILINE)
    ]
    assert missing == []


# --- database URLs --------------------------------------------------------------------------


def test_relative_sqlite_path_resolves_against_the_config_folder(tmp_path, plugins, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(folder, '[gateway]\ndatabase_url = "sqlite:///data/gw.db"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(path, plugins, {}).database_url == f"sqlite:///{folder / 'data' / 'gw.db'}"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/smsgate.db", "sqlite://", "sqlite:///:memory:"],
)
def test_absolute_and_memory_sqlite_urls_are_kept(url):
    assert resolve_database_url(url, Path("/somewhere/else")) == url


def test_plain_postgresql_url_is_served_by_psycopg(tmp_path, plugins):
    path = write(tmp_path, '[gateway]\ndatabase_url = "postgresql://gw@db.internal/smsgate"\n')
    config = load_config(path, plugins, {})
    assert config.database_url == "postgresql+psycopg://gw@db.internal/smsgate"


def test_unsupported_database_is_refused_without_echoing_the_url(tmp_path, plugins):
    path = write(tmp_path, '[gateway]\ndatabase_url = "mysql://gw:Db-Pa55word@db/smsgate"\n')
    message = problems_of(path, plugins)
    assert "gateway.database_url: must be sqlite:///path or postgresql+psycopg://" in message
    assert "Db-Pa55word" not in message


def test_a_url_the_parser_cannot_read_is_refused_without_quoting_the_password(tmp_path, plugins):
    # ":" and "@" unencoded in the password: the parser takes "W0rd@db" for the port.
    url = "postgresql://gw:Pa@ss:W0rd@db/smsgate"
    path = write(tmp_path, f'[gateway]\ndatabase_url = "{url}"\n')
    message = problems_of(path, plugins)
    assert "gateway.database_url: is not a database URL" in message
    assert "W0rd" not in message


# --- what a bad file says -------------------------------------------------------------------


def test_missing_file_says_how_to_point_at_one(tmp_path, plugins):
    message = problems_of(tmp_path / "nope.toml", plugins)
    assert str(tmp_path / "nope.toml") in message
    assert "file not found" in message
    assert "--config" in message and "SMSGATE_CONFIG" in message


def test_invalid_toml_names_the_line(tmp_path, plugins):
    path = write(tmp_path, '[gateway]\npublic_url = "https://x\n')
    message = problems_of(path, plugins)
    assert message.startswith(f"{path}: invalid configuration")
    assert "not valid TOML" in message and "line 2" in message


def test_file_that_is_not_utf8_is_refused(tmp_path, plugins):
    path = tmp_path / "smsgate.toml"
    path.write_bytes(b'[gateway]\npublic_url = "https://\xff"\n')
    assert "not UTF-8 text" in problems_of(path, plugins)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 1\n" + PROVIDER, "colour"),
        ("[gateway]\nlisten = 1\n" + PROVIDER, "gateway.listen"),
        (PROVIDER.replace('default_country = "IN"', "retries = 3"), "providers.pingbix-in.retries"),
        (PROVIDER + 'sender = "X"\n', "providers.pingbix-in.options.sender"),
    ],
    ids=["top-level", "gateway", "provider", "plugin-options"],
)
def test_unknown_key_is_named_with_its_full_path(tmp_path, plugins, text, key):
    message = problems_of(write(tmp_path, text), plugins)
    assert f"  - {key}: unknown key" in message


def test_unknown_key_suggests_the_key_it_resembles(tmp_path, plugins):
    text = PROVIDER.replace("clevertap_callback_url", "clevertap_callbak_url")
    message = problems_of(write(tmp_path, text), plugins)
    assert "providers.pingbix-in.clevertap_callbak_url: unknown key; did you mean" in message
    assert "'clevertap_callback_url'" in message


def test_unknown_plugin_option_lists_the_options_the_plugin_takes(tmp_path, plugins):
    message = problems_of(write(tmp_path, PROVIDER + "colour = 1\n"), plugins)
    assert "providers.pingbix-in.options.colour: unknown key; remove it (allowed here:" in message
    assert "senderid" in message


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            '{ env = "CT_TOKEN" }',
            "environment variable CT_TOKEN is not set; export CT_TOKEN=... before starting smsgate",
        ),
        (
            "{ env = 5 }",
            'name the environment variable in double quotes: { env = "SMSGATE_TOKEN" }',
        ),
    ],
    ids=["variable-not-set", "name-not-a-string"],
)
def test_a_secret_from_an_env_table_that_cannot_be_read_names_the_fix(
    tmp_path, plugins, table, problem
):
    text = PROVIDER.replace(f'token = "{TOKEN}"', f"token = {table}", 1)
    message = problems_of(write(tmp_path, text), plugins)
    assert f"providers.pingbix-in.token: {problem}" in message
    # Its own message replaces pydantic's complaint about the missing value.
    assert message.count("providers.pingbix-in.token") == 1


def test_an_empty_environment_variable_is_no_secret(tmp_path, plugins):
    text = PROVIDER.replace('password = "secret-password"', 'password = { env = "PB_PW" }')
    message = problems_of(write(tmp_path, text), plugins, {"PB_PW": ""})
    assert "providers.pingbix-in.options.password: environment variable PB_PW is empty" in message


@pytest.mark.parametrize("table", ['{ evn = "CT_TOKEN" }', '{ env = "CT_TOKEN", value = "x" }'])
def test_a_mistyped_env_table_is_shown_the_env_form_not_told_to_quote_it(tmp_path, plugins, table):
    text = PROVIDER.replace(f'token = "{TOKEN}"', f"token = {table}", 1)
    message = problems_of(write(tmp_path, text), plugins)
    expected = 'expected a string, or a secret from the environment: { env = "VAR" }'
    assert f"providers.pingbix-in.token: {expected}" in message
    assert "double quotes" not in message


def test_missing_environment_variable_in_plugin_options_is_named(tmp_path, plugins):
    text = PROVIDER.replace('password = "secret-password"', 'password = { env = "PB_PW" }')
    message = problems_of(write(tmp_path, text), plugins)
    assert "providers.pingbix-in.options.password: environment variable PB_PW is not set" in message
    assert message.count("options.password") == 1


def test_unknown_plugin_lists_the_installed_ones(tmp_path, plugins):
    message = problems_of(write(tmp_path, PROVIDER.replace('"pingbix"', '"pingbixx"', 1)), plugins)
    assert "providers.pingbix-in.plugin: no plugin named 'pingbixx' is installed" in message
    assert "example_provider, pingbix" in message and "smsgate plugins" in message


def test_bad_option_value_is_named(tmp_path, plugins):
    text = PROVIDER + 'msg_type = "klingon"\nread_timeout = -1\n'
    message = problems_of(write(tmp_path, text), plugins)
    assert "providers.pingbix-in.options.msg_type: Input should be 'auto', 'text' or" in message
    assert "providers.pingbix-in.options.read_timeout: Input should be greater than 0" in message


def test_missing_required_option_says_to_add_it(tmp_path, plugins):
    text = PROVIDER.replace('senderid = "ACMEIN"\n', "")
    message = problems_of(write(tmp_path, text), plugins)
    assert "providers.pingbix-in.options.senderid: required key is missing; add it" in message


def test_value_of_the_wrong_type_says_to_quote_it(tmp_path, plugins):
    text = PROVIDER.replace('userid = "acme"', "userid = 1234")
    message = problems_of(write(tmp_path, text), plugins)
    assert "options.userid: Input should be a valid string; write it in double quotes" in message


@pytest.mark.parametrize(
    ("nickname", "shown_as"),
    [
        ("Pingbix", "providers.Pingbix"),
        ("-leading-dash", "providers.-leading-dash"),
        ("_leading", "providers._leading"),
        ("has space", 'providers."has space"'),
        ("dot.name", 'providers."dot.name"'),
        ("a" * 64, "providers." + "a" * 64),
        ("ümlaut", 'providers."ümlaut"'),
    ],
)
def test_bad_nickname_is_named_with_the_rule(tmp_path, plugins, nickname, shown_as):
    text = PROVIDER.replace("providers.pingbix-in", f"providers.{json.dumps(nickname)}")
    message = problems_of(write(tmp_path, text), plugins)
    assert f"  - {shown_as}: bad nickname: it must match [a-z0-9][a-z0-9_-]{{0,62}}" in message
    assert "[key]" not in message


@pytest.mark.parametrize("nickname", ["a", "0", "pingbix_in-2", "a" * 63])
def test_good_nicknames_are_accepted(tmp_path, plugins, nickname):
    config = load_config(write(tmp_path, PROVIDER.replace("pingbix-in", nickname)), plugins, {})
    assert list(config.providers) == [nickname]


def test_fallback_to_an_unknown_nickname_lists_the_configured_ones(tmp_path, plugins):
    text = PROVIDER.replace('default_country = "IN"', 'fallback = "pingbix-us"')
    message = problems_of(write(tmp_path, text), plugins)
    assert (
        "providers.pingbix-in.fallback: 'pingbix-us' is not another configured nickname"
    ) in message


def test_fallback_to_itself_is_refused(tmp_path, plugins):
    text = PROVIDER.replace('default_country = "IN"', 'fallback = "pingbix-in"')
    message = problems_of(write(tmp_path, text), plugins)
    assert "providers.pingbix-in.fallback: 'pingbix-in' is not another configured" in message


def test_fallback_to_another_nickname_is_accepted(tmp_path, plugins):
    second = PROVIDER.replace("pingbix-in", "pingbix-backup")
    text = PROVIDER.replace('default_country = "IN"', 'fallback = "pingbix-backup"') + second
    config = load_config(write(tmp_path, text), plugins, {})
    assert config.providers["pingbix-in"].settings.fallback == "pingbix-backup"


def test_every_problem_is_listed_at_once(tmp_path, plugins):
    text = (
        '[gateway]\npublic_url = "sms.example.com"\nlisten = 1\n'
        + PROVIDER.replace('token = "', 'token = { env = "NOT_SET" }\n#', 1)
        .replace('default_country = "IN"', 'default_country = "XX"\nfallback = "nobody"')
        .replace('senderid = "ACMEIN"', 'sender = "ACMEIN"')
        + '\n[providers.second]\nplugin = "nosuchplugin"\n'
    )
    message = problems_of(write(tmp_path, text), plugins)
    expected = [
        "gateway.public_url: must start with https://",
        "gateway.listen: unknown key",
        "providers.pingbix-in.token: environment variable NOT_SET is not set",
        "providers.pingbix-in.default_country: must be a two-letter country code",
        "providers.pingbix-in.fallback: 'nobody' is not another configured nickname",
        "providers.pingbix-in.options.sender: unknown key",
        "providers.pingbix-in.options.senderid: required key is missing",
        "providers.second.token: required key is missing",
        "providers.second.plugin: no plugin named 'nosuchplugin'",
    ]
    for line in expected:
        assert f"  - {line}" in message
    assert message.count("\n  - ") == len(expected) + 2  # second also lacks two other keys


@pytest.mark.parametrize("key", ["token", "callback_token"])
def test_short_tokens_are_refused_with_a_way_to_make_one(tmp_path, plugins, key):
    text = PROVIDER.replace(f'{key} = "', f'{key} = "short"\n#', 1)
    message = problems_of(write(tmp_path, text), plugins)
    assert f"providers.pingbix-in.{key}: must be at least 8 characters" in message
    assert "openssl rand -hex 24" in message


def test_callback_token_must_fit_in_a_url_path(tmp_path, plugins):
    text = PROVIDER.replace(f'"{CALLBACK_TOKEN}"', '"has/slash-and?query"')
    message = problems_of(write(tmp_path, text), plugins)
    assert "providers.pingbix-in.callback_token: is part of a URL path" in message


# --- secrets never appear -------------------------------------------------------------------


class _EchoingOptions(BaseModel):
    """A careless plugin whose validator quotes the value it refuses."""

    model_config = ConfigDict(extra="forbid")
    api_key: str

    @field_validator("api_key")
    @classmethod
    def _refuse(cls, value: str) -> str:
        raise ValueError(f"the key {value} was revoked")


class _CarelessPlugin:
    @hookimpl
    def options_model(self) -> type[BaseModel]:
        return _EchoingOptions


def test_no_secret_value_appears_in_any_error(tmp_path):
    plugins = load_plugins(extra={"careless": _CarelessPlugin()})
    secrets = {
        "short_token": "Tk7-sec",  # too short
        "password": "98765432123",  # a number where a string is expected
        "env_rate": "Rate-Secret-42",  # from the environment, not a number
        "revoked": "Revoked-Key-Secret-99",  # quoted back by the plugin's validator
        "admin": "Adm-1",
    }
    text = f"""
    [gateway]
    admin_token = "{secrets["admin"]}"

    [providers.pingbix-in]
    plugin = "pingbix"
    token = "{secrets["short_token"]}"
    callback_token = "{CALLBACK_TOKEN}"
    clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
    rate_limit = {{ env = "RATE" }}

    [providers.pingbix-in.options]
    userid = "acme"
    password = {secrets["password"]}
    senderid = "ACMEIN"

    [providers.careless]
    plugin = "careless"
    token = "{TOKEN}"
    callback_token = "{CALLBACK_TOKEN}"
    clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
    options = {{ api_key = "{secrets["revoked"]}" }}
    """
    message = problems_of(write(tmp_path, text), plugins, {"RATE": secrets["env_rate"]})
    for key in [
        "gateway.admin_token",
        "providers.pingbix-in.token",
        "providers.pingbix-in.rate_limit",
        "providers.pingbix-in.options.password",
        "providers.careless.options.api_key: the key <hidden> was revoked",
    ]:
        assert key in message
    for secret in secrets.values():
        assert secret not in message


@pytest.mark.parametrize("age", ["0d", "0s", "100h"])
def test_a_purge_after_shorter_than_a_message_may_live_is_refused(tmp_path, plugins, age):
    # Zero too: a purger with a cutoff of now would delete the unsent queue every hour.
    message = problems_of(
        write(tmp_path, f'[gateway]\npurge_after = "{age}"\n' + PROVIDER), plugins
    )
    assert "purge_after must be at least 106h" in message


@pytest.mark.parametrize(
    ("public_url", "refused"),
    [
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
        ("https://sms.example.com", True),
        ("http://10.0.0.5:8000", True),
    ],
)
def test_the_example_files_published_tokens_are_refused_where_others_can_connect(
    tmp_path, plugins, public_url, refused
):
    text = (REPO / "smsgate.example.toml").read_text()
    path = tmp_path / "smsgate.toml"
    path.write_text(
        text.replace('public_url = "http://127.0.0.1:8000"', f'public_url = "{public_url}"')
    )

    if refused:
        message = problems_of(path, plugins)
        assert "gateway.admin_token, providers.pingbix-demo.token" in message
        assert "published demo value" in message
        assert "demo-admin-token-change-me" not in message
    else:
        assert load_config(path, plugins, {}).settings.gateway.public_url == public_url
