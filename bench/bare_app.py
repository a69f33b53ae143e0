"""The ceiling: a bare Starlette endpoint answering a task-sized JSON body, nothing else."""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HASH = "0b5c2a9e-6d1f-4f7a-9a55-3e1c2f0d9b11"


def _url(name: str) -> str:
    key = f"1712158011464906/0123456789abcdef-{name}.png"
    return f"http://127.0.0.1:8080/mj/image/{key}?sig=0123456789abcdef0123456789abcdef"


def _button(kind: str, label: str, n: int) -> dict[str, object]:
    custom_id = f"MJ::JOB::{kind}::{n}::{HASH}"
    return {"customId": custom_id, "emoji": "", "label": label, "type": 2, "style": 2}


TASK = {
    "id": "1712158011464906",
    "action": "IMAGINE",
    "status": "SUCCESS",
    "prompt": "a red fox in the snow --ar 3:2",
    "promptEn": "a red fox in the snow --ar 3:2",
    "description": "/imagine a red fox in the snow --ar 3:2",
    "state": "",
    "mode": "FAST",
    "botType": "MID_JOURNEY",
    "customId": None,
    "submitTime": 1712158011464,
    "startTime": 1712158012001,
    "finishTime": 1712158031877,
    "progress": "100%",
    "imageUrl": _url("image"),
    "imageUrls": [{"url": _url(f"image{n}")} for n in range(1, 5)],
    "videoUrl": None,
    "videoUrls": [],
    "failReason": None,
    "buttons": [_button("upsample", f"U{n}", n) for n in range(1, 5)]
    + [_button("reroll", "", 0)]
    + [_button("variation", f"V{n}", n) for n in range(1, 5)],
    "properties": {
        "finalPrompt": "a red fox in the snow --ar 3:2",
        "messageHash": HASH,
        "channelId": "sandbox",
    },
}
BODY = orjson.dumps(TASK)


async def task(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


async def submit(request: Request) -> Response:
    await request.body()
    answer = b'{"code":1,"description":"Submit success","result":"1712158011464906"}'
    return Response(answer, media_type="application/json")


app = Starlette(routes=[Route("/task", task), Route("/submit", submit, methods=["POST"])])
