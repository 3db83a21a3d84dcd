"""Load a corpus into per-utterance training/alignment items: words, features, graph.

Two feature views come from one Kaldi fbank computation:
  gmm: 13 cepstra (DCT of the log-mel fbank) with per-speaker CMVN, + deltas + delta-deltas (39)
  nn:  the log-mel fbank with per-speaker CMVN
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import FeatureConfig, FeatureStore, cepstra, compute, deltas, normalise_by


@dataclass
class Item:
    id: str
    speaker: str
    words: list[str]
    duration: float
    gmm: np.ndarray | None = None    # (T, 39)
    nn: np.ndarray | None = None     # (T, 80)

    @property
    def num_frames(self) -> int:
        return len(self.gmm)


def load_items(corpus, validation, cfg: FeatureConfig, store: FeatureStore | None = None,
               progress: bool = True):
    """Features for every utterance that passed validation. Returns (items, problems)."""
    from tqdm import tqdm

    from . import audio
    from .errors import UtteranceError

    raw, items, problems = {}, [], []
    utts = [u for u in corpus.utterances if u.id in validation.words]
    for u in tqdm(utts, desc="features", unit="utt", disable=not progress):
        try:
            if store is not None and store.has(u.id):
                import soundfile as sf

                f = store.load(u.id)
                try:
                    dur = sf.info(str(u.audio)).duration
                except Exception:   # the store has it, the audio header does not: estimate from frames
                    dur = (len(f) * cfg.frame_shift_ms + cfg.frame_length_ms - cfg.frame_shift_ms) / 1000
            else:
                wav = audio.load(u.audio, cfg.sample_rate, u.id)
                f = compute(wav, cfg)
                dur = len(wav) / cfg.sample_rate
            if len(f) == 0:
                raise UtteranceError(u.id, "audio shorter than one frame (25 ms)")
        except UtteranceError as e:
            problems.append((u.id, e.reason))
            continue
        raw[u.id] = f
        items.append(Item(u.id, u.speaker, validation.words[u.id], dur))
    groups = {it.id: it.speaker for it in items}
    nn = normalise_by(raw, groups, cfg.cmvn)
    ceps = normalise_by({k: (v if cfg.kind == "mfcc" else cepstra(v)) for k, v in raw.items()},
                        groups, cfg.cmvn)
    for it in items:
        it.nn = nn[it.id]
        it.gmm = deltas(ceps[it.id])
    return items, problems
