"""The running gateway's shared state: configuration, database and providers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from smsgate.config import Config, Provider
from smsgate.delivery.grouping import ReportGroups
from smsgate.delivery.reports import secrets_of
from smsgate.errors import ProviderUnavailableError, UnknownProviderError


@dataclass
class Gateway:
    """What every request handler needs, built once at start-up."""

    config: Config
    engine: Engine
    #: Called after new messages commit; the dispatcher registers its wake-up here.
    accepted_listeners: list[Callable[[], None]] = field(default_factory=list)
    #: Stores the delivery reports of concurrent requests together (group commit).
    reports: ReportGroups = field(init=False)
    _secrets: dict[str, list[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.reports = ReportGroups(self.engine)

    def secrets(self, provider: Provider) -> list[str]:
        """Every secret of ``provider`` (tokens, secret options), to mask in what is stored.

        Worked out once per nickname: the configuration does not change while running.
        """
        found = self._secrets.get(provider.nickname)
        if found is None:
            found = self._secrets[provider.nickname] = secrets_of(
                provider.settings.callback_token, provider.settings.token, provider.options
            )
        return found

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
