"""Viterbi and forward-backward over an alignment graph (see graph.py), in log space.

Shapes: emit (T, E) float32 scaled log-likelihoods, one column per pdf; a graph of S states.
Kernels are @njit; `*_reference` are slow pure-numpy versions that the tests compare them to.
Ties are broken towards the lower predecessor index k (k = 0, the self-loop, first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

# numba's own thread pool, not OpenMP: an OpenMP pool spinning beside torch's (also OpenMP)
# slowed BiLSTM inference 30-fold on this 2-core machine (measured: 150 s -> 5 s for 160 utterances)
numba.config.THREADING_LAYER = "workqueue"

from .errors import InfeasibleAlignment
from .graph import Graph

NEG = np.float32(-np.inf)


# ----------------------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _split_arcs(preds, predw, npred):
    """Dense arcs: the self-loop (k = 0) and the arc from state s - 1 (k = 1 when present, as
    graph.py orders them). Sparse list: every other arc (where optional silence and variants
    join), with its k."""
    S = preds.shape[0]
    w0 = np.empty(S, np.float32)
    w1 = np.full(S, -np.inf, np.float32)
    n_extra = 0
    for s in range(S):
        w0[s] = predw[s, 0]
        for k in range(1, npred[s]):
            if k == 1 and preds[s, 1] == s - 1:
                w1[s] = predw[s, 1]
            else:
                n_extra += 1
    xs = np.empty(n_extra, np.int64)
    xk = np.empty(n_extra, np.uint8)
    xp = np.empty(n_extra, np.int64)
    xw = np.empty(n_extra, np.float32)
    i = 0
    for s in range(S):
        for k in range(1, npred[s]):
            if k == 1 and preds[s, 1] == s - 1:
                continue
            xs[i] = s
            xk[i] = k
            xp[i] = preds[s, k]
            xw[i] = predw[s, k]
            i += 1
    return w0, w1, xs, xk, xp, xw


@njit(cache=True, nogil=True)
def _viterbi(emit, pdf, preds, predw, npred, init, final):
    T = emit.shape[0]
    S = pdf.shape[0]
    w0, w1, xs, xk, xp, xw = _split_arcs(preds, predw, npred)
    bp = np.empty((T, S), np.uint8)           # which predecessor (k): one byte a cell
    prev = np.empty(S, np.float32)
    cur = np.empty(S, np.float32)
    for s in range(S):
        prev[s] = init[s] + emit[0, pdf[s]]
        bp[0, s] = 0
    for t in range(1, T):
        row = emit[t]
        bpt = bp[t]
        # dense pass: stay (k = 0) or come from s - 1 (k = 1); branch-free so it vectorises
        cur[0] = prev[0] + w0[0]
        bpt[0] = 0
        for s in range(1, S):
            a = prev[s] + w0[s]
            b = prev[s - 1] + w1[s]
            take = b > a
            cur[s] = b if take else a
            bpt[s] = take
        # sparse pass: the few other arcs (strict > keeps the lower k on ties)
        for i in range(xs.shape[0]):
            s = xs[i]
            v = prev[xp[i]] + xw[i]
            if v > cur[s]:
                cur[s] = v
                bpt[s] = xk[i]
        for s in range(S):
            cur[s] += row[pdf[s]]
        prev, cur = cur, prev
    best = NEG
    arg = -1
    for s in range(S):
        v = prev[s] + final[s]
        if v > best:
            best = v
            arg = s
    path = np.empty(T, np.int32)
    if arg < 0:
        path[:] = -1
        return path, best
    s = arg
    for t in range(T - 1, -1, -1):
        path[t] = s
        s = preds[s, bp[t, s]]
    return path, best


@njit(cache=True, parallel=True)
def _viterbi_batch(emit, t_off, pdf, preds, predw, npred, init, final, s_off, paths, scores):
    for b in prange(t_off.shape[0] - 1):
        t0, t1 = t_off[b], t_off[b + 1]
        s0, s1 = s_off[b], s_off[b + 1]
        p, sc = _viterbi(emit[t0:t1], pdf[s0:s1], preds[s0:s1], predw[s0:s1], npred[s0:s1],
                         init[s0:s1], final[s0:s1])
        paths[t0:t1] = p
        scores[b] = sc


@njit(cache=True, nogil=True)
def _logadd(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@njit(cache=True, nogil=True)
def _forward_backward(emit, pdf, preds, predw, npred, init, final):
    T = emit.shape[0]
    S = pdf.shape[0]
    alpha = np.full((T, S), -np.inf, np.float64)
    for s in range(S):
        alpha[0, s] = init[s] + emit[0, pdf[s]]
    for t in range(1, T):
        for s in range(S):
            acc = -np.inf
            for k in range(npred[s]):
                acc = _logadd(acc, alpha[t - 1, preds[s, k]] + predw[s, k])
            alpha[t, s] = acc + emit[t, pdf[s]]
    beta = np.full((T, S), -np.inf, np.float64)
    for s in range(S):
        beta[T - 1, s] = final[s]
    for t in range(T - 1, 0, -1):
        for s in range(S):
            b = beta[t, s] + emit[t, pdf[s]]
            if b == -np.inf:
                continue
            for k in range(npred[s]):
                p = preds[s, k]
                beta[t - 1, p] = _logadd(beta[t - 1, p], b + predw[s, k])
    logz = -np.inf
    for s in range(S):
        logz = _logadd(logz, alpha[T - 1, s] + final[s])
    gamma = np.empty((T, S), np.float32)
    for t in range(T):
        for s in range(S):
            gamma[t, s] = np.exp(alpha[t, s] + beta[t, s] - logz)
    return gamma, logz


@njit(cache=True, nogil=True)
def _viterbi_banded(emit, pdf, preds, predw, npred, init, final, width):
    """Viterbi over a window of `width` states that slides forward with the best state.

    Window at frame t: [lo[t], lo[t] + width). lo never decreases and keeps the previous frame's
    best state a quarter of the window from its lower edge. Memory: T * width bytes.
    Returns path, score, and whether the path touched an edge of the window (a sign that a
    better path may have been cut off: the caller widens and retries).
    """
    T = emit.shape[0]
    S = pdf.shape[0]
    W = min(width, S)
    w0, w1, xs, xk, xp, xw = _split_arcs(preds, predw, npred)
    bp = np.empty((T, W), np.uint8)
    lo = np.zeros(T, np.int64)
    # window scores live in [0, W); [W, 2W] stays -inf so out-of-window reads need no branch
    # (index -1 wraps to 2W, also -inf)
    prev = np.full(2 * W + 1, -np.inf, np.float32)
    cur = np.full(2 * W + 1, -np.inf, np.float32)
    for j in range(W):
        prev[j] = init[j] + emit[0, pdf[j]]
        bp[0, j] = 0
    best_s = 0
    for j in range(W):
        if prev[j] > prev[best_s]:
            best_s = j
    x0 = 0                                   # first sparse arc whose state is in the window
    for t in range(1, T):
        plo = lo[t - 1]
        nlo = max(plo, plo + best_s - W // 4)
        if nlo + W > S:
            nlo = max(plo, S - W)
        lo[t] = nlo
        d = nlo - plo
        row = emit[t]
        bpt = bp[t]
        if d >= W:                           # the window jumped past everything: nothing survives
            for j in range(W):
                cur[j] = -np.inf
                bpt[j] = 0
        else:
            for j in range(W):
                a = prev[d + j] + w0[nlo + j]
                b = prev[d + j - 1] + w1[nlo + j]
                take = b > a
                cur[j] = b if take else a
                bpt[j] = take
        while x0 < xs.shape[0] and xs[x0] < nlo:
            x0 += 1
        i = x0
        while i < xs.shape[0] and xs[i] < nlo + W:
            p = xp[i] - plo
            if p >= 0 and p < W:
                v = prev[p] + xw[i]
                j = xs[i] - nlo
                if v > cur[j]:
                    cur[j] = v
                    bpt[j] = xk[i]
            i += 1
        bst = NEG
        best_s = 0
        for j in range(W):
            cur[j] += row[pdf[nlo + j]]
            if cur[j] > bst:
                bst = cur[j]
                best_s = j
        prev, cur = cur, prev
    best = NEG
    arg = -1
    for j in range(W):
        v = prev[j] + final[lo[T - 1] + j]
        if v > best:
            best = v
            arg = j
    path = np.empty(T, np.int32)
    touched = False
    if arg < 0:
        path[:] = -1
        return path, best, True
    s = lo[T - 1] + arg
    for t in range(T - 1, -1, -1):
        path[t] = s
        if t > 0 and ((s == lo[t] and lo[t] > 0) or (s == lo[t] + W - 1 and lo[t] + W < S)):
            touched = True
        s = preds[s, bp[t, s - lo[t]]]
    return path, best, touched


# ------------------------------------------------------------------------- numpy references
def viterbi_reference(emit, g: Graph):
    """Textbook Viterbi in numpy (float32 like the kernel): (path, score). Same tie rule."""
    T, S = emit.shape[0], g.num_states
    emit = emit.astype(np.float32)
    delta = g.init.astype(np.float32) + emit[0, g.pdf]
    bp = np.zeros((T, S), np.int64)
    for t in range(1, T):
        cand = np.where(g.preds >= 0, delta[np.maximum(g.preds, 0)] + g.predw, np.float32(-np.inf))
        bp[t] = np.argmax(cand, axis=1)                 # first maximum: lowest k
        delta = cand[np.arange(S), bp[t]] + emit[t, g.pdf]
    end = delta + g.final.astype(np.float32)
    s = int(np.argmax(end))
    if not np.isfinite(end[s]):
        return np.full(T, -1), -np.inf
    path = np.empty(T, np.int64)
    for t in range(T - 1, -1, -1):
        path[t] = s
        s = g.preds[s, bp[t, s]]
    return path, float(end.max())


def forward_backward_reference(emit, g: Graph):
    """State posteriors (T, S) and log Z by the forward and backward recursions in numpy."""
    from scipy.special import logsumexp

    T, S = emit.shape[0], g.num_states
    w = np.where(g.preds >= 0, g.predw, -np.inf).astype(np.float64)
    P = np.maximum(g.preds, 0)
    alpha = np.full((T, S), -np.inf)
    alpha[0] = g.init + emit[0, g.pdf]
    for t in range(1, T):
        alpha[t] = logsumexp(alpha[t - 1][P] + w, axis=1) + emit[t, g.pdf]
    # transition matrix A[p, s] in log space for the backward pass
    A = np.full((S, S), -np.inf)
    for s in range(S):
        for k in range(g.npred[s]):
            A[g.preds[s, k], s] = np.logaddexp(A[g.preds[s, k], s], w[s, k])
    beta = np.full((T, S), -np.inf)
    beta[T - 1] = g.final
    for t in range(T - 2, -1, -1):
        beta[t] = logsumexp(A + (emit[t + 1, g.pdf] + beta[t + 1])[None, :], axis=1)
    logz = logsumexp(alpha[T - 1] + g.final)
    return np.exp(alpha + beta - logz), float(logz)


# ------------------------------------------------------------------------------- public API
@dataclass
class Segment:
    token: int        # token index in the graph
    phone: int        # phone id
    word: int         # word index (-1: silence)
    start: int        # first frame
    end: int          # one past the last frame
    score: float      # sum of emission log-likelihoods over the segment


def _check(emit, g: Graph, utt_id: str):
    if emit.ndim != 2:
        raise ValueError(f"emit must be (T, E), got shape {emit.shape}")
    if g.num_states and g.pdf.max() >= emit.shape[1]:
        raise ValueError(f"graph uses pdf {g.pdf.max()} but emit has {emit.shape[1]} columns")
    if emit.shape[0] < g.min_frames:
        raise InfeasibleAlignment(utt_id, emit.shape[0], g.min_frames)


def viterbi(emit: np.ndarray, g: Graph, utt_id: str = "utterance", band: int | None = None,
            max_band: int = 1 << 15):
    """Best path through `g`: (state path (T,), score).

    `band`: for long recordings, search only a window of `band` states that slides with the best
    state (memory T x band bytes instead of T x S). A narrow window can miss the best path without
    any sign in its own result, so the banded search is checked by a second search twice as wide:
    it is accepted when both find the same score and the path keeps off the window's edges;
    otherwise the window doubles and the check repeats, up to `max_band` states, beyond which it
    raises UtteranceError rather than return a path that may be wrong.
    """
    from .errors import UtteranceError

    emit = np.ascontiguousarray(emit, np.float32)
    _check(emit, g, utt_id)
    if band is None or 2 * band >= g.num_states:
        path, score = _viterbi(emit, g.pdf, g.preds, g.predw, g.npred, g.init, g.final)
    else:
        args = (emit, g.pdf, g.preds, g.predw, g.npred, g.init, g.final)
        _, narrow, _ = _viterbi_banded(*args, band)
        while True:
            wide = 2 * band
            if wide >= g.num_states:
                path, score = _viterbi(*args)
                break
            path, score, touched = _viterbi_banded(*args, wide)
            if not touched and np.isfinite(score) and abs(score - narrow) <= 1e-4 * max(1.0, abs(score)):
                break
            if wide > max_band:
                raise UtteranceError(utt_id, f"banded Viterbi did not settle with a window of {wide} states "
                                             f"(T={emit.shape[0]}, S={g.num_states}): split the recording")
            band, narrow = wide, score
    if not np.isfinite(score):
        raise InfeasibleAlignment(utt_id, emit.shape[0], g.min_frames)
    return path, float(score)


def viterbi_many(emits: list[np.ndarray], graphs: list[Graph]):
    """Align a batch in parallel (one utterance per thread). Infeasible items get score -inf
    and a path of -1; callers check with `graph.min_frames` first to name them."""
    t_off = np.concatenate([[0], np.cumsum([len(e) for e in emits])]).astype(np.int64)
    s_off = np.concatenate([[0], np.cumsum([g.num_states for g in graphs])]).astype(np.int64)
    K = max(g.preds.shape[1] for g in graphs)

    def pad(a, fill):
        out = np.full((a.shape[0], K), fill, a.dtype)
        out[:, :a.shape[1]] = a
        return out

    emit = np.ascontiguousarray(np.concatenate(emits), np.float32)
    paths = np.empty(t_off[-1], np.int32)
    scores = np.empty(len(graphs), np.float32)
    _viterbi_batch(emit, t_off, np.concatenate([g.pdf for g in graphs]),
                   np.concatenate([pad(g.preds, -1) for g in graphs]),
                   np.concatenate([pad(g.predw, -np.inf) for g in graphs]),
                   np.concatenate([g.npred for g in graphs]),
                   np.concatenate([g.init for g in graphs]), np.concatenate([g.final for g in graphs]),
                   s_off, paths, scores)
    return [paths[t_off[i]:t_off[i + 1]] for i in range(len(graphs))], scores.astype(np.float64)


def forward_backward(emit: np.ndarray, g: Graph, utt_id: str = "utterance"):
    """State occupation posteriors gamma (T, S) (each row sums to 1) and log Z."""
    emit = np.ascontiguousarray(emit, np.float32)
    _check(emit, g, utt_id)
    gamma, logz = _forward_backward(emit, g.pdf, g.preds, g.predw, g.npred, g.init, g.final)
    if not np.isfinite(logz):
        raise InfeasibleAlignment(utt_id, emit.shape[0], g.min_frames)
    return gamma, float(logz)


def segments(path: np.ndarray, emit: np.ndarray, g: Graph) -> list[Segment]:
    """Collapse a state path into token segments (start/end frames, acoustic score)."""
    tok = g.token[path]
    frame_score = emit[np.arange(len(path)), g.pdf[path]]
    change = np.flatnonzero(np.diff(tok)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(path)]])
    return [Segment(int(tok[a]), int(g.token_phone[tok[a]]), int(g.token_word[tok[a]]), int(a), int(b),
                    float(frame_score[a:b].sum())) for a, b in zip(starts, ends)]


def token_occupancy(gamma: np.ndarray, g: Graph) -> np.ndarray:
    """(T, S) state posteriors -> (T, N) token posteriors (a token's states are contiguous)."""
    starts = np.flatnonzero(np.concatenate([[True], g.token[1:] != g.token[:-1]]))
    return np.add.reduceat(gamma, starts, axis=1)


def expected_boundaries(occ: np.ndarray) -> np.ndarray:
    """Token posteriors (T, N) of a linear graph -> (N - 1,) boundaries: the boundary after token
    i is the expected number of frames spent in tokens <= i (fractional frames)."""
    return np.cumsum(occ.sum(axis=0, dtype=np.float64))[:-1]
