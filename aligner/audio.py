"""Audio loading: any format soundfile reads, downmixed to mono and resampled to 16 kHz."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


def load(path: str | Path, sample_rate: int = SAMPLE_RATE, utt_id: str | None = None) -> np.ndarray:
    """Return float32 samples in [-1, 1], shape (N,), at `sample_rate`.

    Raises UtteranceError naming the file for unreadable, truncated or empty audio.
    """
    import soundfile as sf

    from .errors import UtteranceError

    name = utt_id or str(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types (LibsndfileError, RuntimeError, ...)
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise UtteranceError(name, f"unreadable audio {Path(path).name}: {msg}") from None
    if data.shape[0] == 0:
        raise UtteranceError(name, f"audio {Path(path).name} has no samples (zero length)")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if sr != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(sr, sample_rate)
        wav = resample_poly(wav, sample_rate // g, sr // g).astype(np.float32)
    return np.ascontiguousarray(wav, dtype=np.float32)


def duration(path: str | Path) -> float:
    """Seconds, from the header only (raises like soundfile for unreadable files)."""
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate if info.samplerate else 0.0
