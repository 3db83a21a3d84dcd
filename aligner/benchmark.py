"""`aligner benchmark viterbi`: our Numba Viterbi against torchaudio.functional.forced_align
(CTC Viterbi, C++ CPU kernel), one thread each, on the same number of T x S trellis cells."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np


def _chain(S: int, E: int):
    """A left-to-right chain of S one-state 'phones' cycling over E pdfs (self-loop + advance)."""
    from .graph import Topology, linear

    topo = Topology(tuple(f"p{i}" for i in range(E)), (1,) * E, (0.5,) * E)
    return linear([s % E for s in range(S)], topo)


def _best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def viterbi_benchmark(sizes, repeat=3, hour=True, echo=print):
    import numba
    import torch
    import torchaudio.functional as taf

    from .viterbi import viterbi

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    C = 41
    echo(f"{'T':>8} {'S':>7} {'Mcells':>8} {'ours Mcells/s':>14} {'torchaudio Mcells/s':>20} {'ratio':>6}")
    # compile once outside the timing
    g0 = _chain(10, C)
    viterbi(rng.normal(size=(20, C)).astype(np.float32), g0)
    for T in sizes:
        L = max(1, T // 16)
        S = 2 * L + 1                      # CTC trellis states for L targets
        emit = np.log(rng.dirichlet(np.ones(C), size=T)).astype(np.float32)
        g = _chain(S, C)
        ours = _best_of(lambda: viterbi(emit, g), repeat)
        lp = torch.from_numpy(emit)[None]
        tgt = torch.from_numpy(rng.integers(1, C, size=(1, L))).int()
        theirs = _best_of(lambda: taf.forced_align(lp, tgt, blank=0), repeat)
        cells = T * S / 1e6
        echo(f"{T:>8} {S:>7} {cells:>8.1f} {cells / ours:>14.0f} {cells / theirs:>20.0f} {theirs / ours:>6.2f}")
    if hour:
        res = json.loads(subprocess.run([sys.executable, "-m", "aligner.benchmark", "hour"], check=True,
                                        capture_output=True, text=True).stdout.strip().splitlines()[-1])
        echo(f"1-hour recording: {res['frames']} frames, {res['phones']} phones, {res['states']} states, "
             f"banded Viterbi (window {res['band']} states, checked at {2 * res['band']}) in {res['seconds']:.1f} s, "
             f"peak memory {res['peak_mb']:.0f} MB for the whole process ({res['emit_mb']:.0f} MB of "
             f"scores; the search itself added {res['kernel_mb']:.0f} MB), "
             f"{res['frames_correct']:.2f} % of frames on the true path")


def _hour():
    """Synthetic 1-hour utterance: 40,000 3-state phones; scores favour the true path."""
    import resource

    from .graph import Topology, linear
    from .viterbi import viterbi

    rng = np.random.default_rng(1)
    P = 41
    n_phones = 40_000
    topo = Topology.create([f"p{i}" for i in range(P)], phone_states=3, silence_states=3)
    phones = rng.integers(0, P, n_phones)
    g = linear(list(phones), topo)
    S = g.num_states
    T = 360_000
    # true durations: random, at least 1 frame a state, summing to T
    d = rng.gamma(2.0, 1.0, S)
    d = np.maximum(1, np.floor(d / d.sum() * (T - S))).astype(int) + 0
    d[-1] += T - d.sum()
    truth = np.repeat(np.arange(S), d)
    emit = np.empty((T, topo.num_pdfs), np.float32)
    for i in range(0, T, 10_000):                  # float32 from the start: no float64 copy
        emit[i:i + 10_000] = rng.standard_normal((min(10_000, T - i), topo.num_pdfs), np.float32) - 3.0
    emit[np.arange(T), g.pdf[truth]] += 2.0
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    band = 1024
    path, _ = viterbi(emit, g, band=band)
    secs = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": T, "phones": n_phones, "states": S, "band": band, "seconds": secs,
                      "peak_mb": peak, "kernel_mb": peak - before, "emit_mb": emit.nbytes / 2**20,
                      "frames_correct": float((path == truth).mean() * 100)}))


if __name__ == "__main__" and sys.argv[1:] == ["hour"]:
    _hour()
