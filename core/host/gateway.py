"""The running gateway's shared state: configuration, database and providers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from smsgate.config import Config, Provider
from smsgate.errors import ProviderUnavailableError, UnknownProviderError


@dataclass
class Gateway:
    """What every request handler needs, built once at start-up."""

    config: Config
    engine: Engine
    #: Called after new messages commit; the dispatcher registers its wake-up here.
    accepted_listeners: list[Callable[[], None]] = field(default_factory=list)

    def provider(self, nickname: str) -> Provider:
        """The provider configured as ``nickname``; raises :class:`UnknownProviderError`."""
        try:
            return self.config.providers[nickname]
        except KeyError:
            raise UnknownProviderError(nickname) from None

    def notify_accepted(self) -> None:
        """New messages were committed: let dispatch workers in this process start now."""
        for listener in self.accepted_listeners:
            listener()

    def working_provider(self, provider: Provider) -> Provider:
        """``provider`` itself, or :class:`ProviderUnavailableError` when its plugin is broken."""
        if provider.broken:
            raise ProviderUnavailableError(provider.nickname, provider.broken)
        return provider
