"""What the simulated Discord knows: accounts, channels and their messages, the published
commands, open modals and iframe tokens, uploads, files on the CDN, jobs the bot ran, and the
counters tests read. Plain data; every change happens on the simulator's event loop."""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
MIDJOURNEY_APP_ID = "936929561302675456"
NIJI_APP_ID = "1022952195194359889"
APP_NAMES = {MIDJOURNEY_APP_ID: "Midjourney Bot", NIJI_APP_ID: "niji・journey Bot"}
CDN_ORIGIN = "https://cdn.discordapp.com"
MEDIA_ORIGIN = "https://media.discordapp.net"
UPLOAD_ORIGIN = "https://discord-attachments-uploads-prd.storage.googleapis.com"

Json = dict[str, Any]


class Snowflakes:
    """Discord-shaped ids: milliseconds since 2015 in the high bits, a counter below, so ids
    made later always compare greater (as strings of equal length and as integers)."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._counter) & 0x3FFFFF))


def new_job_hash() -> str:
    return str(uuid.uuid4())


@dataclass
class Account:
    """One Discord user account with its guild, its Midjourney channel and its DM with the bot."""

    token: str
    user_id: str
    username: str
    guild_id: str
    channel_id: str
    dm_channel_id: str
    mode: str = "fast"  # fast | relaxed | turbo, switched by /fast /relax /turbo
    token_valid: bool = True
    problem: str | None = None  # blocked | subscription | credits_exhausted
    captcha_next: bool = False
    running: int = 0  # jobs of this account the bot is running now


@dataclass
class Command:
    id: str
    version: str
    application_id: str
    name: str
    description: str
    options: list[Json]

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "application_id": self.application_id,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "type": 1,
            "options": self.options,
            "integration_types": [0, 1],
        }


@dataclass
class Job:
    """A finished (or running) Midjourney job: what buttons on its message act upon."""

    hash: str
    kind: str  # grid | upscale | hd_upscale | video
    prompt: str  # as the user wrote it
    shown: str  # as the bot shows it in messages
    account_token: str
    mode: str
    images: list[bytes] = field(default_factory=list)  # the four tiles of a grid, or one image
    message_id: str | None = None
    texts: list[str] = field(default_factory=list)  # describe / shorten: the numbered prompts
    source_url: str = ""  # describe: the image described
    seed: int = field(default_factory=lambda: secrets.randbelow(4_294_967_295))


@dataclass
class Modal:
    """A modal or iframe the bot opened for an account; a submit must name it."""

    id: str
    custom_id: str
    account_token: str
    kind: str  # zoom | remix | pan | reroll | animate | iframe
    job_hash: str
    interaction_id: str
    index: int = 1
    detail: str = ""  # pan direction, variation strength, animate motion
    message_id: str = ""


@dataclass
class StoredFile:
    data: bytes
    content_type: str


class World:
    """Everything the simulator holds."""

    def __init__(self) -> None:
        self.ids = Snowflakes()
        self.accounts: dict[str, Account] = {}  # by token
        self.channels: dict[str, str] = {}  # channel id -> owning account token
        self.messages: dict[str, dict[str, Json]] = {}  # channel id -> message id -> message
        self.commands: list[Command] = []
        self.jobs: dict[str, Job] = {}  # by hash
        self.message_jobs: dict[str, str] = {}  # final message id -> job hash
        self.modals: dict[str, Modal] = {}  # by modal id
        self.iframes: dict[str, Modal] = {}  # by iframe token
        self.uploads: dict[str, bytes] = {}  # upload_filename -> bytes
        self.files: dict[str, StoredFile] = {}  # CDN path (no leading slash) -> file
        self.counters: Counter[str] = Counter()
        self.interactions: list[Json] = []  # payloads POST /interactions accepted or refused
        # The same, with time.monotonic() at receipt; and, by job hash, when the bot's final
        # message was dispatched (benchmarks time mjgate between the two ends).
        self.interaction_times: list[tuple[float, Json]] = []
        self.final_times: dict[str, float] = {}

    def add_account(
        self, token: str, guild_id: str | None = None, channel_id: str | None = None
    ) -> Account:
        if token in self.accounts:
            raise ValueError("an account with this token exists already")
        n = len(self.accounts) + 1
        account = Account(
            token=token,
            user_id=self.ids.next(),
            username=f"simuser{n}",
            guild_id=guild_id or self.ids.next(),
            channel_id=channel_id or self.ids.next(),
            dm_channel_id=self.ids.next(),
        )
        if account.channel_id in self.channels:
            raise ValueError("that channel belongs to another account")
        self.accounts[token] = account
        for channel in (account.channel_id, account.dm_channel_id):
            self.channels[channel] = token
            self.messages[channel] = {}
        return account

    def account_of_channel(self, channel_id: str) -> Account | None:
        token = self.channels.get(channel_id)
        return self.accounts.get(token) if token is not None else None

    def store_message(self, message: Json) -> None:
        self.messages[message["channel_id"]][message["id"]] = message

    def recent_messages(self, channel_id: str, limit: int) -> list[Json]:
        """Newest first, ephemeral messages left out as Discord does."""
        stored = self.messages.get(channel_id, {})
        visible = [m for m in stored.values() if not int(m.get("flags", 0)) & 64]
        visible.sort(key=lambda m: int(m["id"]), reverse=True)
        return visible[:limit]

    def command(self, command_id: str) -> Command | None:
        return next((c for c in self.commands if c.id == command_id), None)

    def store_file(
        self, kind: str, channel_id: str, filename: str, data: bytes, ctype: str
    ) -> Json:
        """Put a file on the CDN; answer the attachment object a message carries."""
        attachment_id = self.ids.next()
        path = f"{kind}/{channel_id}/{attachment_id}/{filename}"
        self.files[path] = StoredFile(data, ctype)
        now = int(time.time())
        expiring = f"?ex={now + 86400:x}&is={now:x}&hm={secrets.token_hex(32)}&"
        return {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": f"{CDN_ORIGIN}/{path}{expiring}",
            "proxy_url": f"{MEDIA_ORIGIN}/{path}{expiring}",
            "content_type": ctype,
        }
