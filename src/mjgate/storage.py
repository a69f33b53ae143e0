"""Result files: a local directory today, behind signed capability URLs (PROTOCOL §7).

A key names one stored file (``<task or upload id>/<random>-<name>.<ext>``). A URL to it
carries an HMAC of the key (and of its expiry, when URLs expire), so no one can guess or
enumerate URLs, and no token is needed to load one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",
}
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,80}\.(png|jpg|jpeg|webp|gif|mp4)$")


# Signed paths remembered per (key, expiry): clients poll the same tasks over and over, and
# an HMAC and a quote per image URL are most of what a task view costs. Bounded by clearing.
SIGNED_PATHS_KEPT = 65_536


class StoredFileMissing(Exception):
    """The key is well-formed but nothing is stored under it."""


@dataclass(frozen=True)
class StoredFile:
    path: Path
    content_type: str


class Storage:
    def __init__(self, root: Path, secret: str, url_ttl_seconds: int = 0) -> None:
        self.root = root
        self._secret = secret.encode("utf-8")
        self._ttl = url_ttl_seconds
        self._signed_paths: dict[tuple[str, int], str] = {}
        root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def new_key(owner: str, name: str, extension: str) -> str:
        return f"{owner}/{secrets.token_hex(8)}-{name}.{extension}"

    def put(self, key: str, data: bytes) -> str:
        """Write atomically: a reader never sees half a file, and a crash leaves none."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StoredFileMissing(key) from exc

    def locate(self, key: str) -> StoredFile:
        path = self._path(key)
        if not path.is_file():
            raise StoredFileMissing(key)
        return StoredFile(path=path, content_type=CONTENT_TYPES[key.rsplit(".", 1)[1]])

    def signed_path(self, key: str, now_seconds: int) -> str:
        """The path and query of a capability URL for ``key`` (join it to a base URL)."""
        expires = now_seconds + self._ttl if self._ttl else 0
        path = self._signed_paths.get((key, expires))
        if path is None:
            query = f"sig={self._sign(key, expires)}"
            if expires:
                query = f"exp={expires}&{query}"
            path = f"/mj/image/{quote(key)}?{query}"
            if len(self._signed_paths) >= SIGNED_PATHS_KEPT:
                self._signed_paths.clear()
            self._signed_paths[(key, expires)] = path
        return path

    def verify(self, key: str, expires: int, signature: str, now_seconds: int) -> bool:
        if not is_valid_key(key):
            return False
        if expires and expires < now_seconds:
            return False
        # As bytes: compare_digest raises TypeError on a str with non-ASCII characters.
        given = signature.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(self._sign(key, expires).encode(), given)

    def _sign(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def _path(self, key: str) -> Path:
        if not is_valid_key(key):
            raise StoredFileMissing(key)
        return self.root / key


def is_valid_key(key: str) -> bool:
    # Keys never contain '..' or absolute parts, so a key can never escape the root.
    return bool(_KEY_PATTERN.match(key))
