import itertools

import numpy as np
import pytest

from aligner import graph as G
from aligner import viterbi as V
from aligner.errors import InfeasibleAlignment
from aligner.lexicon import Lexicon

LEX = Lexicon({"a": [("ah",)], "cat": [("k", "ae", "t")], "the": [("dh", "ah"), ("dh", "iy")],
               "to": [("t", "uw")]}, "test")
PHONES = ["sil", "spn"] + LEX.phones()


def topo(phone_states=3, silence_states=5):
    return G.Topology.create(PHONES, phone_states, silence_states)


def brute_force(emit, g):
    """Every state sequence, scored: (best path, best score, log Z, posteriors). Tiny cases only."""
    T, S = emit.shape[0], g.num_states
    arc = {}
    for s in range(S):
        for k in range(g.npred[s]):
            arc[(g.preds[s, k], s)] = np.logaddexp(arc.get((g.preds[s, k], s), -np.inf), g.predw[s, k])
    best, best_path, scores = -np.inf, None, []
    post = np.zeros((T, S))
    for seq in itertools.product(range(S), repeat=T):
        sc = g.init[seq[0]] + emit[0, g.pdf[seq[0]]]
        for t in range(1, T):
            sc += arc.get((seq[t - 1], seq[t]), -np.inf) + emit[t, g.pdf[seq[t]]]
            if sc == -np.inf:
                break
        sc += g.final[seq[-1]]
        if sc == -np.inf:
            continue
        scores.append((sc, seq))
        if sc > best:
            best, best_path = sc, seq
    logz = np.logaddexp.reduce([s for s, _ in scores])
    for sc, seq in scores:
        for t, s in enumerate(seq):
            post[t, s] += np.exp(sc - logz)
    return np.array(best_path), best, logz, post


def test_hand_worked_chain_with_single_state_phones():
    # three one-state phones in a chain, loop prob 0.5: the best path follows the big scores
    t1 = G.Topology(("a", "b", "c"), (1, 1, 1), (0.5, 0.5, 0.5))
    g = G.linear([0, 1, 2], t1)
    emit = np.log(np.array([[.9, .05, .05], [.9, .05, .05], [.05, .9, .05], [.05, .05, .9], [.05, .05, .9]],
                           np.float32))
    path, score = V.viterbi(emit, g)
    assert path.tolist() == [0, 0, 1, 2, 2]
    expected = np.log(.9 * .9 * .9 * .9 * .9) + 5 * np.log(.5)   # 2 loops, 2 advances, 1 exit
    assert score == pytest.approx(expected, abs=1e-4)


def test_ties_prefer_the_self_loop():
    t1 = G.Topology(("a", "b"), (1, 1), (0.5, 0.5))
    g = G.linear([0, 1], t1)
    emit = np.zeros((3, 2), np.float32)            # every path of the same length ties
    path, _ = V.viterbi(emit, g)
    # tracing back, a tie takes the self-loop, so the path advances as early as it can
    assert path.tolist() == [0, 1, 1]
    ref, _ = V.viterbi_reference(emit, g)
    assert ref.tolist() == path.tolist()


def test_three_state_phones_minimum_duration():
    g = G.linear([2, 3], topo())
    assert g.min_frames == 6
    emit = np.zeros((6, topo().num_pdfs), np.float32)
    path, _ = V.viterbi(emit, g)
    assert path.tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("seed", range(4))
def test_kernels_match_brute_force_on_tiny_graphs(seed):
    rng = np.random.default_rng(seed)
    t1 = G.Topology(("sil", "spn", "a", "b"), (2, 1, 1, 1), tuple(rng.uniform(.2, .8, 5)))
    lex = Lexicon({"x": [("a",), ("b", "a")], "y": [("b",)]}, "t")
    g = G.build(["x", "y"], lex, t1)
    for T in range(g.min_frames, g.min_frames + 2):
        emit = rng.normal(size=(T, t1.num_pdfs)).astype(np.float32)
        if g.num_states ** T > 3e5:
            break
        bp, bs, logz, post = brute_force(emit, g)
        path, score = V.viterbi(emit, g)
        assert score == pytest.approx(bs, abs=1e-4)
        assert path.tolist() == bp.tolist()
        gamma, lz = V.forward_backward(emit, g)
        assert lz == pytest.approx(logz, abs=1e-4)
        np.testing.assert_allclose(gamma, post, atol=1e-5)


def test_numba_equals_numpy_reference_on_random_graphs():
    rng = np.random.default_rng(1)
    words = ["a", "cat", "the", "to", "zzz"]
    for trial in range(200):
        tp = G.Topology.create(PHONES, int(rng.integers(1, 4)), int(rng.integers(1, 6)),
                               float(rng.uniform(0.1, 0.9)))
        ws = list(rng.choice(words, size=int(rng.integers(1, 4))))
        g = G.build(ws, LEX, tp, sil_prob=float(rng.uniform(0.1, 0.9)), edge_sil_prob=float(rng.uniform(0.1, 1.0)))
        T = int(rng.integers(g.min_frames, g.min_frames + 30))
        emit = rng.normal(size=(T, tp.num_pdfs)).astype(np.float32)
        p1, s1 = V.viterbi(emit, g)
        p2, s2 = V.viterbi_reference(emit, g)
        assert s1 == pytest.approx(s2, rel=1e-5, abs=1e-3)
        assert (p1 == p2).all()
        if trial % 4 == 0:
            ga, la = V.forward_backward(emit, g)
            gb, lb = V.forward_backward_reference(emit, g)
            assert la == pytest.approx(lb, abs=1e-3)
            np.testing.assert_allclose(ga, gb, atol=1e-4)
            np.testing.assert_allclose(ga.sum(axis=1), 1.0, atol=1e-4)


def test_batch_equals_single():
    rng = np.random.default_rng(2)
    tp = topo()
    gs = [G.build(ws, LEX, tp) for ws in (["the", "cat"], ["a"], ["to", "the", "a"])]
    emits = [rng.normal(size=(g.min_frames + 7 * i, tp.num_pdfs)).astype(np.float32) for i, g in enumerate(gs)]
    paths, scores = V.viterbi_many(emits, gs)
    for e, g, p, s in zip(emits, gs, paths, scores):
        p1, s1 = V.viterbi(e, g)
        assert (p == p1).all() and s == pytest.approx(s1, rel=1e-5)


def _token_phones(path, g, tp):
    toks = g.token[path]
    keep = np.concatenate([[True], toks[1:] != toks[:-1]])
    return [tp.phones[g.token_phone[t]] for t in toks[keep]]


def test_optional_silence_used_when_and_only_when_it_scores_better():
    tp = topo(1, 1)
    g = G.build(["to", "a"], LEX, tp)
    sil, t, uw, ah = (tp.pdf_offset[tp.phone_id(p)] for p in ("sil", "t", "uw", "ah"))
    cols = [t, t, uw, uw, sil, sil, ah, ah]
    emit = np.full((8, tp.num_pdfs), -5.0, np.float32)
    emit[np.arange(8), cols] = 0.0
    path, _ = V.viterbi(emit, g)
    assert _token_phones(path, g, tp) == ["t", "uw", "sil", "ah"]
    cols = [t, t, uw, uw, ah, ah, ah, ah]         # no pause in the audio: no silence in the path
    emit = np.full((8, tp.num_pdfs), -5.0, np.float32)
    emit[np.arange(8), cols] = 0.0
    path, _ = V.viterbi(emit, g)
    assert _token_phones(path, g, tp) == ["t", "uw", "ah"]


def test_variants_pick_the_better_branch():
    tp = topo(1, 1)
    g = G.build(["the"], LEX, tp, edge_sil_prob=0.5)
    dh, iy = (tp.pdf_offset[tp.phone_id(p)] for p in ("dh", "iy"))
    emit = np.full((4, tp.num_pdfs), -5.0, np.float32)
    emit[np.arange(4), [dh, dh, iy, iy]] = 0.0
    path, _ = V.viterbi(emit, g)
    assert _token_phones(path, g, tp) == ["dh", "iy"]


def test_oov_becomes_spoken_noise_or_raises():
    tp = topo()
    g = G.build(["zork"], LEX, tp)
    assert [tp.phones[p] for p in g.token_phone if tp.phones[p] != "sil"] == ["spn"]
    with pytest.raises(KeyError):
        G.build(["zork"], LEX, tp, oov="error")


def test_infeasible_input_raises_typed_error():
    tp = topo()
    g = G.build(["cat"], LEX, tp)
    emit = np.zeros((g.min_frames - 1, tp.num_pdfs), np.float32)
    with pytest.raises(InfeasibleAlignment) as e:
        V.viterbi(emit, g, utt_id="spk/utt1")
    assert "spk/utt1" in str(e.value) and str(g.min_frames) in str(e.value)
    with pytest.raises(InfeasibleAlignment):
        V.forward_backward(emit, g, utt_id="spk/utt1")


def test_banded_equals_full_when_the_band_holds_the_path():
    rng = np.random.default_rng(3)
    tp = topo()
    ws = list(rng.choice(["a", "cat", "the", "to"], size=60))
    g = G.build(ws, LEX, tp)
    T = g.min_frames * 2
    emit = rng.normal(size=(T, tp.num_pdfs)).astype(np.float32)
    full, s_full = V.viterbi(emit, g)
    banded, s_band = V.viterbi(emit, g, band=64)
    assert s_band == pytest.approx(s_full, rel=1e-5)
    assert (banded == full).all()


def test_banded_widens_when_the_window_is_too_narrow():
    rng = np.random.default_rng(4)
    tp = topo()
    for trial in range(20):
        ws = list(rng.choice(["a", "cat", "the", "to", "zzz"], size=int(rng.integers(3, 12))))
        g = G.build(ws, LEX, tp)
        T = int(g.min_frames * rng.uniform(1.0, 3.0))
        emit = rng.normal(size=(T, tp.num_pdfs)).astype(np.float32)
        full, s_full = V.viterbi(emit, g)
        banded, s_band = V.viterbi(emit, g, band=4)       # far too narrow: must widen to be right
        assert s_band == pytest.approx(s_full, rel=1e-5)
        assert (banded == full).all()


def test_expected_boundaries_on_a_clear_case():
    t1 = G.Topology(("a", "b"), (1, 1), (0.5, 0.5))
    g = G.linear([0, 1], t1)
    emit = np.log(np.array([[.99, .01]] * 3 + [[.01, .99]] * 3, np.float32))
    gamma, _ = V.forward_backward(emit, g)
    eb = V.expected_boundaries(V.token_occupancy(gamma, g))
    assert eb[0] == pytest.approx(3.0, abs=0.05)
