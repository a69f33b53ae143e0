"""The bodies we POST to Discord (DISCORD.md §2), and reading the commands and modals it sends.

Pure: no I/O. Command ids and versions are never hard-coded: they come from the guild's
application-command index (``CommandIndex``), because Midjourney republishes them and a
stale pair is refused.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
_SNOWFLAKE_RANDOM_BITS = 22

# Interaction types and option/component types, as Discord numbers them.
SLASH_COMMAND = 2
COMPONENT_CLICK = 3
MODAL_SUBMIT = 5
CHAT_INPUT = 1  # a slash command (as opposed to a user/message context-menu command)
OPTION_STRING = 3
OPTION_ATTACHMENT = 11
ACTION_ROW = 1
BUTTON = 2
TEXT_INPUT = 4
LABEL = 18  # newer modals wrap each input in a label component

IFRAME_PREFIX = "MJ::iframe::"


def new_nonce(now_ms: int, rng: random.Random) -> str:
    """A Discord snowflake for ``now_ms``: the bot echoes it back, so it must be unique."""
    since_epoch = max(0, now_ms - DISCORD_EPOCH_MS)
    return str((since_epoch << _SNOWFLAKE_RANDOM_BITS) | rng.getrandbits(_SNOWFLAKE_RANDOM_BITS))


@dataclass(frozen=True)
class InteractionContext:
    """Where an interaction is posted from: the account's guild, channel and gateway session."""

    guild_id: str
    channel_id: str
    application_id: str
    session_id: str


@dataclass(frozen=True)
class Command:
    """One slash command of one application, as the index listed it."""

    id: str
    version: str
    name: str
    application_id: str
    options: tuple[Mapping[str, Any], ...] = ()
    # The index entry untouched: Discord's own client sends it back as ``application_command``.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class CommandMissing(LookupError):
    """The application's command index has no command of this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the application has no /{name} command in this guild's index")
        self.name = name


@dataclass(frozen=True)
class CommandIndex:
    """The slash commands of one application, by name."""

    application_id: str
    commands: Mapping[str, Command]

    @classmethod
    def from_json(cls, index: Mapping[str, Any], application_id: str) -> CommandIndex:
        """Read ``GET /guilds/{id}/application-command-index``; ``ValueError`` if malformed.

        Other applications' commands are skipped, and so are context-menu commands.
        """
        if not isinstance(index, Mapping):
            raise ValueError("the command index is not a JSON object")
        entries = index.get("application_commands")
        if not isinstance(entries, list):
            raise ValueError("the command index has no application_commands list")
        commands: dict[str, Command] = {}
        for position, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise ValueError(f"application_commands[{position}] is not an object")
            owner = entry.get("application_id")
            if not isinstance(owner, str) or not owner:
                raise ValueError(f"application_commands[{position}].application_id is missing")
            if owner != application_id:
                continue
            command = _read_command(entry, position)
            if command is not None:
                commands.setdefault(command.name, command)
        return cls(application_id, commands)

    def command(self, name: str) -> Command:
        try:
            return self.commands[name]
        except KeyError:
            raise CommandMissing(name) from None


def _read_command(entry: Mapping[str, Any], position: int) -> Command | None:
    where = f"application_commands[{position}]"
    values: dict[str, str] = {}
    for key in ("id", "version", "name"):
        value = entry.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}.{key} is not a non-empty string")
        values[key] = value
    kind = entry.get("type", CHAT_INPUT)
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise ValueError(f"{where}.type is not an integer")
    if kind != CHAT_INPUT:
        return None
    options = entry.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, Mapping) for o in options):
        raise ValueError(f"{where}.options is not a list of objects")
    return Command(
        id=values["id"],
        version=values["version"],
        name=values["name"],
        application_id=str(entry["application_id"]),
        options=tuple(options),
        raw=copy.deepcopy(dict(entry)),
    )


# --- interaction bodies -----------------------------------------------------------------------


def _envelope(kind: int, ctx: InteractionContext, nonce: str) -> dict[str, Any]:
    return {
        "type": kind,
        "application_id": ctx.application_id,
        "guild_id": ctx.guild_id,
        "channel_id": ctx.channel_id,
        "session_id": ctx.session_id,
        "nonce": nonce,
    }


def slash_command(
    ctx: InteractionContext,
    nonce: str,
    command: Command,
    options: Sequence[Mapping[str, Any]],
    attachments: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A type-2 interaction running ``command`` with ``options``."""
    return {
        **_envelope(SLASH_COMMAND, ctx, nonce),
        "data": {
            "version": command.version,
            "id": command.id,
            "name": command.name,
            "type": CHAT_INPUT,
            "options": [dict(option) for option in options],
            "application_command": copy.deepcopy(dict(command.raw)),
            "attachments": [dict(attachment) for attachment in attachments],
        },
    }


def button_click(
    ctx: InteractionContext, nonce: str, message_id: str, message_flags: int, custom_id: str
) -> dict[str, Any]:
    """A type-3 interaction: pressing the button ``custom_id`` on ``message_id``."""
    return {
        **_envelope(COMPONENT_CLICK, ctx, nonce),
        "message_id": message_id,
        # Discord wants the flags of the message that carries the button (ephemeral or not).
        "message_flags": message_flags,
        "data": {"component_type": BUTTON, "custom_id": custom_id},
    }


def modal_submit(
    ctx: InteractionContext,
    nonce: str,
    modal_id: str,
    modal_custom_id: str,
    inputs: Mapping[str, str],
) -> dict[str, Any]:
    """A type-5 interaction answering the modal ``modal_id``; ``inputs`` maps input ids to text."""
    rows = [
        {
            "type": ACTION_ROW,
            "components": [{"type": TEXT_INPUT, "custom_id": input_id, "value": value}],
        }
        for input_id, value in inputs.items()
    ]
    return {
        **_envelope(MODAL_SUBMIT, ctx, nonce),
        "data": {"id": modal_id, "custom_id": modal_custom_id, "components": rows},
    }


# --- options ----------------------------------------------------------------------------------


def prompt_option(text: str) -> dict[str, Any]:
    return {"type": OPTION_STRING, "name": "prompt", "value": text}


def attachment_option(name: str, index: int) -> dict[str, Any]:
    """An image option (describe ``image``, blend ``image1``…) naming ``attachments[index]``."""
    return {"type": OPTION_ATTACHMENT, "name": name, "value": index}


def link_option(url: str) -> dict[str, Any]:
    return {"type": OPTION_STRING, "name": "link", "value": url}


def dimensions_option(ar: str) -> dict[str, Any]:
    """Blend's ``dimensions``: ``"2:3"`` or ``"--ar 2:3"`` both become ``"--ar 2:3"``."""
    ratio = ar.strip().removeprefix("--ar").strip()
    return {"type": OPTION_STRING, "name": "dimensions", "value": f"--ar {ratio}"}


def job_id_option(job_hash: str) -> dict[str, Any]:
    """/show's ``job_id``."""
    return {"type": OPTION_STRING, "name": "job_id", "value": job_hash}


def attachment_ref(index: int, filename: str, uploaded_filename: str) -> dict[str, Any]:
    """An entry of ``data.attachments``: a file already PUT to the upload URL."""
    return {"id": str(index), "filename": filename, "uploaded_filename": uploaded_filename}


def iframe_job(token: str, mask_b64: str, prompt: str) -> dict[str, Any]:
    """The Vary (Region) submit body for the iframe host; the mask is bare base64 PNG."""
    _, comma, rest = mask_b64.partition(",")
    bare = rest if comma and mask_b64.startswith("data:") else mask_b64
    return {"customId": token, "mask": bare, "prompt": prompt, "userId": "0", "username": "0"}


# --- what the bot opens -----------------------------------------------------------------------


@dataclass(frozen=True)
class ModalInput:
    custom_id: str
    value: str = ""


@dataclass(frozen=True)
class ModalForm:
    """A modal the bot opened (INTERACTION_MODAL_CREATE): submit it with its own ids."""

    modal_id: str
    custom_id: str
    inputs: tuple[ModalInput, ...]
    title: str = ""

    @property
    def prompt_input_id(self) -> str | None:
        """The text input that takes the prompt (``…prompt`` / ``…new_prompt``), if any."""
        for field_ in self.inputs:
            if field_.custom_id.lower().endswith("prompt"):
                return field_.custom_id
        return None

    def filled(self, prompt: str) -> dict[str, str]:
        """Every input with the value the bot pre-filled, the prompt input set to ``prompt``."""
        values = {field_.custom_id: field_.value for field_ in self.inputs}
        target = self.prompt_input_id
        if target is not None:
            values[target] = prompt
        return values


def modal_inputs(modal_event: Mapping[str, Any]) -> ModalForm:
    """Read an INTERACTION_MODAL_CREATE dispatch; ``ValueError`` without its ids."""
    modal_id = _id_text(modal_event.get("id"))
    custom_id = modal_event.get("custom_id")
    if modal_id is None or not isinstance(custom_id, str) or not custom_id:
        raise ValueError("a modal needs an id and a custom_id")
    inputs: list[ModalInput] = []
    _collect_inputs(modal_event.get("components"), inputs)
    title = modal_event.get("title")
    return ModalForm(modal_id, custom_id, tuple(inputs), title if isinstance(title, str) else "")


def _collect_inputs(node: object, into: list[ModalInput]) -> None:
    # Rows (type 1) hold ``components``, labels (type 18) hold one ``component``.
    if isinstance(node, list):
        for child in node:
            _collect_inputs(child, into)
        return
    if not isinstance(node, Mapping):
        return
    if node.get("type") == TEXT_INPUT:
        input_id = node.get("custom_id")
        value = node.get("value")
        if isinstance(input_id, str) and input_id:
            into.append(ModalInput(input_id, value if isinstance(value, str) else ""))
        return
    _collect_inputs(node.get("components"), into)
    _collect_inputs(node.get("component"), into)


def iframe_token(event: Mapping[str, Any]) -> str:
    """The token of a Vary (Region) editor (``MJ::iframe::<token>``); ``ValueError`` otherwise."""
    custom_id = event.get("custom_id")
    if isinstance(custom_id, str) and custom_id.startswith(IFRAME_PREFIX):
        token = custom_id.removeprefix(IFRAME_PREFIX)
        if token:
            return token
    raise ValueError("not a Vary (Region) iframe: its custom_id is not MJ::iframe::<token>")


def _id_text(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None
