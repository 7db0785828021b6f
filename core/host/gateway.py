"""The running gateway's shared state: configuration, database and providers."""

from __future__ import annotations

from dataclasses import dataclass

from smsgate.config import Config, Provider
from smsgate.errors import ProviderUnavailableError, UnknownProviderError
from sqlalchemy.engine import Engine


@dataclass
class Gateway:
    """What every request handler needs, built once at start-up."""

    config: Config
    engine: Engine

    def provider(self, nickname: str) -> Provider:
        """The provider configured as ``nickname``; raises :class:`UnknownProviderError`."""
        try:
            return self.config.providers[nickname]
        except KeyError:
            raise UnknownProviderError(nickname) from None

    def working_provider(self, provider: Provider) -> Provider:
        """``provider`` itself, or :class:`ProviderUnavailableError` when its plugin is broken."""
        if provider.broken:
            raise ProviderUnavailableError(provider.nickname, provider.broken)
        return provider
