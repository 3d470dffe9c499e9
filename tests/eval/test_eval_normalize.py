"""Number-aware answer normalisation (eval/normalize.py)."""
from __future__ import annotations

import pytest

from eval.normalize import normalize, tokens

MONEY_53BN = ["$53 billion", "US$53bn", "53 billion dollars", "$53bn", "US$ 53 billion", "$53 Billion", "USD 53bn"]


@pytest.mark.parametrize("text", MONEY_53BN)
def test_money_forms_normalise_alike(text):
    assert normalize(text) == normalize("$53 billion") == "53 billion usd"


def test_decimal_point_inside_numbers_is_kept():
    assert normalize("3.1") == "3.1"
    assert normalize("3.1") != normalize("31")
    assert normalize("It grew 3.1.") == "it grew 3.1"  # a full stop after a number goes


def test_thousands_separators_and_percent():
    assert normalize("1,216 paragraphs") == "1216 paragraphs"
    assert normalize("34.5%") == normalize("34.5 percent") == normalize("34.5 per cent") == "34.5 percent"


def test_other_currencies_stay_distinct():
    assert normalize("HK$6") == "6 hkd"
    assert normalize("RMB 380 billion") == normalize("380 billion yuan") == "380 billion cny"
    assert normalize("HK$6") != normalize("$6")


def test_money_range_with_en_dash():
    assert normalize("$167–$179") == "167 usd 179 usd"


def test_articles_punctuation_case_and_markers():
    assert normalize("The “Avocado” model [1].") == "avocado model"
    assert normalize("Alibaba’s Qwen") == normalize("Alibaba's Qwen") == "alibaba qwen"
    assert normalize("Jack Ma’s informal return") == "jack ma informal return"
    assert normalize("don't") == "dont" and normalize("investors’ money") == "investors money"
    assert normalize("An apple, a pear") == "apple pear"


def test_bare_scaled_numbers():
    assert normalize("53bn") == normalize("53 billion") == "53 billion"
    assert normalize("5m") == "5m"  # without a currency "m" could be metres: left alone


def test_tokens():
    assert tokens("Revenue rose 34% to $5.59 billion.") == ["revenue", "rose", "34", "percent", "to", "5.59",
                                                             "billion", "usd"]
