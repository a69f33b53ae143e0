"""How a Discord account channel fails, in the executor's two kinds (mjgate.errors).

Rejected: the job (or the whole account) cannot go on as asked; retrying won't help.
Retryable: Discord was unreachable, busy or out of date for a moment.
No message ever carries the account's token: they reach operators and clients as reasons.
"""

from __future__ import annotations

from mjgate.errors import ProviderRejected, ProviderRetryable


class AccountRefused(ProviderRejected):
    """Discord refused this account: it must leave service until a person looks at it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CommandVersionStale(ProviderRetryable):
    """Midjourney republished its commands: the command id or version we sent is stale."""


class DiscordFailed(ProviderRejected):
    """Discord refused the request with a message: the task fails with it."""


class DiscordUnavailable(ProviderRetryable):
    """Discord could not be reached, answered with a server error or kept rate-limiting."""
