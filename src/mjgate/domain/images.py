"""Client image inputs: data URLs or raw base64 of PNG, JPEG, WEBP or GIF (PROTOCOL §2).

Every image field is untrusted and may be huge, so sizes are checked from the encoded length
before anything is decoded, and the bytes, not the declared type, decide what an image is.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from io import BytesIO
from urllib.parse import urlsplit

from PIL import Image

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


def decode_image(value: object, max_bytes: int, max_pixels: int | None = None) -> ImageData:
    """Decode a ``data:<type>;base64,<data>`` URL or raw base64 into a checked image.

    ``ImageTooLarge`` when it would decode to more than ``max_bytes``, or its header declares
    more than ``max_pixels`` pixels; ``Base64IsInvalid`` for a non-string, bad base64, or bytes
    that are not a PNG, JPEG, WEBP or GIF.
    """
    if not isinstance(value, str):
        raise Base64IsInvalid()
    text = value.strip()
    start = _payload_start(text)
    if len(text) - start > _WHITESPACE_ALLOWANCE * _encoded_length(max_bytes):
        raise ImageTooLarge()
    compact = "".join(_without_whitespace(text, start))
    compact += "=" * (-len(compact) % 4)  # clients often drop the padding
    if _decoded_length(compact) > max_bytes:
        raise ImageTooLarge()
    data = _b64decode_in_steps(compact)
    if len(data) > max_bytes:
        raise ImageTooLarge()
    kind = sniff_image_type(data)
    if kind is None:
        raise Base64IsInvalid()
    if max_pixels is not None:
        check_pixels(data, max_pixels)
    return ImageData(data, *kind)


def check_pixels(data: bytes, max_pixels: int) -> None:
    """``ImageTooLarge`` when the image's header declares more than ``max_pixels`` pixels.

    A few hundred kilobytes of PNG can declare 9400×9400 pixels, which decode to gigabytes;
    Pillow's ``open`` reads only the header, so this costs microseconds and no pixel memory.
    A header Pillow cannot read is left to whoever decodes the image (it refuses it then).
    """
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        width, height = size
        raise ImageTooLarge(
            f"The image is {width}×{height} pixels; at most {max_pixels:,} pixels are accepted."
        )


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header, or None when Pillow cannot read it."""
    try:
        with Image.open(BytesIO(data)) as opened:
            return opened.size
    except Image.DecompressionBombError:
        # Pillow's own guard (over twice its MAX_IMAGE_PIXELS) fires in open, before we look.
        return (Image.MAX_IMAGE_PIXELS or 0) * 2 + 1, 1
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombWarning):
        return None


# Characters handled per step. An image is decoded in a worker thread, but C calls hold the
# GIL throughout: one call over 10 MiB would hold the event loop for tens of milliseconds,
# one over 256 KiB holds it for well under one. A multiple of 4: base64 quads stay whole.
STEP = 256 * 1024


def _without_whitespace(text: str, start: int) -> list[str]:
    """``text[start:]`` in pieces with the whitespace removed (what ``str.split`` calls so)."""
    pieces = []
    for at in range(start, len(text), STEP):
        piece = text[at : at + STEP]
        parts = piece.split()
        pieces.append(piece if len(parts) == 1 and parts[0] is piece else "".join(parts))
    return pieces


def _b64decode_in_steps(compact: str) -> bytes:
    """``base64.b64decode(compact, validate=True)`` by quads-aligned steps.

    Each step is strict on its own; padding may only end the whole, so a step before the
    last that holds any is refused, as the whole would be.
    """
    decoded = []
    try:
        for at in range(0, len(compact), STEP):
            piece = compact[at : at + STEP]
            if at + STEP < len(compact) and "=" in piece:
                raise Base64IsInvalid()
            decoded.append(binascii.a2b_base64(piece, strict_mode=True))
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII characters
        raise Base64IsInvalid() from exc
    return b"".join(decoded)


def _payload_start(text: str) -> int:
    """Where the base64 starts: after the comma of a data URL, else at the beginning. An
    offset, not a slice, so a 10 MiB payload is not copied once more."""
    if text[:5].lower() != "data:":
        return 0
    comma = text.find(",")
    # Only the base64 form of a data URL; the declared media type is ignored, the bytes decide.
    if comma < 0 or text[:comma].rsplit(";", 1)[-1].strip().lower() != "base64":
        raise Base64IsInvalid()
    return comma + 1


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
