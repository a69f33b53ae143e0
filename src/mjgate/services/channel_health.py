"""Taking a failing channel out of rotation and back (``mjgate channel list`` shows why)."""

from __future__ import annotations

import logging

from mjgate.domain.channels import Channel, note_failure, note_success, take_out_of_service
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
    """A success heals a failing channel; the common case (already healthy) writes nothing.

    A rest without failures is the daily limit's: a success does not end it.
    """
    assert channel.id is not None
    if channel.failures == 0:
        return
    async with rt.db.write() as uow:
        row = await uow.channel_by_id(channel.id)
        if row is not None and row.failures:
            note_success(row)


async def channel_out_of_service(rt: Runtime, channel: Channel, reason: str) -> None:
    """Out of rotation until a person acts; `mjgate channel list` shows why and since when."""
    assert channel.id is not None
    async with rt.db.write() as uow:
        row = await uow.channel_by_id(channel.id)
        if row is None or not row.enabled:
            return
        take_out_of_service(row, reason, rt.clock())
    log.warning("channel %s is out of service: %s", channel.name, reason)
