"""Translating a new task's prompt before it goes to a channel: a step every channel shares.

Off unless ``MJGATE_TRANSLATE_PROVIDER`` names a translator. A prompt with CJK text has its
words translated (``domain.translation`` keeps parameters, links, ``<...>`` and weights out
of the translator's sight); the task then carries the translation as ``promptEn`` (what the
channel gets) and the prompt as typed in ``properties.finalZhPrompt``. Banned words are
checked on the translation too (the original was checked before).

It runs at submit, so the client's first fetch already shows ``promptEn``, and it is bounded
by ``MJGATE_TRANSLATE_TIMEOUT``: the request waits on the translator's answer without
holding the event loop or a database connection. A translator that fails, times out or
answers garbage fails nothing: the prompt goes as written, and ``properties.translation``
says ``"failed: <reason>"`` (``"done"`` when it worked).
"""

from __future__ import annotations

import asyncio
import logging

from mjgate.domain.translation import has_cjk, translatable_parts
from mjgate.providers.translators import TranslationFailed
from mjgate.services.runtime import Runtime
from mjgate.services.submit import MAX_PROMPT_CHARS, Draft, check_prompt

log = logging.getLogger(__name__)
TRANSLATED = "done"


async def translate_draft(rt: Runtime, draft: Draft) -> None:
    """Set the draft's ``prompt_en`` (and its properties) when its prompt needs translating.

    Raises ``BannedPrompt`` when the translation holds a banned word; nothing else."""
    translator = rt.translator
    if translator is None or not draft.prompt or not has_cjk(draft.prompt):
        return
    parts = translatable_parts(draft.prompt)
    texts = parts.texts()
    if not texts:  # CJK text only inside kept parts (a link, a reference)
        return
    try:
        async with asyncio.timeout(rt.settings.translate_timeout):
            answers = await translator.translate(texts)
        english = parts.joined(answers)
        if len(english) > MAX_PROMPT_CHARS:
            raise TranslationFailed("the translation was too long")
    except TimeoutError:
        reason = "the translator did not answer in time"
    except TranslationFailed as exc:
        reason = exc.reason
    except Exception:  # a translator's bug must not fail the submit either
        log.exception("the prompt translator failed")
        reason = "the translator failed"
    else:
        check_prompt(rt, english)
        draft.prompt_en = english
        draft.properties["finalZhPrompt"] = draft.prompt
        draft.properties["translation"] = TRANSLATED
        return
    log.warning("a prompt goes untranslated: %s", reason)
    draft.properties["translation"] = f"failed: {reason}"
