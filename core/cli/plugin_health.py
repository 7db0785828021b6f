"""What ``smsgate plugins`` says about each installed plugin: version, hooks, options, health.

Health is ``ok``, ``incomplete`` (a hook the gateway needs is missing) or ``BROKEN`` with the
reason: the plugin failed to import or register, or its options model cannot be had. One
plugin's trouble never stops the others from being listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.errors import PluginError
from smsgate.plugins import PluginInfo, PluginSet

__all__ = ["PluginHealth", "describe", "health_of"]


@dataclass(frozen=True, slots=True)
class PluginHealth:
    """One plugin as ``smsgate plugins`` shows it."""

    info: PluginInfo
    #: The options model's dotted name; ``None`` when the plugin declares none or is broken.
    options: str | None
    #: ``ok``, ``incomplete: ...`` or ``BROKEN: ...``.
    health: str

    @property
    def ok(self) -> bool:
        """Whether the plugin can serve a nickname."""
        return self.health == "ok"


def health_of(plugins: PluginSet, name: str) -> PluginHealth:
    """Check the plugin registered (or kept aside) as ``name``."""
    info = plugins.infos[name]
    if info.error is not None:
        return PluginHealth(info, None, f"BROKEN: {info.error}")
    plugin = plugins.plugins[name]
    options: str | None = None
    if "options_model" in plugin.hooks:
        try:
            model = plugin.options_model()
        except PluginError as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
            return PluginHealth(info, None, f"BROKEN: {exc}{cause}")
        options = f"{model.__module__}.{model.__qualname__}"
    if plugin.missing_hooks:
        missing = ", ".join(plugin.missing_hooks)
        return PluginHealth(info, options, f"incomplete: does not implement {missing}")
    return PluginHealth(info, options, "ok")


def describe(plugins: PluginSet) -> list[str]:
    """The lines ``smsgate plugins`` prints, plugin by plugin in name order."""
    lines: list[str] = []
    for name in sorted(plugins.infos):
        checked = health_of(plugins, name)
        info = checked.info
        lines.append(f"{info.name} {info.version or 'unknown version'} ({info.module})")
        if info.error is None:
            lines.append(f"  hooks: {', '.join(info.hooks) or 'none'}")
            if checked.options is not None:
                options = checked.options
            elif "options_model" in info.hooks:
                options = "unavailable (see health)"
            else:
                options = "none (it takes no options)"
            lines.append(f"  options: {options}")
        lines.append(f"  health: {checked.health}")
    return lines or ["no plugins installed"]
