"""The ``mjgate`` command: the composition root for processes and operator commands."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
import uvicorn
from prometheus_client import start_http_server
from uvicorn.loops.auto import auto_loop_factory

from mjgate.api.app import create_app
from mjgate.db.migrate import upgrade_database
from mjgate.domain.webhooks import WebhookDelivery
from mjgate.errors import RequestRejected
from mjgate.providers.discord.config import public_config as discord_public_config
from mjgate.providers.relay_config import public_config
from mjgate.services import accounts, deliveries, pricing, quota
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings, load_settings
from mjgate.workers.runner import Worker

T = TypeVar("T")

app = typer.Typer(
    help="mjgate: a Midjourney task gateway speaking the midjourney-proxy /mj protocol.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(
    help="Users: the accounts that own tokens, tasks and quota.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens: shown once, stored only as hashes.", no_args_is_help=True)
channel_app = typer.Typer(help="Channels: the executors tasks run on.", no_args_is_help=True)
quota_app = typer.Typer(
    help="Quota: balances in whole units; every grant, charge and refund is a ledger row.",
    no_args_is_help=True,
)
price_app = typer.Typer(
    help="Prices per action and mode, charged when a task is created, refunded if it fails.",
    no_args_is_help=True,
)
webhooks_app = typer.Typer(
    help="Webhooks: the notifyHook pushes owed to receivers, their retries and failures.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(channel_app, name="channel")
app.add_typer(quota_app, name="quota")
app.add_typer(price_app, name="price")
app.add_typer(webhooks_app, name="webhooks")


def _settings() -> Settings:
    return load_settings()


def _run(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one operator command against a migrated database, then close it."""
    upgrade_database(settings.resolved_database_url)

    async def main() -> T:
        rt = Runtime.from_settings(settings)
        try:
            return await work(rt)
        finally:
            await rt.db.dispose()

    try:
        return asyncio.run(main())
    except RequestRejected as exc:
        typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def _secret(what: str, flag: str, env_name: str | None, file: Path | None) -> str | None:
    """A secret (a relay's upstream secret, a Discord account's token) from an environment
    variable, a file, or (at a terminal) a hidden prompt; never from the command line,
    where other users and shell history see it, and never printed back."""
    if env_name is not None and file is not None:
        _fail(f"give --{flag}-env or --{flag}-file, not both.")
    if env_name is not None:
        value = os.environ.get(env_name, "").strip()
        if not value:
            _fail(f"the environment variable {env_name} is not set or empty.")
        return value
    if file is not None:
        try:
            value = file.read_text().strip()
        except OSError as exc:
            _fail(f"cannot read the {flag} file {file}: {exc.strerror}.")
        if not value:
            _fail(f"the {flag} file {file} is empty.")
        return value
    if sys.stdin.isatty():
        prompted: str = typer.prompt(what, hide_input=True)
        return prompted.strip() or None
    return None  # the channel check answers that the secret is missing


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [MJGATE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [MJGATE_PORT].")] = None,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="Serve HTTP only; run `mjgate worker` elsewhere.")
    ] = False,
) -> None:
    """Serve the /mj API (and, unless --no-workers, run the task workers in this process)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings()
    if not settings.public_url:
        logging.getLogger(__name__).warning(
            "MJGATE_PUBLIC_URL is not set: image and callback URLs will use the request's Host "
            "only when it is in MJGATE_ALLOWED_HOSTS (%s), else this server's own address "
            "(http://%s:%s). Set MJGATE_PUBLIC_URL to the address clients reach.",
            ", ".join(settings.allowed_hosts) or "none",
            host or settings.host,
            port or settings.port,
        )
    upgrade_database(settings.resolved_database_url)
    # The event loop uvicorn itself would pick (uvloop when installed): asyncio.run's default
    # loop costs a good share of the requests per second on the polled reads.
    with asyncio.Runner(loop_factory=auto_loop_factory()) as runner:
        runner.run(_serve(settings, host or settings.host, port or settings.port, not no_workers))


class _GracefulServer(uvicorn.Server):
    """uvicorn, minus its habit of raising the stop signal again once it has shut down.

    That re-raise kills the process with the default handler before the workers in it
    have finished their steps and handed back their tasks; this server takes SIGTERM or
    SIGINT, shuts down, and returns, and ``_serve`` stops the workers after it.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, self.handle_exit, signum, None)
        try:
            yield
        finally:
            for signum in _STOP_SIGNALS:
                loop.remove_signal_handler(signum)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _serve(settings: Settings, host: str, port: int, with_workers: bool) -> None:
    rt = Runtime.from_settings(settings)
    await _announce_bootstrap(rt)
    worker = Worker(rt) if with_workers else None
    config = uvicorn.Config(
        create_app(rt),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        # The peer must stay the real socket: rate limits count per client address, and
        # only MJGATE_TRUSTED_PROXIES may speak for others (api.client_address).
        proxy_headers=False,
    )
    server = _GracefulServer(config)
    if worker is not None:
        worker.start()
    try:
        await server.serve()
    finally:
        if worker is not None:
            await worker.stop()
        await rt.close_providers()
        await rt.db.dispose()


@app.command()
def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve this process's Prometheus metrics on this port (on MJGATE_HOST)."),
    ] = None,
) -> None:
    """Run only the task workers (dispatch, poll, sweep), without HTTP."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings()
    upgrade_database(settings.resolved_database_url)
    exporter = None
    if metrics_port is not None:
        # A worker's own instruments (starts, run times, provider errors) live only in this
        # process; the task counts are served by any `mjgate serve` from the database.
        exporter, _thread = start_http_server(metrics_port, addr=settings.host)
    try:
        asyncio.run(_work(settings))
    finally:
        if exporter is not None:
            exporter.shutdown()


@app.command("discord-sim")
def discord_sim(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 0,
    token: Annotated[
        str, typer.Option(help="The user token the simulated Discord accepts.")
    ] = "sim-token",
    speed: Annotated[
        float,
        typer.Option(min=0.001, help="Time scale of the bot's jobs (0.1: ten times faster)."),
    ] = 1.0,
) -> None:
    """Simulate Discord and the Midjourney bot offline, for trying a discord channel.

    Prints one line `channel add options: ...`: give those options (and --token-env VAR with
    VAR=TOKEN) to `mjgate channel add NAME --kind discord`.
    """
    from mjgate.discord_sim.server import main  # a tool: not loaded by any other command

    main(host=host, port=port, token=token, speed=speed)


async def _work(settings: Settings) -> None:
    """Run the loops until SIGTERM or SIGINT; then stop claiming, finish or hand back."""
    rt = Runtime.from_settings(settings)
    runner = Worker(rt)
    runner.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logging.getLogger(__name__).info("stopping: finishing or handing back the work in hand")
    await runner.stop()
    await rt.close_providers()
    await rt.db.dispose()


async def _announce_bootstrap(rt: Runtime) -> None:
    done = await accounts.bootstrap(rt)
    if done.admin_token:
        typer.echo("Created user 'admin'. Its API token (shown once, keep it):")
        typer.echo(done.admin_token)
    if done.created_channel:
        typer.echo(
            "Created channel 'sandbox': it simulates Midjourney offline (it is not Midjourney)."
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations up to the newest (serve does this on start too)."""
    settings = _settings()
    upgrade_database(settings.resolved_database_url)
    typer.echo("database is up to date")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="A unique user name.")],
    admin: Annotated[bool, typer.Option("--admin", help="May read every user's tasks.")] = False,
) -> None:
    """Create a user (then give it a token with `mjgate token create NAME`)."""
    user = _run(_settings(), lambda rt: accounts.create_user(rt, name, is_admin=admin))
    typer.echo(f"created user {user.name!r} (id {user.id}{', admin' if user.is_admin else ''})")


@user_app.command("list")
def user_list() -> None:
    """List users with their balance."""
    for user in _run(_settings(), accounts.list_users):
        flags = " admin" if user.is_admin else ""
        flags += "" if user.enabled else " disabled"
        typer.echo(f"{user.id}\t{user.name}\tbalance {user.balance}{flags}")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="The user the token acts for.")],
    label: Annotated[str, typer.Option(help="A note to recognise the token by.")] = "",
    spend_cap: Annotated[
        int | None, typer.Option(min=0, help="Most quota this token may spend (none: no cap).")
    ] = None,
) -> None:
    """Create an API token. The token is printed once, alone on the last line."""
    row, token = _run(
        _settings(), lambda rt: accounts.create_token(rt, user, label, spend_cap=spend_cap)
    )
    typer.echo(f"token {row.prefix}… for user {user!r} (shown once):")
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="The token, or the prefix that lists show.")],
) -> None:
    """Disable a token: requests with it are refused (403) from now on."""
    row = _run(_settings(), lambda rt: accounts.revoke_token(rt, token))
    typer.echo(f"revoked token {row.prefix}…")


@channel_app.command("add")
def channel_add(
    name: Annotated[str, typer.Argument(help="A unique channel name.")],
    kind: Annotated[
        str, typer.Option(help="Executor kind: sandbox, relay or discord.")
    ] = "sandbox",
    core_size: Annotated[int, typer.Option(min=1, help="Tasks running at once.")] = 3,
    queue_size: Annotated[int, typer.Option(min=0, help="Tasks waiting at most.")] = 10,
    timeout: Annotated[int, typer.Option(min=1, help="Seconds a task may run.")] = 600,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Sandbox: seconds per imagine.")
    ] = None,
    modes: Annotated[str | None, typer.Option(help="Modes served, e.g. FAST,RELAX (all).")] = None,
    actions: Annotated[
        str | None, typer.Option(help="Actions served, e.g. IMAGINE,UPSCALE (all).")
    ] = None,
    weight: Annotated[int, typer.Option(min=1, help="Preference among equally loaded.")] = 1,
    priority: Annotated[int, typer.Option(help="Higher is tried first.")] = 0,
    base_url: Annotated[str | None, typer.Option(help="Relay: the upstream's base URL.")] = None,
    secret: Annotated[
        str | None, typer.Option(hidden=True, help="Refused: use --secret-env or --secret-file.")
    ] = None,
    secret_env: Annotated[
        str | None, typer.Option(help="Relay: environment variable holding the upstream's secret.")
    ] = None,
    secret_file: Annotated[
        Path | None, typer.Option(help="Relay: file holding the upstream's secret.")
    ] = None,
    auth: Annotated[
        str, typer.Option(help="Relay: send the secret as mj-api-secret or bearer.")
    ] = "mj-api-secret",
    submit_timeout: Annotated[
        float | None, typer.Option(min=1, help="Relay: seconds to wait for a submit's answer.")
    ] = None,
    media_host: Annotated[
        list[str] | None, typer.Option(help="Relay: another host its result files are on.")
    ] = None,
    allow_private_media: Annotated[
        bool, typer.Option(help="Relay: allow result files on private addresses.")
    ] = False,
    guild_id: Annotated[str | None, typer.Option(help="Discord: the server (guild) id.")] = None,
    channel_id: Annotated[
        str | None, typer.Option(help="Discord: the channel id where the bot answers.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(hidden=True, help="Refused: use --token-env or --token-file.")
    ] = None,
    token_env: Annotated[
        str | None, typer.Option(help="Discord: environment variable holding the user token.")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="Discord: file holding the account's user token.")
    ] = None,
    user_agent: Annotated[
        str | None, typer.Option(help="Discord: the browser User-Agent the account uses.")
    ] = None,
    niji: Annotated[
        bool, typer.Option(help="Discord: the niji・journey bot is in the channel too.")
    ] = False,
    pace: Annotated[
        str | None,
        typer.Option(help="Discord: seconds between interactions, MIN-MAX (default 1-3)."),
    ] = None,
    daily_limit: Annotated[
        int | None, typer.Option(min=1, help="Tasks the channel may start per UTC day.")
    ] = None,
    api_url: Annotated[str | None, typer.Option(help="Discord: REST base URL.")] = None,
    gateway_url: Annotated[str | None, typer.Option(help="Discord: gateway base URL.")] = None,
    cdn_url: Annotated[
        str | None, typer.Option(help="Discord: base URL replacing cdn.discordapp.com.")
    ] = None,
    upload_url: Annotated[
        str | None, typer.Option(help="Discord: base URL replacing the upload host.")
    ] = None,
    iframe_url: Annotated[
        str | None, typer.Option(help="Discord: base URL of the Vary (Region) editor.")
    ] = None,
) -> None:
    """Add a channel: sandbox (offline), relay (another /mj server), or discord (a
    Midjourney account; automating one is against Discord's terms and can get it banned)."""
    config: dict[str, object] = {"duration": duration} if duration is not None else {}
    if kind == "relay":
        if secret is not None:
            _fail(
                "--secret is refused: a command line is visible to every user of this machine "
                "and kept in shell history. Use --secret-env NAME, --secret-file PATH, or leave "
                "both out to be asked for it."
            )
        config = {
            "base_url": base_url,
            "secret": _secret("Upstream secret", "secret", secret_env, secret_file),
        }
        config["auth"] = auth
        if submit_timeout is not None:
            config["submit_timeout"] = submit_timeout
        if media_host:
            config["media_hosts"] = list(media_host)
        if allow_private_media:
            config["allow_private_media"] = True
    if kind == "discord":
        if token is not None:
            _fail(
                "--token is refused: a command line is visible to every user of this machine "
                "and kept in shell history. Use --token-env NAME, --token-file PATH, or leave "
                "both out to be asked for it."
            )
        config = _discord_config(
            guild_id=guild_id,
            channel_id=channel_id,
            token=_secret("Discord user token", "token", token_env, token_file),
            user_agent=user_agent,
            niji=niji,
            pace=pace,
            api_url=api_url,
            gateway_url=gateway_url,
            cdn_url=cdn_url,
            upload_url=upload_url,
            iframe_url=iframe_url,
        )
    if daily_limit is not None:
        config["daily_limit"] = daily_limit
    mode_list = [m.strip().upper() for m in modes.split(",")] if modes else None
    action_list = [a.strip().upper() for a in actions.split(",")] if actions else None
    channel = _run(
        _settings(),
        lambda rt: accounts.add_channel(
            rt,
            name,
            kind,
            config=config,
            core_size=core_size,
            queue_size=queue_size,
            timeout_seconds=timeout,
            modes=mode_list,
            actions=action_list,
            weight=weight,
            priority=priority,
        ),
    )
    typer.echo(f"added channel {channel.name!r} ({channel.kind})")


def _discord_config(*, pace: str | None, **given: object) -> dict[str, object]:
    config = {name: value for name, value in given.items() if value not in (None, False)}
    # Niji tasks go only to accounts whose channel has the niji・journey bot.
    config["bots"] = ["MID_JOURNEY", "NIJI_JOURNEY"] if given.get("niji") else ["MID_JOURNEY"]
    if pace is not None:
        low, _, high = pace.partition("-")
        try:
            config["pace_min"] = float(low)
            config["pace_max"] = float(high or low)
        except ValueError:
            _fail("--pace takes seconds as MIN-MAX, e.g. 1-3, or one number.")
    return config


@channel_app.command("list")
def channel_list() -> None:
    """List channels with their limits, load, state and health (secrets masked)."""
    now = datetime.now(UTC)
    for channel, active in _run(_settings(), accounts.list_channels):
        state = "enabled"
        if not channel.enabled:
            state = f"disabled: {channel.disabled_reason}"
            if channel.disabled_at is not None:
                since = datetime.fromtimestamp(channel.disabled_at / 1000, UTC)
                state += f" (since {since:%Y-%m-%d %H:%M} UTC)"
        if channel.is_resting(int(now.timestamp() * 1000)):
            assert channel.resting_until is not None
            until = datetime.fromtimestamp(channel.resting_until / 1000, UTC)
            after = f" after {channel.failures} failures" if channel.failures else ""
            state = f"resting until {until:%H:%M:%S} UTC{after}: {channel.health_reason}"
        elif channel.failures:
            state += f" ({channel.failures} recent failures: {channel.health_reason})"
        line = (
            f"{channel.name}\t{channel.kind}\tcore {channel.core_size}\tqueue {channel.queue_size}"
            f"\tactive {active}\t{state}"
        )
        if channel.kind == "relay":
            shown = public_config(channel.config)
            line += f"\t{shown.get('base_url')} secret {shown.get('secret')}"
        elif channel.kind == "discord":
            shown = discord_public_config(channel.config)
            line += (
                f"\tguild {shown.get('guild_id')} channel {shown.get('channel_id')}"
                f" token {shown.get('token')}"
            )
        typer.echo(line)


@channel_app.command("disable")
def channel_disable(
    name: Annotated[str, typer.Argument(help="The channel.")],
    reason: Annotated[str | None, typer.Option(help="Why, for `channel list`.")] = None,
) -> None:
    """Take a channel out of rotation (its running tasks still finish)."""
    _run(_settings(), lambda rt: accounts.set_channel_enabled(rt, name, False, reason))
    typer.echo(f"disabled channel {name!r}")


@channel_app.command("enable")
def channel_enable(name: Annotated[str, typer.Argument(help="The channel.")]) -> None:
    """Put a disabled channel back into rotation."""
    _run(_settings(), lambda rt: accounts.set_channel_enabled(rt, name, True, None))
    typer.echo(f"enabled channel {name!r}")


@quota_app.command("add")
def quota_add(
    user: Annotated[str, typer.Argument(help="The user.")],
    amount: Annotated[int, typer.Argument(help="Units to grant; negative takes back.")],
    reason: Annotated[str, typer.Option(help="Shown in the ledger.")] = "operator grant",
) -> None:
    """Grant quota to a user (a ledger row of kind topup)."""
    balance = _run(_settings(), lambda rt: quota.add_quota(rt, user, amount, reason))
    typer.echo(f"{user}: balance {balance}")


@quota_app.command("show")
def quota_show(
    user: Annotated[str, typer.Argument(help="The user.")],
    limit: Annotated[int, typer.Option(min=1, help="Ledger rows to show.")] = 20,
) -> None:
    """A user's balance, spend, and newest ledger rows."""
    report = _run(_settings(), lambda rt: quota.quota_report(rt, user, limit))
    typer.echo(f"{user}: balance {report.user.balance}, spent {report.spent}")
    for entry in report.ledger:
        task = entry.task_id or "-"
        typer.echo(
            f"{_when(entry.created_at)}\t{entry.kind.value}\t{entry.amount:+d}\t{task}\t{entry.reason}"
        )


@price_app.command("list")
def price_list() -> None:
    """Every action's price in every mode, overrides applied."""
    for action, mode, price in _run(_settings(), pricing.price_table):
        typer.echo(f"{action.value}\t{mode.value}\t{price}")


@price_app.command("set")
def price_set(
    key: Annotated[
        str, typer.Argument(help="ACTION (all modes) or ACTION:MODE, e.g. VIDEO:RELAX.")
    ],
    price: Annotated[
        int | None, typer.Argument(min=0, help="Whole quota units; leave out to reset.")
    ] = None,
) -> None:
    """Override a price for every process on this database (leave PRICE out to reset it)."""
    canonical = _run(_settings(), lambda rt: pricing.set_price(rt, key, price))
    shown = "the default" if price is None else str(price)
    typer.echo(f"{canonical}: {shown}")


@webhooks_app.command("list")
def webhooks_list(
    failed: Annotated[
        bool, typer.Option("--failed", help="Only dead deliveries and those awaiting a retry.")
    ] = False,
    task: Annotated[str | None, typer.Option(help="Only this task's deliveries.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to show, newest first.")] = 50,
) -> None:
    """List webhook deliveries, newest first: status, attempts, task, URL, last error."""
    rows = _run(
        _settings(),
        lambda rt: deliveries.list_deliveries(rt, failed_only=failed, task_id=task, limit=limit),
    )
    for row in rows:
        typer.echo(_delivery_line(row))


def _delivery_line(row: WebhookDelivery) -> str:
    kind = "final" if row.is_final else "step"
    error = row.last_error or "-"
    return (
        f"{row.id}\t{row.status.value}\t{row.attempts} attempts\t{row.task_id} {kind}"
        f"\t{_when(row.created_at)}\t{row.url}\t{error}"
    )


@webhooks_app.command("retry")
def webhooks_retry(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's ID, as `list` shows it.")],
) -> None:
    """Send a dead delivery again now, with a fresh retry window."""
    row = _run(_settings(), lambda rt: deliveries.retry_delivery(rt, delivery_id))
    typer.echo(f"delivery {row.id} of task {row.task_id} is queued again")


@webhooks_app.command("secret")
def webhooks_secret() -> None:
    """Print the secret that signs webhooks (receivers check X-Mjgate-Signature with it)."""
    typer.echo(_settings().webhook_secret)


def _when(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
