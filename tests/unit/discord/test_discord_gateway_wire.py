"""The gateway's wire pieces without a socket: URLs, IDENTIFY, and the zlib-stream decoder."""

from __future__ import annotations

import zlib

import orjson
import pytest

from mjgate.providers.discord.gateway_wire import (
    FrameDecoder,
    GatewayProtocolError,
    gateway_url,
    identify,
    resume,
)

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.6778.86 Safari/537.36"


def stream(*payloads: dict[str, object]) -> list[bytes]:
    """Each payload compressed on one shared context, ending in a sync flush."""
    deflate = zlib.compressobj()
    return [deflate.compress(orjson.dumps(p)) + deflate.flush(zlib.Z_SYNC_FLUSH) for p in payloads]


def test_urls() -> None:
    assert gateway_url("wss://gateway.discord.gg", compress=True) == (
        "wss://gateway.discord.gg/?encoding=json&v=9&compress=zlib-stream"
    )
    assert gateway_url("ws://127.0.0.1:5/gateway/", compress=False) == (
        "ws://127.0.0.1:5/gateway/?encoding=json&v=9"
    )


def test_identify_and_resume() -> None:
    d = identify("tok", UA, 123)
    assert d["token"] == "tok" and d["capabilities"] == 16381 and d["compress"] is False
    assert d["properties"]["browser_version"] == "131.0.6778.86"
    assert d["properties"]["browser_user_agent"] == UA
    assert d["properties"]["client_build_number"] == 123
    assert d["properties"]["release_channel"] == "stable"
    assert d["presence"] == {"status": "online", "since": 0, "activities": [], "afk": False}
    assert resume("tok", "s1", 42) == {"token": "tok", "session_id": "s1", "seq": 42}


def test_zlib_stream_messages_split_across_frames_share_one_context() -> None:
    first, second = {"op": 10, "d": {"heartbeat_interval": 41250}}, {"op": 0, "s": 1, "d": {}}
    decoder = FrameDecoder(compress=True, max_size=1 << 20)
    one, two = stream(first, second)
    assert decoder.feed(one[:3]) is None
    assert decoder.feed(one[3:]) == first
    assert [decoder.feed(two[i : i + 2]) for i in range(0, len(two), 2)][-1] == second


def test_text_frames_and_plain_binary() -> None:
    assert FrameDecoder(compress=True, max_size=100).feed('{"op":11}') == {"op": 11}
    assert FrameDecoder(compress=False, max_size=100).feed(b'{"op":11}') == {"op": 11}


@pytest.mark.parametrize(
    ("compress", "data"),
    [
        (True, b"x" * 200),  # never ends: refused once past the cap
        (True, b"not zlib at all\x00\x00\xff\xff"),
        (False, b"[1, 2]"),
        (False, b"{broken"),
    ],
)
def test_garbage_is_a_protocol_error(compress: bool, data: bytes) -> None:
    with pytest.raises(GatewayProtocolError):
        FrameDecoder(compress=compress, max_size=100).feed(data)


def test_an_inflated_message_over_the_cap_is_refused() -> None:
    (packed,) = stream({"op": 0, "d": {"content": "a" * 5000}})
    assert len(packed) < 200
    with pytest.raises(GatewayProtocolError, match="too large"):
        FrameDecoder(compress=True, max_size=1000).feed(packed)
