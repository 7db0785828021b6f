"""The configuration file: finding it, reading it, and checking every key.

One TOML file configures the gateway and each provider nickname. A secret is a string or
``{ env = "VAR" }``; such tables are resolved anywhere in the file before validation, so
plugins never read the environment. Every problem is collected and reported at once by
:class:`ConfigError`, each naming the key and the fix.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails
from smsgate.errors import ConfigError, PluginError
from smsgate.plugins import PluginSet, VendorPlugin

DEFAULT_PATH = "smsgate.toml"
ENV_VAR = "SMSGATE_CONFIG"
NICKNAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

Nickname = Annotated[str, StringConstraints(pattern=NICKNAME_PATTERN)]


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
    #: Apply database migrations when ``serve`` starts; default: on for SQLite only.
    auto_migrate: bool | None = None

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class ProviderSettings(BaseModel):
    """One ``[providers.<nickname>]`` table."""

    model_config = ConfigDict(extra="forbid")

    plugin: str
    #: What CleverTap must present (Bearer, or the password of Basic auth).
    token: SecretStr
    #: The secret path segment of the vendor's delivery report URL.
    callback_token: SecretStr
    clevertap_callback_url: str
    default_country: str | None = None
    #: SMS segments per second to this vendor.
    rate_limit: float | None = Field(default=None, gt=0)
    fallback: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("token", "callback_token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError(
                "must be at least 8 characters; generate one with `openssl rand -hex 24`"
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
    """Read and check the file at ``path``; raise :class:`ConfigError` with every problem."""
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            [
                "file not found: pass --config PATH, set SMSGATE_CONFIG, "
                "or copy smsgate.example.toml to smsgate.toml"
            ],
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None

    problems: list[str] = []
    resolved = _resolve_env(raw, (), environ, problems)
    unresolved = set(problems)
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        for error in exc.errors():
            described = _describe(error, ())
            # A missing env var already has its own, better message.
            if not any(p.split(":")[0] == described.split(":")[0] for p in unresolved):
                problems.append(described)
        raise ConfigError(str(path), problems) from None
    if problems:
        raise ConfigError(str(path), problems)

    providers: dict[str, Provider] = {}
    for nickname, provider in settings.providers.items():
        where = ("providers", nickname)
        if provider.fallback is not None and (
            provider.fallback == nickname or provider.fallback not in settings.providers
        ):
            problems.append(
                f"{_dotted((*where, 'fallback'))}: {provider.fallback!r} is not another "
                f"configured nickname; use one of {sorted(set(settings.providers) - {nickname})}"
            )
        providers[nickname] = _bind_plugin(nickname, provider, plugins, where, problems)
    if problems:
        raise ConfigError(str(path), problems)
    return Config(path=path, settings=settings, providers=providers)


def resolve_database_url(url: str, base: Path) -> str:
    """Make a relative SQLite file path relative to ``base``."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        relative = url.removeprefix(prefix)
        if relative and not relative.startswith(":memory:"):
            return prefix + str((base / relative).resolve())
    return url


def _bind_plugin(
    nickname: str,
    settings: ProviderSettings,
    plugins: PluginSet,
    where: tuple[str, ...],
    problems: list[str],
) -> Provider:
    if settings.plugin not in plugins:
        known = sorted(plugins.plugins) + sorted(plugins.failures)
        problems.append(
            f"{_dotted((*where, 'plugin'))}: no plugin named {settings.plugin!r} is installed; "
            f"installed: {', '.join(known) or 'none'} (see `smsgate plugins`)"
        )
        return Provider(nickname, settings, None, None, broken="unknown plugin")
    try:
        plugin = plugins.get(settings.plugin)
        model = plugin.options_model()
    except PluginError as exc:
        # A broken plugin is the plugin's fault, not the file's: serve the other nicknames.
        return Provider(nickname, settings, None, None, broken=str(exc))
    try:
        options = model.model_validate(settings.options)
    except ValidationError as exc:
        problems.extend(_describe(error, (*where, "options")) for error in exc.errors())
        return Provider(nickname, settings, plugin, None, broken="invalid options")
    return Provider(nickname, settings, plugin, options)


def _resolve_env(
    value: Any, where: tuple[str, ...], environ: Mapping[str, str], problems: list[str]
) -> Any:
    if isinstance(value, dict):
        if set(value) == {"env"} and isinstance(value["env"], str):
            name = value["env"]
            if name not in environ:
                problems.append(
                    f"{_dotted(where)}: environment variable {name} is not set; "
                    f"export {name}=... before starting smsgate"
                )
                return None
            return environ[name]
        return {
            key: _resolve_env(item, (*where, key), environ, problems) for key, item in value.items()
        }
    return value


def _describe(error: ErrorDetails, prefix: tuple[str, ...]) -> str:
    loc = tuple(str(part) for part in error["loc"])
    key = _dotted((*prefix, *loc))
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key; remove it or check its spelling"
    if kind == "missing":
        return f"{key}: required key is missing; add it"
    if kind == "string_pattern_mismatch" and loc[:1] == ("providers",):
        return (
            f"{key}: nickname must match [a-z0-9][a-z0-9_-]{{0,62}} "
            "(lower-case letters, digits, - and _)"
        )
    message = error["msg"].removeprefix("Value error, ")
    # Echo the offending value only for keys that cannot hold secrets.
    return f"{key}: {message}"


def _dotted(parts: tuple[str, ...]) -> str:
    return ".".join(parts) if parts else "(top level)"
