"""Taking a failing channel out of rotation and back (``mjgate channel list`` shows why)."""

from __future__ import annotations

import logging

from mjgate.domain.channels import Channel, note_failure, note_success
from mjgate.services.runtime import Runtime

log = logging.getLogger(__name__)


async def channel_failed(rt: Runtime, channel: Channel, reason: str) -> None:
    assert channel.id is not None
    now = rt.clock()
    async with rt.db.write() as uow:
        row = await uow.channel_by_id(channel.id)
        if row is None:
            return
        note_failure(row, reason, now)
        if row.is_resting(now):
            log.warning(
                "channel %s rests until %s after %d failures: %s",
                row.name,
                row.resting_until,
                row.failures,
                reason,
            )


async def channel_worked(rt: Runtime, channel: Channel) -> None:
    """A success heals the channel; the common case (already healthy) writes nothing."""
    assert channel.id is not None
    if channel.failures == 0 and channel.resting_until is None:
        return
    async with rt.db.write() as uow:
        row = await uow.channel_by_id(channel.id)
        if row is not None and (row.failures or row.resting_until is not None):
            note_success(row)
