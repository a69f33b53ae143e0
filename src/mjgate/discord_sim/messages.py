"""Builders of the bot's message objects as the gateway and REST carry them: content lines,
embeds, button rows with Midjourney's custom ids, interaction metadata, attachments. Also how
the bot shows a prompt (default parameters dropped, links shortened, long prompts cut)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from mjgate.discord_sim.scripts import Script
from mjgate.discord_sim.state import APP_NAMES, MIDJOURNEY_APP_ID, Account, Json, World

EPHEMERAL, LOADING = 64, 128
ERROR_COLOUR = 16711680
KEYCAPS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣"]
_DEFAULT_PARAMS = re.compile(
    r"\s--(?:q|quality)\s+1(?:\.0)?\b|\s--(?:s|stylize)\s+100\b|\s--chaos\s+0\b"
)
_LINK = re.compile(r"https?://\S+")


@dataclass
class Reply:
    """What the bot's answers to one interaction refer to."""

    account: Account
    interaction_id: str
    nonce: str | None
    interaction_type: int  # 2 command, 3 button, 5 modal submit
    name: str = ""  # the command's name, for type 2
    parent_message_id: str | None = None  # the message whose button was clicked
    application_id: str = MIDJOURNEY_APP_ID

    def metadata(self) -> Json:
        meta: Json = {
            "id": self.interaction_id,
            "type": self.interaction_type,
            "user": {"id": self.account.user_id, "username": self.account.username},
            "authorizing_integration_owners": {"0": self.account.guild_id},
        }
        if self.name:
            meta["name"] = self.name
        if self.parent_message_id:
            meta["interacted_message_id"] = self.parent_message_id
        return meta


def shown_prompt(prompt: str, script: Script) -> str:
    """The prompt as the bot writes it back (with its ``--v 7`` when no version is given)."""
    text = " ".join(prompt.split())
    if script.rewrite_prompts:
        text = _DEFAULT_PARAMS.sub("", f" {text}").strip()
        text = _LINK.sub(lambda _m: f"https://s.mj.run/{secrets.token_urlsafe(8)}", text)
    if not re.search(r"--(?:v|version|niji)\b", text):
        text = f"{text} --v 7"
    limit = script.prompt_limit
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def job_mode(prompt: str, account: Account) -> str:
    """The mode a job runs in: a --relax/--fast/--turbo flag wins over the account's mode."""
    for flag, mode in (("--relax", "relaxed"), ("--fast", "fast"), ("--turbo", "turbo")):
        if re.search(rf"{flag}\b", prompt):
            return mode
    return account.mode


def message(
    world: World,
    reply: Reply,
    content: str,
    *,
    channel_id: str | None = None,
    nonce: str | None = None,
    attachments: list[Json] | None = None,
    embeds: list[Json] | None = None,
    components: list[Json] | None = None,
    metadata: bool = True,
    flags: int = 0,
) -> Json:
    account = reply.account
    msg: Json = {
        "id": world.ids.next(),
        "type": 19 if reply.parent_message_id else 20 if reply.interaction_type == 2 else 0,
        "channel_id": channel_id or account.channel_id,
        "guild_id": account.guild_id,
        "content": content,
        "author": {
            "id": reply.application_id,
            "username": APP_NAMES[reply.application_id],
            "discriminator": "0",
            "bot": True,
        },
        "attachments": attachments or [],
        "embeds": embeds or [],
        "components": components or [],
        "mentions": [{"id": account.user_id, "username": account.username}],
        "flags": flags,
        "timestamp": datetime.now(UTC).isoformat(),
        "edited_timestamp": None,
        "tts": False,
        "pinned": False,
        "application_id": reply.application_id,
    }
    if nonce is not None:
        msg["nonce"] = nonce
    if metadata:
        msg["interaction_metadata"] = reply.metadata()
    if reply.parent_message_id:
        msg["message_reference"] = {
            "type": 0,
            "message_id": reply.parent_message_id,
            "channel_id": account.channel_id,
            "guild_id": account.guild_id,
        }
    if channel_id == account.dm_channel_id:
        del msg["guild_id"]
    return msg


def edited(msg: Json, **changes: object) -> Json:
    return {**msg, **changes, "edited_timestamp": datetime.now(UTC).isoformat()}


def error_embed(title: str, description: str, colour: int = ERROR_COLOUR) -> Json:
    return {
        "type": "rich",
        "title": title,
        "description": description,
        "color": colour,
        "footer": {"text": "/imagine"},
    }


def _button(custom_id: str, label: str = "", emoji: str | None = None, style: int = 2) -> Json:
    button: Json = {"type": 2, "style": style, "custom_id": custom_id}
    if label:
        button["label"] = label
    if emoji:
        button["emoji"] = {"name": emoji}
    return button


def _row(*buttons: Json) -> Json:
    return {"type": 1, "components": list(buttons)}


def _web_link(job_hash: str) -> Json:
    # A link button (style 5, no custom_id) as the real bot adds: clients must skip it.
    return {
        "type": 2,
        "style": 5,
        "label": "Web",
        "url": f"https://www.midjourney.com/jobs/{job_hash}",
    }


def grid_buttons(h: str) -> list[Json]:
    return [
        _row(
            *[_button(f"MJ::JOB::upsample::{n}::{h}", f"U{n}") for n in range(1, 5)],
            _button(f"MJ::JOB::reroll::0::{h}::SOLO", emoji="🔄"),
        ),
        _row(*[_button(f"MJ::JOB::variation::{n}::{h}", f"V{n}") for n in range(1, 5)]),
    ]


def upscale_buttons(h: str, n: int = 1) -> list[Json]:
    return [
        _row(
            _button(f"MJ::JOB::upsample_v7_2x_subtle::{n}::{h}::SOLO", "Upscale (Subtle)"),
            _button(f"MJ::JOB::upsample_v7_2x_creative::{n}::{h}::SOLO", "Upscale (Creative)"),
        ),
        _row(
            _button(f"MJ::JOB::low_variation::{n}::{h}::SOLO", "Vary (Subtle)"),
            _button(f"MJ::JOB::high_variation::{n}::{h}::SOLO", "Vary (Strong)"),
            _button(f"MJ::Inpaint::{n}::{h}::SOLO", "Vary (Region)"),
        ),
        _row(
            _button(f"MJ::Outpaint::50::{n}::{h}::SOLO", "Zoom Out 2x"),
            _button(f"MJ::Outpaint::75::{n}::{h}::SOLO", "Zoom Out 1.5x"),
            _button(f"MJ::CustomZoom::{h}", "Custom Zoom"),
        ),
        _row(
            *[
                _button(f"MJ::JOB::pan_{d}::{n}::{h}::SOLO", emoji=e)
                for d, e in (("left", "⬅️"), ("right", "➡️"), ("up", "⬆️"), ("down", "⬇️"))
            ]
        ),
        _row(
            _button(f"MJ::JOB::animate_low::{n}::{h}::SOLO", "Animate (Low motion)"),
            _button(f"MJ::JOB::animate_high::{n}::{h}::SOLO", "Animate (High motion)"),
            _web_link(h),
        ),
    ]


def hd_buttons(h: str) -> list[Json]:
    return [
        _row(
            _button(f"MJ::JOB::low_variation::1::{h}::SOLO", "Vary (Subtle)"),
            _button(f"MJ::JOB::high_variation::1::{h}::SOLO", "Vary (Strong)"),
        ),
        _row(
            _button(f"MJ::JOB::animate_low::1::{h}::SOLO", "Animate (Low motion)"),
            _button(f"MJ::JOB::animate_high::1::{h}::SOLO", "Animate (High motion)"),
            _web_link(h),
        ),
    ]


def video_buttons(h: str) -> list[Json]:
    return [
        _row(
            _button(f"MJ::JOB::animate_low_extend::1::{h}::SOLO", "Extend (Low motion)"),
            _button(f"MJ::JOB::animate_high_extend::1::{h}::SOLO", "Extend (High motion)"),
            _web_link(h),
        )
    ]


def describe_buttons() -> list[Json]:
    return [
        _row(*[_button(f"MJ::Job::PicReader::{n}", emoji=KEYCAPS[n - 1]) for n in range(1, 5)]),
        _row(_button("MJ::Picread::Retry", emoji="🔄")),
    ]


def shorten_buttons() -> list[Json]:
    return [
        _row(*[_button(f"MJ::Job::PromptAnalyzer::{n}", emoji=KEYCAPS[n - 1]) for n in range(1, 6)])
    ]


def numbered(prompts: list[str]) -> str:
    return "\n\n".join(f"{KEYCAPS[n]} {p}" for n, p in enumerate(prompts))


def text_input_modal(modal_id: str, custom_id: str, title: str, input_id: str, value: str) -> Json:
    """The body of an INTERACTION_MODAL_CREATE dispatch (nonce and channel added by the caller)."""
    return {
        "id": modal_id,
        "custom_id": custom_id,
        "title": title,
        "components": [
            {
                "type": 1,
                "components": [
                    {
                        "type": 4,
                        "custom_id": input_id,
                        "label": "Prompt",
                        "style": 2,
                        "value": value,
                        "required": True,
                        "min_length": 1,
                        "max_length": 6000,
                    }
                ],
            }
        ],
        "application": {"id": MIDJOURNEY_APP_ID, "name": "Midjourney Bot", "bot_public": True},
    }


def describe_answer(url: str, subject: str) -> tuple[list[str], Json]:
    """Four made-up prompts for a picture, and the embed that shows them."""
    subject = " ".join(re.findall(r"[A-Za-z0-9]+", subject)) or "a picture"
    styles = ["in the style of watercolor", "cinematic lighting", "flat vector art", "35mm photo"]
    ratios = ["--ar 1:1", "--ar 3:2", "--ar 2:3", "--ar 16:9"]
    texts = [f"a simulated {subject}, {s} {r}" for s, r in zip(styles, ratios, strict=True)]
    embed: Json = {
        "type": "rich",
        "description": numbered(texts),
        "image": {"url": url},
        "color": 0,
        "footer": {"text": "Simulated describe"},
    }
    return texts, embed


def shorten_answer(prompt: str) -> tuple[list[str], Json]:
    """Five shorter prompts (dropping words from the end), and the analysis embed."""
    words = prompt.split()
    texts = [" ".join(words[: max(1, len(words) - cut)]) for cut in range(5)]
    tokens = ", ".join(f"{w} (0.{9 - n % 9})" for n, w in enumerate(words[:6]))
    embed: Json = {
        "type": "rich",
        "description": f"**IMPORTANT TOKENS**\n{tokens}\n\n**SHORTENED OPTIONS**\n\n"
        + numbered(texts),
        "color": 0,
    }
    return texts, embed
