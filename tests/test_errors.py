"""The one error hierarchy: documented as it is built, and every message usable as it is."""

from __future__ import annotations

import inspect
import re

import smsgate
from smsgate import errors
from smsgate.errors import (
    ConfigError,
    PluginHookError,
    PluginLoadError,
    ProviderUnavailableError,
    RequestError,
    SmsgateError,
    UnknownProviderError,
)

TREE_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+Error)\b")


def _documented_tree() -> dict[str, str | None]:
    """Each class in the module docstring's tree, with the class it hangs under."""
    assert errors.__doc__ is not None
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.splitlines():
        match = TREE_LINE.match(line.strip("\n")[4:] if line.startswith("    ") else "")
        if not match:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match["name"]] = stack[-1][1] if stack else None
        stack.append((depth, match["name"]))
    return parents


def _defined_errors() -> dict[str, type[BaseException]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if cls.__module__ == errors.__name__ and issubclass(cls, BaseException)
    }


def test_docstring_tree_lists_every_error_under_its_real_parent():
    documented = _documented_tree()
    defined = _defined_errors()
    assert set(documented) == set(defined)
    for name, parent in documented.items():
        smsgate_bases = [b.__name__ for b in defined[name].__bases__ if b.__name__ in defined]
        assert smsgate_bases == ([parent] if parent else []), name


def test_every_error_is_a_smsgate_error_with_a_docstring():
    for name, cls in _defined_errors().items():
        assert issubclass(cls, SmsgateError), name
        assert cls.__doc__, name


def test_plugin_authors_get_the_base_and_callback_errors_from_the_package():
    assert smsgate.SmsgateError is SmsgateError
    assert smsgate.CallbackError is errors.CallbackError


def test_config_error_names_the_file_and_lists_every_problem():
    error = ConfigError("/etc/smsgate.toml", ["gateway.a: fix a", "providers.b.c: fix c"])
    assert str(error) == (
        "/etc/smsgate.toml: invalid configuration\n  - gateway.a: fix a\n  - providers.b.c: fix c"
    )
    assert error.path == "/etc/smsgate.toml"
    assert error.problems == ["gateway.a: fix a", "providers.b.c: fix c"]


def test_unknown_provider_error_is_a_key_error_with_a_readable_message():
    error = UnknownProviderError("pingbix-xx")
    assert isinstance(error, KeyError)
    assert str(error) == "no provider is configured under the nickname 'pingbix-xx'"
    assert error.nickname == "pingbix-xx"


def test_plugin_errors_carry_the_plugin_name():
    for cls in (PluginLoadError, PluginHookError):
        error = cls("plugin 'x' misbehaved", plugin="x")
        assert error.plugin == "x"
        assert str(error) == "plugin 'x' misbehaved"


def test_provider_unavailable_error_says_which_nickname_and_why():
    error = ProviderUnavailableError("pingbix-in", "plugin 'pingbix' failed to import")
    assert str(error) == ("provider 'pingbix-in' is unavailable: plugin 'pingbix' failed to import")
    assert (error.nickname, error.reason) == ("pingbix-in", "plugin 'pingbix' failed to import")


def test_request_error_carries_the_status_code():
    error = RequestError(413, "over 1000 records")
    assert (error.status_code, error.message, str(error)) == (
        413,
        "over 1000 records",
        "over 1000 records",
    )
