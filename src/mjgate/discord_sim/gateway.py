"""The gateway websocket: HELLO, heartbeats and their ACKs, IDENTIFY → READY, RESUME with the
replay of missed dispatches, INVALID_SESSION, RECONNECT, close codes, zlib-stream. Dispatches
are numbered per session and kept in a backlog, whether a socket is attached or not."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import zlib
from collections import deque
from dataclasses import dataclass, field

from starlette.websockets import WebSocket, WebSocketDisconnect

from mjgate.discord_sim.scripts import Script
from mjgate.discord_sim.state import MIDJOURNEY_APP_ID, Account, Json, World

RESUME_GATEWAY_URL = "wss://gateway-us-east1-b.discord.gg"
RESUME_WINDOW_SECONDS = 120.0
BACKLOG_SIZE = 5000


class Connection:
    """One websocket; sends in order, compressed with one zlib stream when asked."""

    def __init__(self, websocket: WebSocket, compress: bool, script: Script) -> None:
        self.websocket = websocket
        self._compressor = zlib.compressobj() if compress else None
        self._script = script
        self._lock = asyncio.Lock()
        self.sent_seq = 0
        self.closed = False
        self.pump: asyncio.Task[None] | None = None

    async def send(self, payload: Json) -> None:
        async with self._lock:
            if self.closed:
                return
            try:
                await self._send(json.dumps(payload, ensure_ascii=False))
            except (RuntimeError, OSError, WebSocketDisconnect):
                self.closed = True  # the peer went away; the session keeps the backlog

    async def _send(self, text: str) -> None:
        if self._compressor is None:
            await self.websocket.send_text(text)
            return
        data = self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if self._script.split_frames and len(data) > 8:
            # Clients must buffer until the 00 00 ff ff suffix; make them prove it.
            half = len(data) // 2
            await self.websocket.send_bytes(data[:half])
            await self.websocket.send_bytes(data[half:])
        else:
            await self.websocket.send_bytes(data)

    async def close(self, code: int, reason: str = "") -> None:
        async with self._lock:
            if self.closed:
                return
            self.closed = True
        with contextlib.suppress(RuntimeError):  # already closed underneath
            await self.websocket.close(code, reason)


@dataclass
class Session:
    id: str
    token: str
    seq: int = 0
    backlog: deque[Json] = field(default_factory=lambda: deque(maxlen=BACKLOG_SIZE))
    connection: Connection | None = None
    detached_at: float = field(default_factory=time.monotonic)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def resumable(self) -> bool:
        return (
            self.connection is not None
            or time.monotonic() - self.detached_at < RESUME_WINDOW_SECONDS
        )


class Gateway:
    """All sessions and sockets of the simulator."""

    def __init__(self, world: World, script: Script) -> None:
        self.world = world
        self.script = script
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()

    # -- dispatching ------------------------------------------------------------------------

    def dispatch(self, token: str, event: str, data: Json) -> None:
        """Record a dispatch in every resumable session of the account; send it to live ones."""
        for session in list(self.sessions.values()):
            if session.token != token or not session.resumable():
                continue
            self._record(session, event, data)
        self.world.counters[f"dispatch:{event}"] += 1

    def _record(self, session: Session, event: str, data: Json) -> None:
        session.seq += 1
        session.backlog.append({"op": 0, "t": event, "s": session.seq, "d": data})
        session.wake.set()

    def release(self) -> None:
        for session in self.sessions.values():
            session.wake.set()

    async def _pump(self, connection: Connection, session: Session) -> None:
        while not connection.closed and session.connection is connection:
            await session.wake.wait()
            session.wake.clear()
            if self.script.held:
                continue
            for payload in list(session.backlog):
                if session.connection is not connection or self.script.held:
                    break
                if payload["s"] > connection.sent_seq:
                    await connection.send(payload)
                    connection.sent_seq = payload["s"]

    def _attach(self, connection: Connection, session: Session) -> None:
        old = session.connection
        if old is not None and old is not connection:
            asyncio.get_running_loop().create_task(old.close(4000, "Session taken over"))
        session.connection = connection
        connection.pump = asyncio.get_running_loop().create_task(self._pump(connection, session))
        session.wake.set()

    # -- scripted faults --------------------------------------------------------------------

    async def drop_all(self, code: int | None = None) -> None:
        for connection in list(self.connections):
            await connection.close(code or 4000, "Dropped by the simulator")

    async def close_account(self, token: str, code: int, reason: str) -> None:
        for session in self.sessions.values():
            if session.token == token and session.connection is not None:
                await session.connection.close(code, reason)

    async def ask_reconnect(self) -> None:
        for connection in list(self.connections):
            await connection.send({"op": 7, "d": None, "s": None, "t": None})

    def expire_sessions(self) -> None:
        """Forget every session no socket holds: a RESUME of one gets INVALID_SESSION."""
        for session_id, session in list(self.sessions.items()):
            if session.connection is None:
                del self.sessions[session_id]

    # -- one socket -------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        compress = websocket.query_params.get("compress") == "zlib-stream"
        await websocket.accept()
        connection = Connection(websocket, compress, self.script)
        self.connections.add(connection)
        self.world.counters["connections"] += 1
        session: Session | None = None
        try:
            interval = self.script.heartbeat_interval_ms
            await connection.send({"op": 10, "d": {"heartbeat_interval": interval}, "s": None})
            while not connection.closed:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text") or (message.get("bytes") or b"").decode(errors="replace")
                try:
                    payload = json.loads(raw)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    await connection.close(4002, "Error while decoding payload.")
                    break
                session = await self._on_payload(connection, session, op, payload.get("d"))
        except WebSocketDisconnect:
            pass
        finally:
            connection.closed = True
            self.connections.discard(connection)
            if session is not None and session.connection is connection:
                session.connection = None
                session.detached_at = time.monotonic()
            if connection.pump is not None:
                connection.pump.cancel()

    async def _on_payload(
        self, connection: Connection, session: Session | None, op: object, data: object
    ) -> Session | None:
        counters = self.world.counters
        if op == 1:
            counters["heartbeats"] += 1
            if not self.script.acks_stopped:
                await connection.send({"op": 11, "d": None, "s": None, "t": None})
            return session
        if op == 2:
            counters["identifies"] += 1
            if session is not None:
                await connection.close(4005, "Already authenticated.")
                return session
            return await self._identify(connection, data)
        if op == 6:
            counters["resumes"] += 1
            return await self._resume(connection, data)
        if session is None:
            await connection.close(4003, "Not authenticated.")
            return None
        if op in (3, 4, 8, 14, 37):  # presence, voice, member requests, lazy guilds: ignored
            return session
        await connection.close(4001, "Unknown opcode.")
        return session

    def _account(self, data: object) -> Account | None:
        token = data.get("token") if isinstance(data, dict) else None
        account = self.world.accounts.get(token) if isinstance(token, str) else None
        return account if account is not None and account.token_valid else None

    async def _identify(self, connection: Connection, data: object) -> Session | None:
        account = self._account(data)
        if account is None:
            await connection.close(4004, "Authentication failed.")
            return None
        for stale in [k for k, v in self.sessions.items() if not v.resumable()]:
            del self.sessions[stale]
        session = Session(id=secrets.token_hex(16), token=account.token)
        self.sessions[session.id] = session
        self._attach(connection, session)
        self._record(session, "READY", _ready(account, session.id))
        return session

    async def _resume(self, connection: Connection, data: object) -> Session | None:
        account = self._account(data)
        if account is None:
            await connection.close(4004, "Authentication failed.")
            return None
        assert isinstance(data, dict)
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        oldest = session.backlog[0]["s"] if session and session.backlog else 1
        if (
            session is None
            or session.token != account.token
            or not session.resumable()
            or not isinstance(seq, int)
            or seq < oldest - 1
            or seq > session.seq
        ):
            self.world.counters["invalid_sessions"] += 1
            await connection.send({"op": 9, "d": False, "s": None, "t": None})
            return None
        connection.sent_seq = seq
        self._attach(connection, session)
        self._record(session, "RESUMED", {"_trace": ["sim-gateway"]})
        return session


def _ready(account: Account, session_id: str) -> Json:
    bot = {"id": MIDJOURNEY_APP_ID, "username": "Midjourney Bot", "bot": True}
    return {
        "v": 9,
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": RESUME_GATEWAY_URL,
        "user": {
            "id": account.user_id,
            "username": account.username,
            "global_name": account.username,
            "discriminator": "0",
            "bot": False,
        },
        "guilds": [{"id": account.guild_id, "unavailable": False}],
        "private_channels": [
            {"id": account.dm_channel_id, "type": 1, "recipients": [bot]},
        ],
    }
