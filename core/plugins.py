"""Finding plugins and calling them: the only module of the host that touches pluggy.

Plugins come from the ``smsgate`` entry-point group, built-in ones included, so every plugin
travels the same path. A plugin that fails to import or register is kept aside with its error
instead of taking the others down. :class:`VendorPlugin` is the typed facade the host calls:
it asks one plugin only, turns a plugin's misbehaviour into :class:`PluginHookError`, and
checks what comes back.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel
from smsgate import hookspecs
from smsgate.errors import CallbackError, PluginHookError, PluginLoadError
from smsgate.types import BuiltPayload, CallbackRequest, DeliveryEvent, SendResult

if TYPE_CHECKING:
    import httpx
    from smsgate.types import OutboundMessage, VendorRequest

logger = logging.getLogger(__name__)

HOOK_NAMES = ("options_model", "build_payload", "send_batch", "parse_callback")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """What ``smsgate plugins`` shows about one plugin."""

    name: str
    module: str
    version: str | None
    hooks: tuple[str, ...] = ()
    error: str | None = None


class VendorPlugin:
    """Calls the hooks of one plugin, and of that plugin only."""

    def __init__(self, manager: pluggy.PluginManager, name: str) -> None:
        self.name = name
        plugin = manager.get_plugin(name)
        others = [p for p in manager.get_plugins() if p is not plugin]
        self._manager = manager
        self._hooks = {
            hook: manager.subset_hook_caller(hook, remove_plugins=others) for hook in HOOK_NAMES
        }

    @property
    def hooks(self) -> tuple[str, ...]:
        """The hooks this plugin implements."""
        plugin = self._manager.get_plugin(self.name)
        return tuple(
            hook
            for hook in HOOK_NAMES
            if any(
                impl.plugin is plugin for impl in getattr(self._manager.hook, hook).get_hookimpls()
            )
        )

    def options_model(self) -> type[BaseModel]:
        """The plugin's options model; a plugin without one takes no options."""
        try:
            model = self._hooks["options_model"]()
        except Exception as exc:
            raise self._bug("options_model", exc) from exc
        if model is None:
            return _NoOptions
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            raise PluginHookError(
                f"plugin {self.name!r}: options_model returned {model!r}, not a pydantic model",
                plugin=self.name,
            )
        return model

    def build_payload(
        self, messages: Sequence[OutboundMessage], options: BaseModel
    ) -> BuiltPayload:
        """Ask the plugin for the vendor requests that carry ``messages``."""
        try:
            payload = self._hooks["build_payload"](messages=messages, options=options)
        except Exception as exc:
            raise self._bug("build_payload", exc) from exc
        if not isinstance(payload, BuiltPayload):
            raise self._wrong_type("build_payload", payload, "BuiltPayload")
        return payload

    async def send_batch(
        self,
        requests: Sequence[VendorRequest],
        client: httpx.AsyncClient,
        options: BaseModel,
    ) -> list[SendResult]:
        """Let the plugin perform ``requests`` and return one result per message."""
        try:
            results = await self._hooks["send_batch"](
                requests=requests, client=client, options=options
            )
        except Exception as exc:
            raise self._bug("send_batch", exc) from exc
        if not isinstance(results, Iterable) or not all(
            isinstance(result, SendResult) for result in results
        ):
            raise self._wrong_type("send_batch", results, "a sequence of SendResult")
        return list(results)

    def parse_callback(self, request: CallbackRequest, options: BaseModel) -> list[DeliveryEvent]:
        """Let the plugin read a vendor's delivery report."""
        try:
            events = self._hooks["parse_callback"](request=request, options=options)
        except CallbackError:
            raise
        except Exception as exc:
            raise self._bug("parse_callback", exc) from exc
        if events is None:
            raise PluginHookError(
                f"plugin {self.name!r} does not implement parse_callback", plugin=self.name
            )
        if not all(isinstance(event, DeliveryEvent) for event in events):
            raise self._wrong_type("parse_callback", events, "a sequence of DeliveryEvent")
        return list(events)

    def _bug(self, hook: str, exc: Exception) -> PluginHookError:
        logger.exception("plugin %r raised in %s", self.name, hook)
        return PluginHookError(
            f"plugin {self.name!r} raised {type(exc).__name__} in {hook}", plugin=self.name
        )

    def _wrong_type(self, hook: str, value: Any, expected: str) -> PluginHookError:
        return PluginHookError(
            f"plugin {self.name!r}: {hook} returned {type(value).__name__}, not {expected}",
            plugin=self.name,
        )


class _NoOptions(BaseModel, extra="forbid"):
    """Options of a plugin that declares none: any key is an error."""


@dataclass
class PluginSet:
    """Every plugin found: the ones that work, and the errors of the ones that don't."""

    manager: pluggy.PluginManager
    plugins: dict[str, VendorPlugin] = field(default_factory=dict)
    failures: dict[str, PluginLoadError] = field(default_factory=dict)
    infos: dict[str, PluginInfo] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        return name in self.plugins or name in self.failures

    def get(self, name: str) -> VendorPlugin:
        """The plugin registered as ``name``; raises its load error if it failed to load."""
        if name in self.failures:
            raise self.failures[name]
        return self.plugins[name]


def new_manager() -> pluggy.PluginManager:
    """A plugin manager that knows smsgate's hook specs and no plugin yet."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins(
    *,
    use_entry_points: bool = True,
    extra: Mapping[str, object] | None = None,
) -> PluginSet:
    """Import and register every plugin of the ``smsgate`` entry-point group.

    :param use_entry_points: look in the installed distributions' entry points.
    :param extra: more plugins by name, registered after the entry points (tests use this).
    """
    plugins = PluginSet(manager=new_manager())
    if use_entry_points:
        for entry_point in entry_points(group=hookspecs.PROJECT_NAME):
            _load_entry_point(plugins, entry_point)
    for name, plugin in (extra or {}).items():
        module = getattr(plugin, "__name__", type(plugin).__name__)
        _register(plugins, name, plugin, module=module, version=None)
    return plugins


def _load_entry_point(plugins: PluginSet, entry_point: EntryPoint) -> None:
    version = entry_point.dist.version if entry_point.dist else None
    if entry_point.name in plugins:
        logger.warning("plugin %r is installed twice; keeping the first", entry_point.name)
        return
    try:
        plugin = entry_point.load()
    except Exception as exc:
        logger.exception("plugin %r failed to import", entry_point.name)
        error = PluginLoadError(
            f"plugin {entry_point.name!r} failed to import: {type(exc).__name__}: {exc}",
            plugin=entry_point.name,
        )
        plugins.failures[entry_point.name] = error
        plugins.infos[entry_point.name] = PluginInfo(
            entry_point.name, entry_point.value, version, error=str(error)
        )
        return
    _register(plugins, entry_point.name, plugin, module=entry_point.value, version=version)


def _register(
    plugins: PluginSet, name: str, plugin: object, *, module: str, version: str | None
) -> None:
    try:
        plugins.manager.register(plugin, name=name)
        # A hookimpl without a matching spec is a typo the author wants to hear about.
        plugins.manager.check_pending()
    except Exception as exc:
        if plugins.manager.is_registered(plugin):
            plugins.manager.unregister(plugin)
        logger.exception("plugin %r failed to register", name)
        error = PluginLoadError(f"plugin {name!r} failed to register: {exc}", plugin=name)
        plugins.failures[name] = error
        plugins.infos[name] = PluginInfo(name, module, version, error=str(error))
        return
    # Facades are rebuilt so that every one excludes every other plugin, including this one.
    plugins.plugins = {
        known: VendorPlugin(plugins.manager, known) for known in [*plugins.plugins, name]
    }
    plugins.infos[name] = PluginInfo(name, module, version)
    for known, facade in plugins.plugins.items():
        info = plugins.infos[known]
        plugins.infos[known] = PluginInfo(
            info.name, info.module, info.version, hooks=facade.hooks, error=info.error
        )
