"""The configuration file: finding it, reading it, and checking every key.

One TOML file configures the gateway and each provider nickname. A secret is a string or
``{ env = "VAR" }``; such tables are resolved anywhere in the file before validation, so
plugins never read the environment. Every problem is collected and reported at once by
:class:`ConfigError`, each naming the key and the fix. No value from the file is ever
quoted in a problem: any of them may be a secret.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from smsgate.admin.durations import format_duration, parse_duration
from smsgate.delivery.settings import DeliverySettings
from smsgate.dispatch.settings import DispatchSettings
from smsgate.errors import ConfigError, PluginError
from smsgate.plugins import PluginSet, VendorPlugin

DEFAULT_PATH = "smsgate.toml"
ENV_VAR = "SMSGATE_CONFIG"
NICKNAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MIN_TOKEN_LENGTH = 8
#: The tokens of ``smsgate.example.toml``: published, so refused where others can connect.
DEMO_TOKENS = frozenset({"demo-admin-token-change-me", "demo-clevertap-token", "demo-dlr-token"})

Nickname = Annotated[str, StringConstraints(pattern=NICKNAME_PATTERN)]

#: A key path inside the file, as pydantic reports it: table names, keys and list indexes.
Location = tuple[str | int, ...]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


class GatewaySettings(BaseModel):
    """The ``[gateway]`` table."""

    model_config = ConfigDict(extra="forbid")

    #: ``sqlite:///path`` (relative paths are relative to the config file) or
    #: ``postgresql+psycopg://user@host/db``.
    database_url: str = "sqlite:///smsgate.db"
    #: How CleverTap and vendors reach this gateway; used to print URLs.
    public_url: str = "http://127.0.0.1:8000"
    #: Guards the admin API and the dashboard.
    admin_token: SecretStr | None = None
    #: Largest request body accepted on the CleverTap and callback endpoints.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    #: Seconds a client has to send a whole request body; then a 408 and the connection
    #: closes, so that clients trickling bodies a byte at a time cannot hold every socket.
    body_timeout: float = Field(default=60.0, gt=0)
    #: Connections one ``serve`` process keeps open; a request arriving when that many are
    #: open gets an immediate 503 (CleverTap and vendors retry it).
    max_connections: int = Field(default=1000, gt=0)
    #: Apply database migrations when ``serve`` starts; default: on for SQLite only.
    auto_migrate: bool | None = None
    #: The dispatch workers: the ``[gateway.dispatch]`` table (see smsgate.dispatch.settings).
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    #: Delivery reports, the CleverTap relay and status lookups: the ``[gateway.delivery]``
    #: table (see smsgate.delivery.settings).
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    #: ``text`` (readable) or ``json`` (one JSON object per line, for a log pipeline).
    log_format: Literal["text", "json"] = "text"
    #: Delete messages older than this (``"90d"``) in ``serve``, hourly; default: keep all.
    purge_after: timedelta | None = None

    @field_validator("database_url")
    @classmethod
    def _is_database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "must start with https:// (or http:// for a local test), "
                "e.g. https://sms.example.com"
            )
        return value.rstrip("/")

    @field_validator("purge_after", mode="before")
    @classmethod
    def _is_duration(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError:
                # The value is not quoted back: no value from the file ever is.
                raise ValueError(
                    'must be a number and a unit (s, m, h, d or w) in double quotes, e.g. "90d"'
                ) from None
        if value is not None and not isinstance(value, timedelta):
            raise ValueError('must be a duration in double quotes, e.g. "90d"')
        return value

    @property
    def shortest_purge(self) -> timedelta:
        """The youngest age a purge may delete: past it no worker sends, looks up or relays.

        A message is sent within ``validity``, learns its fate by ``lookup_grace`` after
        that at the latest, and its record is offered to CleverTap for
        ``relay_give_up_after`` more.
        """
        delivery = self.delivery
        seconds = self.dispatch.validity + delivery.lookup_grace + delivery.relay_give_up_after
        return timedelta(seconds=seconds)

    def purge_too_soon(self, age: timedelta) -> str | None:
        """Why purging messages of ``age`` would cut live ones short, or ``None``."""
        if age >= self.shortest_purge:
            return None
        return (
            f"must be at least {format_duration(self.shortest_purge)} (dispatch.validity + "
            "delivery.lookup_grace + delivery.relay_give_up_after): younger messages may "
            "still be sent, looked up or relayed to CleverTap"
        )

    @model_validator(mode="after")
    def _purge_spares_live_messages(self) -> GatewaySettings:
        too_soon = None if self.purge_after is None else self.purge_too_soon(self.purge_after)
        if too_soon is not None:
            raise ValueError(f"purge_after {too_soon}")
        return self

    @field_validator("admin_token")
    @classmethod
    def _admin_token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else _long_enough(value)


class ProviderSettings(BaseModel):
    """One ``[providers.<nickname>]`` table."""

    model_config = ConfigDict(extra="forbid")

    #: The entry-point name of the plugin (see ``smsgate plugins``).
    plugin: str
    #: What CleverTap must present (Bearer, or the password of Basic auth).
    token: SecretStr
    #: The secret path segment of the vendor's delivery report URL.
    callback_token: SecretStr
    #: Where delivery reports for this nickname go: copied from CleverTap's provider page.
    clevertap_callback_url: str
    #: Country of numbers that come without a country code (two letters, e.g. IN).
    default_country: str | None = None
    #: SMS segments per second to this vendor.
    rate_limit: float | None = Field(default=None, gt=0)
    #: Another nickname to try when this vendor cannot take a message.
    fallback: str | None = None
    #: The plugin's own options, validated by the plugin's options model.
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("token", "callback_token")
    @classmethod
    def _tokens_long_enough(cls, value: SecretStr) -> SecretStr:
        return _long_enough(value)

    @field_validator("callback_token")
    @classmethod
    def _fits_in_a_path(cls, value: SecretStr) -> SecretStr:
        if not _URL_SAFE.match(value.get_secret_value()):
            raise ValueError(
                "is part of a URL path: use only letters, digits, and - . _ ~ "
                "(`openssl rand -hex 24` gives one)"
            )
        return value

    @field_validator("clevertap_callback_url")
    @classmethod
    def _is_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "must be the http(s) URL CleverTap shows under Settings > Channels > SMS"
            )
        return value

    @field_validator("default_country")
    @classmethod
    def _is_region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter country code such as IN or US")
        return region


class Settings(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    providers: dict[Nickname, ProviderSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_published_token_in_public(self) -> Settings:
        # The example file's tokens are on the internet: fine for `make run` on this machine,
        # an open door on an address others reach.
        if is_local(urlsplit(self.gateway.public_url).hostname or ""):
            return self
        published = self.published_tokens()
        if published:
            raise ValueError(
                f"{', '.join(published)}: the example file's published demo value, and "
                f"public_url is not this machine: generate one with `openssl rand -hex 24`"
            )
        return self

    def published_tokens(self) -> list[str]:
        """The keys whose token is one of the example file's (:data:`DEMO_TOKENS`)."""
        tokens = {"gateway.admin_token": self.gateway.admin_token}
        for nickname, provider in self.providers.items():
            tokens[f"providers.{nickname}.token"] = provider.token
            tokens[f"providers.{nickname}.callback_token"] = provider.callback_token
        return [key for key, token in tokens.items() if _is_published(token)]


@dataclass(frozen=True)
class Provider:
    """A configured nickname, with its plugin and options, or the reason it cannot work."""

    nickname: str
    settings: ProviderSettings
    plugin: VendorPlugin | None
    options: BaseModel | None
    broken: str | None = None


@dataclass(frozen=True)
class Config:
    """A loaded, checked configuration."""

    path: Path
    settings: Settings
    providers: Mapping[str, Provider]

    @property
    def database_url(self) -> str:
        """The database URL, with a relative SQLite path made relative to the config file."""
        return resolve_database_url(self.settings.gateway.database_url, self.path.parent)

    @property
    def broken(self) -> dict[str, str]:
        """Nicknames whose plugin cannot work, with the reason."""
        return {name: p.broken for name, p in self.providers.items() if p.broken}


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` if given, else ``$SMSGATE_CONFIG``, else ``./smsgate.toml``."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return Path(DEFAULT_PATH)


def load_config(path: Path, plugins: PluginSet, environ: Mapping[str, str] | None = None) -> Config:
    """Read and check the file at ``path``; raise :class:`ConfigError` with every problem.

    A provider whose plugin is installed but broken is not a problem of the file: it comes
    back with :attr:`Provider.broken` set, so that the other nicknames keep working.
    """
    raw = _read(path)
    check = _Check(os.environ if environ is None else environ)
    resolved = check.resolve_env(raw, ())
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        check.report(exc, ())
    # The plugins' options and the fallbacks are checked even when another part of the file is
    # wrong, so that the operator sees every problem in one run.
    raw_providers = resolved.get("providers")
    bound: dict[str, tuple[VendorPlugin | None, BaseModel | None, str | None]] = {}
    if isinstance(raw_providers, dict):
        for nickname, raw_provider in raw_providers.items():
            if isinstance(raw_provider, dict):
                bound[nickname] = check.bind_plugin(nickname, raw_provider, plugins)
                check.fallback(nickname, raw_provider, sorted(raw_providers))
    if check.problems or settings is None:
        raise ConfigError(str(path), check.problems)
    providers = {
        nickname: Provider(nickname, provider, *bound[nickname])
        for nickname, provider in settings.providers.items()
    }
    return Config(path=path, settings=settings, providers=providers)


def normalise_database_url(url: str) -> str:
    """Check that ``url`` names a SQLite or PostgreSQL database; PostgreSQL uses psycopg 3."""
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        # Not the parser's own words: with a password holding ":" and "@" unencoded, they
        # quote part of it as the port.
        raise ValueError(
            "is not a database URL; use sqlite:///smsgate.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return url
    raise ValueError(
        "must be sqlite:///path or postgresql+psycopg://user@host/dbname "
        f"(the {parsed.drivername} driver is not supported)"
    )


def resolve_database_url(url: str, base: Path) -> str:
    """Make a relative SQLite file path relative to ``base``."""
    parsed = sa.make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
        or Path(database).is_absolute()
    ):
        return url
    return parsed.set(database=str((base / database).resolve())).render_as_string(
        hide_password=False
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            [
                "file not found: pass --config PATH, set SMSGATE_CONFIG, "
                "or copy smsgate.example.toml to smsgate.toml"
            ],
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), ["not UTF-8 text: save the file as UTF-8"]) from None
    except OSError as exc:
        raise ConfigError(
            str(path), [f"cannot read the file ({exc.strerror}): check the path"]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib names the line and column, never the value found there.
        raise ConfigError(
            str(path), [f"not valid TOML: {exc}; see https://toml.io for the syntax"]
        ) from None


class _Check:
    """Collects the problems of one file, and the secrets that must not appear in them."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.secrets: set[str] = set()
        self.unresolved: set[Location] = set()

    def add(self, key: Location, problem: str) -> None:
        for secret in sorted(self.secrets, key=len, reverse=True):
            problem = problem.replace(secret, "<hidden>")
        self.problems.append(f"{dotted(key)}: {problem}")

    def resolve_env(self, value: Any, where: Location) -> Any:
        if isinstance(value, dict):
            if set(value) == {"env"} and isinstance(value["env"], str):
                name = value["env"]
                if name not in self.environ:
                    self.unresolved.add(where)
                    self.add(
                        where,
                        f"environment variable {name} is not set; "
                        f"export {name}=... before starting smsgate",
                    )
                    return None
                if not self.environ[name]:
                    # An empty secret passes a string check and fails only at the vendor.
                    self.unresolved.add(where)
                    self.add(where, f"environment variable {name} is empty; export the secret")
                    return None
                if len(self.environ[name]) >= 3:
                    self.secrets.add(self.environ[name])
                return self.environ[name]
            if set(value) == {"env"}:
                self.unresolved.add(where)
                self.add(
                    where,
                    'name the environment variable in double quotes: { env = "SMSGATE_TOKEN" }',
                )
                return None
            return {key: self.resolve_env(item, (*where, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve_env(item, (*where, index)) for index, item in enumerate(value)]
        return value

    def report(
        self, exc: ValidationError, prefix: Location, model: type[BaseModel] = Settings
    ) -> None:
        for error in exc.errors():
            key = (*prefix, *error["loc"])
            # A missing environment variable already has its own, better message.
            if key not in self.unresolved:
                self.add(*_describe(error, prefix, model, quoting=model is not Settings))

    def bind_plugin(
        self, nickname: str, raw: Mapping[str, Any], plugins: PluginSet
    ) -> tuple[VendorPlugin | None, BaseModel | None, str | None]:
        where = ("providers", nickname)
        name = raw.get("plugin")
        if not isinstance(name, str):
            return None, None, "no plugin"
        if name not in plugins:
            known = sorted([*plugins.plugins, *plugins.failures])
            self.add(
                (*where, "plugin"),
                f"no plugin named {name!r} is installed; installed: "
                f"{', '.join(known) or 'none'} (see `smsgate plugins`)",
            )
            return None, None, "unknown plugin"
        try:
            plugin = plugins.get(name)
            model = plugin.options_model()
        except PluginError as exc:
            # A broken plugin is the plugin's fault, not the file's: serve the other nicknames.
            return None, None, str(exc)
        options = raw.get("options", {})
        if not isinstance(options, dict):
            return plugin, None, "invalid options"  # reported by the provider's own check
        try:
            checked = model.model_validate(options)
        except ValidationError as exc:
            self.report(exc, (*where, "options"), model)
            return plugin, None, "invalid options"
        except Exception as exc:  # noqa: BLE001 - a plugin's validator is the plugin's bug
            return plugin, None, f"plugin {name!r} raised {type(exc).__name__} checking options"
        if plugin.missing_hooks:
            missing = ", ".join(plugin.missing_hooks)
            return plugin, None, f"plugin {name!r} does not implement {missing}"
        return plugin, checked, None

    def fallback(self, nickname: str, raw: Mapping[str, Any], nicknames: Sequence[str]) -> None:
        fallback = raw.get("fallback")
        if isinstance(fallback, str) and (fallback == nickname or fallback not in nicknames):
            others = [other for other in nicknames if other != nickname]
            self.add(
                ("providers", nickname, "fallback"),
                f"{fallback!r} is not another configured nickname; "
                f"use one of: {', '.join(others) or 'none (configure another provider first)'}",
            )


def _describe(
    error: ErrorDetails, prefix: Location, model: type[BaseModel], *, quoting: bool = False
) -> tuple[Location, str]:
    """The key and the problem; ``quoting``: the validator may quote the value it refuses."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if loc[-1:] == ("[key]",):
        # pydantic reports a bad dict key as <dict>.<key>.[key]; the key itself is what's wrong.
        loc = loc[:-1]
        if loc[:1] == ("providers",):
            return (*prefix, *loc), (
                "bad nickname: it must match [a-z0-9][a-z0-9_-]{0,62} "
                "(lower-case letters, digits, - and _; at most 63 characters)"
            )
    key = (*prefix, *loc)
    if kind == "extra_forbidden":
        return key, _unknown_key(str(loc[-1]), _allowed_keys(model, loc[:-1]))
    if kind == "missing":
        return key, "required key is missing; add it"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "string_type" and isinstance(error.get("input"), dict):
        message = 'expected a string, or a secret from the environment: { env = "VAR" }'
    elif kind == "string_type":
        message += "; write it in double quotes"
    # pydantic's messages do not quote the input, but a plugin's own validator might.
    value = error.get("input")
    if quoting and isinstance(value, str) and len(value) >= 3:
        message = message.replace(value, "<hidden>")
    return key, message


def _allowed_keys(model: type[BaseModel], loc: Location) -> list[str]:
    """The keys ``model`` allows in the table at ``loc``."""
    current: type[BaseModel] | None = model
    parts = list(loc)
    if model is Settings and parts[:1] == ["providers"]:
        current, parts = (ProviderSettings, parts[2:]) if len(parts) >= 2 else (None, [])
    for part in parts:
        field = current.model_fields.get(str(part)) if current else None
        annotation = field.annotation if field else None
        current = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return sorted(current.model_fields) if current else []


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}? Otherwise remove it"
    if allowed:
        return f"unknown key; remove it (allowed here: {', '.join(allowed)})"
    return "unknown key; remove it"


def is_local(host: str) -> bool:
    """Whether ``host`` (a name or an address) is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_published(token: SecretStr | None) -> bool:
    return token is not None and token.get_secret_value() in DEMO_TOKENS


def _long_enough(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"must be at least {MIN_TOKEN_LENGTH} characters; "
            "generate one with `openssl rand -hex 24`"
        )
    return value


def dotted(parts: Location) -> str:
    """A key path as TOML writes it: ``providers."Odd Name".token``, ``templates[0]``."""
    if not parts:
        return "(top level)"
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = part if _BARE_KEY.match(part) else json.dumps(part, ensure_ascii=False)
        text += f".{name}" if text else name
    return text
