"""Comparing our prompt with the one the Midjourney bot shows, as Midjourney rewrites it.

The bot drops default parameters (``--q 1``), adds its own (``--v 7``), rewrites links to
``https://s.mj.run/…``, normalises spacing and cuts long prompts short. Exact comparison is
what strands tasks in other gateways; this is the tolerant one. Pure.
"""

from __future__ import annotations

import re

# ``**prompt** - <tail>``, as the bot writes it.
_BOLD = re.compile(r"\*\*(?P<prompt>.*?)\*\*", re.S)
_URL = re.compile(r"<?https?://[^\s<>]+>?")
_URL_TOKEN = "<url>"
_MENTION_TAIL = re.compile(r"\s+-\s+(?:.*?\s)?<@!?\d+>.*$", re.S)
# Only Midjourney's status words: a prompt may well end in parentheses of its own.
_STATUS_WORD = r"(?:waiting to start|\d{1,3}%|fast|relaxed|relax|turbo|stealth|stopped|paused)"
_STATUS_TAIL = re.compile(rf"(?:\s*\({_STATUS_WORD}(?:,\s*{_STATUS_WORD})*\))+\s*$", re.I)
_ELLIPSIS = re.compile(r"(?:…|\.\.\.)\s*$")
_PARAM_SPLIT = re.compile(r"\s--(?=[a-z])")
# Midjourney's long and short names for the same parameter.
_PARAM_ALIASES = {
    "aspect": "ar",
    "quality": "q",
    "version": "v",
    "s": "stylize",
    "c": "chaos",
    "w": "weird",
    "t": "tile",
}
_MIN_TRUNCATED = 40


def prompt_key(text: str) -> str:
    """A prompt as Midjourney might show it, normalised for comparison."""
    found = _BOLD.search(text)
    if found is not None:
        text = found["prompt"]
    else:
        text = _MENTION_TAIL.sub("", text)
        text = _STATUS_TAIL.sub("", text)
    text = text.replace("—", "--")  # phones turn "--" into an em dash; Midjourney accepts both
    text = _URL.sub(f" {_URL_TOKEN} ", text)
    text = " ".join(text.lower().split())
    return _ELLIPSIS.sub("", text).strip()


def _split_params(key: str) -> tuple[str, dict[str, str]]:
    text, *params = _PARAM_SPLIT.split(key)
    named: dict[str, str] = {}
    for param in params:
        name, _, value = param.partition(" ")
        named[_PARAM_ALIASES.get(name, name)] = value.strip()
    return text.strip(), named


def prompt_matches(ours: str, shown: str) -> bool:
    """Whether the bot's ``shown`` prompt is our prompt, rewritten or cut short.

    Equal after ``prompt_key``; or the same text before the parameters with the parameters
    both sides name agreeing (Midjourney adds ``--v 7`` and drops ``--q 1``); or ``shown`` is a
    prefix of ours at least 40 characters long (a truncated display).
    """
    a, b = prompt_key(ours), prompt_key(shown)
    if not a or not b:
        return False
    if a == b:
        return True
    text_a, params_a = _split_params(a)
    text_b, params_b = _split_params(b)
    if text_a == text_b and all(params_a[n] == params_b[n] for n in params_a.keys() & params_b):
        return True
    return len(b) >= _MIN_TRUNCATED and a.startswith(b)
