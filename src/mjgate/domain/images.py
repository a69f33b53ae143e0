"""Client image inputs: data URLs or raw base64 of PNG, JPEG, WEBP or GIF (PROTOCOL §2).

Every image field is untrusted and may be huge, so sizes are checked from the encoded length
before anything is decoded, and the bytes, not the declared type, decide what an image is.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import urlsplit

from mjgate.errors import Base64IsInvalid, ImageTooLarge


@dataclass(frozen=True)
class ImageData:
    data: bytes
    content_type: str  # "image/png"
    extension: str  # "png", without the dot


def sniff_image_type(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's magic bytes, for the four types we take."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ("image/png", "png")
    if data.startswith(b"\xff\xd8\xff"):
        return ("image/jpeg", "jpg")
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return ("image/webp", "webp")
    if data.startswith((b"GIF87a", b"GIF89a")):
        return ("image/gif", "gif")
    return None


# Base64 carries 3 bytes in 4 characters. Line breaks add a little (MIME wraps at 76); a payload
# more than twice its possible size is refused before even removing them.
_WHITESPACE_ALLOWANCE = 2


def decode_image(value: object, max_bytes: int) -> ImageData:
    """Decode a ``data:<type>;base64,<data>`` URL or raw base64 into a checked image.

    ``ImageTooLarge`` when it would decode to more than ``max_bytes``; ``Base64IsInvalid`` for
    a non-string, bad base64, or bytes that are not a PNG, JPEG, WEBP or GIF.
    """
    if not isinstance(value, str):
        raise Base64IsInvalid()
    payload = _base64_payload(value)
    if len(payload) > _WHITESPACE_ALLOWANCE * _encoded_length(max_bytes):
        raise ImageTooLarge()
    compact = "".join(payload.split())
    compact += "=" * (-len(compact) % 4)  # clients often drop the padding
    if _decoded_length(compact) > max_bytes:
        raise ImageTooLarge()
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII characters
        raise Base64IsInvalid() from exc
    if len(data) > max_bytes:
        raise ImageTooLarge()
    kind = sniff_image_type(data)
    if kind is None:
        raise Base64IsInvalid()
    return ImageData(data, *kind)


def _base64_payload(value: str) -> str:
    text = value.strip()
    if text[:5].lower() != "data:":
        return text
    header, comma, payload = text.partition(",")
    # Only the base64 form of a data URL; the declared media type is ignored, the bytes decide.
    if not comma or header.rsplit(";", 1)[-1].strip().lower() != "base64":
        raise Base64IsInvalid()
    return payload


def _encoded_length(decoded: int) -> int:
    return 4 * -(-decoded // 3)


def _decoded_length(padded: str) -> int:
    return len(padded) // 4 * 3 - (len(padded) - len(padded.rstrip("=")))


def is_http_url(value: object, max_length: int = 2000) -> bool:
    """An absolute http(s) URL with a host, at most ``max_length`` characters, no whitespace."""
    if not isinstance(value, str) or not value or len(value) > max_length:
        return False
    # urlsplit quietly drops some whitespace and control characters; such a URL is not one.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
