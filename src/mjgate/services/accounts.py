"""Operator use cases: users, tokens, channels, and the first start of a fresh install."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mjgate.db.repos import UnitOfWork
from mjgate.domain.accounts import (
    ApiToken,
    User,
    amount_in_range,
    hash_token,
    new_token,
    token_prefix,
)
from mjgate.domain.channels import Channel, put_back_in_service, take_out_of_service
from mjgate.domain.tasks import UNFINISHED_STATUSES
from mjgate.errors import AccountError, AmountOutOfRange, UserNotFound
from mjgate.providers.kinds import KINDS, kind_named
from mjgate.services.billing import top_up
from mjgate.services.runtime import Runtime

ADMIN_NAME = "admin"
SANDBOX_NAME = "sandbox"


@dataclass(frozen=True)
class Bootstrap:
    admin_token: str | None  # set only when this start created the admin with a new token
    created_channel: bool


async def bootstrap(rt: Runtime) -> Bootstrap:
    """First start: an admin user when there are no users, a sandbox channel when no channel."""
    token: str | None = None
    created_channel = False
    now = rt.clock()
    async with rt.db.write() as uow:
        if await uow.count_users() == 0:
            admin = User(name=ADMIN_NAME, is_admin=True, created_at=now)
            uow.add(admin)
            await uow.flush()
            assert admin.id is not None
            token = rt.settings.admin_token or new_token()
            uow.add(_token_row(admin.id, token, "bootstrap", now))
            if rt.settings.admin_initial_quota:
                await top_up(uow, admin.id, rt.settings.admin_initial_quota, "initial grant", now)
        if not await uow.channels():
            uow.add(Channel(name=SANDBOX_NAME, kind="sandbox", created_at=now))
            created_channel = True
    shown = token if token and token != rt.settings.admin_token else None
    return Bootstrap(admin_token=shown, created_channel=created_channel)


def _token_row(user_id: int, token: str, label: str, now: int) -> ApiToken:
    return ApiToken(
        user_id=user_id,
        token_hash=hash_token(token),
        prefix=token_prefix(token),
        label=label,
        created_at=now,
    )


async def create_user(rt: Runtime, name: str, *, is_admin: bool = False) -> User:
    name = name.strip()
    if not name or len(name) > 64:
        raise AccountError("A user name has 1 to 64 characters.")
    if not name.isprintable():
        raise AccountError("A user name cannot hold control characters.")
    now = rt.clock()
    async with rt.db.write() as uow:
        if await uow.user_by_name(name) is not None:
            raise AccountError(f"User {name!r} exists already.")
        user = User(name=name, is_admin=is_admin, created_at=now)
        uow.add(user)
        await uow.flush()
        assert user.id is not None
        if rt.settings.new_user_quota:
            await top_up(uow, user.id, rt.settings.new_user_quota, "new user grant", now)
    return user


async def create_token(
    rt: Runtime, user_name: str, label: str = "", *, spend_cap: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for the user; the plain token is returned once and never stored."""
    if spend_cap is not None and spend_cap < 0:
        raise AccountError("A spending cap is 0 or more quota units.")
    if spend_cap is not None and not amount_in_range(spend_cap):
        raise AmountOutOfRange()
    token = new_token()
    async with rt.db.write() as uow:
        user = await uow.user_by_name(user_name)
        if user is None or user.id is None:
            raise UserNotFound(f"No user {user_name!r}.")
        row = _token_row(user.id, token, label, rt.clock())
        row.spend_cap = spend_cap
        uow.add(row)
    return row, token


async def revoke_token(rt: Runtime, token_or_prefix: str) -> ApiToken:
    """Disable a token, named by the token itself or by the prefix that lists show."""
    async with rt.db.write() as uow:
        found = await uow.token_with_user(hash_token(token_or_prefix))
        if found is not None:
            row = found[0]
        else:
            matches = (
                await uow.token_by_prefix(token_or_prefix) if len(token_or_prefix) >= 6 else []
            )
            if len(matches) != 1:
                raise AccountError(
                    "No token matches." if not matches else "That prefix names several tokens."
                )
            row = matches[0]
        row.enabled = False
    return row


async def list_users(rt: Runtime) -> Sequence[User]:
    async with rt.db.read() as uow:
        return await uow.users()


async def set_user_enabled(rt: Runtime, name: str, enabled: bool) -> User:
    """A disabled user's tokens are answered 403 from the next request on; nothing else of
    theirs changes (their tasks run to their end, their balance stays)."""
    async with rt.db.write() as uow:
        user = await uow.user_by_name(name)
        if user is None:
            raise UserNotFound(f"No user {name!r}.")
        user.enabled = enabled
    return user


async def list_tokens(rt: Runtime, user_name: str | None) -> Sequence[tuple[ApiToken, str]]:
    """One user's tokens, or everyone's, each with its user's name."""
    async with rt.db.read() as uow:
        user_id = None
        if user_name is not None:
            user = await uow.user_by_name(user_name)
            if user is None:
                raise UserNotFound(f"No user {user_name!r}.")
            user_id = user.id
        return await uow.tokens_with_owners(user_id)


def _check_channel(kind: str, fields: dict[str, Any]) -> None:
    """Refuse a kind this version lacks, invalid settings, or actions the kind cannot run;
    fill in the kind's actions when none are given."""
    found = kind_named(kind)
    if found is None:
        raise AccountError(f"Unknown channel kind {kind!r}; this version has: {', '.join(KINDS)}.")
    try:
        found.check_config(fields.get("config", {}))
    except (TypeError, ValueError) as exc:
        raise AccountError(f"The {kind} channel's settings are invalid: {exc}.") from None
    if found.actions is not None:
        asked = fields.get("actions")
        offered = sorted(a.value for a in found.actions)
        if asked is None:
            fields["actions"] = offered  # what it cannot run is sent to other channels
        elif not_offered := sorted(set(asked) - set(offered)):
            raise AccountError(
                f"A {kind} channel cannot run {', '.join(not_offered)}; "
                f"it runs {', '.join(offered)}."
            )


async def add_channel(rt: Runtime, name: str, kind: str, **fields: Any) -> Channel:
    _check_channel(kind, fields)
    async with rt.db.write() as uow:
        if await uow.channel_by_name(name) is not None:
            raise AccountError(f"Channel {name!r} exists already.")
        channel = Channel(name=name, kind=kind, created_at=rt.clock(), **fields)
        uow.add(channel)
    return channel


async def list_channels(rt: Runtime) -> list[tuple[Channel, int]]:
    async with rt.db.read() as uow:
        loads = await uow.active_counts()
        shown = [c for c in await uow.channels() if c.removed_at is None]
        return [(c, loads.get(c.id or 0, 0)) for c in shown]


async def _named_channel(uow: UnitOfWork, name: str) -> Channel:
    channel = await uow.channel_by_name(name)
    if channel is None or channel.removed_at is not None:
        raise AccountError(f"No channel {name!r}.")
    return channel


async def edit_channel(
    rt: Runtime, name: str, config: dict[str, Any], kind: str | None = None, **fields: Any
) -> Channel:
    """Change a channel's limits and settings. ``config`` holds the settings to change (a
    None value drops one), given for channels of ``kind``; the result is checked as `channel
    add` checks a new one, and the workers use it from their next step (a new configuration
    makes a new executor client)."""
    async with rt.db.write() as uow:
        channel = await _named_channel(uow, name)
        if kind is not None and kind != channel.kind:
            raise AccountError(
                f"Those are settings of a {kind} channel; {name!r} is a {channel.kind} channel."
            )
        merged = {**channel.config, **config}
        merged = {key: value for key, value in merged.items() if value is not None}
        checked = {"config": merged, "actions": fields.get("actions", channel.actions)}
        _check_channel(channel.kind, checked)
        fields["actions"] = checked["actions"]
        channel.config = merged
        for field_name, value in fields.items():
            setattr(channel, field_name, value)
    return channel


async def remove_channel(rt: Runtime, name: str) -> int:
    """Remove a channel that has no unfinished task; the number of finished ones it ran.

    The row stays, marked removed: finished tasks point at it (tasks.channel_id, a foreign
    key on both databases) and keep their history, and a removed channel is not "no channel"
    to the first-start bootstrap, which would otherwise bring the sandbox back. It leaves
    rotation and every list, and is renamed NAME~removed-ID so that NAME is free again."""
    now = rt.clock()
    async with rt.db.write() as uow:
        channel = await _named_channel(uow, name)
        assert channel.id is not None
        await uow.lock_channel(channel.id)  # no submit adds a task to it meanwhile
        unfinished = await uow.count_by_status(channel.id, UNFINISHED_STATUSES)
        if unfinished:
            raise AccountError(
                f"Channel {name!r} has {unfinished} unfinished task(s). Disable it "
                f"(`mjgate channel disable {name}`), let them finish, then remove it."
            )
        finished = await uow.count_tasks_on(channel.id)
        take_out_of_service(channel, "removed by the operator", now)
        channel.removed_at = now
        suffix = f"~removed-{channel.id}"
        channel.name = channel.name[: 64 - len(suffix)] + suffix
    return finished


async def set_channel_enabled(rt: Runtime, name: str, enabled: bool, reason: str | None) -> Channel:
    async with rt.db.write() as uow:
        channel = await uow.channel_by_name(name)
        if channel is None:
            raise AccountError(f"No channel {name!r}.")
        if enabled:
            # Also forgets failures and rests, and its executor is made afresh: a fresh start.
            put_back_in_service(channel, rt.clock())
        else:
            take_out_of_service(channel, reason or "disabled by the operator", rt.clock())
    return channel
