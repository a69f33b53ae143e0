"""``mjgate channel``: the executors tasks run on (sandbox, relay, discord)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from mjgate.cli import channel_settings as settings
from mjgate.cli.operator import fail, run, when
from mjgate.cli.tables import JsonOption, print_rows

app = typer.Typer(help="Channels: the executors tasks run on.", no_args_is_help=True)

# Options `channel add` and `channel edit` share; on edit, a left-out option changes nothing.
CoreSize = Annotated[int | None, typer.Option(min=1, help="Tasks running at once.")]
QueueSize = Annotated[int | None, typer.Option(min=0, help="Tasks waiting at most.")]
Timeout = Annotated[int | None, typer.Option(min=1, help="Seconds a task may run.")]
Duration = Annotated[float | None, typer.Option(min=0, help="Sandbox: seconds per imagine.")]
Modes = Annotated[str | None, typer.Option(help="Modes served, e.g. FAST,RELAX (ALL: all).")]
Actions = Annotated[
    str | None, typer.Option(help="Actions served, e.g. IMAGINE,UPSCALE (ALL: all).")
]
Weight = Annotated[int | None, typer.Option(min=1, help="Preference among equally loaded.")]
Priority = Annotated[int | None, typer.Option(help="Higher is tried first.")]
DailyLimit = Annotated[
    int | None, typer.Option(min=0, help="Tasks the channel may start per UTC day (0: none).")
]
BaseUrl = Annotated[str | None, typer.Option(help="Relay: the upstream's base URL.")]
Secret = Annotated[
    str | None, typer.Option(hidden=True, help="Refused: use --secret-env or --secret-file.")
]
SecretEnv = Annotated[
    str | None, typer.Option(help="Relay: environment variable holding the upstream's secret.")
]
SecretFile = Annotated[Path | None, typer.Option(help="Relay: file holding the upstream's secret.")]
SubmitTimeout = Annotated[
    float | None, typer.Option(min=1, help="Relay: seconds to wait for a submit's answer.")
]
MediaHost = Annotated[
    list[str] | None, typer.Option(help="Relay: another host its result files are on.")
]
GuildId = Annotated[str | None, typer.Option(help="Discord: the server (guild) id.")]
ChannelId = Annotated[
    str | None, typer.Option(help="Discord: the channel id where the bot answers.")
]
Token = Annotated[
    str | None, typer.Option(hidden=True, help="Refused: use --token-env or --token-file.")
]
TokenEnv = Annotated[
    str | None, typer.Option(help="Discord: environment variable holding the user token.")
]
TokenFile = Annotated[
    Path | None, typer.Option(help="Discord: file holding the account's user token.")
]
UserAgent = Annotated[
    str | None, typer.Option(help="Discord: the browser User-Agent the account uses.")
]
Pace = Annotated[
    str | None, typer.Option(help="Discord: seconds between interactions, MIN-MAX (default 1-3).")
]
ApiUrl = Annotated[str | None, typer.Option(help="Discord: REST base URL.")]
GatewayUrl = Annotated[str | None, typer.Option(help="Discord: gateway base URL.")]
CdnUrl = Annotated[str | None, typer.Option(help="Discord: base URL replacing cdn.discordapp.com.")]
UploadUrl = Annotated[str | None, typer.Option(help="Discord: base URL replacing the upload host.")]
IframeUrl = Annotated[
    str | None, typer.Option(help="Discord: base URL of the Vary (Region) editor.")
]


@app.command("add")
def channel_add(
    name: Annotated[str, typer.Argument(help="A unique channel name.")],
    kind: Annotated[
        str, typer.Option(help="Executor kind: sandbox, relay or discord.")
    ] = "sandbox",
    core_size: CoreSize = 3,
    queue_size: QueueSize = 10,
    timeout: Timeout = 600,
    duration: Duration = None,
    modes: Modes = None,
    actions: Actions = None,
    weight: Weight = 1,
    priority: Priority = 0,
    base_url: BaseUrl = None,
    secret: Secret = None,
    secret_env: SecretEnv = None,
    secret_file: SecretFile = None,
    auth: Annotated[
        str, typer.Option(help="Relay: send the secret as mj-api-secret or bearer.")
    ] = "mj-api-secret",
    submit_timeout: SubmitTimeout = None,
    media_host: MediaHost = None,
    allow_private_media: Annotated[
        bool, typer.Option(help="Relay: allow result files on private addresses.")
    ] = False,
    guild_id: GuildId = None,
    channel_id: ChannelId = None,
    token: Token = None,
    token_env: TokenEnv = None,
    token_file: TokenFile = None,
    user_agent: UserAgent = None,
    niji: Annotated[
        bool, typer.Option(help="Discord: the niji・journey bot is in the channel too.")
    ] = False,
    pace: Pace = None,
    daily_limit: DailyLimit = None,
    api_url: ApiUrl = None,
    gateway_url: GatewayUrl = None,
    cdn_url: CdnUrl = None,
    upload_url: UploadUrl = None,
    iframe_url: IframeUrl = None,
) -> None:
    """Add a channel: sandbox (offline), relay (another /mj server), or discord (a
    Midjourney account; automating one is against Discord's terms and can get it banned)."""
    from mjgate.services import accounts

    config: dict[str, object] = {"duration": duration} if duration is not None else {}
    if kind == "relay":
        if secret is not None:
            settings.refuse_on_command_line("secret")
        config = {
            "base_url": base_url,
            "secret": settings.read_secret("Upstream secret", "secret", secret_env, secret_file),
            "auth": auth,
        }
        if submit_timeout is not None:
            config["submit_timeout"] = submit_timeout
        if media_host:
            config["media_hosts"] = list(media_host)
        if allow_private_media:
            config["allow_private_media"] = True
    if kind == "discord":
        if token is not None:
            settings.refuse_on_command_line("token")
        config = settings.discord_config(
            guild_id=guild_id,
            channel_id=channel_id,
            token=settings.read_secret("Discord user token", "token", token_env, token_file),
            user_agent=user_agent,
            niji=niji,
            pace=pace,
            api_url=api_url,
            gateway_url=gateway_url,
            cdn_url=cdn_url,
            upload_url=upload_url,
            iframe_url=iframe_url,
        )
    if daily_limit:
        config["daily_limit"] = daily_limit
    channel = run(
        lambda rt: accounts.add_channel(
            rt,
            name,
            kind,
            config=config,
            core_size=core_size,
            queue_size=queue_size,
            timeout_seconds=timeout,
            modes=settings.list_of(modes),
            actions=settings.list_of(actions),
            weight=weight,
            priority=priority,
        )
    )
    typer.echo(f"added channel {channel.name!r} ({channel.kind})")


@app.command("edit")
def channel_edit(
    name: Annotated[str, typer.Argument(help="The channel.")],
    core_size: CoreSize = None,
    queue_size: QueueSize = None,
    timeout: Timeout = None,
    duration: Duration = None,
    modes: Modes = None,
    actions: Actions = None,
    weight: Weight = None,
    priority: Priority = None,
    daily_limit: DailyLimit = None,
    base_url: BaseUrl = None,
    secret: Secret = None,
    secret_env: SecretEnv = None,
    secret_file: SecretFile = None,
    auth: Annotated[
        str | None, typer.Option(help="Relay: send the secret as mj-api-secret or bearer.")
    ] = None,
    submit_timeout: SubmitTimeout = None,
    media_host: MediaHost = None,
    allow_private_media: Annotated[
        bool | None,
        typer.Option(
            "--allow-private-media/--no-allow-private-media",
            help="Relay: allow result files on private addresses.",
        ),
    ] = None,
    guild_id: GuildId = None,
    channel_id: ChannelId = None,
    token: Token = None,
    token_env: TokenEnv = None,
    token_file: TokenFile = None,
    user_agent: UserAgent = None,
    niji: Annotated[
        bool | None,
        typer.Option("--niji/--no-niji", help="Discord: the niji・journey bot is in the channel."),
    ] = None,
    pace: Pace = None,
    api_url: ApiUrl = None,
    gateway_url: GatewayUrl = None,
    cdn_url: CdnUrl = None,
    upload_url: UploadUrl = None,
    iframe_url: IframeUrl = None,
) -> None:
    """Change a channel's limits and settings; what is left out stays. Secrets come from
    --secret-env/--secret-file (relay) or --token-env/--token-file (discord) only."""
    from mjgate.services import accounts

    if secret is not None:
        settings.refuse_on_command_line("secret", asked=False)
    if token is not None:
        settings.refuse_on_command_line("token", asked=False)
    relay = settings.given(
        base_url=base_url,
        secret=settings.read_secret("", "secret", secret_env, secret_file, prompt=False),
        auth=auth,
        submit_timeout=submit_timeout,
        media_hosts=list(media_host) if media_host else None,
        allow_private_media=allow_private_media,
    )
    discord = settings.given(
        guild_id=guild_id,
        channel_id=channel_id,
        token=settings.read_secret("", "token", token_env, token_file, prompt=False),
        user_agent=user_agent,
        api_url=api_url,
        gateway_url=gateway_url,
        cdn_url=cdn_url,
        upload_url=upload_url,
        iframe_url=iframe_url,
    )
    if niji is not None:
        discord.update(niji=niji or None, bots=settings.bots(niji))
    if pace is not None:
        discord.update(settings.pace_settings(pace))
    sandbox = settings.given(duration=duration)
    named = [kind for kind, changes in (("relay", relay), ("discord", discord)) if changes]
    named += ["sandbox"] if sandbox else []
    if len(named) > 1:
        fail(f"those options are for different kinds of channel ({', '.join(named)}).")
    config: dict[str, Any] = {**relay, **discord, **sandbox}
    if daily_limit is not None:
        config["daily_limit"] = daily_limit or None  # 0 drops the limit
    fields: dict[str, Any] = settings.given(
        core_size=core_size,
        queue_size=queue_size,
        timeout_seconds=timeout,
        weight=weight,
        priority=priority,
    )
    for field_name, text in (("modes", modes), ("actions", actions)):
        if text is not None:
            fields[field_name] = None if text.strip().upper() == "ALL" else settings.list_of(text)
    if not config and not fields:
        fail("nothing to change: give at least one option (see --help).")
    kind = named[0] if named else None
    channel = run(lambda rt: accounts.edit_channel(rt, name, config, kind, **fields))
    typer.echo(f"changed channel {channel.name!r}")


@app.command("remove")
def channel_remove(name: Annotated[str, typer.Argument(help="The channel.")]) -> None:
    """Remove a channel. Refused while tasks on it are unfinished; finished tasks keep their
    history (the channel's row stays in the database for them, marked removed)."""
    from mjgate.services import accounts

    finished = run(lambda rt: accounts.remove_channel(rt, name))
    kept = f" ({finished} finished tasks keep their history)" if finished else ""
    typer.echo(f"removed channel {name!r}{kept}")


@app.command("list")
def channel_list(as_json: JsonOption = False) -> None:
    """List channels with their limits, load, state and health (secrets masked)."""
    from mjgate.providers.kinds import kind_named
    from mjgate.services import accounts

    now = int(datetime.now(UTC).timestamp() * 1000)
    rows = []
    for channel, active in run(accounts.list_channels):
        found = kind_named(channel.kind)
        shown = found.public_config(channel.config) if found else {}
        rows.append(
            {
                "name": channel.name,
                "kind": channel.kind,
                "core": channel.core_size,
                "queue": channel.queue_size,
                "active": active,
                "timeout": channel.timeout_seconds,
                "modes": channel.modes,
                "actions": channel.actions,
                "weight": channel.weight,
                "priority": channel.priority,
                "daily_limit": channel.daily_limit,
                "state": _state(channel, now),
                "settings": {k: v for k, v in shown.items() if k != "daily_limit"},
            }
        )
    columns: tuple[str, ...] = ("name", "kind", "core", "queue", "active", "state", "settings")
    if as_json:
        columns = tuple(rows[0]) if rows else columns
    print_rows(columns, rows, as_json=as_json)


def _state(channel: Any, now: int) -> str:
    state = "enabled"
    if not channel.enabled:
        state = f"disabled: {channel.disabled_reason}"
        if channel.disabled_at is not None:
            state += f" (since {when(channel.disabled_at)} UTC)"
    if channel.is_resting(now):
        until = datetime.fromtimestamp(channel.resting_until / 1000, UTC)
        after = f" after {channel.failures} failures" if channel.failures else ""
        state = f"resting until {until:%H:%M:%S} UTC{after}: {channel.health_reason}"
    elif channel.failures:
        state += f" ({channel.failures} recent failures: {channel.health_reason})"
    return state


@app.command("disable")
def channel_disable(
    name: Annotated[str, typer.Argument(help="The channel.")],
    reason: Annotated[str | None, typer.Option(help="Why, for `channel list`.")] = None,
) -> None:
    """Take a channel out of rotation (its running tasks still finish)."""
    from mjgate.services import accounts

    run(lambda rt: accounts.set_channel_enabled(rt, name, False, reason))
    typer.echo(f"disabled channel {name!r}")


@app.command("enable")
def channel_enable(name: Annotated[str, typer.Argument(help="The channel.")]) -> None:
    """Put a disabled channel back into rotation."""
    from mjgate.services import accounts

    run(lambda rt: accounts.set_channel_enabled(rt, name, True, None))
    typer.echo(f"enabled channel {name!r}")
