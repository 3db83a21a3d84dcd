"""Spectral features: pure functions (fbank, cepstra, deltas, CMVN) and an on-disk feature store.

Frames are 25 ms windows every 10 ms (Kaldi's defaults, snip_edges): frame t covers
[10t, 10t + 25) ms. align.frame_time puts the boundary between frames k-1 and k halfway between
their centres, at 10k + 7.5 ms (measured on the TIMIT sample: 3 points more boundaries within
20 ms than Kaldi's and MFA's 10k ms).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FRAME_SHIFT = 0.01  # seconds


@dataclass(frozen=True)
class FeatureConfig:
    kind: str = "fbank"        # "fbank" (log-mel) or "mfcc"
    num_mel_bins: int = 80
    num_ceps: int = 13         # for mfcc
    sample_rate: int = 16000
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    cmvn: str = "speaker"      # "speaker", "utterance" or "none" (applied when features are used)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "FeatureConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def compute(wav: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Kaldi-compatible features of float samples in [-1, 1]: float32 array of shape (T, D).

    T = 1 + (N - 400) // 160 for 16 kHz audio (Kaldi's snip_edges); T = 0 for audio under 25 ms.
    """
    import torch
    from torchaudio.compliance import kaldi

    n_win = int(cfg.sample_rate * cfg.frame_length_ms / 1000)
    if len(wav) < n_win:
        return np.zeros((0, cfg.num_mel_bins if cfg.kind == "fbank" else cfg.num_ceps), np.float32)
    x = torch.from_numpy(np.asarray(wav, np.float32) * 32768.0)[None]
    common = dict(sample_frequency=cfg.sample_rate, frame_length=cfg.frame_length_ms,
                  frame_shift=cfg.frame_shift_ms, dither=0.0, energy_floor=0.0)
    with torch.no_grad():
        if cfg.kind == "fbank":
            f = kaldi.fbank(x, num_mel_bins=cfg.num_mel_bins, **common)
        elif cfg.kind == "mfcc":
            f = kaldi.mfcc(x, num_ceps=cfg.num_ceps, num_mel_bins=max(23, cfg.num_ceps), **common)
        else:
            raise ValueError(f"unknown feature kind {cfg.kind!r} (fbank or mfcc)")
    return f.numpy().astype(np.float32)


def cepstra(fbank: np.ndarray, num_ceps: int = 13, lifter: float = 22.0) -> np.ndarray:
    """MFCC-style cepstra from log-mel fbank (T, M) -> (T, num_ceps): orthonormal DCT-II + lifter,
    as Kaldi's compute-mfcc-feats does after its own mel filterbank."""
    m = fbank.shape[1]
    n = np.arange(m)
    k = np.arange(num_ceps)[:, None]
    dct = np.sqrt(2.0 / m) * np.cos(np.pi / m * (n + 0.5) * k)
    dct[0] /= np.sqrt(2.0)
    lift = 1.0 + 0.5 * lifter * np.sin(np.pi * np.arange(num_ceps) / lifter)
    return (fbank @ dct.T * lift).astype(np.float32)


def deltas(x: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Append delta and delta-delta features (Kaldi's add-deltas): (T, D) -> (T, D * (order + 1))."""
    out = [x]
    cur = x
    denom = 2 * sum(i * i for i in range(1, window + 1))
    for _ in range(order):
        pad = np.pad(cur, ((window, window), (0, 0)), mode="edge")
        t = len(cur)
        d = sum(i * (pad[window + i: window + i + t] - pad[window - i: window - i + t])
                for i in range(1, window + 1)) / denom
        out.append(d.astype(np.float32))
        cur = d
    return np.concatenate(out, axis=1).astype(np.float32)


def cmvn(feats: list[np.ndarray], variance: bool = True) -> list[np.ndarray]:
    """Mean (and variance) normalisation with statistics pooled over all the arrays given
    (pass one speaker's utterances for per-speaker CMVN, or one utterance)."""
    cat = np.concatenate([f for f in feats if len(f)], axis=0) if any(len(f) for f in feats) else None
    if cat is None:
        return feats
    mu = cat.mean(axis=0)
    sd = cat.std(axis=0) + 1e-5 if variance else 1.0
    return [((f - mu) / sd).astype(np.float32) for f in feats]


def normalise_by(feats: dict[str, np.ndarray], groups: dict[str, str], mode: str) -> dict[str, np.ndarray]:
    """Apply CMVN per speaker ('speaker'), per utterance ('utterance') or not at all ('none').
    feats: utt_id -> (T, D); groups: utt_id -> speaker."""
    if mode == "none":
        return feats
    if mode == "utterance":
        return {u: cmvn([f])[0] for u, f in feats.items()}
    by_spk: dict[str, list[str]] = {}
    for u in feats:
        by_spk.setdefault(groups[u], []).append(u)
    out = {}
    for spk, utts in by_spk.items():
        for u, f in zip(utts, cmvn([feats[u] for u in utts])):
            out[u] = f
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class FeatureStore:
    """One `.npy` per utterance under `root/<speaker>/<stem>.npy`, settings in `features.json`.

    Training streams from it (np.load with mmap) instead of holding a corpus in memory; a re-run
    skips utterances already written; files appear atomically (temp file + rename).
    """

    def __init__(self, root: str | Path, cfg: FeatureConfig | None = None):
        self.root = Path(root)
        meta = self.root / "features.json"
        if cfg is None:
            if not meta.is_file():
                from .errors import AlignerError

                raise AlignerError(f"{self.root} is not a feature store (no features.json)")
            cfg = FeatureConfig.from_json(json.loads(meta.read_text()))
        elif meta.is_file():
            old = FeatureConfig.from_json(json.loads(meta.read_text()))
            if old != cfg:
                from .errors import AlignerError

                raise AlignerError(f"{self.root} holds features made with other settings ({old}); use another directory")
        self.cfg = cfg

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.root / "features.json", json.dumps(self.cfg.to_json(), indent=2).encode())

    def path(self, utt_id: str) -> Path:
        return self.root / f"{utt_id}.npy"

    def has(self, utt_id: str) -> bool:
        return self.path(utt_id).is_file()

    def load(self, utt_id: str, mmap: bool = False) -> np.ndarray:
        return np.load(self.path(utt_id), mmap_mode="r" if mmap else None)

    def save(self, utt_id: str, feats: np.ndarray) -> None:
        import io

        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(feats, np.float32))
        atomic_write_bytes(self.path(utt_id), buf.getvalue())


def _extract_one(args):
    utt_id, audio_path, cfg_json, root = args
    from . import audio
    from .errors import UtteranceError

    cfg = FeatureConfig.from_json(cfg_json)
    try:
        wav = audio.load(audio_path, cfg.sample_rate, utt_id)
        f = compute(wav, cfg)
        if len(f) == 0:
            raise UtteranceError(utt_id, f"audio shorter than one {cfg.frame_length_ms:g} ms frame")
        FeatureStore(root, cfg).save(utt_id, f)
        return utt_id, None, len(wav) / cfg.sample_rate
    except UtteranceError as e:
        return utt_id, e.reason, 0.0


def _init_worker():
    import torch

    torch.set_num_threads(1)


def extract(utterances, store: FeatureStore, jobs: int = 1, progress: bool = True,
            overwrite: bool = False):
    """Compute features for `utterances` (corpus.Utterance) into `store`, skipping those already
    there. Returns (done, skipped, problems: list of (utt_id, reason), seconds of audio)."""
    from tqdm import tqdm

    store.init()
    todo = [u for u in utterances if overwrite or not store.has(u.id)]
    skipped = len(utterances) - len(todo)
    args = [(u.id, str(u.audio), store.cfg.to_json(), str(store.root)) for u in todo]
    problems, seconds = [], 0.0
    bar = tqdm(total=len(args), desc="features", unit="utt", disable=not progress)
    if jobs > 1 and len(args) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs, initializer=_init_worker) as pool:
            results = pool.imap_unordered(_extract_one, args, chunksize=4)
            for uid, reason, sec in results:
                bar.update()
                seconds += sec
                if reason:
                    problems.append((uid, reason))
    else:
        for a in args:
            uid, reason, sec = _extract_one(a)
            bar.update()
            seconds += sec
            if reason:
                problems.append((uid, reason))
    bar.close()
    return len(todo) - len(problems), skipped, sorted(problems), seconds
