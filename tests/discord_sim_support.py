"""Helpers for tests that run against the Discord simulator: ``running_simulator`` (the
simulator on a loopback port, stopped on exit) and a raw Discord client made only of httpx and
websockets (``RawDiscord``), independent of mjgate's own Discord client."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from mjgate.discord_sim import Simulator

Json = dict[str, Any]
MJ_APP = "936929561302675456"
SUFFIX = b"\x00\x00\xff\xff"


@contextmanager
def running_simulator(**kwargs: Any) -> Iterator[Simulator]:
    """A started simulator (fast by default: ``speed=0.05``), stopped on exit."""
    simulator = Simulator(**{"speed": 0.05, **kwargs})
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


def local_url(simulator: Simulator, url: str) -> str:
    """Rewrite Discord's well-known origins to the simulator's, as a configured client does."""
    for origin, path in (
        ("https://cdn.discordapp.com", "/cdn"),
        ("https://media.discordapp.net", "/cdn"),
        ("https://discord-attachments-uploads-prd.storage.googleapis.com", "/upload"),
    ):
        if url.startswith(origin):
            return simulator.base_url + path + url[len(origin) :]
    return url


class RawGateway:
    """One gateway websocket: decodes zlib-stream, records every payload received."""

    def __init__(self, socket: ClientConnection, compressed: bool) -> None:
        self.socket = socket
        self._inflate = zlib.decompressobj() if compressed else None
        self._buffer = bytearray()
        self.frames = 0
        self.received: list[Json] = []
        self.seq: int | None = None

    async def recv(self, within: float = 5.0) -> Json:
        while True:
            frame = await asyncio.wait_for(self.socket.recv(), within)
            self.frames += 1
            if self._inflate is None:
                assert isinstance(frame, str)
                text = frame
            else:
                assert isinstance(frame, bytes)
                self._buffer.extend(frame)
                if not self._buffer.endswith(SUFFIX):
                    continue
                text = self._inflate.decompress(bytes(self._buffer)).decode()
                self._buffer.clear()
            payload: Json = json.loads(text)
            self.received.append(payload)
            if payload.get("s") is not None:
                self.seq = payload["s"]
            return payload

    async def send(self, op: int, data: object) -> None:
        await self.socket.send(json.dumps({"op": op, "d": data}))

    async def dispatch(
        self, event: str | None = None, match: Callable[[Json], bool] | None = None,
        within: float = 5.0,
    ) -> Json:  # fmt: skip
        """The next op 0 payload of that event (and matching), skipping everything else."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            payload = await self.recv(max(0.01, deadline - loop.time()))
            if payload.get("op") != 0 or (event is not None and payload["t"] != event):
                continue
            if match is None or match(payload["d"]):
                return payload

    async def identify(self, token: str) -> Json:
        await self.send(2, {"token": token, "properties": {"os": "Linux"}, "compress": False})
        return await self.dispatch("READY")


@asynccontextmanager
async def raw_gateway(simulator: Simulator, *, compress: bool = False) -> AsyncIterator[RawGateway]:
    query = "?encoding=json&v=9" + ("&compress=zlib-stream" if compress else "")
    async with connect(f"{simulator.gateway_url}/{query}", max_size=None) as socket:
        gateway = RawGateway(socket, compress)
        hello = await gateway.recv()
        assert hello["op"] == 10, hello
        yield gateway


class RawDiscord:
    """REST plus one identified gateway session for one account of the simulator."""

    def __init__(self, simulator: Simulator, token: str, http: httpx.AsyncClient) -> None:
        self.simulator = simulator
        self.token = token
        self.http = http
        self.gateway: RawGateway
        self.session_id = ""
        self.guild_id = simulator.account.guild_id
        self.channel_id = simulator.account.channel_id
        self._nonce = 1000

    def nonce(self) -> str:
        self._nonce += 1
        return str(self._nonce)

    async def commands(self, app: str = MJ_APP) -> dict[str, Json]:
        answer = await self.http.get(f"/guilds/{self.guild_id}/application-command-index")
        answer.raise_for_status()
        body: Json = answer.json()
        return {c["name"]: c for c in body["application_commands"] if c["application_id"] == app}

    def base(self, kind: int, nonce: str) -> Json:
        return {
            "type": kind,
            "application_id": MJ_APP,
            "guild_id": self.guild_id,
            "channel_id": self.channel_id,
            "session_id": self.session_id,
            "nonce": nonce,
        }

    async def command(
        self, name: str, options: list[Json], attachments: list[Json] | None = None,
        nonce: str | None = None,
    ) -> tuple[httpx.Response, str]:  # fmt: skip
        cmd = (await self.commands())[name]
        nonce = nonce or self.nonce()
        payload = self.base(2, nonce)
        payload["data"] = {
            "id": cmd["id"],
            "version": cmd["version"],
            "name": name,
            "type": 1,
            "options": options,
            "attachments": attachments or [],
        }
        return await self.http.post("/interactions", json=payload), nonce

    async def imagine(self, prompt: str) -> str:
        answer, nonce = await self.command(
            "imagine", [{"type": 3, "name": "prompt", "value": prompt}]
        )
        assert answer.status_code == 204, answer.text
        return nonce

    async def click(self, message: Json, custom_id: str) -> tuple[httpx.Response, str]:
        nonce = self.nonce()
        payload = self.base(3, nonce)
        payload.update(message_id=message["id"], message_flags=message.get("flags", 0))
        payload["data"] = {"component_type": 2, "custom_id": custom_id}
        return await self.http.post("/interactions", json=payload), nonce

    async def submit_modal(self, modal: Json, value: str) -> tuple[httpx.Response, str]:
        nonce = self.nonce()
        payload = self.base(5, nonce)
        text_input = modal["components"][0]["components"][0]
        payload["data"] = {
            "id": modal["id"],
            "custom_id": modal["custom_id"],
            "components": [
                {
                    "type": 1,
                    "components": [
                        {"type": 4, "custom_id": text_input["custom_id"], "value": value}
                    ],
                }
            ],
        }
        return await self.http.post("/interactions", json=payload), nonce

    async def upload(self, filename: str, data: bytes) -> str:
        answer = await self.http.post(
            f"/channels/{self.channel_id}/attachments",
            json={"files": [{"filename": filename, "file_size": len(data), "id": "0"}]},
        )
        answer.raise_for_status()
        slot = answer.json()["attachments"][0]
        put = await self.http.put(local_url(self.simulator, slot["upload_url"]), content=data)
        put.raise_for_status()
        return str(slot["upload_filename"])

    async def final_message(self, nonce: str, within: float = 10.0) -> list[Json]:
        """Dispatches from our nonce's first message to the job's final message (with buttons)."""
        events: list[Json] = []
        first = await self.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: d.get("nonce") == nonce, within
        )
        events.append(first)
        interaction_id = first["d"]["interaction_metadata"]["id"]
        while True:
            payload = await self.gateway.dispatch(within=within)
            data = payload["d"]
            meta = data.get("interaction_metadata") or {}
            if data.get("id") == first["d"]["id"] or meta.get("id") == interaction_id:
                events.append(payload)
                if payload["t"] == "MESSAGE_CREATE" and data.get("components"):
                    return events


@asynccontextmanager
async def raw_discord(
    simulator: Simulator, token: str | None = None, *, compress: bool = False
) -> AsyncIterator[RawDiscord]:
    """An account's REST client and an identified gateway session."""
    token = token or simulator.account.token
    headers = {"Authorization": token, "User-Agent": "Mozilla/5.0 (sim test)"}
    async with (
        httpx.AsyncClient(
            base_url=f"{simulator.base_url}/api/v9", headers=headers, timeout=10
        ) as http,
        raw_gateway(simulator, compress=compress) as gateway,
    ):
        discord = RawDiscord(simulator, token, http)
        discord.gateway = gateway
        ready = await gateway.identify(token)
        discord.session_id = ready["d"]["session_id"]
        yield discord


def button(message: Json, label: str) -> str:
    """The custom_id of the message's button with this label or emoji."""
    for row in message["components"]:
        for item in row["components"]:
            if label in (item.get("label"), (item.get("emoji") or {}).get("name")):
                return str(item["custom_id"])
    raise AssertionError(f"no button {label!r} in {message['components']}")
