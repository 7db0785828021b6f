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
from collections.abc import Callable, Iterable, Mapping, Sequence
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

    from smsgate.types import (
        OutboundMessage,
        SandboxSettings,
        SubmittedMessage,
        VendorRequest,
    )

logger = logging.getLogger(__name__)

HOOK_NAMES = (
    "options_model",
    "build_payload",
    "send_batch",
    "parse_callback",
    "template_text",
    "lookup_status",
    "sandbox_app",
)
#: The hooks without which a nickname cannot send or hear back: a plugin missing one leaves
#: its nicknames unavailable, as a broken one does.
REQUIRED_HOOKS = ("build_payload", "send_batch", "parse_callback")


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
        self._manager = manager
        self._plugin = manager.get_plugin(name)
        # Per hook: the plugins implementing it when its subset caller was made, and that
        # caller. Made again when they change; every delivery report calls a hook.
        self._subsets: dict[str, tuple[tuple[object, ...], pluggy.HookCaller]] = {}

    @property
    def hooks(self) -> tuple[str, ...]:
        """The hooks this plugin implements."""
        return tuple(hook for hook in HOOK_NAMES if self._implements(hook))

    @property
    def missing_hooks(self) -> tuple[str, ...]:
        """The :data:`REQUIRED_HOOKS` this plugin does not implement."""
        return tuple(hook for hook in REQUIRED_HOOKS if not self._implements(hook))

    def options_model(self) -> type[BaseModel]:
        """The plugin's options model; a plugin without one takes no options."""
        if not self._implements("options_model"):
            return _NoOptions
        try:
            model = self._call("options_model")
        except Exception as exc:
            raise self._bug("options_model", exc) from exc
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            raise self._wrong_type("options_model", model, "a pydantic model class")
        return model

    def build_payload(
        self, messages: Sequence[OutboundMessage], options: BaseModel
    ) -> BuiltPayload:
        """Ask the plugin for the vendor requests that carry ``messages``."""
        self._require("build_payload")
        try:
            payload = self._call("build_payload", messages=messages, options=options)
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
        progress: Callable[[SendResult], None] = lambda result: None,
    ) -> list[SendResult]:
        """Let the plugin perform ``requests`` and return one result per message.

        :param progress: told each result as soon as the plugin knows it, if the plugin
            reports progress (see the hook spec).
        """
        self._require("send_batch")
        try:
            results = self._call(
                "send_batch", requests=requests, client=client, options=options, progress=progress
            )
            # The spec says async; a plain function that returns the results is tolerated.
            if inspect.isawaitable(results):
                results = await results
            checked = list(results) if isinstance(results, Iterable) else None
        except Exception as exc:
            raise self._bug("send_batch", exc) from exc
        if checked is None or not all(isinstance(result, SendResult) for result in checked):
            raise self._wrong_type("send_batch", results, "a sequence of SendResult", checked)
        return checked

    def parse_callback(self, request: CallbackRequest, options: BaseModel) -> list[DeliveryEvent]:
        """Let the plugin read a vendor's delivery report."""
        self._require("parse_callback")
        try:
            events = self._call("parse_callback", request=request, options=options)
            checked = list(events) if isinstance(events, Iterable) else None
        except CallbackError:
            raise
        except Exception as exc:
            raise self._bug("parse_callback", exc) from exc
        if checked is None or not all(isinstance(event, DeliveryEvent) for event in checked):
            raise self._wrong_type("parse_callback", events, "a sequence of DeliveryEvent", checked)
        return checked

    def template_text(
        self,
        template_id: str,
        variables: Sequence[str],
        variables_text: str | None,
        options: BaseModel,
    ) -> str | None:
        """The text of a message made of a template and variables; optional hook.

        ``None`` when the plugin does not implement it, cannot tell, or misbehaves (logged
        as a plugin bug): the text is only needed to count the message's segments.
        """
        if not self._implements("template_text"):
            return None
        try:
            text = self._call(
                "template_text",
                template_id=template_id,
                variables=tuple(variables),
                variables_text=variables_text,
                options=options,
            )
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not refuse the record
            self._bug("template_text", exc)
            return None
        if text is not None and not isinstance(text, str):
            self._wrong_type("template_text", text, "str or None")
            return None
        return text

    async def lookup_status(
        self,
        messages: Sequence[SubmittedMessage],
        client: httpx.AsyncClient,
        options: BaseModel,
    ) -> list[DeliveryEvent]:
        """Ask the plugin what its vendor knows about ``messages``; optional hook."""
        self._require("lookup_status")
        try:
            events = self._call("lookup_status", messages=messages, client=client, options=options)
            # The spec says async; a plain function that returns the events is tolerated.
            if inspect.isawaitable(events):
                events = await events
            checked = list(events) if isinstance(events, Iterable) else None
        except Exception as exc:
            raise self._bug("lookup_status", exc) from exc
        if checked is None or not all(isinstance(event, DeliveryEvent) for event in checked):
            raise self._wrong_type("lookup_status", events, "a sequence of DeliveryEvent", checked)
        return checked

    def _implements(self, hook: str) -> bool:
        return any(plugin is self._plugin for plugin in self._implementers(hook))

    def _implementers(self, hook: str) -> tuple[object, ...]:
        caller: pluggy.HookCaller = getattr(self._manager.hook, hook)
        return tuple(impl.plugin for impl in caller.get_hookimpls())

    def _call(self, hook: str, **kwargs: Any) -> Any:
        # Every other plugin implementing the hook is left out, also one registered after
        # this facade was made: the subset is made again when the implementers change.
        present = self._implementers(hook)
        cached = self._subsets.get(hook)
        if cached is None or cached[0] != present:
            others = [plugin for plugin in present if plugin is not self._plugin]
            subset = self._manager.subset_hook_caller(hook, remove_plugins=others)
            cached = self._subsets[hook] = (present, subset)
        return cached[1](**kwargs)

    def _require(self, hook: str) -> None:
        if not self._implements(hook):
            raise PluginHookError(
                f"plugin {self.name!r} does not implement {hook}", plugin=self.name
            )

    def sandbox_app(self, settings: SandboxSettings) -> Any:
        """The plugin's fake vendor as an ASGI application, configured by ``settings``."""
        if not self._implements("sandbox_app"):
            raise PluginHookError(
                f"plugin {self.name!r} ships no sandbox (it does not implement sandbox_app)",
                plugin=self.name,
            )
        try:
            app = self._call("sandbox_app", settings=settings)
        except Exception as exc:
            raise self._bug("sandbox_app", exc) from exc
        if app is None or not callable(app):
            raise self._wrong_type("sandbox_app", app, "an ASGI application")
        return app

    def _bug(self, hook: str, exc: Exception) -> PluginHookError:
        logger.error("plugin %r raised in %s", self.name, hook, exc_info=exc)
        return PluginHookError(
            f"plugin {self.name!r} raised {type(exc).__name__} in {hook}", plugin=self.name
        )

    def _wrong_type(
        self, hook: str, value: Any, expected: str, items: list[Any] | None = None
    ) -> PluginHookError:
        returned = type(value).__name__
        if items is not None:
            # The sequence is fine; name what is wrong inside it.
            returned += f" of {', '.join(sorted({type(item).__name__ for item in items}))}"
        error = PluginHookError(
            f"plugin {self.name!r}: {hook} returned {returned}, not {expected}",
            plugin=self.name,
        )
        logger.error("%s (a plugin bug)", error)
        return error


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
    if name in plugins:
        logger.warning("plugin %r is installed twice; keeping the first", name)
        return
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
    facade = VendorPlugin(plugins.manager, name)
    plugins.plugins[name] = facade
    plugins.infos[name] = PluginInfo(name, module, version, hooks=facade.hooks)
