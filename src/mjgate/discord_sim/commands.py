"""The slash commands Midjourney and niji publish, as the command index lists them. Each
publication gives every command a new id and version, so clients holding old ones fail."""

from __future__ import annotations

from mjgate.discord_sim.state import (
    APP_NAMES,
    MIDJOURNEY_APP_ID,
    NIJI_APP_ID,
    Command,
    Json,
    World,
)


def _option(kind: int, name: str, description: str, required: bool = True) -> Json:
    return {"type": kind, "name": name, "description": description, "required": required}


_STRING, _ATTACHMENT = 3, 11

_CATALOGUE: list[tuple[str, str, list[Json]]] = [
    ("imagine", "Create images with Midjourney", [_option(_STRING, "prompt", "The prompt")]),
    (
        "describe",
        "Writes four example prompts based on an image you upload",
        [
            _option(_ATTACHMENT, "image", "The image to describe", False),
            _option(_STRING, "link", "A link to the image to describe", False),
        ],
    ),
    (
        "blend",
        "Blend images together seamlessly!",
        [
            _option(_ATTACHMENT, "image1", "First image"),
            _option(_ATTACHMENT, "image2", "Second image"),
            _option(_ATTACHMENT, "image3", "Third image", False),
            _option(_ATTACHMENT, "image4", "Fourth image", False),
            _option(_ATTACHMENT, "image5", "Fifth image", False),
            {
                **_option(_STRING, "dimensions", "The dimensions of the image", False),
                "choices": [
                    {"name": "Portrait", "value": "--ar 2:3"},
                    {"name": "Square", "value": "--ar 1:1"},
                    {"name": "Landscape", "value": "--ar 3:2"},
                ],
            },
        ],
    ),
    ("shorten", "Analyzes and shortens a prompt", [_option(_STRING, "prompt", "The prompt")]),
    ("show", "Shows the job view based on job id", [_option(_STRING, "job_id", "The job id")]),
    ("info", "View information about your profile", []),
    ("settings", "View and adjust your personal settings", []),
    ("fast", "Switch to fast mode", []),
    ("relax", "Switch to relax mode", []),
    ("turbo", "Switch to turbo mode", []),
]


def publish_commands(world: World) -> None:
    """Replace every command with a new id and version (both applications)."""
    world.commands = [
        Command(
            id=world.ids.next(),
            version=world.ids.next(),
            application_id=app_id,
            name=name,
            description=description,
            options=[dict(option) for option in options],
        )
        for app_id in (MIDJOURNEY_APP_ID, NIJI_APP_ID)
        for name, description, options in _CATALOGUE
    ]


def command_index(world: World) -> Json:
    """The body of ``GET /guilds/{guild_id}/application-command-index``."""
    return {
        "applications": [
            {"id": app_id, "name": name, "description": "", "bot_id": app_id}
            for app_id, name in APP_NAMES.items()
        ],
        "application_commands": [command.to_json() for command in world.commands],
        "version": world.commands[0].version if world.commands else "0",
    }
