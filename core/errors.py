"""The one error hierarchy of smsgate.

::

    SmsgateError
    ├── ConfigError                  the config file is wrong; says file, key and fix
    ├── PluginError                  a plugin misbehaved (.plugin)
    │   ├── PluginLoadError          it failed to import or register
    │   └── PluginHookError          one of its hooks raised or returned the wrong type
    ├── ProviderUnavailableError     a nickname exists but its plugin is broken (.nickname)
    ├── UnknownProviderError         no such nickname (also a KeyError)
    ├── CallbackError                a vendor's delivery report could not be parsed (.reason)
    ├── InvalidRecordError           one CleverTap record is unusable (.code, the CleverTap code)
    ├── SchemaOutdatedError          the schema is not this version's; says what to run
    ├── ActionRefusedError           an operator action does not fit the row's state (.reason)
    └── RequestError                 an HTTP request to our endpoints is refused (.status_code)

Messages never contain secrets: they name the setting, not its value.
"""

from __future__ import annotations


class SmsgateError(Exception):
    """Base class of every error smsgate raises on purpose."""


class ConfigError(SmsgateError):
    """The configuration file cannot be used as it is.

    ``problems`` lists every problem found, each naming the key and the fix.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{path}: invalid configuration\n{lines}")


class PluginError(SmsgateError):
    """A plugin misbehaved; ``plugin`` is its entry-point name."""

    def __init__(self, message: str, *, plugin: str) -> None:
        self.plugin = plugin
        super().__init__(message)


class PluginLoadError(PluginError):
    """A plugin could not be imported or registered."""


class PluginHookError(PluginError):
    """A plugin's hook raised, or returned something the hook spec does not allow."""


class ProviderUnavailableError(SmsgateError):
    """The nickname is configured, but its plugin is broken; ``reason`` says why."""

    def __init__(self, nickname: str, reason: str) -> None:
        self.nickname = nickname
        self.reason = reason
        super().__init__(f"provider {nickname!r} is unavailable: {reason}")


class UnknownProviderError(SmsgateError, KeyError):
    """No provider is configured under this nickname."""

    def __init__(self, nickname: str) -> None:
        self.nickname = nickname
        super().__init__(nickname)

    def __str__(self) -> str:
        return f"no provider is configured under the nickname {self.nickname!r}"


class CallbackError(SmsgateError):
    """A plugin could not make sense of a vendor's callback; ``reason`` is shown to the vendor."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InvalidRecordError(SmsgateError):
    """One record from CleverTap cannot be sent.

    ``code`` is the CleverTap failure code reported for it (910 for an invalid number,
    900 for anything else).
    """

    def __init__(self, reason: str, *, code: str = "900") -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class SchemaOutdatedError(SmsgateError):
    """The database schema is not the one this version of smsgate needs.

    Usually older (the message says to run ``smsgate db upgrade``); possibly newer, when a
    later smsgate migrated it.
    """


class ActionRefusedError(SmsgateError):
    """An operator's action (retry, cancel, give up) does not fit the row's current state.

    ``reason`` says what the row's state is and what to do instead.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RequestError(SmsgateError):
    """An HTTP request to one of our endpoints is refused with ``status_code``.

    ``headers`` go with the answer (``Allow`` with a 405, say).
    """

    def __init__(
        self, status_code: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.headers = headers or {}
        super().__init__(message)
