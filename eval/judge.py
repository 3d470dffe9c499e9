"""Optional LLM judge (`--judge`): asks the configured LLM whether an answer states a
gold answer. Off by default, never gates, and returns None when no LLM is configured or
the call fails, so a run never depends on a server being up."""
from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Sequence

from rag.config import Config

log = logging.getLogger(__name__)
Judge = Callable[[str, str, Sequence[str]], "float | None"]
PROMPT = ("You grade answers. Question: {question}\nAccepted answers: {answers}\nCandidate answer: {answer}\n"
          "Does the candidate state one of the accepted answers (same meaning, units and figures)? "
          "Reply with exactly one digit: 1 for yes, 0 for no.")


def _llm(config: Config):
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(model=config.llm_model, api_base=config.llm_base_url, api_key=config.llm_api_key or "none",
                      timeout=config.llm_timeout_s, is_chat_model=True, max_retries=config.llm_max_retries)


def make_judge(config: Config) -> Judge | None:
    """A judge function, or None (with a note) when no LLM is configured."""
    if not (config.llm_model and config.llm_base_url):
        print("--judge: no LLM configured (RAG_LLM_MODEL, RAG_LLM_BASE_URL); skipping the judge", file=sys.stderr)
        return None
    try:
        llm = _llm(config)
    except ImportError as exc:
        print(f"--judge: cannot load the LLM client ({exc}); skipping the judge", file=sys.stderr)
        return None

    def judge(question: str, answer: str, answers: Sequence[str]) -> float | None:
        try:
            reply = llm.complete(PROMPT.format(question=question, answers=" | ".join(answers), answer=answer)).text
        except Exception as exc:  # noqa: BLE001 - any client or server failure: no verdict, never a crash
            log.warning("judge call failed: %s", exc)
            return None
        found = re.search(r"[01]", reply)
        return float(found.group()) if found else None

    return judge
