"""Large JSON bodies parsed in steps (api.bodies): the same value as json.loads, or its error."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from mjgate.api import bodies

LONG = "A" * 40
DOCUMENTS = [
    {"base64Array": [LONG, LONG + "B", "short"], "dimensions": "SQUARE"},
    {"p": LONG.replace("A", "a/b") + '"quoted" \\ back\\\\slash', "q": [LONG]},
    {"slashes": "data:image/png;base64," + "ab\\/cd" * 10},  # PHP escapes '/'
    {"unicode": "é" * 30 + LONG, "tab": "\t" + LONG, "nested": [[{"x": [LONG]}]]},
    {LONG: LONG + "1", "k": None, "n": [1, 2.5, True, False]},
    [LONG, {"a": LONG}, LONG],
    LONG,
]


@pytest.fixture
def tiny_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Literals of 16 characters count as long and are checked 7 bytes at a time, so small
    documents cross every boundary the 64 KiB / 256 KiB defaults would."""
    monkeypatch.setattr(bodies, "LONG_LITERAL", 16)
    monkeypatch.setattr(bodies, "STEP", 7)


@pytest.mark.usefixtures("tiny_steps")
@pytest.mark.parametrize("document", DOCUMENTS)
def test_parse_large_gives_what_json_loads_gives(document: Any) -> None:
    for text in (json.dumps(document), json.dumps(document, ensure_ascii=False, indent=2)):
        raw = text.encode()
        assert bodies.parse_large(bytearray(raw)) == json.loads(raw)


@pytest.mark.usefixtures("tiny_steps")
def test_a_repeated_long_key_keeps_its_first_place_and_its_last_value() -> None:
    raw = f'{{"{LONG}": 1, "b": 2, "{LONG}": 3}}'.encode()
    parsed = bodies.parse_large(bytearray(raw))
    assert parsed == json.loads(raw)
    assert isinstance(parsed, dict)
    assert list(parsed) == [LONG, "b"]


@pytest.mark.usefixtures("tiny_steps")
@pytest.mark.parametrize(
    "raw",
    [
        f'{{"a": "{LONG}"'.encode(),  # truncated
        f'{{"a": "{LONG}'.encode(),  # unterminated string
        f'{{"a": "{LONG}\x01{LONG}"}}'.encode(),  # a raw control character
        f'{{"a": "{LONG}\\x{LONG}"}}'.encode(),  # a bad escape
        f'{{"a": "{LONG}"}} "{LONG}"'.encode(),  # extra data after the value
        f'["{LONG}" "{LONG}"]'.encode(),  # a missing comma between two long literals
    ],
)
def test_parse_large_refuses_what_json_loads_refuses(raw: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    with pytest.raises(json.JSONDecodeError):
        bodies.parse_large(bytearray(raw))


def test_invalid_utf8_in_a_long_literal_is_refused_like_json_loads() -> None:
    raw = b'{"a": "' + b"A" * (bodies.LONG_LITERAL + 10) + b'\xff"}'
    with pytest.raises(UnicodeDecodeError):
        json.loads(raw)
    with pytest.raises(UnicodeDecodeError):
        bodies.parse_large(bytearray(raw))


def test_a_blend_body_is_never_parsed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """What holds the GIL is json.loads of the small rest, never of the 12 MiB of base64."""
    images = [
        "data:image/png;base64," + base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()
        for _ in range(3)
    ]
    raw = json.dumps({"base64Array": images, "dimensions": "PORTRAIT"}).encode()
    sizes: list[int] = []
    original: Callable[..., Any] = json.loads

    def recording_loads(text: Any, **kwargs: Any) -> Any:
        sizes.append(len(text))
        return original(text, **kwargs)

    monkeypatch.setattr(json, "loads", recording_loads)
    assert bodies.parse_large(bytearray(raw)) == {
        "base64Array": images,
        "dimensions": "PORTRAIT",
    }
    assert sizes and max(sizes) < 4096, sizes
