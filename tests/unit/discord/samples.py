"""Midjourney bot messages shaped as Discord sends them (gateway MESSAGE_CREATE/UPDATE data).

Ids are strings, contents carry ``**prompt** - <@user> (status)``, attachments carry CDN urls
with the ``?ex=&is=&hm=`` expiry parameters, buttons sit in action rows next to link buttons.
"""

from __future__ import annotations

from typing import Any

MJ = "936929561302675456"
GUILD = "1180000000000000001"
CHANNEL = "1180000000000000002"
DM_CHANNEL = "1180000000000000003"
USER = "1024000000000000042"
OTHER_USER = "1024000000000000043"
HASH_A = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
HASH_B = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"
HASH_UP = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
EXPIRY = (
    "?ex=6752a1b2&is=67515032&hm=3f4e5d6c7b8a99aa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a&"
)


def cdn(path: str) -> str:
    return f"https://cdn.discordapp.com/attachments/{CHANNEL}/{path}{EXPIRY}"


def media(path: str) -> str:
    return f"https://media.discordapp.net/attachments/{CHANNEL}/{path}{EXPIRY}"


def _author(bot: bool = True) -> dict[str, Any]:
    if bot:
        return {
            "id": MJ,
            "username": "Midjourney Bot",
            "discriminator": "9282",
            "global_name": None,
            "avatar": "f6ce562a6b4979c4b1cbc5b436d3be76",
            "bot": True,
            "public_flags": 589824,
        }
    return {"id": USER, "username": "alice", "discriminator": "0", "global_name": "Alice"}


def message(message_id: str, content: str, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": 0,
        "tts": False,
        "timestamp": "2026-12-04T15:46:20.123000+00:00",
        "edited_timestamp": None,
        "pinned": False,
        "mentions": [{"id": USER, "username": "alice"}],
        "mention_roles": [],
        "mention_everyone": False,
        "id": message_id,
        "channel_id": CHANNEL,
        "guild_id": GUILD,
        "author": _author(),
        "content": content,
        "attachments": [],
        "embeds": [],
        "components": [],
        "flags": 0,
    }
    message.update(extra)
    return message


def metadata(interaction_id: str, name: str | None = "imagine") -> dict[str, Any]:
    meta: dict[str, Any] = {
        "id": interaction_id,
        "type": 2 if name else 3,
        "user": {"id": USER, "username": "alice"},
        "authorizing_integration_owners": {"0": GUILD},
    }
    if name:
        meta["name"] = name
    return meta


def attachment(attachment_id: str, filename: str, *, ephemeral: bool = False) -> dict[str, Any]:
    folder = "ephemeral-attachments" if ephemeral else "attachments"
    path = f"{attachment_id}/{filename}"
    kind = "video/mp4" if filename.endswith(".mp4") else f"image/{filename.rpartition('.')[2]}"
    return {
        "id": attachment_id,
        "filename": filename,
        "size": 7_340_032,
        "url": cdn(path).replace("/attachments/", f"/{folder}/", 1),
        "proxy_url": media(path).replace("/attachments/", f"/{folder}/", 1),
        "width": 2048,
        "height": 2048,
        "content_type": kind,
        "placeholder": "3ggGDIJ3d4d3h3eAd3aHd4B3CA==",
        "placeholder_version": 1,
    }


def _button(custom_id: str, label: str = "", emoji: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": 2, "style": 2, "custom_id": custom_id, "id": 1}
    if label:
        button["label"] = label
    if emoji:
        button["emoji"] = {"name": emoji}
    return button


def grid_rows(job_hash: str) -> list[dict[str, Any]]:
    ups = [_button(f"MJ::JOB::upsample::{n}::{job_hash}", f"U{n}") for n in range(1, 5)]
    reroll = _button(f"MJ::JOB::reroll::0::{job_hash}::SOLO", emoji="🔄")
    vars_ = [_button(f"MJ::JOB::variation::{n}::{job_hash}", f"V{n}") for n in range(1, 5)]
    web = {
        "type": 2,
        "style": 5,
        "label": "Web",
        "url": f"https://www.midjourney.com/jobs/{job_hash}",
    }
    return [
        {"type": 1, "id": 1, "components": [*ups, reroll]},
        {"type": 1, "id": 2, "components": [*vars_, web]},
    ]


def upscale_rows(job_hash: str) -> list[dict[str, Any]]:
    def solo(job: str, label: str) -> dict[str, Any]:
        return _button(f"MJ::JOB::{job}::1::{job_hash}::SOLO", label)

    return [
        {
            "type": 1,
            "components": [
                solo("upsample_v7_2x_subtle", "Upscale (Subtle)"),
                solo("upsample_v7_2x_creative", "Upscale (Creative)"),
            ],
        },
        {
            "type": 1,
            "components": [
                solo("low_variation", "Vary (Subtle)"),
                solo("high_variation", "Vary (Strong)"),
                _button(f"MJ::Inpaint::1::{job_hash}::SOLO", "Vary (Region)"),
            ],
        },
    ]


# --- the stages of one imagine job --------------------------------------------------------------


def waiting(
    message_id: str, prompt: str, nonce: str | None, interaction_id: str | None
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if nonce is not None:
        extra["nonce"] = nonce
    if interaction_id is not None:
        extra["interaction_metadata"] = metadata(interaction_id)
        extra["interaction"] = {"id": interaction_id, "type": 2, "name": "imagine"}
    return message(message_id, f"**{prompt}** - <@{USER}> (Waiting to start)", **extra)


def progress(
    message_id: str,
    prompt: str,
    percent: int,
    job_hash: str | None,
    status: str = "fast",
    interaction_id: str | None = None,
) -> dict[str, Any]:
    # MESSAGE_UPDATE data: the whole message again, edited; no nonce any more.
    extra: dict[str, Any] = {"edited_timestamp": "2026-12-04T15:46:31.000000+00:00"}
    if job_hash is not None:
        extra["attachments"] = [
            attachment("1313000000000000101", f"{job_hash}_grid_0.webp", ephemeral=True)
        ]
    if interaction_id is not None:
        extra["interaction_metadata"] = metadata(interaction_id)
    content = f"**{prompt}** - <@{USER}> ({percent}%) ({status})"
    return message(message_id, content, **extra)


def grid_done(
    message_id: str,
    prompt: str,
    job_hash: str,
    interaction_id: str | None = None,
    status: str = "fast",
) -> dict[str, Any]:
    content = (
        f"**{prompt}** - <@{USER}> ({status})\n"
        f"[(Open on website for full quality)](<https://www.midjourney.com/jobs/{job_hash}>)\n"
        "-# Create, explore, and organize on [midjourney.com](<https://www.midjourney.com/imagine>)"
    )
    extra: dict[str, Any] = {
        "attachments": [attachment("1313000000000000201", f"alice_a_red_fox_{job_hash}.png")],
        "components": grid_rows(job_hash),
    }
    if interaction_id is not None:
        extra["interaction_metadata"] = metadata(interaction_id)
    return message(message_id, content, **extra)


def upscale_done(
    message_id: str, prompt: str, index: int, parent_id: str, job_hash: str
) -> dict[str, Any]:
    return message(
        message_id,
        f"**{prompt}** - Image #{index} <@{USER}>",
        attachments=[attachment("1313000000000000301", f"alice_a_red_fox_{job_hash}.png")],
        components=upscale_rows(job_hash),
        message_reference={
            "type": 0,
            "channel_id": CHANNEL,
            "guild_id": GUILD,
            "message_id": parent_id,
        },
        referenced_message=None,
        type=19,
    )


def describe_done(message_id: str, nonce: str | None, interaction_id: str) -> dict[str, Any]:
    description = (
        "1️⃣ A red fox sitting in fresh snow, soft morning light, photorealistic --ar 3:2\n\n"
        "2️⃣ A fox in a winter forest, in the style of national geographic --ar 3:2\n\n"
        "3️⃣ Close-up portrait of an orange fox, shallow depth of field --ar 3:2\n\n"
        "4️⃣ A wild fox on a snowy hill, cinematic, 35mm --ar 3:2"
    )
    pick = [_button(f"MJ::Job::PicReader::{n}", emoji=f"{n}\ufe0f\u20e3") for n in range(1, 5)]
    extra: dict[str, Any] = {
        "embeds": [
            {
                "type": "rich",
                "description": description,
                "color": 3092790,
                "image": {
                    "url": cdn("1313000000000000401/fox.png"),
                    "proxy_url": media("1313000000000000401/fox.png"),
                    "width": 1024,
                    "height": 683,
                },
            }
        ],
        "components": [
            {"type": 1, "components": pick},
            {"type": 1, "components": [_button("MJ::Picread::Retry", emoji="🔄")]},
        ],
        "interaction_metadata": metadata(interaction_id, "describe"),
    }
    if nonce is not None:
        extra["nonce"] = nonce
    return message(message_id, "", **extra)


def shorten_done(message_id: str, nonce: str, interaction_id: str) -> dict[str, Any]:
    description = (
        "**IMPORTANT TOKENS**\nA **red fox** sitting in ~~the~~ **snow**\n\n"
        "**Shortened prompts**\n"
        "1️⃣ A red fox sitting in snow, morning light\n"
        "2️⃣ A red fox sitting in snow\n"
        "3️⃣ A red fox, snow\n"
        "4️⃣ red fox snow light\n"
        "5️⃣ red fox"
    )
    pick = [_button(f"MJ::Job::PromptAnalyzer::{n}", emoji=f"{n}\ufe0f\u20e3") for n in range(1, 6)]
    return message(
        message_id,
        "",
        nonce=nonce,
        embeds=[{"type": "rich", "title": "Prompt analysis", "description": description}],
        components=[{"type": 1, "components": pick}],
        interaction_metadata=metadata(interaction_id, "shorten"),
    )


def error_embed(
    message_id: str,
    title: str,
    description: str,
    *,
    nonce: str | None = None,
    interaction_id: str | None = None,
    color: int = 16711680,
) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "embeds": [
            {
                "type": "rich",
                "title": title,
                "description": description,
                "color": color,
                "footer": {"text": "/imagine a red fox"},
            }
        ],
        "flags": 64,
    }
    if nonce is not None:
        extra["nonce"] = nonce
    if interaction_id is not None:
        extra["interaction_metadata"] = metadata(interaction_id)
    return message(message_id, "", **extra)


def human(message_id: str, content: str) -> dict[str, Any]:
    return message(message_id, content, author=_author(bot=False), mentions=[])


def loading(message_id: str, nonce: str, interaction_id: str) -> dict[str, Any]:
    return message(
        message_id,
        "",
        nonce=nonce,
        flags=128,
        interaction_metadata=metadata(interaction_id, "describe"),
    )


def seed_dm(message_id: str, job_hash: str, seed: int) -> dict[str, Any]:
    return message(
        message_id,
        f"**Job ID**: {job_hash}\n**seed** {seed}",
        channel_id=DM_CHANNEL,
        guild_id=None,
        mentions=[],
    )
