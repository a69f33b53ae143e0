"""Arbitrary bodies on every submit route and list-by-condition: never a 500, always JSON.

Hypothesis drives a synchronous ``httpx.Client``, so the app runs in a background thread with
its own event loop (``ServerThread``); everything that touches the runtime runs on that loop.
The parents that follow-ups refer to are made first; then the sandbox channel is switched to
hour-long jobs, so that what the fuzzing creates waits in the queue and renders nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mjgate.services import accounts
from mjgate.services.runtime import Runtime
from server_thread import ServerThread, finished
from support import ADMIN_TOKEN, make_settings, png_bytes, png_data_url

COMMON = ("mode", "state", "notifyHook", "botType", "accountFilter")
ROUTES: dict[str, tuple[str, ...]] = {
    "/mj/submit/imagine": ("prompt", "base64Array"),
    "/mj/submit/blend": ("base64Array", "dimensions"),
    "/mj/submit/describe": ("base64", "base64Array", "link"),
    "/mj/submit/shorten": ("prompt",),
    "/mj/submit/action": ("taskId", "customId", "enableRemix", "chooseSameChannel"),
    "/mj/submit/modal": ("taskId", "prompt", "maskBase64"),
    "/mj/submit/change": ("taskId", "action", "index"),
    "/mj/submit/simple-change": ("content",),
    "/mj/submit/video": (
        "prompt",
        "image",
        "taskId",
        "index",
        "motion",
        "action",
        "loop",
        "batchSize",
    ),
    "/mj/submit/edits": ("prompt", "image", "maskBase64"),
    "/mj/submit/upload-discord-images": ("base64Array",),
    "/mj/insight-face/swap": ("sourceBase64", "targetBase64"),
    "/mj-relax/mj/submit/imagine": ("prompt",),
    "/mj/task/list-by-condition": ("ids",),
    "/mj/task/list-by-ids": ("ids",),
}
LISTS = ("/mj/task/list-by-condition", "/mj/task/list-by-ids")
MISSING_ID = "1712158011464906"


# --- the app under fuzz -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    http: httpx.Client
    grid: str  # a SUCCESS imagine
    inpaint: str  # a MODAL Vary (Region)
    zoom: str  # a MODAL Custom Zoom
    task_ids: list[str]
    custom_ids: list[str]
    images: list[str]


def _modal(http: httpx.Client, parent: dict[str, Any], label: str) -> str:
    custom_id = next(b["customId"] for b in parent["buttons"] if b["label"] == label)
    answer = http.post("/mj/submit/action", json={"taskId": parent["id"], "customId": custom_id})
    assert answer.json()["code"] == 21, answer.text
    return str(answer.json()["result"])


async def _slow_down_the_sandbox(rt: Runtime) -> None:
    async with rt.db.write() as uow:
        channel = await uow.channel_by_name(accounts.SANDBOX_NAME)
        assert channel is not None
        channel.config = {**channel.config, "duration": 3600}


@pytest.fixture
def target(tmp_path: Path, database_url: str) -> Iterator[Target]:
    app_settings = make_settings(tmp_path, database_url, sandbox_duration=0.2)
    with (
        ServerThread(app_settings) as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        ) as http,
    ):
        grid = finished(http, "/mj/submit/imagine", {"prompt": "a fuzzy moth --ar 3:2"})
        u1 = next(b["customId"] for b in grid["buttons"] if b["label"] == "U1")
        upscale = finished(http, "/mj/submit/action", {"taskId": grid["id"], "customId": u1})
        inpaint = _modal(http, upscale, "Vary (Region)")
        zoom = _modal(http, upscale, "Custom Zoom")
        server.call(_slow_down_the_sandbox)
        buttons = [b["customId"] for task in (grid, upscale) for b in task["buttons"]]
        yield Target(
            http=http,
            grid=grid["id"],
            inpaint=inpaint,
            zoom=zoom,
            task_ids=[grid["id"], upscale["id"], inpaint, zoom, MISSING_ID],
            custom_ids=buttons,
            images=[
                png_data_url(),
                base64.b64encode(png_bytes()).decode(),
                grid["imageUrl"],
                "data:image/png;base64,////",
            ],
        )


# --- strategies ---------------------------------------------------------------------------

# Any text, lone surrogates included (they go out as \\udXXX escapes, as JSON allows).
TEXT = st.text(st.characters(exclude_categories=[]), max_size=30)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | TEXT
    | st.sampled_from(["", " ", "\u0000", "🔄", "1️⃣", "Ω≈ç√", "\u202e", "--zoom", "::"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def hints(target: Target) -> dict[str, st.SearchStrategy[Any]]:
    """Plausible values, so that fuzzing gets past the first checks into the deeper ones."""
    ids = st.sampled_from(target.task_ids)
    image = st.sampled_from(target.images)
    buttons = st.sampled_from(target.custom_ids)
    return {
        "prompt": st.sampled_from(["a cat", "cat --zoom 1.5", "x --relax --ar 9:16", "nude"])
        | TEXT,
        "taskId": ids | ids.map(int),
        "customId": buttons
        | buttons.map(lambda c: c.replace("1", "7", 1))
        | st.sampled_from(["MJ::Job::PicReader::9", "MJ::Picread::Retry", "MJ::::"])
        | TEXT,
        "content": st.builds(
            lambda i, s: f"{i} {s}", ids, st.sampled_from(["U1", "v4", "r", "U5", "Q"]) | TEXT
        ),
        "action": st.sampled_from(["UPSCALE", "variation", "REROLL", "extend", "FOO"]),
        "index": st.integers(-2, 6),
        "enableRemix": st.booleans(),
        "chooseSameChannel": st.booleans(),
        "loop": st.booleans(),
        "batchSize": st.sampled_from([1, 2, 3, 4]),
        "motion": st.sampled_from(["low", "HIGH", "wild"]),
        "mode": st.sampled_from(["fast", "RELAX", "turbo", "slow", ""]) | st.none(),
        "dimensions": st.sampled_from(["PORTRAIT", "square", "ROUND"]),
        "base64": image,
        "maskBase64": image,
        "sourceBase64": image,
        "targetBase64": image,
        "image": image,
        "base64Array": st.lists(image, max_size=6),
        "link": st.sampled_from(["ftp://x/a.png", "http://", "http://127.0.0.1:9/a.png"]),
        "state": TEXT | st.just("s" * 4097) | st.none(),
        "notifyHook": st.sampled_from(["ftp://x", "not a url", "http://" + "a" * 2001, ""])
        | st.none(),
        "botType": st.sampled_from(["mj", "NIJI_JOURNEY", "niji", "dalle"]) | st.none(),
        "accountFilter": st.dictionaries(TEXT, JSON, max_size=3),
        "ids": st.lists(ids | ids.map(int) | SCALARS, max_size=6),
    }


def valid_bodies(target: Target, path: str) -> list[dict[str, Any]]:
    """Bodies that the route accepts: the starting points for mutations."""
    png = target.images[0]
    grid_button = next(c for c in target.custom_ids if "upsample::2" in c)
    by_route: dict[str, list[dict[str, Any]]] = {
        "/mj/submit/imagine": [{"prompt": "a cat", "base64Array": [png]}],
        "/mj/submit/blend": [{"base64Array": [png, png], "dimensions": "PORTRAIT"}],
        "/mj/submit/describe": [{"base64": png}],
        "/mj/submit/shorten": [{"prompt": "a very long prompt about a cat"}],
        "/mj/submit/action": [{"taskId": target.grid, "customId": grid_button}],
        "/mj/submit/modal": [
            {"taskId": target.zoom, "prompt": "wide --zoom 1.5"},
            {"taskId": target.inpaint, "maskBase64": png},
        ],
        "/mj/submit/change": [{"taskId": target.grid, "action": "UPSCALE", "index": 2}],
        "/mj/submit/simple-change": [{"content": f"{target.grid} V1"}],
        "/mj/submit/video": [{"prompt": "waves"}, {"taskId": target.grid, "index": 1}],
        "/mj/submit/edits": [{"prompt": "a cat", "image": png}],
        "/mj/submit/upload-discord-images": [{"base64Array": [png]}],
        "/mj/insight-face/swap": [{"sourceBase64": png, "targetBase64": png}],
        "/mj-relax/mj/submit/imagine": [{"prompt": "a cat"}],
    }
    return by_route.get(path, [{"ids": target.task_ids}])


def bodies(target: Target) -> st.SearchStrategy[tuple[str, Any]]:
    """A route and a body: valid ones with a field or two changed, objects of plausible or
    arbitrary fields, and any JSON at all."""
    plausible = hints(target)

    def for_route(path: str) -> st.SearchStrategy[tuple[str, Any]]:
        fields = (*ROUTES[path], *COMMON)
        # one_of picks a branch uniformly: three plausible branches to one arbitrary.
        values = {name: st.one_of(*[plausible[name]] * 3, JSON) for name in fields}
        objects = st.fixed_dictionaries({}, optional=values)
        with_extra = st.builds(lambda a, b: {**b, **a}, objects, st.dictionaries(TEXT, JSON))
        changes = st.sets(st.sampled_from(fields), max_size=2).flatmap(
            lambda picked: st.fixed_dictionaries(
                {name: st.one_of(plausible[name], JSON) for name in picked}
            )
        )
        mutated = st.builds(
            lambda base, dropped, changed: {
                **{k: v for k, v in base.items() if k not in dropped},
                **changed,
            },
            st.sampled_from(valid_bodies(target, path)),
            st.sets(st.sampled_from(fields), max_size=1),
            changes,
        )
        body = st.one_of(mutated, mutated, mutated, objects, with_extra, JSON)
        return st.tuples(st.just(path), body)

    return st.sampled_from(list(ROUTES)).flatmap(for_route)


def check(path: str, response: httpx.Response) -> None:
    where = f"{path}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, where
    assert response.headers["content-type"].startswith("application/json"), where
    body = response.json()
    if path in LISTS and response.status_code == 200:
        assert isinstance(body, list), where
        assert all(isinstance(task, dict) and task["id"] for task in body), where
        return
    assert isinstance(body, dict), where
    assert set(body) == {"code", "description", "result", "properties"}, where
    assert isinstance(body["description"], str) and body["description"], where
    assert isinstance(body["properties"], dict), where
    if response.status_code == 200:
        assert body["code"] in (1, 21, 22, 23, 24), where
    else:
        assert body["code"] in (3, 4), where
        assert body["result"] is None and body["properties"]["message"], where


FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.data())
def test_json_bodies(target: Target, data: st.DataObject) -> None:
    path, body = data.draw(bodies(target), label="request")
    raw = json.dumps(body, ensure_ascii=True).encode()  # NaN and Infinity go out as such
    check(path, target.http.post(path, content=raw, headers={"Content-Type": "application/json"}))


@FUZZ
@given(
    path=st.sampled_from(list(ROUTES)),
    raw=st.binary(max_size=200) | TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
    ),
)
def test_raw_bodies(target: Target, path: str, raw: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    check(path, target.http.post(path, content=raw, headers=headers))
