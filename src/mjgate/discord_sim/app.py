"""The HTTP side of the simulator as one Starlette app: Discord's REST API under ``/api/v9``,
the gateway websocket at ``/gateway``, the CDN under ``/cdn``, the upload host under
``/upload``, the Vary (Region) iframe host under ``/iframe`` and the controls under ``/_sim``."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from mjgate.discord_sim.bot import Bot
from mjgate.discord_sim.commands import command_index
from mjgate.discord_sim.controls import Controls
from mjgate.discord_sim.gateway import Gateway
from mjgate.discord_sim.interactions import DiscordRefusal, validate
from mjgate.discord_sim.scripts import Script
from mjgate.discord_sim.state import UPLOAD_ORIGIN, Account, Json, World

UNAUTHORIZED: Json = {"message": "401: Unauthorized", "code": 0}


class Routes:
    def __init__(
        self, world: World, gateway: Gateway, script: Script, bot: Bot, controls: Controls
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.script = script
        self.bot = bot
        self.controls = controls
        self.upload_slots: set[str] = set()

    def _account(self, request: Request) -> Account:
        if not request.headers.get("user-agent"):
            raise DiscordRefusal(400, {"message": "A User-Agent header is required", "code": 0})
        account = self.world.accounts.get(request.headers.get("authorization", ""))
        if account is None or not account.token_valid:
            raise DiscordRefusal(401, UNAUTHORIZED)
        return account

    def _channel(self, account: Account, channel_id: str) -> None:
        if channel_id not in (account.channel_id, account.dm_channel_id):
            raise DiscordRefusal(404, {"message": "Unknown Channel", "code": 10003})

    async def command_index(self, request: Request) -> Response:
        account = self._account(request)
        if request.path_params["guild_id"] != account.guild_id:
            raise DiscordRefusal(404, {"message": "Unknown Guild", "code": 10004})
        self.world.counters["command_index_reads"] += 1
        return JSONResponse(command_index(self.world))

    async def me(self, request: Request) -> Response:
        account = self._account(request)
        return JSONResponse({"id": account.user_id, "username": account.username})

    async def interactions(self, request: Request) -> Response:
        account = self._account(request)
        payload = await _interaction_payload(request)
        self.world.interactions.append(payload)
        self.world.interaction_times.append((time.monotonic(), payload))
        self.world.counters["interactions"] += 1
        self.world.counters[f"interactions:type{payload.get('type')}"] += 1
        if self.script.rate_limits:
            retry_after = self.script.rate_limits.popleft()
            self.world.counters["rate_limited"] += 1
            body = {"message": "You are being rate limited.", "retry_after": retry_after}
            return JSONResponse(
                {**body, "global": False},
                status_code=429,
                headers={"Retry-After": str(max(1, round(retry_after)))},
            )
        found = validate(self.world, self.gateway, account, payload)
        self.bot.start(found, self.world.ids.next())
        return Response(status_code=204)

    async def attachments(self, request: Request) -> Response:
        account = self._account(request)
        self._channel(account, request.path_params["channel_id"])
        body = await _json(request)
        answers = []
        for file in body.get("files") or []:
            filename = str(file.get("filename") or "upload.bin").replace("/", "_")
            upload_filename = f"{uuid.uuid4()}/{filename}"
            self.upload_slots.add(upload_filename)
            answers.append(
                {
                    "id": file.get("id", "0"),
                    "upload_filename": upload_filename,
                    "upload_url": f"{UPLOAD_ORIGIN}/{upload_filename}"
                    f"?upload_id={secrets.token_urlsafe(24)}",
                }
            )
        return JSONResponse({"attachments": answers})

    async def upload(self, request: Request) -> Response:
        path = request.path_params["path"]
        if path not in self.upload_slots:
            return JSONResponse({"error": "unknown upload"}, status_code=404)
        self.world.uploads[path] = await request.body()
        self.world.counters["uploads"] += 1
        return Response(status_code=200)

    async def messages(self, request: Request) -> Response:
        account = self._account(request)
        channel_id = request.path_params["channel_id"]
        self._channel(account, channel_id)
        if request.method == "POST":
            return await self._post_message(request, account, channel_id)
        try:
            limit = min(100, max(1, int(request.query_params.get("limit", "50"))))
        except ValueError:
            limit = 50
        found = self.world.recent_messages(channel_id, 10_000)
        if "before" in request.query_params:
            found = [m for m in found if int(m["id"]) < int(request.query_params["before"])]
        if "after" in request.query_params:
            found = [m for m in found if int(m["id"]) > int(request.query_params["after"])]
        self.world.counters["message_fetches"] += 1
        return JSONResponse(found[:limit])

    async def _post_message(self, request: Request, account: Account, channel_id: str) -> Response:
        """The account posts a message; its uploaded files go on the CDN (clients put those
        links in a prompt, as reference images)."""
        body = await _json(request)
        attachments = []
        for entry in body.get("attachments") or []:
            uploaded = str(entry.get("uploaded_filename", ""))
            data = self.world.uploads.get(uploaded)
            if data is None:
                raise DiscordRefusal(400, {"message": "Unknown upload", "code": 50035})
            filename = str(entry.get("filename") or "image.png").replace("/", "_")
            ctype = "image/png" if data.startswith(b"\x89PNG") else "application/octet-stream"
            attachments.append(
                self.world.store_file("attachments", channel_id, filename, data, ctype)
            )
        content = str(body.get("content") or "")
        if not content and not attachments:
            raise DiscordRefusal(400, {"message": "Cannot send an empty message", "code": 50006})
        message: Json = {
            "id": self.world.ids.next(),
            "type": 0,
            "channel_id": channel_id,
            "guild_id": account.guild_id,
            "content": content,
            "author": {"id": account.user_id, "username": account.username, "bot": False},
            "attachments": attachments,
            "embeds": [],
            "components": [],
            "flags": 0,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
        }
        if body.get("nonce"):
            message["nonce"] = str(body["nonce"])
        self.world.store_message(message)
        self.world.counters["messages_posted"] += 1
        self.gateway.dispatch(account.token, "MESSAGE_CREATE", message)
        return JSONResponse(message)

    async def reaction(self, request: Request) -> Response:
        """✉️ on a job's result: the bot sends the job's seed by direct message."""
        account = self._account(request)
        channel_id = request.path_params["channel_id"]
        self._channel(account, channel_id)
        message_id = request.path_params["message_id"]
        if message_id not in self.world.messages.get(channel_id, {}):
            raise DiscordRefusal(404, {"message": "Unknown Message", "code": 10008})
        self.world.counters["reactions"] += 1
        if request.path_params["emoji"] == "✉️":
            self.bot.send_seed(account, message_id)
        return Response(status_code=204)

    async def cdn(self, request: Request) -> Response:
        stored = self.world.files.get(request.path_params["path"])
        if stored is None:
            return Response("Not Found", status_code=404)
        return Response(stored.data, media_type=stored.content_type)

    async def iframe_submit(self, request: Request) -> Response:
        body = await _json(request)
        custom_id = str(body.get("customId", "")).removeprefix("MJ::iframe::")
        mask = body.get("mask")
        try:
            png = base64.b64decode(str(mask), validate=True)
        except (binascii.Error, ValueError):
            png = b""
        if not png.startswith(b"\x89PNG"):
            return JSONResponse({"success": False, "error": "mask is not a PNG"}, status_code=400)
        self.world.counters["iframe_submits"] += 1
        if not self.bot.submit_iframe(custom_id, str(body.get("prompt") or "")):
            return JSONResponse({"success": False, "error": "unknown customId"}, status_code=400)
        return JSONResponse({"success": True})

    async def control(self, request: Request) -> Response:
        method = self.controls.table().get(request.path_params["name"])
        if method is None:
            return JSONResponse({"error": "no such control"}, status_code=404)
        body = await _json(request) if await request.body() else {}
        try:
            result = method(**body)
            if inspect.isawaitable(result):
                result = await result
        except (TypeError, ValueError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"ok": True, "result": result})

    async def state(self, _request: Request) -> Response:
        return JSONResponse(self.controls.state())


async def _json(request: Request) -> Json:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise DiscordRefusal(400, {"message": "400: Bad Request", "code": 50109}) from exc
    if not isinstance(body, dict):
        raise DiscordRefusal(400, {"message": "400: Bad Request", "code": 50109})
    return body


async def _interaction_payload(request: Request) -> Json:
    """JSON, or multipart/form-data whose ``payload_json`` part is the JSON."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return await _json(request)
    raw = b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + await request.body()
    form: Any = BytesParser(policy=HTTP).parsebytes(raw)
    for part in form.iter_parts():
        if part.get_param("name", header="content-disposition") == "payload_json":
            payload = json.loads(part.get_content())
            if isinstance(payload, dict):
                return payload
    raise DiscordRefusal(400, {"message": "400: Bad Request", "code": 50109})


async def _refused(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DiscordRefusal)
    return JSONResponse(exc.body, status_code=exc.status)


def build_app(routes: Routes) -> Starlette:
    api = "/api/v9"
    return Starlette(
        routes=[
            Route(f"{api}/guilds/{{guild_id}}/application-command-index", routes.command_index),
            Route(f"{api}/users/@me", routes.me),
            Route(f"{api}/interactions", routes.interactions, methods=["POST"]),
            Route(
                f"{api}/channels/{{channel_id}}/attachments", routes.attachments, methods=["POST"]
            ),
            Route(
                f"{api}/channels/{{channel_id}}/messages", routes.messages, methods=["GET", "POST"]
            ),
            Route(
                f"{api}/channels/{{channel_id}}/messages/{{message_id}}/reactions/{{emoji}}/@me",
                routes.reaction,
                methods=["PUT"],
            ),
            Route("/upload/{path:path}", routes.upload, methods=["PUT"]),
            Route("/cdn/{path:path}", routes.cdn, methods=["GET", "HEAD"]),
            Route("/iframe/inpaint/api/submit-job", routes.iframe_submit, methods=["POST"]),
            Route("/_sim/state", routes.state),
            Route("/_sim/{name}", routes.control, methods=["POST"]),
            WebSocketRoute("/gateway", routes.gateway.serve),
            WebSocketRoute("/gateway/", routes.gateway.serve),
        ],
        exception_handlers={DiscordRefusal: _refused},
    )
