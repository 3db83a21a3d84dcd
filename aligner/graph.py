"""Alignment graph: word sequence + lexicon -> left-to-right HMM state graph.

Every arc consumes one frame (no epsilon arcs), so the Viterbi kernel only needs, for each state,
its predecessors and the log-probability of each arc:

    preds[s, k]  the k-th predecessor of state s (k = 0 is s itself: the self-loop)
    predw[s, k]  log P(s | preds[s, k])
    init[s]      log P(start in s)        (-inf where the path cannot start)
    final[s]     log P(end in s)          (-inf where the path cannot end)
    pdf[s]       which column of the emission matrix scores state s

Layout of an utterance "a b":   [sil?] a-variants [sil?] b-variants [sil?]
Silence is optional at the edges and between words (probability `sil_prob`), pronunciation
variants are parallel branches, an OOV word becomes the spoken-noise phone `spn`.
States are numbered left to right (every predecessor has a smaller or equal index), which the
banded kernel relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lexicon import OOV_PHONE, SILENCE

NEG_INF = np.float32(-np.inf)


@dataclass(frozen=True)
class Topology:
    """HMM topology and transition model, shared by every graph of a model.

    phones: the phone set (index = phone id); states_per_phone[p]: emitting states of phone p;
    loop_prob[pdf]: self-loop probability of each pdf (re-estimated in training).
    """
    phones: tuple[str, ...]
    states_per_phone: tuple[int, ...]
    loop_prob: tuple[float, ...]

    @classmethod
    def create(cls, phones, phone_states: int = 3, silence_states: int = 5, loop_prob: float = 0.6):
        phones = tuple(phones)
        n = tuple(silence_states if p in (SILENCE, OOV_PHONE) else phone_states for p in phones)
        return cls(phones, n, tuple([loop_prob] * sum(n)))

    @property
    def num_pdfs(self) -> int:
        return sum(self.states_per_phone)

    @property
    def pdf_offset(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.states_per_phone)[:-1]]).astype(np.int64)

    @property
    def pdf_phone(self) -> np.ndarray:
        """phone id of each pdf"""
        return np.repeat(np.arange(len(self.phones)), self.states_per_phone)

    def phone_id(self, phone: str) -> int:
        return self.phones.index(phone)


@dataclass
class Graph:
    pdf: np.ndarray        # (S,) int32
    preds: np.ndarray      # (S, K) int32, -1 padded
    predw: np.ndarray      # (S, K) float32
    npred: np.ndarray      # (S,) int32
    init: np.ndarray       # (S,) float32
    final: np.ndarray      # (S,) float32
    token: np.ndarray      # (S,) int32: which token (phone occurrence) a state belongs to
    token_phone: np.ndarray  # (N,) int32 phone id of each token
    token_word: np.ndarray   # (N,) int32 word index of each token (-1 for silence)
    words: list[str]
    min_frames: int        # fewest frames any complete path needs

    @property
    def num_states(self) -> int:
        return len(self.pdf)


class _Builder:
    def __init__(self, topo: Topology):
        self.topo = topo
        self.offset = topo.pdf_offset
        self.loop = np.log(np.asarray(topo.loop_prob, np.float64))
        self.exit = np.log1p(-np.asarray(topo.loop_prob, np.float64))
        self.pdf: list[int] = []
        self.token: list[int] = []
        self.token_phone: list[int] = []
        self.token_word: list[int] = []
        self.arcs: list[tuple[int, int, float]] = []   # (src, dst, logp excluding src's exit prob)

    def phone_chain(self, phone: str, word: int) -> tuple[int, int]:
        """Append one token's states; return (first, last) state ids."""
        p = self.topo.phone_id(phone)
        tok = len(self.token_phone)
        self.token_phone.append(p)
        self.token_word.append(word)
        first = len(self.pdf)
        for j in range(self.topo.states_per_phone[p]):
            s = len(self.pdf)
            self.pdf.append(int(self.offset[p] + j))
            self.token.append(tok)
            if j:
                self.arcs.append((s - 1, s, 0.0))
        return first, len(self.pdf) - 1

    def sequence(self, phones, word: int) -> tuple[int, int]:
        first = last = None
        for ph in phones:
            f, l = self.phone_chain(ph, word)
            if last is not None:
                self.arcs.append((last, f, 0.0))
            first = f if first is None else first
            last = l
        return first, last


def build(words: list[str], lexicon, topo: Topology, sil_prob: float = 0.5,
          edge_sil_prob: float = 0.5, oov: str = "spn") -> Graph:
    """State graph for one utterance. `oov`: 'spn' maps an unknown word to the spoken-noise phone;
    'error' raises KeyError naming the word."""
    b = _Builder(topo)
    # each "slot" is a list of (first, last) entries (alternatives) plus whether it is optional
    slots: list[tuple[list[tuple[int, int]], bool, float]] = []
    def add_sil(prob):
        if prob > 0:
            slots.append(([b.phone_chain(SILENCE, -1)], prob < 1, prob))

    add_sil(edge_sil_prob)
    for i, w in enumerate(words):
        if w in lexicon:
            prons = lexicon.prons(w)
        elif oov == "spn":
            prons = [(OOV_PHONE,)]
        else:
            raise KeyError(w)
        alts = [b.sequence(pron, i) for pron in prons]
        slots.append((alts, False, 1.0))
        if i < len(words) - 1:
            add_sil(sil_prob)
    add_sil(edge_sil_prob)

    # connect consecutive slots; an optional slot may be skipped (with probability 1 - prob)
    S = len(b.pdf)
    final = np.full(S, -np.inf)
    frontier: list[tuple[int, float]] = []   # (last state of a reachable slot, extra log-prob)
    for alts, optional, prob in slots:
        lp_in = np.log(prob) if optional else 0.0
        lp_alt = -np.log(len(alts))
        for src, lp in frontier:
            for f, _ in alts:
                b.arcs.append((src, f, lp + lp_in + lp_alt))
        new = [(l, 0.0) for _, l in alts]
        if optional:
            lp_skip = np.log1p(-prob) if prob < 1 else -np.inf
            frontier = [(src, lp + lp_skip) for src, lp in frontier] + new
        else:
            frontier = new
    for src, lp in frontier:
        final[src] = np.logaddexp(final[src], lp)
    init = _init_probs(slots)
    return _finish(b, init, final, words)


def _init_probs(slots) -> np.ndarray:
    """log P(first state) for the entries of the leading slots (an optional slot may be skipped)."""
    S = max(l for alts, _, _ in slots for _, l in alts) + 1
    init = np.full(S, -np.inf)
    carry = 0.0
    for alts, optional, prob in slots:
        lp_in = np.log(prob) if optional else 0.0
        for f, _ in alts:
            init[f] = np.logaddexp(init[f], carry + lp_in - np.log(len(alts)))
        if not optional:
            break
        carry += np.log1p(-prob) if prob < 1 else -np.inf
    return init


def _finish(b: _Builder, init, final, words) -> Graph:
    S = len(b.pdf)
    pdf = np.asarray(b.pdf, np.int32)
    incoming: list[list[tuple[int, float]]] = [[(s, float(b.loop[pdf[s]]))] for s in range(S)]
    for src, dst, lp in b.arcs:
        incoming[dst].append((src, float(b.exit[pdf[src]] + lp)))
    # the arc from the state just before comes first after the self-loop (k = 1): the Viterbi
    # kernel handles k = 0 and k = 1 in one dense, vectorisable pass
    for s in range(1, S):
        incoming[s][1:] = sorted(incoming[s][1:], key=lambda a: a[0] != s - 1)
    # the last state of the graph exits into "end": fold its exit prob into final
    final = np.asarray(final, np.float64).copy()
    for s in np.flatnonzero(np.isfinite(final)):
        final[s] += b.exit[pdf[s]]
    K = max(len(x) for x in incoming)
    preds = np.full((S, K), -1, np.int32)
    predw = np.full((S, K), -np.inf, np.float32)
    npred = np.zeros(S, np.int32)
    for s, arcs in enumerate(incoming):
        npred[s] = len(arcs)
        for k, (src, lp) in enumerate(arcs):
            preds[s, k] = src
            predw[s, k] = lp
    token = np.asarray(b.token, np.int32)
    g = Graph(pdf, preds, predw, npred, np.asarray(init, np.float32), final.astype(np.float32), token,
              np.asarray(b.token_phone, np.int32), np.asarray(b.token_word, np.int32), list(words), 0)
    g.min_frames = min_path_length(g)
    return g


def min_path_length(g: Graph) -> int:
    """Fewest frames of any path from an initial to a final state (BFS over the arcs)."""
    S = g.num_states
    INF = 1 << 30
    dist = np.where(np.isfinite(g.init), 1, INF).astype(np.int64)
    # states are numbered left to right, so one pass in index order relaxes every arc
    for s in range(S):
        for k in range(1, g.npred[s]):
            p = g.preds[s, k]
            if p < s and dist[p] + 1 < dist[s]:
                dist[s] = dist[p] + 1
    ends = dist[np.isfinite(g.final)]
    return int(ends.min()) if len(ends) else INF


def linear(token_phones: list[int], topo: Topology, words: list[int] | None = None) -> Graph:
    """A plain left-to-right chain of the given phone ids (no optional parts): used to refine a
    chosen path with forward-backward, and by the benchmark."""
    b = _Builder(topo)
    last = None
    for i, p in enumerate(token_phones):
        f, l = b.phone_chain(topo.phones[p], -1 if words is None else words[i])
        if last is not None:
            b.arcs.append((last, f, 0.0))
        last = l
    S = len(b.pdf)
    init = np.full(S, -np.inf)
    init[0] = 0.0
    final = np.full(S, -np.inf)
    final[S - 1] = 0.0
    return _finish(b, init, final, [])
