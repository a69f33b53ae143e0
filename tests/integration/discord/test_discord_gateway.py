"""GatewaySession against a scripted gateway double (a websockets server on 127.0.0.1):
each test says what the gateway does on each connection, and checks what the client did."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from mjgate.providers.discord.errors import AccountRefused, DiscordUnavailable
from mjgate.providers.discord.gateway import GatewaySession

TOKEN = "MTA-secret-user-token.Gx7.abcdefghijklmnop"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36"
DOUBLE_LOG = "tests.gateway_double"
BEAT_MS = 80  # the double's heartbeat interval: several beats fit in a fraction of a second


class Peer:
    """The gateway's side of one connection."""

    def __init__(self, ws: ServerConnection, started: float) -> None:
        self.ws = ws
        self.path = ws.request.path if ws.request is not None else ""
        self.compress = "compress=zlib-stream" in self.path
        self.deflate = zlib.compressobj()
        self.got: list[dict[str, Any]] = []
        self.started = started
        self.seq = 0

    async def send(self, payload: Mapping[str, Any], *, pieces: int = 1) -> None:
        raw = orjson.dumps(payload)
        if not self.compress:
            await self.ws.send(raw.decode())
            return
        data = self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        step = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), step):
            await self.ws.send(data[start : start + step])

    async def dispatch(self, name: str, data: Mapping[str, Any], *, pieces: int = 1) -> None:
        self.seq += 1
        await self.send({"op": 0, "t": name, "s": self.seq, "d": data}, pieces=pieces)

    async def recv(self) -> dict[str, Any]:
        payload: dict[str, Any] = orjson.loads(await self.ws.recv())
        self.got.append(payload)
        return payload

    async def hello(self) -> None:
        await self.send({"op": 10, "d": {"heartbeat_interval": BEAT_MS}})

    async def handshake(self, session_id: str = "s1", **ready: Any) -> dict[str, Any]:
        """HELLO, then answer IDENTIFY with READY or RESUME with RESUMED; what came."""
        await self.hello()
        first = await self.recv()
        while first["op"] == 1:  # an early heartbeat may come first
            await self.ack()
            first = await self.recv()
        if first["op"] == 2:
            await self.dispatch("READY", {"session_id": session_id, "v": 9, **ready})
        elif first["op"] == 6:
            self.seq = first["d"]["seq"] or 0
            await self.dispatch("RESUMED", {})
        return first

    async def ack(self) -> None:
        await self.send({"op": 11})

    async def serve(self, *, ack: bool = True) -> None:
        """Answer heartbeats (or not) until the client goes."""
        while True:
            if (await self.recv())["op"] == 1 and ack:
                await self.ack()

    def beats(self) -> list[dict[str, Any]]:
        return [payload for payload in self.got if payload["op"] == 1]


Behaviour = Callable[[Peer, int], Awaitable[None]]


@dataclass
class GatewayDouble:
    url: str = ""
    behave: Behaviour | None = None
    peers: list[Peer] = field(default_factory=list)

    async def handler(self, ws: ServerConnection) -> None:
        peer = Peer(ws, time.monotonic())
        self.peers.append(peer)
        assert self.behave is not None
        with suppress(ConnectionClosed):  # the client left: this connection's script ends
            await self.behave(peer, len(self.peers) - 1)


@pytest.fixture
async def double() -> AsyncIterator[GatewayDouble]:
    gateway = GatewayDouble()
    quiet = logging.getLogger(DOUBLE_LOG)  # the double's frames may show the token; ours not
    async with serve(gateway.handler, "127.0.0.1", 0, compression=None, logger=quiet) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        gateway.url = f"ws://127.0.0.1:{port}/gateway"
        yield gateway


@dataclass
class Calls:
    dispatches: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    readies: list[str] = field(default_factory=list)
    gaps: int = 0
    fatals: list[str] = field(default_factory=list)
    raise_on: str | None = None

    async def on_dispatch(self, name: str, data: Mapping[str, Any]) -> None:
        self.dispatches.append((name, data))
        if name == self.raise_on:
            raise RuntimeError("the account's handler broke")

    async def on_ready(self, session_id: str) -> None:
        self.readies.append(session_id)

    async def on_gap(self) -> None:
        self.gaps += 1

    async def on_fatal(self, reason: str) -> None:
        self.fatals.append(reason)

    def names(self) -> list[str]:
        return [name for name, _ in self.dispatches]


@asynccontextmanager
async def running(
    double: GatewayDouble, behave: Behaviour, calls: Calls, **options: Any
) -> AsyncIterator[GatewaySession]:
    """A started session against the double, closed at the end however the test went."""
    double.behave = behave
    settings: dict[str, Any] = {
        "backoff_initial": 0.02,
        "backoff_max": 0.2,
        "backoff_jitter": 0.0,
        "invalid_session_delay": (0.02, 0.05),
        "open_timeout": 2.0,
        "close_timeout": 1.0,
        "random": random.Random(7),
        **options,
    }
    session = GatewaySession(
        url=double.url,
        token=TOKEN,
        user_agent=UA,
        on_dispatch=calls.on_dispatch,
        on_ready=calls.on_ready,
        on_gap=calls.on_gap,
        on_fatal=calls.on_fatal,
        **settings,
    )
    session.start()
    try:
        yield session
    finally:
        await asyncio.wait_for(session.close(), 5)


async def until(condition: Callable[[], bool], within: float = 3.0) -> None:
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true in time")


@pytest.mark.parametrize("compress", [True, False])
async def test_identify_ready_and_heartbeats_with_acks(
    double: GatewayDouble, compress: bool
) -> None:
    async def behave(peer: Peer, _: int) -> None:
        await peer.handshake("s1", resume_gateway_url="wss://elsewhere.invalid")
        await peer.dispatch("MESSAGE_CREATE", {"id": "m1"})
        await peer.serve()

    calls = Calls()
    async with running(double, behave, calls, compress=compress) as session:
        assert await session.wait_ready(2) == "s1"
        await until(lambda: len(double.peers[0].beats()) >= 4)
        assert session.connected and session.session_id == "s1"
    (peer,) = double.peers
    suffix = "&compress=zlib-stream" if compress else ""
    assert peer.path == "/gateway/?encoding=json&v=9" + suffix
    assert peer.ws.request is not None and peer.ws.request.headers["User-Agent"] == UA
    identify = peer.got[0]
    assert identify["op"] == 2
    assert identify["d"]["token"] == TOKEN and identify["d"]["capabilities"] == 16381
    assert identify["d"]["compress"] is False
    assert identify["d"]["properties"]["browser_user_agent"] == UA
    assert identify["d"]["properties"]["browser_version"] == "131.0.0.0"
    assert identify["d"]["presence"]["status"] == "online"
    assert all(beat["d"] == 2 for beat in peer.beats()[1:])  # the last sequence seen
    assert calls.readies == ["s1"] and calls.names() == ["READY", "MESSAGE_CREATE"]
    assert calls.gaps == 0 and calls.fatals == []
    assert (session.identifies, session.resumes, session.reconnects) == (1, 0, 0)
    assert not session.connected and session.fatal_reason is None
    assert peer.ws.close_code == 1000  # close() ends the session for good


async def test_missing_ack_closes_and_resumes_with_the_last_seq(
    double: GatewayDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # even at DEBUG, no log line carries the token

    async def behave(peer: Peer, index: int) -> None:
        first = await peer.handshake("s1")
        if index == 0:
            await peer.dispatch("MESSAGE_CREATE", {"id": "m1"})
            await peer.dispatch("MESSAGE_UPDATE", {"id": "m1"})
            await peer.serve(ack=False)  # a zombie link: beats go unanswered
        assert first["op"] == 6
        await peer.serve()

    calls = Calls()
    async with running(double, behave, calls) as session:
        await until(lambda: calls.gaps == 1 and session.connected)
    zombie, resumed = double.peers
    assert zombie.ws.close_code == 4000  # not 1000/1001: the session stays resumable
    assert resumed.got[0] == {"op": 6, "d": {"token": TOKEN, "session_id": "s1", "seq": 3}}
    assert (session.identifies, session.resumes, session.reconnects) == (1, 1, 1)
    assert calls.names() == ["READY", "MESSAGE_CREATE", "MESSAGE_UPDATE", "RESUMED"]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(DOUBLE_LOG)]
    assert any("reconnecting" in line for line in ours)
    # Not even a prefix: websockets' own DEBUG frame log would show the first 40-odd bytes.
    assert not any(TOKEN[:10] in line for line in ours)


@pytest.mark.parametrize("resume_url_allowed", [False, True])
async def test_op7_reconnects_at_once_and_resumes(
    double: GatewayDouble, resume_url_allowed: bool
) -> None:
    async def behave(peer: Peer, index: int) -> None:
        first = await peer.handshake("s1", resume_gateway_url=double.url + "/resumed")
        if index == 0:
            await peer.send({"op": 7, "d": None})
        else:
            assert first["op"] == 6
        await peer.serve()

    calls = Calls()
    # A long backoff proves op 7 is not treated as a failure.
    options = {"backoff_initial": 30.0, "resume_url_allowed": resume_url_allowed}
    async with running(double, behave, calls, **options) as session:
        await until(lambda: calls.gaps == 1)
    assert double.peers[1].got[0]["d"]["seq"] == 1
    expected = "/gateway/resumed/?" if resume_url_allowed else "/gateway/?"
    assert double.peers[1].path.startswith(expected)
    assert (session.identifies, session.resumes) == (1, 1)


async def test_op9_identifies_afresh_and_op9_resumable_resumes(double: GatewayDouble) -> None:
    async def behave(peer: Peer, index: int) -> None:
        first = await peer.handshake(f"s{index + 1}")
        if index == 0:
            await peer.send({"op": 9, "d": False})
        elif index == 1:
            assert first["op"] == 2  # a fresh session
            await peer.send({"op": 9, "d": True})
        else:
            assert first["op"] == 6 and first["d"]["session_id"] == "s2"
        await peer.serve()

    calls = Calls()
    async with running(double, behave, calls) as session:
        await until(lambda: calls.gaps == 2)
    assert len(double.peers) == 3
    assert calls.readies == ["s1", "s2"]
    assert (session.identifies, session.resumes) == (2, 1)
    # The fresh identify waited the invalid-session pause.
    assert double.peers[1].started - double.peers[0].started >= 0.02


async def test_close_4004_is_fatal_once_without_reconnecting(double: GatewayDouble) -> None:
    async def behave(peer: Peer, _: int) -> None:
        await peer.hello()
        await peer.recv()
        await peer.ws.close(4004, "Authentication failed.")

    calls = Calls()
    async with running(double, behave, calls) as session:
        with pytest.raises(AccountRefused) as refused:
            await session.wait_ready(3)
        await until(lambda: calls.fatals != [])
        await asyncio.sleep(0.2)  # room for a reconnect that must not happen
        assert session.is_fatal and len(double.peers) == 1
    assert calls.fatals == [session.fatal_reason]
    assert "4004" in calls.fatals[0] and "token" in calls.fatals[0]
    assert TOKEN not in calls.fatals[0] and TOKEN not in str(refused.value)
    assert TOKEN not in repr(session)


async def test_close_4003_identifies_afresh_then_is_fatal_when_repeated(
    double: GatewayDouble,
) -> None:
    async def behave(peer: Peer, index: int) -> None:
        if index == 0:
            await peer.handshake("s1")
        else:
            await peer.hello()
            assert (await peer.recv())["op"] == 2
        await peer.ws.close(4003, "Not authenticated.")

    calls = Calls()
    async with running(double, behave, calls) as session:
        await until(lambda: calls.fatals != [])
    assert len(double.peers) == 2 and session.identifies == 2
    assert "4003" in calls.fatals[0]


@pytest.mark.parametrize(
    ("code", "fresh"), [(4000, False), (4008, False), (4007, True), (4009, True)]
)
async def test_other_closes_reconnect_resuming_or_afresh(
    double: GatewayDouble, code: int, fresh: bool
) -> None:
    async def behave(peer: Peer, index: int) -> None:
        first = await peer.handshake(f"s{index + 1}")
        if index == 0:
            await peer.ws.close(code, "bye")
        assert first["op"] == (2 if fresh else 6)
        await peer.serve()

    calls = Calls()
    async with running(double, behave, calls) as session:
        await until(lambda: calls.gaps == 1 and session.connected)
    assert (session.identifies, session.resumes) == ((2, 0) if fresh else (1, 1))
    assert calls.fatals == []


async def test_repeated_drops_back_off_then_give_up(double: GatewayDouble) -> None:
    async def behave(peer: Peer, _: int) -> None:
        await peer.ws.close(1011, "internal error")

    calls = Calls()
    options = {"max_failures": 4, "failure_window": 60.0, "backoff_initial": 0.05}
    async with running(double, behave, calls, **options) as session:
        await until(lambda: calls.fatals != [])
    starts = [peer.started for peer in double.peers]
    assert len(starts) == 4
    pauses = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert pauses[0] >= 0.05 and pauses[1] >= 0.1 and pauses[2] >= 0.2  # doubling
    assert "keeps failing" in (session.fatal_reason or "")
    assert calls.fatals == [session.fatal_reason]


async def test_unreachable_gateway_counts_as_failures() -> None:
    calls = Calls()
    session = GatewaySession(
        url="ws://127.0.0.1:9/gateway",
        token=TOKEN,
        user_agent=UA,
        on_dispatch=calls.on_dispatch,
        on_fatal=calls.on_fatal,
        backoff_initial=0.01,
        max_failures=3,
        open_timeout=1.0,
    )
    session.start()
    try:
        await until(lambda: calls.fatals != [])
    finally:
        await session.close()
    assert session.reconnects == 2 and "keeps failing" in calls.fatals[0]


async def test_zlib_stream_split_across_frames(double: GatewayDouble) -> None:
    big = {"id": "m1", "content": "**a cat " + "x" * 5000 + "** - <@1> (Waiting to start)"}

    async def behave(peer: Peer, _: int) -> None:
        await peer.hello()
        await peer.recv()
        await peer.dispatch("READY", {"session_id": "s1"}, pieces=3)
        await peer.dispatch("MESSAGE_CREATE", big, pieces=7)
        await peer.dispatch("MESSAGE_UPDATE", {"id": "m1", "content": "(45%)"}, pieces=2)
        await peer.serve()

    calls = Calls()
    async with running(double, behave, calls):
        await until(lambda: len(calls.dispatches) == 3)
    assert calls.dispatches[1] == ("MESSAGE_CREATE", big)
    assert calls.dispatches[2] == ("MESSAGE_UPDATE", {"id": "m1", "content": "(45%)"})


async def test_a_failing_dispatch_callback_does_not_end_the_session(
    double: GatewayDouble,
) -> None:
    async def behave(peer: Peer, _: int) -> None:
        await peer.handshake("s1")
        await peer.dispatch("MESSAGE_CREATE", {"id": "m1"})
        await peer.dispatch("MESSAGE_CREATE", {"id": "m2"})
        await peer.serve()

    calls = Calls(raise_on="MESSAGE_CREATE")
    async with running(double, behave, calls) as session:
        await until(lambda: len(calls.dispatches) == 3)
        await until(lambda: len(double.peers[0].beats()) >= 2)
        assert session.connected
    assert len(double.peers) == 1 and session.reconnects == 0


async def test_close_from_a_callback_stops_the_session(double: GatewayDouble) -> None:
    sessions: list[GatewaySession] = []

    async def behave(peer: Peer, _: int) -> None:
        await peer.handshake("s1")
        await peer.serve()

    async def close_on_ready(_: str) -> None:
        await sessions[0].close()

    double.behave = behave
    session = GatewaySession(
        url=double.url,
        token=TOKEN,
        user_agent=UA,
        on_dispatch=Calls().on_dispatch,
        on_ready=close_on_ready,
    )
    sessions.append(session)
    session.start()
    try:
        await until(lambda: double.peers != [] and double.peers[0].ws.close_code is not None)
        await asyncio.sleep(0.1)  # room for a reconnect that must not happen
    finally:
        await asyncio.wait_for(session.close(), 3)
    assert len(double.peers) == 1 and double.peers[0].ws.close_code == 1000
    assert not session.connected and session.reconnects == 0


async def test_wait_ready_times_out_as_unavailable(double: GatewayDouble) -> None:
    async def behave(peer: Peer, _: int) -> None:
        await peer.hello()
        await peer.serve()  # IDENTIFY goes unanswered

    calls = Calls()
    async with running(double, behave, calls) as session:
        with pytest.raises(DiscordUnavailable, match="did not become ready"):
            await session.wait_ready(0.2)
        assert not session.connected and session.session_id is None
    with pytest.raises(DiscordUnavailable, match="closed"):
        await session.wait_ready(0.2)
