"""Every error of the contract (PROTOCOL §1–2), reached from its real trigger over HTTP.

One parametrised test pins the envelope per error id: HTTP status, ``code``, ``description``,
``result`` null, ``properties.message`` for codes 4, 3 and 9, and that the refusal created and
charged nothing (the admin's ``/mj/task/list`` sees every user's tasks; the balances are summed).
"""

from __future__ import annotations

import base64
import io
import random
import string
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mjgate.services import accounts
from mjgate.services.runtime import Runtime
from support import (
    ADMIN_TOKEN,
    Gateway,
    ServedApp,
    data_url,
    make_settings,
    png_data_url,
    serve_app,
)

MISSING_ID = "1712158011464906"  # well-formed, never created
OTHER_USER = "other"


# --- placeholders resolved against a live server ------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value the scene makes on demand: a task in some state, a token, a hash."""

    name: str


@dataclass(frozen=True)
class Fmt:
    """A string with ``{ref}`` fields filled from the scene."""

    template: str


IMAGINED = Ref("imagined")  # a SUCCESS imagine of the admin
UPSCALED = Ref("upscaled")  # a SUCCESS upscale of it
INPAINT_MODAL = Ref("inpaint_modal")  # Vary (Region) pressed: a task in MODAL
ZOOM_MODAL = Ref("zoom_modal")  # Custom Zoom pressed: a task in MODAL
RUNNING = Ref("running")  # an imagine still running (needs a long sandbox_duration)
OTHER_TOKEN = Ref("other_token")  # a user with no quota who owns nothing
REVOKED_TOKEN = Ref("revoked_token")


class Scene:
    """One served app for one case, with the tasks and tokens its triggers refer to."""

    def __init__(self, served: ServedApp, admin: Gateway) -> None:
        self.served = served
        self.rt: Runtime = served.runtime
        self.admin = admin
        self._values: dict[str, str] = {}

    async def value(self, name: str) -> str:
        if name not in self._values:
            self._values[name] = await getattr(self, f"_make_{name}")()
        return self._values[name]

    async def resolve(self, value: Any) -> Any:
        if isinstance(value, Ref):
            return await self.value(value.name)
        if isinstance(value, Fmt):
            names = [f for _, f, _, _ in string.Formatter().parse(value.template) if f]
            return value.template.format(**{n: await self.value(n) for n in names})
        if isinstance(value, dict):
            return {k: await self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.resolve(v) for v in value]
        return value

    async def _task(self, name: str) -> dict[str, Any]:
        return await self.admin.fetch(await self.value(name))

    async def _button(self, name: str, label: str) -> str:
        task = await self._task(name)
        return next(str(b["customId"]) for b in task["buttons"] if b["label"] == label)

    async def _make_imagined(self) -> str:
        task = await self.admin.finished("imagine", {"prompt": "a lighthouse at dusk"})
        return str(task["id"])

    async def _make_hash(self) -> str:
        return str((await self._task("imagined"))["properties"]["messageHash"])

    async def _make_upscaled(self) -> str:
        custom_id = await self._button("imagined", "U1")
        task = await self.admin.finished(
            "action", {"taskId": await self.value("imagined"), "customId": custom_id}
        )
        return str(task["id"])

    async def _make_upscaled_hash(self) -> str:
        return str((await self._task("upscaled"))["properties"]["messageHash"])

    async def _modal(self, label: str) -> str:
        custom_id = await self._button("upscaled", label)
        answer = await self.admin.submit(
            "action", {"taskId": await self.value("upscaled"), "customId": custom_id}
        )
        assert answer["code"] == 21, answer
        return str(answer["result"])

    async def _make_inpaint_modal(self) -> str:
        return await self._modal("Vary (Region)")

    async def _make_zoom_modal(self) -> str:
        return await self._modal("Custom Zoom")

    async def _make_running(self) -> str:
        answer = await self.admin.submit("imagine", {"prompt": "a slow glacier"})
        task = await self.admin.fetch(answer["result"])
        assert task["status"] not in ("SUCCESS", "FAILURE", "CANCEL"), task
        return str(answer["result"])

    async def _make_random_hash(self) -> str:
        return str(uuid.uuid4())

    async def _other_user(self) -> None:
        existing = {u.name for u in await accounts.list_users(self.rt)}
        if OTHER_USER not in existing:
            await accounts.create_user(self.rt, OTHER_USER)

    async def _make_other_token(self) -> str:
        await self._other_user()
        _, token = await accounts.create_token(self.rt, OTHER_USER, "test")
        return token

    async def _make_revoked_token(self) -> str:
        await self._other_user()
        _, token = await accounts.create_token(self.rt, OTHER_USER, "revoked")
        await accounts.revoke_token(self.rt, token)
        return token


# --- requests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request that must be refused. ``json`` None sends no JSON; ``raw`` sends bytes."""

    method: str
    path: str
    json: Any = None
    raw: bytes | None = None
    chunked: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str | Ref | None = ADMIN_TOKEN


def post(path: str, json: Any = None, **kwargs: Any) -> Call:
    return Call("POST", path if path.startswith("/") else f"/mj/submit/{path}", json, **kwargs)


def get(path: str, **kwargs: Any) -> Call:
    return Call("GET", path, **kwargs)


async def _chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@dataclass(frozen=True)
class Request:
    """A call with every placeholder filled in, ready to send."""

    method: str
    path: str
    headers: dict[str, str]
    content: bytes | None
    json: Any
    chunked: bool

    async def send(self, http: httpx.AsyncClient) -> httpx.Response:
        if self.content is not None:
            content: Any = _chunks(self.content) if self.chunked else self.content
            return await http.request(self.method, self.path, content=content, headers=self.headers)
        if self.json is not None:
            return await http.request(self.method, self.path, json=self.json, headers=self.headers)
        return await http.request(self.method, self.path, headers=self.headers)


async def prepare(scene: Scene, call: Call) -> Request:
    """Make what the call refers to (tasks, tokens) before anything is measured."""
    headers = {name: await scene.resolve(Fmt(value)) for name, value in call.headers.items()}
    token = await scene.resolve(call.token)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if call.raw is not None:
        headers.setdefault("Content-Type", "application/json")
    return Request(
        call.method,
        await scene.resolve(Fmt(call.path)),
        headers,
        call.raw,
        await scene.resolve(call.json),
        call.chunked,
    )


# --- images -------------------------------------------------------------------------------

PNG = png_data_url()
TEXT_AS_PNG = "data:image/png;base64," + base64.b64encode(b"just some text\n").decode()


def noisy_png_data_url(size: int = 64) -> str:
    """A PNG that does not compress: about 3 bytes a pixel."""
    noise = random.Random(size).randbytes(size * size * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (size, size), noise).save(buffer, format="PNG")
    return data_url(buffer.getvalue())


SMALL_IMAGE_LIMIT = 2048
SMALL_BODY_LIMIT = 128 * 1024
BIG = noisy_png_data_url()  # ~12 KiB: over SMALL_IMAGE_LIMIT, well under SMALL_BODY_LIMIT
SMALL_PIXEL_LIMIT = 64 * 64  # PNG's own size: it passes
MANY_PIXELS = png_data_url(size=(200, 200))  # a few hundred bytes declaring 40,000 pixels


# --- the cases ----------------------------------------------------------------------------

Setup = Callable[[Scene], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    description: str
    status: int
    calls: Mapping[str, Call]
    code: int = 4
    settings: Mapping[str, object] = field(default_factory=dict)
    setup: Setup | None = None
    properties: Mapping[str, object] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


async def fill_the_only_channel(scene: Scene) -> None:
    """One channel with one slot and no queue, taken by a long task."""
    await accounts.set_channel_enabled(scene.rt, "sandbox", False, "test")
    await accounts.add_channel(
        scene.rt, "tiny", "sandbox", core_size=1, queue_size=0, config={"duration": 30}
    )
    answer = await scene.admin.submit("imagine", {"prompt": "the slot taker"})
    assert answer["code"] == 1, answer


async def disable_every_channel(scene: Scene) -> None:
    await accounts.set_channel_enabled(scene.rt, "sandbox", False, "test")


async def spend_the_address_budgets(scene: Scene) -> None:
    """One read (the admin's first, which also makes its token known) and one submit
    without a token: the only cell of each anonymous budget of 127.0.0.1."""
    assert (await scene.admin.http.get("/mj/task/list")).status_code == 200
    async with httpx.AsyncClient(base_url=scene.served.base_url) as anonymous:
        answer = await anonymous.post("/mj/submit/imagine", json={"prompt": "a cat"})
        assert answer.status_code == 401, answer.text


BAD_HASH = Fmt("{random_hash}")

CASES: dict[str, Case] = {
    "bind_request_body_failed": Case(
        "bind_request_body_failed",
        400,
        {
            "not JSON": post("imagine", raw=b"prompt=cat"),
            "truncated JSON": post("imagine", raw=b'{"prompt": "cat"'),
            "a JSON array": post("imagine", ["a cat"]),
            "a JSON string": post("imagine", raw=b'"a cat"'),
            "null": post("imagine", raw=b"null"),
            "no body": post("imagine"),
            "prompt 5": post("imagine", {"prompt": 5}),
            "base64Array a string": post("imagine", {"prompt": "cat", "base64Array": PNG}),
            "state a number": post("imagine", {"prompt": "cat", "state": 7}),
            "index a word": post(
                "change", {"taskId": MISSING_ID, "action": "UPSCALE", "index": "x"}
            ),
            "enableRemix a list": post(
                "action", {"taskId": MISSING_ID, "customId": "x", "enableRemix": []}
            ),
            "modal prompt 5": post("modal", {"taskId": MISSING_ID, "prompt": 5}),
            "content a number": post("simple-change", {"content": 12}),
            "botType unknown": post("imagine", {"prompt": "cat", "botType": "dalle"}),
            "ids not a list": post("/mj/task/list-by-condition", {"ids": "1"}),
            "ids of objects": post("/mj/task/list-by-condition", {"ids": [{"id": 1}]}),
        },
    ),
    "prompt_is_required": Case(
        "prompt_is_required",
        400,
        {
            "imagine blank": post("imagine", {"prompt": "   "}),
            "imagine none": post("imagine", {}),
            "shorten blank": post("shorten", {"prompt": ""}),
            "edits blank": post("edits", {"prompt": " \n", "image": PNG}),
            "video nothing": post("video", {"motion": "high"}),
        },
    ),
    "task_id_is_required": Case(
        "task_id_is_required",
        400,
        {
            "change": post("change", {"action": "UPSCALE", "index": 1}),
            "action": post("action", {"customId": "MJ::JOB::upsample::1::x"}),
            "modal": post("modal", {"prompt": "a cat"}),
            "video extend": post("video", {"action": "extend", "prompt": "more"}),
        },
    ),
    "action_is_required": Case(
        "action_is_required",
        400,
        {"change": post("change", {"taskId": MISSING_ID, "index": 1})},
    ),
    "custom_id_is_required": Case(
        "custom_id_is_required",
        400,
        {
            "none": post("action", {"taskId": MISSING_ID}),
            "empty": post("action", {"taskId": MISSING_ID, "customId": ""}),
        },
    ),
    "unknown_action": Case(
        "unknown_action",
        400,
        {
            "change FOO": post("change", {"taskId": IMAGINED, "action": "FOO", "index": 1}),
            "customId MJ::nope": post("action", {"taskId": IMAGINED, "customId": "MJ::nope"}),
            "customId index 9": post(
                "action", {"taskId": IMAGINED, "customId": Fmt("MJ::JOB::upsample::9::{hash}")}
            ),
            "customId junk": post("action", {"taskId": IMAGINED, "customId": "::::\u0000🔄"}),
        },
    ),
    "index_is_required": Case(
        "index_is_required",
        400,
        {
            "upscale": post("change", {"taskId": IMAGINED, "action": "UPSCALE"}),
            "variation": post("change", {"taskId": IMAGINED, "action": "variation"}),
        },
    ),
    "index_is_invalid": Case(
        "index_is_invalid",
        400,
        {
            "7": post("change", {"taskId": IMAGINED, "action": "UPSCALE", "index": 7}),
            "0": post("change", {"taskId": IMAGINED, "action": "VARIATION", "index": 0}),
            "video index 5": post("video", {"taskId": IMAGINED, "index": 5}),
        },
    ),
    "content_is_required": Case(
        "content_is_required",
        400,
        {
            "none": post("simple-change", {}),
            "blank": post("simple-change", {"content": "  "}),
        },
    ),
    "content_parse_failed": Case(
        "content_parse_failed",
        400,
        {
            "words": post("simple-change", {"content": "upscale the second one"}),
            "U5": post("simple-change", {"content": Fmt("{imagined} U5")}),
            "no id": post("simple-change", {"content": "V2"}),
        },
    ),
    "base64_is_required": Case(
        "base64_is_required",
        400,
        {
            "describe nothing": post("describe", {}),
            "describe empty": post("describe", {"base64": "", "base64Array": []}),
            "upload empty": post("upload-discord-images", {"base64Array": []}),
            "upload none": post("upload-discord-images", {}),
        },
    ),
    "base64_array_size_invalid": Case(
        "base64_array_size_invalid",
        400,
        {
            "blend 1": post("blend", {"base64Array": [PNG]}),
            "blend 6": post("blend", {"base64Array": [PNG] * 6}),
        },
    ),
    "base64_is_invalid": Case(
        "base64_is_invalid",
        400,
        {
            "describe garbage": post("describe", {"base64": "not base64 at all!"}),
            "describe text file": post("describe", {"base64": TEXT_AS_PNG}),
            "describe raw text": post("describe", {"base64": "aGVsbG8gd29ybGQ="}),
            "data URL not base64": post("describe", {"base64": "data:image/png,abc"}),
            "describe ftp link": post("describe", {"link": "ftp://example.com/a.png"}),
            "imagine reference": post("imagine", {"prompt": "cat", "base64Array": ["%%%"]}),
            "blend one bad": post("blend", {"base64Array": [PNG, TEXT_AS_PNG]}),
            "upload bad": post("upload-discord-images", {"base64Array": ["AAAA"]}),
            "swap bad": post("/mj/insight-face/swap", {"sourceBase64": PNG, "targetBase64": "x"}),
            "edits image": post("edits", {"prompt": "cat", "image": "nope"}),
            "modal mask": post("modal", {"taskId": INPAINT_MODAL, "maskBase64": "garbage"}),
        },
    ),
    "image_too_large": Case(
        "image_too_large",
        413,
        {
            "describe": post("describe", {"base64": BIG}),
            "imagine reference": post("imagine", {"prompt": "cat", "base64Array": [BIG]}),
            "blend": post("blend", {"base64Array": [PNG, BIG]}),
            "upload": post("upload-discord-images", {"base64Array": [BIG]}),
            "swap": post("/mj/insight-face/swap", {"sourceBase64": BIG, "targetBase64": PNG}),
            "describe, too many pixels": post("describe", {"base64": MANY_PIXELS}),
            "blend, too many pixels": post("blend", {"base64Array": [PNG, MANY_PIXELS]}),
            "body with length": post(
                "imagine", raw=b'{"prompt": "' + b"x" * SMALL_BODY_LIMIT + b'"}'
            ),
            "body chunked": post(
                "imagine", raw=b'{"prompt": "' + b"x" * SMALL_BODY_LIMIT + b'"}', chunked=True
            ),
        },
        settings={
            "max_image_bytes": SMALL_IMAGE_LIMIT,
            "max_body_bytes": SMALL_BODY_LIMIT,
            "max_image_pixels": SMALL_PIXEL_LIMIT,
        },
    ),
    "mask_base64_is_required": Case(
        "mask_base64_is_required",
        400,
        {
            "no mask": post("modal", {"taskId": INPAINT_MODAL, "prompt": "a boat"}),
            "empty mask": post("modal", {"taskId": INPAINT_MODAL, "maskBase64": ""}),
        },
    ),
    "zoom_is_invalid": Case(
        "zoom_is_invalid",
        400,
        {
            "no --zoom": post("modal", {"taskId": ZOOM_MODAL, "prompt": "wider"}),
            "parent prompt": post("modal", {"taskId": ZOOM_MODAL, "prompt": ""}),
            "--zoom 3": post("modal", {"taskId": ZOOM_MODAL, "prompt": "wider --zoom 3"}),
            "--zoom 1": post("modal", {"taskId": ZOOM_MODAL, "prompt": "wider --zoom 1"}),
            "--zoom nan": post("modal", {"taskId": ZOOM_MODAL, "prompt": "wider --zoom nan"}),
        },
    ),
    "sour_base64_and_target_base64_is_required": Case(
        "sour_base64_and_target_base64_is_required",
        400,
        {
            "no target": post("/mj/insight-face/swap", {"sourceBase64": PNG}),
            "no source": post("/mj/insight-face/swap", {"targetBase64": PNG}),
            "neither": post("/mj/insight-face/swap", {}),
        },
    ),
    "dimensions_is_invalid": Case(
        "dimensions_is_invalid",
        400,
        {"ROUND": post("blend", {"base64Array": [PNG, PNG], "dimensions": "ROUND"})},
    ),
    "mode_is_invalid": Case(
        "mode_is_invalid",
        400,
        {
            "SLOW": post("imagine", {"prompt": "cat", "mode": "SLOW"}),
            "SLOW under /mj-fast": Call(
                "POST", "/mj-fast/mj/submit/imagine", {"prompt": "cat", "mode": "slow"}
            ),
            "shorten": post("shorten", {"prompt": "cat", "mode": "warp"}),
        },
    ),
    "notify_hook_is_invalid": Case(
        "notify_hook_is_invalid",
        400,
        {
            "ftp": post("imagine", {"prompt": "cat", "notifyHook": "ftp://x"}),
            "not a URL": post("imagine", {"prompt": "cat", "notifyHook": "not a url"}),
            "no host": post("imagine", {"prompt": "cat", "notifyHook": "http://"}),
            "2001 chars": post(
                "imagine",
                {"prompt": "cat", "notifyHook": "https://example.com/" + "a" * 1981},
            ),
        },
    ),
    "state_too_long": Case(
        "state_too_long",
        400,
        {
            "imagine": post("imagine", {"prompt": "cat", "state": "s" * 4097}),
            "describe": post("describe", {"base64": PNG, "state": "é" * 4097}),
        },
    ),
    "task_not_found": Case(
        "task_not_found",
        404,
        {
            "fetch unknown": get(f"/mj/task/{MISSING_ID}/fetch"),
            "fetch not an id": get("/mj/task/abc/fetch"),
            "image-seed unknown": get(f"/mj/task/{MISSING_ID}/image-seed"),
            "cancel unknown": post(f"/mj/task/{MISSING_ID}/cancel"),
            "action on missing": post(
                "action", {"taskId": MISSING_ID, "customId": Fmt("MJ::JOB::upsample::1::{hash}")}
            ),
            "change on missing": post("change", {"taskId": MISSING_ID, "action": "REROLL"}),
            "simple-change on missing": post("simple-change", {"content": f"{MISSING_ID} U1"}),
            "modal on missing": post("modal", {"taskId": MISSING_ID}),
            "video of missing": post("video", {"taskId": MISSING_ID}),
            "numeric taskId": post(
                "action", {"taskId": int(MISSING_ID), "customId": "MJ::Picread::Retry"}
            ),
            "other user's fetch": get("/mj/task/{imagined}/fetch", token=OTHER_TOKEN),
            "other user's action": post(
                "action",
                {"taskId": IMAGINED, "customId": Fmt("MJ::JOB::upsample::1::{hash}")},
                token=OTHER_TOKEN,
            ),
            "other user's change": post(
                "change", {"taskId": IMAGINED, "action": "UPSCALE", "index": 2}, token=OTHER_TOKEN
            ),
            "other user's cancel": post("/mj/task/{imagined}/cancel", token=OTHER_TOKEN),
            "other user's seed": get("/mj/task/{imagined}/image-seed", token=OTHER_TOKEN),
        },
        code=3,
    ),
    "task_status_not_success": Case(
        "task_status_not_success",
        400,
        {
            "action": post(
                "action",
                {"taskId": RUNNING, "customId": Fmt("MJ::JOB::upsample::1::{random_hash}")},
            ),
            "change": post("change", {"taskId": RUNNING, "action": "UPSCALE", "index": 1}),
            "simple-change": post("simple-change", {"content": Fmt("{running} r")}),
            "video": post("video", {"taskId": RUNNING, "index": 1}),
            "image-seed": get("/mj/task/{running}/image-seed"),
        },
        settings={"sandbox_duration": 30},
    ),
    "task_status_not_modal": Case(
        "task_status_not_modal",
        400,
        {
            "finished imagine": post("modal", {"taskId": IMAGINED, "prompt": "x --zoom 2"}),
            "finished upscale": post("modal", {"taskId": UPSCALED, "maskBase64": PNG}),
        },
    ),
    "action_not_allowed": Case(
        "action_not_allowed",
        400,
        {
            "wrong hash": post(
                "action",
                {"taskId": IMAGINED, "customId": Fmt("MJ::JOB::upsample::1::{random_hash}")},
            ),
            "inpaint on a grid": post(
                "action", {"taskId": IMAGINED, "customId": Fmt("MJ::Inpaint::1::{hash}::SOLO")}
            ),
            "U1 on an upscale": post(
                "action",
                {"taskId": UPSCALED, "customId": Fmt("MJ::JOB::upsample::1::{upscaled_hash}")},
            ),
            "PicReader on imagine": post(
                "action", {"taskId": IMAGINED, "customId": "MJ::Job::PicReader::1"}
            ),
            "extend a non-video": post("video", {"taskId": IMAGINED, "action": "extend"}),
        },
    ),
    "quota_not_enough": Case(
        "quota_not_enough",
        402,
        {
            "imagine": post("imagine", {"prompt": "a cat"}, token=OTHER_TOKEN),
            "shorten": post("shorten", {"prompt": "a cat"}, token=OTHER_TOKEN),
            "blend": post("blend", {"base64Array": [PNG, PNG]}, token=OTHER_TOKEN),
        },
    ),
    "unauthorized": Case(
        "unauthorized",
        401,
        {
            "no token": post("imagine", {"prompt": "a cat"}, token=None),
            "bad token": post("imagine", {"prompt": "a cat"}, token="mjg_not-a-token"),
            "bare Bearer": post(
                "imagine", {"prompt": "a cat"}, token=None, headers={"Authorization": "Bearer"}
            ),
            "bad mj-api-secret": post(
                "imagine", {"prompt": "a cat"}, token=None, headers={"mj-api-secret": "nope"}
            ),
            "fetch no token": get(f"/mj/task/{MISSING_ID}/fetch", token=None),
            "list no token": get("/mj/task/list", token=None),
            "queue bad token": get("/mj/task/queue", token="x"),
            "list-by-condition": post("/mj/task/list-by-condition", {"ids": []}, token=None),
            # A revoked token is answered exactly as an unknown one: nobody learns it existed.
            "revoked imagine": post("imagine", {"prompt": "a cat"}, token=REVOKED_TOKEN),
            "revoked fetch": get(f"/mj/task/{MISSING_ID}/fetch", token=REVOKED_TOKEN),
            "revoked mj-api-secret": post(
                "imagine",
                {"prompt": "a cat"},
                token=None,
                headers={"mj-api-secret": "{revoked_token}"},
            ),
        },
    ),
    "forbidden": Case(
        "forbidden",
        403,
        {"admin route": get("/mj/admin/users", token=OTHER_TOKEN)},
    ),
    "no_available_channel": Case(
        "no_available_channel",
        503,
        {"imagine": post("imagine", {"prompt": "a cat"})},
        code=9,
        setup=disable_every_channel,
    ),
    "queue_full": Case(
        "Queue is full, please try again later",
        200,
        {
            "imagine": post("imagine", {"prompt": "one more"}),
            "shorten": post("shorten", {"prompt": "one more"}),
        },
        code=23,
        setup=fill_the_only_channel,
        headers={"Retry-After": "5"},
    ),
    "rate_limited": Case(
        "rate_limited",
        429,
        {
            "fetch without a token": get(f"/mj/task/{MISSING_ID}/fetch", token=None),
            "list with a made-up token": post(
                "/mj/task/list-by-condition", {"ids": []}, token="mjg_made-up"
            ),
            "imagine without a token": post("imagine", {"prompt": "a cat"}, token=None),
        },
        code=23,
        # One request per 100 s from an address without a known token.
        settings={"rate_limit_anonymous_per_second": 0.01, "rate_limit_anonymous_burst": 1},
        setup=spend_the_address_budgets,
        properties={"retryAfter": 100},
        headers={"Retry-After": "100"},
    ),
    "banned_word": Case(
        "May contain sensitive words",
        200,
        {
            "imagine": post("imagine", {"prompt": "a NUDE statue"}),
            "shorten": post("shorten", {"prompt": "a NUDE statue"}),
        },
        code=24,
        properties={"promptEn": "a NUDE statue", "bannedWord": "nude"},
    ),
    "unknown_route": Case(
        "not_found",
        404,
        {
            "under /mj": get("/mj/nope"),
            "outside /mj": get("/nope", token=None),
            "unknown submit": post("nope", {"prompt": "x"}),
            "image without key": get("/mj/image/", token=None),
        },
    ),
    "wrong_method": Case(
        "method_not_allowed",
        405,
        {
            "GET a submit": get("/mj/submit/imagine"),
            "DELETE the list": Call("DELETE", "/mj/task/list"),
            "PUT a fetch": Call("PUT", f"/mj/task/{MISSING_ID}/fetch", {}),
        },
    ),
}


@asynccontextmanager
async def scene_for(
    tmp_path: Path, database_url: str, overrides: Mapping[str, object]
) -> AsyncIterator[Scene]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url, **overrides))
    await accounts.bootstrap(runtime)
    try:
        async with (
            serve_app(runtime) as served,
            Gateway.connect(served.base_url, ADMIN_TOKEN) as admin,
        ):
            yield Scene(served, admin)
    finally:
        await runtime.db.dispose()


async def task_ids(scene: Scene) -> list[str]:
    response = await scene.admin.http.get("/mj/task/list", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()]


async def total_balance(scene: Scene) -> int:
    return sum(user.balance for user in await accounts.list_users(scene.rt))


def assert_envelope(case: Case, label: str, response: httpx.Response) -> dict[str, Any]:
    where = f"{label}: {response.status_code} {response.text[:300]}"
    assert response.status_code == case.status, where
    assert response.headers["content-type"].startswith("application/json"), where
    body = response.json()
    assert isinstance(body, dict), where
    assert set(body) == {"code", "description", "result", "properties"}, where
    assert body["code"] == case.code, where
    assert body["description"] == case.description, where
    assert body["result"] is None, where
    properties = body["properties"]
    assert isinstance(properties, dict), where
    if case.code in (3, 4, 9):
        assert isinstance(properties.get("message"), str) and properties["message"], where
    for name, value in case.properties.items():
        assert properties.get(name) == value, where
    for name, value in case.headers.items():
        assert response.headers.get(name) == value, where
    return body


# The rate-limit case reads a Retry-After counted in whole seconds from a clock: it runs
# with the timing tests, alone (scripts/test).
@pytest.mark.parametrize(
    "case_id",
    [
        pytest.param(case, marks=pytest.mark.timing) if case == "rate_limited" else case
        for case in CASES
    ],
)
async def test_error_envelope(case_id: str, tmp_path: Path, database_url: str) -> None:
    case = CASES[case_id]
    async with scene_for(tmp_path, database_url, case.settings) as scene:
        if case.setup is not None:
            await case.setup(scene)
        requests = {label: await prepare(scene, call) for label, call in case.calls.items()}
        before, balance = await task_ids(scene), await total_balance(scene)
        async with httpx.AsyncClient(base_url=scene.served.base_url, timeout=30) as http:
            bodies = [
                assert_envelope(case, label, await request.send(http))
                for label, request in requests.items()
            ]
        assert await task_ids(scene) == before, "a refused request created a task"
        assert await total_balance(scene) == balance, "a refused request charged"
    if case.code == 3:  # a missing task and another user's task look exactly alike
        assert all(body == bodies[0] for body in bodies), bodies


def test_every_protocol_error_id_is_covered() -> None:
    ids = {
        "bind_request_body_failed", "prompt_is_required", "task_id_is_required",
        "action_is_required", "custom_id_is_required", "unknown_action", "index_is_required",
        "index_is_invalid", "content_is_required", "content_parse_failed",
        "base64_is_required", "base64_array_size_invalid", "base64_is_invalid",
        "image_too_large", "mask_base64_is_required", "zoom_is_invalid",
        "sour_base64_and_target_base64_is_required", "dimensions_is_invalid",
        "mode_is_invalid", "notify_hook_is_invalid", "state_too_long", "task_not_found",
        "task_status_not_success", "task_status_not_modal", "action_not_allowed",
        "quota_not_enough", "unauthorized", "forbidden", "rate_limited",
    }  # fmt: skip
    covered = {case.description for case in CASES.values()}
    assert ids <= covered, ids - covered
