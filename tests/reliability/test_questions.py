"""Unusable questions: empty, 100 KB long, only punctuation, only control characters.
Python: InputError with a clear message; CLI: exit 2, one `error:` line, no traceback."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from store_audit import ENV, RAG_BIN

from rag.errors import InputError

BAD_QUESTIONS = {
    "empty": ("", "the question is empty"),
    "blank": (" \t\n  ", "the question is empty"),
    "100 KB": ("Why " * 25_600, "the question is too long (102399 characters; the limit is 2000)"),
    "2,001 characters": ("a" * 2001, "the question is too long (2001 characters; the limit is 2000)"),
    "punctuation": ("?!.,;:-–—…()[]{}\"'«»¿¡", "the question has no words"),
    "symbols": ("$%&*+/<=>@^|~ 🙂🚢", "the question has no words"),
    "control characters": ("\x01\x02\x03\x07\x08\x0b\x0c\x0e\x1b\x7f\x9b" * 50, "the question is empty"),
    "format characters": ("\u200b\u200c\u200d\u2060\ufeff\u202e\u202c" * 30, "the question is empty"),
    "escape sequences": ("\x1b[31m\x1b[0m\x1b[2J\x1b[H" * 20, "the question is empty"),
}


@pytest.mark.parametrize("name", sorted(BAD_QUESTIONS))
def test_bad_question_is_an_input_error(built_rag, name):
    question, message = BAD_QUESTIONS[name]
    with pytest.raises(InputError) as info:
        built_rag.ask(question)
    assert str(info.value) == message
    with pytest.raises(InputError):
        list(built_rag.stream(question))


@pytest.mark.parametrize("name", sorted(BAD_QUESTIONS))
def test_cli_bad_question_exits_2_with_a_message(built_rag, tmp_path, name):
    question, message = BAD_QUESTIONS[name]
    for extra in ([], ["--json"]):
        result = subprocess.run([RAG_BIN, "ask", question, "--store", str(built_rag.config.store), *extra],
                                capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=120)
        assert result.returncode == 2
        assert result.stderr == f"error: {message}\n" and result.stdout == ""


def test_control_characters_inside_a_real_question_are_dropped(built_rag):
    question = "How\x07 much has\x1b Alibaba\u200b committed to AI\x00 and cloud infrastructure\r\nover three years?"
    answer = built_rag.ask(question)
    assert answer.query == "How much has Alibaba committed to AI and cloud infrastructure over three years?"
    assert answer.answerable and ("$52 billion" in answer.text or "$53 billion" in answer.text)


def test_question_at_the_limit_is_accepted(built_rag):
    question = ("Alibaba cloud " * 200)[:2000]
    assert built_rag.ask(question).timings_ms  # answered or refused, but not an error


def test_cli_question_from_an_empty_store_folder_that_does_not_exist(tmp_path):
    result = subprocess.run([RAG_BIN, "ask", "", "--store", str(tmp_path / "nowhere")], capture_output=True,
                            text=True, env=ENV, cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and result.stderr == "error: the question is empty\n"
    assert not Path(tmp_path / "nowhere").exists()  # a bad question creates nothing
