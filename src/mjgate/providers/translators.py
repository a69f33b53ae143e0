"""Translators: an OpenAI-compatible chat-completions endpoint, or DeepL's API.

The base URL is the operator's choice (like a relay's), so it may be on loopback and is not
put through the address policy. Failures raise ``TranslationFailed`` with a reason that may
be shown on a task: it says what went wrong, never the URL or the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

# One small fixed instruction: the words only, nothing added (the prompt's parameters, links
# and weights never reach the translator: domain.translation keeps them out).
INSTRUCTION = (
    "Translate the user's text into English for an image generation prompt. "
    "Answer with the translation only: no quotes, no notes, no explanations."
)
OPENAI_BASE_URL = "https://api.openai.com/v1"
DEEPL_FREE_URL = "https://api-free.deepl.com"
DEEPL_PRO_URL = "https://api.deepl.com"
MAX_ANSWER_CHARS = 8000


class TranslationFailed(Exception):
    """The translator gave no usable translation; ``reason`` may be shown to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Translator(Protocol):
    async def translate(self, texts: Sequence[str]) -> list[str]:
        """Each text in English, in order; raises ``TranslationFailed``."""
        ...

    async def close(self) -> None: ...


def _client(base_url: str, headers: dict[str, str], timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers=headers,
        timeout=httpx.Timeout(timeout),
        trust_env=False,  # the operator named the endpoint; no proxy from the environment
        follow_redirects=False,
    )


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    try:
        response = await client.post(path, json=body)
    except httpx.TimeoutException as exc:
        raise TranslationFailed("the translator did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise TranslationFailed("the translator could not be reached") from exc
    if response.status_code != 200:
        raise TranslationFailed(f"the translator answered HTTP {response.status_code}")
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise TranslationFailed("the translator's answer was not JSON") from exc


def _checked(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise TranslationFailed("the translator's answer held no translation")
    if len(text) > MAX_ANSWER_CHARS:
        raise TranslationFailed("the translator's answer was too long")
    return text.strip()


class ChatTranslator:
    """Any OpenAI-compatible ``POST {base}/chat/completions``, one request per text."""

    def __init__(
        self,
        base_url: str,
        key: str,
        model: str,
        timeout: float,
    ) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.model = model
        self._client = _client(base_url, headers, timeout)

    async def translate(self, texts: Sequence[str]) -> list[str]:
        return [await self._one(text) for text in texts]

    async def _one(self, text: str) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": INSTRUCTION},
                {"role": "user", "content": text},
            ],
        }
        answer = await _post(self._client, "/chat/completions", body)
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise TranslationFailed("the translator's answer held no translation") from exc
        return _checked(content).strip("\"'“”")

    async def close(self) -> None:
        await self._client.aclose()


class DeepLTranslator:
    """DeepL's ``POST /v2/translate``: every text in one request."""

    def __init__(self, base_url: str | None, key: str, timeout: float) -> None:
        if not base_url:
            base_url = DEEPL_FREE_URL if key.endswith(":fx") else DEEPL_PRO_URL
        headers = {"Authorization": f"DeepL-Auth-Key {key}"}
        self._client = _client(base_url, headers, timeout)

    async def translate(self, texts: Sequence[str]) -> list[str]:
        answer = await _post(
            self._client, "/v2/translate", {"text": list(texts), "target_lang": "EN-US"}
        )
        try:
            found = [item["text"] for item in answer["translations"]]
        except (KeyError, TypeError) as exc:
            raise TranslationFailed("the translator's answer held no translation") from exc
        if len(found) != len(texts):
            raise TranslationFailed("the translator's answer held no translation")
        return [_checked(text) for text in found]

    async def close(self) -> None:
        await self._client.aclose()
