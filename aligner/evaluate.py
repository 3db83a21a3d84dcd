"""Boundary accuracy of alignments against hand labels (TextGrid or TIMIT .phn/.wrd references).

Labels are folded to one phone set (a mapping file, default data/timit_fold.txt), silences are not
scored, hypothesis and reference sequences are matched by edit distance, and every matched pair
(match or substitution) contributes its onset error and its offset error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .corpus import walk_files

DEFAULT_MAPPING = Path(__file__).parent / "data" / "timit_fold.txt"
TOLERANCES_MS = (10, 20, 25, 50)


@dataclass
class Mapping:
    rename: dict[str, str]
    silence: set[str]
    merge: dict[tuple[str, str], str]

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MAPPING) -> "Mapping":
        rename, silence, merge = {}, {""}, {}
        for line in Path(path).read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            src, dst = line.split()[:2]
            if "+" in src:
                a, b = src.split("+")
                merge[(a, b)] = dst
            elif dst == "-":
                silence.add(src)
            else:
                rename[src] = dst
        return cls(rename, silence, merge)

    def fold(self, segs: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
        """Merge closure+release pairs, rename, drop silences."""
        out = []
        i = 0
        while i < len(segs):
            a, b, lab = segs[i]
            lab = re.sub(r"(?<=[a-z])\d+$", "", lab.strip().lower())
            if i + 1 < len(segs):
                nxt = segs[i + 1][2].strip().lower()
                if (lab, nxt) in self.merge:
                    out.append((a, segs[i + 1][1], self.merge[(lab, nxt)]))
                    i += 2
                    continue
            if lab not in self.silence:
                out.append((a, b, self.rename.get(lab, lab)))
            i += 1
        return out


def read_timit(path: Path, rate: int = 16000):
    segs = []
    for line in path.read_text().splitlines():
        p = line.split()
        if len(p) >= 3:
            segs.append((int(p[0]) / rate, int(p[1]) / rate, p[2]))
    return segs


def read_reference(ref_dir: Path, utt_id: str):
    """(phones, words) segments for an utterance, or None when there is no reference."""
    base = ref_dir / utt_id
    if base.with_suffix(".phn").is_file():
        words = read_timit(base.with_suffix(".wrd")) if base.with_suffix(".wrd").is_file() else []
        return read_timit(base.with_suffix(".phn")), words
    if base.with_suffix(".TextGrid").is_file():
        return _tiers(base.with_suffix(".TextGrid"))
    return None


def _tiers(path: Path):
    from .textgrid import read

    t = read(path)
    lower = {k.lower(): v for k, v in t.items()}
    return lower.get("phones", []), lower.get("words", [])


def edit_align(hyp: list[str], ref: list[str]) -> list[tuple[int, int]]:
    """Pairs (i, j) of hyp[i] aligned to ref[j] (match or substitution) by Levenshtein distance."""
    n, m = len(hyp), len(ref)
    d = np.zeros((n + 1, m + 1), np.int32)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (hyp[i - 1] != ref[j - 1]))
    pairs = []
    i, j = n, m
    while i > 0 and j > 0:
        if d[i, j] == d[i - 1, j - 1] + (hyp[i - 1] != ref[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif d[i, j] == d[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


@dataclass
class Scores:
    errors: list[float] = field(default_factory=list)    # seconds, onset and offset errors
    matched: int = 0
    reference: int = 0
    per_label: dict[str, list[float]] = field(default_factory=dict)

    def add(self, hyp, ref):
        self.reference += len(ref)
        for i, j in edit_align([h[2] for h in hyp], [r[2] for r in ref]):
            self.matched += 1
            e = [abs(hyp[i][0] - ref[j][0]), abs(hyp[i][1] - ref[j][1])]
            self.errors += e
            self.per_label.setdefault(ref[j][2], []).extend(e)

    def summary(self) -> dict:
        e = np.asarray(self.errors) * 1000
        out = {"matched": self.matched, "reference": self.reference}
        for tol in TOLERANCES_MS:
            out[f"within_{tol}ms"] = float((e <= tol).mean() * 100) if len(e) else 0.0
        out["mean_ms"] = float(e.mean()) if len(e) else float("nan")
        out["median_ms"] = float(np.median(e)) if len(e) else float("nan")
        return out


def hyp_segments(path: Path, mapping: Mapping):
    phones, words = _tiers(path)
    return mapping.fold(phones), [w for w in words if w[2].strip() and w[2] not in mapping.silence]


def evaluate(hyp_dir: str | Path, ref_dir: str | Path, mapping_path=None) -> dict:
    """Score every reference utterance; those without a hypothesis TextGrid count as not aligned."""
    hyp_dir, ref_dir = Path(hyp_dir), Path(ref_dir)
    mapping = Mapping.load(mapping_path or DEFAULT_MAPPING)
    refs = sorted({p.relative_to(ref_dir).with_suffix("").as_posix()
                   for p in walk_files(ref_dir) if p.suffix in (".phn", ".TextGrid")})
    phones, words = Scores(), Scores()
    missing = []
    for uid in refs:
        hyp_path = hyp_dir / f"{uid}.TextGrid"
        if not hyp_path.is_file():
            missing.append(uid)
            continue
        ref = read_reference(ref_dir, uid)
        hp, hw = hyp_segments(hyp_path, mapping)
        phones.add(hp, mapping.fold(ref[0]))
        words.add([(a, b, l.lower()) for a, b, l in hw],
                  [(a, b, l.lower()) for a, b, l in ref[1] if l.strip() and l not in mapping.silence])
    return {"utterances": len(refs), "not_aligned": missing, "phones": phones.summary(),
            "words": words.summary(), "per_phone": {k: _per(v) for k, v in sorted(phones.per_label.items())}}


def _per(errs):
    e = np.asarray(errs) * 1000
    return {"n": len(e) // 2, "within_20ms": float((e <= 20).mean() * 100), "mean_ms": float(e.mean())}


def format_table(results: dict[str, dict]) -> list[str]:
    """Side-by-side table: one column per system."""
    names = list(results)
    rows = [("utterances", lambda r: f"{r['utterances']}"),
            ("not aligned", lambda r: f"{len(r['not_aligned'])}")]
    for level in ("phones", "words"):
        if not any(results[n][level]["reference"] for n in names):
            continue            # the references have no such tier
        rows.append((f"{level} matched/ref", lambda r, l=level: f"{r[l]['matched']}/{r[l]['reference']}"))
        for tol in TOLERANCES_MS:
            rows.append((f"{level} within {tol} ms", lambda r, l=level, t=tol: f"{r[l][f'within_{t}ms']:.1f} %"))
        rows.append((f"{level} mean error", lambda r, l=level: f"{r[l]['mean_ms']:.1f} ms"))
        rows.append((f"{level} median error", lambda r, l=level: f"{r[l]['median_ms']:.1f} ms"))
    w = max(len(r[0]) for r in rows) + 2
    cw = max(12, *(len(n) + 2 for n in names))
    out = ["".ljust(w) + "".join(n.rjust(cw) for n in names)]
    for label, f in rows:
        out.append(label.ljust(w) + "".join(f(results[n]).rjust(cw) for n in names))
    return out
