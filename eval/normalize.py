"""Answer normalisation for string matching (SQuAD-style, but aware of numbers).

SQuAD's normaliser deletes every punctuation mark, which turns "3.1" into "31" and
"$53 billion" into "53 billion": wrong for a corpus of financial figures. Here the
decimal point inside a number survives, thousands separators go ("1,216" -> "1216"),
and money is rewritten to one canonical form "<number> <scale> <currency>" so that
"$53 billion", "US$53bn", "53 billion dollars" and "$53bn" all read "53 billion usd".
Percent signs become the word "percent"; a possessive "'s" is dropped. Articles (a, an, the) are dropped last.
"""
from __future__ import annotations

import re
import unicodedata

_CURRENCY_PREFIX = {  # symbol or code written before the number -> ISO-like code
    "us$": "usd", "usd": "usd", "$": "usd", "hk$": "hkd", "hkd": "hkd", "rmb": "cny",
    "cny": "cny", "¥": "cny", "€": "eur", "eur": "eur", "£": "gbp", "gbp": "gbp",
}
_CURRENCY_SUFFIX = {  # word written after the number -> code
    "dollars": "usd", "dollar": "usd", "usd": "usd", "us dollars": "usd", "yuan": "cny",
    "renminbi": "cny", "rmb": "cny", "euros": "eur", "euro": "eur", "pounds": "gbp",
    "hong kong dollars": "hkd", "hkd": "hkd",
}
_SCALE = {
    "trillion": "trillion", "tn": "trillion", "t": "trillion", "billion": "billion", "bn": "billion",
    "b": "billion", "million": "million", "mn": "million", "m": "million", "thousand": "thousand",
    "k": "thousand",
}
_NUM = r"\d+(?:\.\d+)?"
_PREFIX = "|".join(re.escape(k) for k in sorted(_CURRENCY_PREFIX, key=len, reverse=True))
_SUFFIX = "|".join(re.escape(k) for k in sorted(_CURRENCY_SUFFIX, key=len, reverse=True))
_SCALES = "|".join(sorted(_SCALE, key=len, reverse=True))
# Money with the currency in front: "$53 billion", "US$ 53bn", "RMB 130.11 billion", "HK$6".
_MONEY_BEFORE = re.compile(rf"(?<![a-z])({_PREFIX})\s?({_NUM})(?:\s?({_SCALES})\b)?")
# Money with the currency after: "53 billion dollars", "380 billion yuan", "5 dollars".
_MONEY_AFTER = re.compile(rf"\b({_NUM})(?:\s?({_SCALES}))?\s({_SUFFIX})\b")
# A bare scaled number: "53bn" -> "53 billion" (single letters only with a currency).
_BARE_SCALE = re.compile(r"\b(" + _NUM + r")\s?(trillion|billion|million|thousand|tn|bn|mn)\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_PERCENT = re.compile(r"(?<=\d)\s?(%|per ?cent\b)")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019\u02bc]s\b")  # "Jack Ma's" must still contain "Jack Ma"
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_CITATION_MARKER = re.compile(r"\[\d+\]")


def _money(number: str, scale: str | None, currency: str) -> str:
    words = [number, _SCALE[scale] if scale else "", currency]
    return " " + " ".join(w for w in words if w) + " "


def canonical_money(text: str) -> str:
    """Rewrite amounts of money in lower-cased `text` as '<number> <scale> <currency>'."""
    text = _MONEY_BEFORE.sub(lambda m: _money(m[2], m[3], _CURRENCY_PREFIX[m[1]]), text)
    text = _MONEY_AFTER.sub(lambda m: _money(m[1], m[2], _CURRENCY_SUFFIX[m[3]]), text)
    return _BARE_SCALE.sub(lambda m: f"{m[1]} {_SCALE[m[2]]}", text)


def _strip_punctuation(text: str) -> str:
    """Punctuation and symbols become spaces, except a '.' between two digits."""
    out = []
    for i, ch in enumerate(text):
        if ch == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
            out.append(ch)
        elif unicodedata.category(ch)[0] in "PS":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def normalize(text: str) -> str:
    """Lower-case, money- and number-aware, punctuation-free, article-free text."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _CITATION_MARKER.sub(" ", text)  # "[1]" markers are not part of the answer
    text = _POSSESSIVE.sub("", text)
    text = _APOSTROPHES.sub("", text)
    text = _THOUSANDS.sub("", text)
    text = _PERCENT.sub(" percent", text)
    text = canonical_money(text)
    text = _strip_punctuation(text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """The normalised text's tokens."""
    return normalize(text).split()
