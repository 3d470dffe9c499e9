"""Config: defaults, then RAG_* variables, then flags."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Config


def test_environment_then_flags():
    env = {"RAG_LLM_MAX_RETRIES": "5", "RAG_LLM_TIMEOUT": "2.5", "RAG_STORE": "/tmp/s", "RAG_TOP_K": ""}
    config = Config.from_env(env)
    assert (config.llm_max_retries, config.llm_timeout_s, config.store) == (5, 2.5, Path("/tmp/s"))
    assert config.top_k == Config().top_k  # an empty variable is unset
    assert Config.from_env(env, llm_max_retries=0, top_k=None).llm_max_retries == 0  # a flag wins; None is no flag


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Config().top_k = 3
