"""Validation of ``POST /interactions`` as Discord does it before the bot sees anything: the
command id and version, the gateway session, the channel, the message and button clicked, the
modal submitted, the uploaded files referred to. A refusal is a status and a Discord body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mjgate.discord_sim.gateway import Gateway
from mjgate.discord_sim.state import Account, Command, Json, Modal, World


class DiscordRefusal(Exception):
    """An answer other than 204: status and JSON body as Discord writes them."""

    def __init__(self, status: int, body: Json) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def _form_error(path: str, code: str, text: str) -> DiscordRefusal:
    errors: Json = {"_errors": [{"code": code, "message": text}]}
    for part in reversed(path.split(".")):
        errors = {part: errors}
    return DiscordRefusal(400, {"code": 50035, "message": "Invalid Form Body", "errors": errors})


@dataclass
class Interaction:
    """A payload Discord accepted, with what it refers to looked up."""

    account: Account
    payload: Json
    type: int
    nonce: str
    application_id: str
    command: Command | None = None
    options: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # attachment id -> file
    message: Json | None = None
    custom_id: str = ""
    modal: Modal | None = None
    inputs: dict[str, str] = field(default_factory=dict)


def validate(world: World, gateway: Gateway, account: Account, payload: Json) -> Interaction:
    kind = payload.get("type")
    nonce = payload.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise _form_error("nonce", "BASE_TYPE_REQUIRED", "This field is required")
    channel_id = str(payload.get("channel_id", ""))
    if world.account_of_channel(channel_id) is not account:
        raise DiscordRefusal(404, {"message": "Unknown Channel", "code": 10003})
    if str(payload.get("guild_id", "")) != account.guild_id:
        raise DiscordRefusal(404, {"message": "Unknown Guild", "code": 10004})
    session = gateway.sessions.get(str(payload.get("session_id", "")))
    if session is None or session.token != account.token or not session.resumable():
        raise _form_error("session_id", "INVALID_SESSION", "Invalid session")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise _form_error("data", "BASE_TYPE_REQUIRED", "This field is required")
    application_id = str(payload.get("application_id", ""))
    found = Interaction(account, payload, int(kind or 0), nonce, application_id)
    if kind == 2:
        _validate_command(world, found, data)
    elif kind == 3:
        _validate_click(world, found, data, str(payload.get("message_id", "")))
    elif kind == 5:
        _validate_modal(world, found, data)
    else:
        raise _form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {2, 3, 5}.")
    return found


def _validate_command(world: World, found: Interaction, data: Json) -> None:
    command = world.command(str(data.get("id", "")))
    if (
        command is None
        or command.version != str(data.get("version", ""))
        or command.application_id != found.application_id
        or command.name != data.get("name", command.name)
    ):
        raise _form_error(
            "data",
            "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION",
            "This command is outdated, please try again in a few minutes",
        )
    found.command = command
    uploads = {}
    for attachment in data.get("attachments") or []:
        uploaded = str(attachment.get("uploaded_filename", ""))
        if uploaded not in world.uploads:
            raise _form_error("data.attachments", "ATTACHMENT_NOT_FOUND", "Unknown uploaded file")
        filename = str(attachment.get("filename") or uploaded.rsplit("/", 1)[-1])
        uploads[str(attachment.get("id", "0"))] = (filename, world.uploads[uploaded])
    found.files = uploads
    known = {option["name"]: option for option in command.options}
    for option in data.get("options") or []:
        name = option.get("name")
        if name not in known or option.get("type") != known[name]["type"]:
            raise _form_error("data.options", "APPLICATION_COMMAND_OPTION_INVALID", "Bad option")
        found.options[name] = option.get("value")
    missing = [n for n, o in known.items() if o.get("required") and n not in found.options]
    if missing:
        raise _form_error("data.options", "BASE_TYPE_REQUIRED", f"{missing[0]} is required")


def _validate_click(world: World, found: Interaction, data: Json, message_id: str) -> None:
    message = world.messages.get(found.account.channel_id, {}).get(message_id)
    if message is None:
        raise DiscordRefusal(404, {"message": "Unknown Message", "code": 10008})
    custom_id = str(data.get("custom_id", ""))
    carried = {
        button.get("custom_id")
        for row in message.get("components", [])
        for button in row.get("components", [])
    }
    if data.get("component_type") != 2 or custom_id not in carried:
        raise DiscordRefusal(
            400, {"message": "Invalid interaction: unknown component", "code": 50035}
        )
    found.message = message
    found.custom_id = custom_id


def _validate_modal(world: World, found: Interaction, data: Json) -> None:
    modal = world.modals.get(str(data.get("id", "")))
    if (
        modal is None
        or modal.account_token != found.account.token
        or modal.custom_id != data.get("custom_id")
    ):
        raise DiscordRefusal(400, {"message": "Unknown interaction", "code": 10062})
    for row in data.get("components") or []:
        for text_input in row.get("components") or []:
            found.inputs[str(text_input.get("custom_id"))] = str(text_input.get("value", ""))
    found.modal = modal
    found.custom_id = modal.custom_id
