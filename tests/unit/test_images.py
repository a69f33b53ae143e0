"""Client image inputs: data URLs and raw base64, sizes, types; http URLs."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from mjgate.domain.images import ImageData, decode_image, is_http_url, sniff_image_type
from mjgate.errors import Base64IsInvalid, ImageTooLarge

# Only the first bytes decide the type; the rest stands in for the image.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(40))
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(range(40))
GIF87 = b"GIF87a" + bytes(range(40))
GIF89 = b"GIF89a" + bytes(range(40))

SAMPLES = [
    (PNG, "image/png", "png"),
    (JPEG, "image/jpeg", "jpg"),
    (WEBP, "image/webp", "webp"),
    (GIF87, "image/gif", "gif"),
    (GIF89, "image/gif", "gif"),
]
MAX = 10 * 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize(("data", "content_type", "extension"), SAMPLES)
def test_sniff_image_type_knows_the_four_types(
    data: bytes, content_type: str, extension: str
) -> None:
    assert sniff_image_type(data) == (content_type, extension)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG",
        b"\x89PNG\r\n\x1a",  # cut short
        b"\xff\xd8",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"RIFF\x24\x00\x00",
        b"GIF88a",
        b"BM\x00\x00",  # BMP
        b"%PDF-1.7",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\x00\x00\x00\x18ftypavif",
    ],
)
def test_sniff_image_type_refuses_other_bytes(data: bytes) -> None:
    assert sniff_image_type(data) is None


@pytest.mark.parametrize(("data", "content_type", "extension"), SAMPLES)
@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda d: b64(d), id="raw"),
        pytest.param(lambda d: "data:image/png;base64," + b64(d), id="data-url"),
        pytest.param(lambda d: "DATA:IMAGE/PNG;BASE64," + b64(d), id="data-url-upper"),
        pytest.param(lambda d: "data:image/png;name=a.png;base64," + b64(d), id="data-url-param"),
        pytest.param(lambda d: "data:application/octet-stream;base64," + b64(d), id="octet"),
        pytest.param(lambda d: "data:;base64," + b64(d), id="no-media-type"),
        pytest.param(lambda d: "  \n" + b64(d) + "\n  ", id="outer-whitespace"),
        pytest.param(lambda d: base64.encodebytes(d).decode(), id="mime-lines"),
        pytest.param(lambda d: "\r\n".join(b64(d)), id="crlf-everywhere"),
        pytest.param(lambda d: b64(d).rstrip("="), id="no-padding"),
    ],
)
def test_decode_image_accepts_data_urls_and_raw_base64(
    wrap: Callable[[bytes], str], data: bytes, content_type: str, extension: str
) -> None:
    assert decode_image(wrap(data), MAX) == ImageData(data, content_type, extension)


def test_decode_image_trusts_the_bytes_over_the_declared_type() -> None:
    image = decode_image("data:image/png;base64," + b64(JPEG), MAX)
    assert (image.content_type, image.extension) == ("image/jpeg", "jpg")


@pytest.mark.parametrize(
    "value",
    [
        None,
        12,
        b64(PNG).encode(),
        [b64(PNG)],
        {"base64": b64(PNG)},
        "",
        "   ",
        "data:image/png;base64,",
        "data:image/png," + b64(PNG),  # not base64-encoded
        "data:image/png;base64" + b64(PNG),  # no comma
        "data:image/png;charset=utf-8," + b64(PNG),
        "data:image/png;base64;x=y," + b64(PNG),
        b64(PNG) + "!",
        b64(PNG)[:10] + "*" + b64(PNG)[10:],
        base64.urlsafe_b64encode(b"\xff\xd8\xff\xfe\xfb" * 9).decode(),  # - and _ are not base64
        b64(PNG) + "====",  # too much padding
        b64(PNG)[:-4] + "=" + b64(PNG)[-4:],  # padding in the middle
        "A",  # one character is never whole bytes
        b64(PNG) + "A",
        b64(PNG)[:5] + "é" + b64(PNG)[5:],
        b64(PNG)[:5] + "\u00a0" + b64(PNG)[5:] + "\u0663",
        b64(b"hello, world"),
        b64(b"BM" + bytes(100)),
        "data:image/png;base64," + b64(b"<svg/>"),
        "https://example.com/a.png",
    ],
)
def test_decode_image_refuses_what_is_not_base64_of_an_image(value: object) -> None:
    with pytest.raises(Base64IsInvalid):
        decode_image(value, MAX)


def test_decode_image_takes_an_image_of_exactly_the_limit() -> None:
    data = PNG + bytes(1000 - len(PNG))
    assert decode_image(b64(data), max_bytes=1000).data == data
    assert decode_image(base64.encodebytes(data).decode(), max_bytes=1000).data == data
    assert decode_image("\n".join(b64(data)), max_bytes=1000).data == data


@pytest.mark.parametrize("size", [1001, 1002, 1003, 1500])
def test_decode_image_refuses_one_byte_over_the_limit(size: int) -> None:
    data = PNG + bytes(size - len(PNG))
    with pytest.raises(ImageTooLarge):
        decode_image(b64(data), max_bytes=1000)
    with pytest.raises(ImageTooLarge):
        decode_image(b64(data).rstrip("="), max_bytes=1000)
    with pytest.raises(ImageTooLarge):
        decode_image("data:image/png;base64," + base64.encodebytes(data).decode(), 1000)


def test_decode_image_refuses_a_huge_string_without_decoding_it() -> None:
    # Not valid base64 either: were it decoded, the answer would be Base64IsInvalid.
    huge = "data:image/png;base64," + "!" * 100_000_000
    with pytest.raises(ImageTooLarge):
        decode_image(huge, MAX)


def test_decode_image_counts_the_size_without_whitespace() -> None:
    # Base64 of 1.5 KB split by spaces: within the coarse bound, above the exact one.
    data = PNG + bytes(1500)
    with pytest.raises(ImageTooLarge):
        decode_image(" ".join(b64(data)), max_bytes=1000)


@given(st.binary(max_size=300), st.sampled_from(SAMPLES))
def test_decode_image_round_trips_any_image_bytes(
    tail: bytes, sample: tuple[bytes, str, str]
) -> None:
    data = sample[0] + tail
    assert decode_image(b64(data), MAX) == ImageData(data, sample[1], sample[2])


@given(st.one_of(st.text(max_size=400), st.binary(max_size=50), st.integers(), st.none()))
def test_decode_image_raises_only_its_two_errors(value: object) -> None:
    try:
        image = decode_image(value, max_bytes=200)
    except (Base64IsInvalid, ImageTooLarge):
        return
    assert sniff_image_type(image.data) is not None
    assert len(image.data) <= 200


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "http://example.com",
        "https://example.com/a.png?x=1#y",
        "HTTPS://EXAMPLE.COM/",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:8080/hook",
        "https://user:pass@example.com/",
        "https://bücher.example/",
    ],
)
def test_is_http_url_accepts_absolute_http_urls(value: str) -> None:
    assert is_http_url(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        b"https://example.com",
        "",
        "example.com",
        "//example.com/a",
        "/mj/image/a.png",
        "ftp://example.com/a",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "http://",
        "http:///path",
        "https://:443/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "http://[::1/",
        "http://exa mple.com/",
        "http://example.com/a b",
        " http://example.com/",
        "http://example.com/\n",
        "http://example.com/\x00",
        "http://example.com/\x7f",
        "https://example.com/" + "a" * 2000,
    ],
)
def test_is_http_url_refuses_the_rest(value: object) -> None:
    assert not is_http_url(value)


def test_is_http_url_length_limit_is_inclusive_and_configurable() -> None:
    url = "https://example.com/" + "a" * 80
    assert is_http_url(url, max_length=len(url))
    assert not is_http_url(url, max_length=len(url) - 1)


@given(st.text(max_size=200))
def test_is_http_url_never_raises(value: str) -> None:
    assert is_http_url(value) in (True, False)


def _decode_whole(value: str, max_bytes: int) -> ImageData:
    """The one-call decode the stepped one must match: strip, cut the data URL's header,
    drop whitespace, pad, ``b64decode(validate=True)``, sniff."""
    text = value.strip()
    if text[:5].lower() == "data:":
        header, comma, text = text.partition(",")
        if not comma or header.rsplit(";", 1)[-1].strip().lower() != "base64":
            raise Base64IsInvalid()
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, validate=True)
    except ValueError as exc:  # binascii.Error is a ValueError
        raise Base64IsInvalid() from exc
    kind = sniff_image_type(data)
    if kind is None:
        raise Base64IsInvalid()
    return ImageData(data, *kind)


STEPPED_CASES = [
    b64(PNG),
    "data:image/png;base64," + b64(JPEG),
    b64(PNG).rstrip("="),  # padding dropped
    " \n" + "\r\n".join(b64(WEBP)[i : i + 7] for i in range(0, len(b64(WEBP)), 7)) + "\n",
    b64(GIF89)[:8] + "\t \u2003" + b64(GIF89)[8:],  # whitespace str.split knows, not only ASCII
    b64(PNG[:3]) + b64(PNG[3:]),  # padding in the middle: refused
    b64(PNG[:4]) + b64(PNG[4:]),  # "==" ending a step (of 8) and more after it: refused
    b64(PNG) + "é",  # a non-ASCII character
    b64(PNG)[:-4] + "!!!!",
    "=" + b64(PNG)[1:],
    "data:image/png;base64,",
]


@pytest.mark.parametrize("value", STEPPED_CASES)
def test_decoding_in_steps_matches_decoding_whole(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from mjgate.domain import images

    monkeypatch.setattr(images, "STEP", 8)  # every case crosses many step boundaries
    try:
        expected: ImageData | type[Exception] = _decode_whole(value, MAX)
    except Base64IsInvalid:
        expected = Base64IsInvalid
    if expected is Base64IsInvalid:
        with pytest.raises(Base64IsInvalid):
            decode_image(value, MAX)
    else:
        assert decode_image(value, MAX) == expected


def _real_image(size: tuple[int, int], format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, format)
    return buffer.getvalue()


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP", "GIF"])
def test_the_pixel_budget_is_read_from_the_header(format: str) -> None:
    data = _real_image((100, 50), format)
    assert decode_image(b64(data), MAX, max_pixels=5000).data == data  # exactly the budget
    with pytest.raises(ImageTooLarge, match="100×50 pixels; at most 4,999"):
        decode_image(b64(data), MAX, max_pixels=4999)


def test_a_header_pillow_cannot_read_is_left_to_the_decoder() -> None:
    # Magic bytes and nothing readable after them: the executor's decoder refuses it later.
    assert decode_image(b64(PNG), MAX, max_pixels=1).data == PNG
