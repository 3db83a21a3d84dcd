"""Shared fixtures: a tiny synthetic corpus whose phone boundaries are known exactly.

Each 'phone' is a harmonic tone with its own pitch and formant-like spectrum; words are phone
sequences from a small dictionary; silences are low noise. Enough structure for a flat-start
GMM-HMM to learn in seconds, and exact reference times to check its boundaries against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000
PHONES = {"aa": 220, "b": 330, "k": 440, "d": 550, "ee": 660, "f": 880, "g": 990, "oo": 1210}
LEXICON = {"bad": ["b", "aa", "d"], "cook": ["k", "oo", "k"], "fee": ["f", "ee"], "dog": ["d", "aa", "g"],
           "gee": ["g", "ee"], "feed": ["f", "ee", "d"], "good": ["g", "oo", "d"]}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "timit_sample"


def tone(freq, n, rng):
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 6)) / h for h in (1, 2, 3))
    return 0.2 * x + 0.005 * rng.normal(size=n)


def make_utterance(words, rng):
    """Returns (samples, phone segments [(start, end, phone)], word segments)."""
    parts, phones, wsegs = [], [], []
    pos = 0

    def add(x, lab, seg_list):
        nonlocal pos
        parts.append(x)
        if lab:
            seg_list.append((pos / SR, (pos + len(x)) / SR, lab))
        pos += len(x)

    add(0.005 * rng.normal(size=int(rng.uniform(0.15, 0.3) * SR)), None, phones)
    for i, w in enumerate(words):
        w0 = pos
        for ph in LEXICON[w]:
            add(tone(PHONES[ph], int(rng.uniform(0.06, 0.16) * SR), rng), ph, phones)
        wsegs.append((w0 / SR, pos / SR, w))
        if i < len(words) - 1 and rng.uniform() < 0.4:
            add(0.005 * rng.normal(size=int(rng.uniform(0.1, 0.2) * SR)), None, phones)
    add(0.005 * rng.normal(size=int(rng.uniform(0.15, 0.3) * SR)), None, phones)
    return np.concatenate(parts).astype(np.float32), phones, wsegs


def write_dictionary(path: Path):
    path.write_text("".join(f"{w.upper()} {' '.join(p.upper() for p in ph)}\n" for w, ph in LEXICON.items()))
    return path


def write_textgrid_ref(path: Path, phones, words, dur):
    from aligner.textgrid import render

    path.write_text(render({"words": words, "phones": phones}, dur))


def make_corpus(root: Path, n_speakers=2, n_utts=10, seed=0, refs: Path | None = None):
    rng = np.random.default_rng(seed)
    words = list(LEXICON)
    for s in range(n_speakers):
        spk = root / f"spk{s}"
        spk.mkdir(parents=True, exist_ok=True)
        for u in range(n_utts):
            ws = list(rng.choice(words, size=int(rng.integers(2, 5))))
            x, ph, wd = make_utterance(ws, rng)
            sf.write(spk / f"u{u}.wav", x, SR)
            (spk / f"u{u}.lab").write_text(" ".join(ws).capitalize() + ".\n")
            if refs is not None:
                (refs / spk.name).mkdir(parents=True, exist_ok=True)
                write_textgrid_ref(refs / spk.name / f"u{u}.TextGrid", ph, wd, len(x) / SR)
    return root


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """(corpus dir, dictionary file, reference dir) of a 20-utterance synthetic corpus."""
    base = tmp_path_factory.mktemp("synth")
    refs = base / "refs"
    corpus = make_corpus(base / "corpus", refs=refs)
    return corpus, write_dictionary(base / "dict.txt"), refs


@pytest.fixture(scope="session")
def trained_model(synth, tmp_path_factory):
    """A GMM-only model trained on the synthetic corpus (seconds)."""
    from click.testing import CliRunner

    from aligner.cli import cli

    corpus, dictionary, _ = synth
    model = tmp_path_factory.mktemp("model") / "m"
    r = CliRunner().invoke(cli, ["train", str(corpus), str(model), "-d", str(dictionary), "--rounds", "0", "-q"])
    assert r.exit_code == 0, r.output
    return model
