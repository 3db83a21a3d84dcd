"""Training from a flat start: monophone GMM-HMM bootstrap (Viterbi EM), then BiLSTM rounds.

Stage 1 follows Kaldi's train_mono.sh: equal alignment, one Gaussian per state, 40 iterations of
Viterbi EM that realign often early on, mixing up to about one Gaussian per 200 frames of data
(at most 1000), acoustic scale 0.1, self-loop probabilities re-estimated from the alignments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import graph as G
from .gmm import DiagGMM
from .viterbi import viterbi_many

REALIGN_ITERS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38}


@dataclass
class GmmConfig:
    iterations: int = 40
    max_iter_inc: int = 30
    frames_per_gauss: int = 200
    max_gauss: int = 1000
    acoustic_scale: float = 0.1
    sil_prob: float = 0.5
    loop_floor: float = 0.05
    loop_ceil: float = 0.95


def build_graphs(items, lexicon, topo, sil_prob):
    return [G.build(it.words, lexicon, topo, sil_prob=sil_prob, edge_sil_prob=sil_prob) for it in items]


def equal_alignment(it, lexicon, topo: G.Topology):
    """Uniform segmentation of sil + first pronunciations + sil over the frames (pdf per frame),
    or None when the utterance is too short for it."""
    from .lexicon import OOV_PHONE, SILENCE

    phones = [SILENCE]
    for w in it.words:
        phones += list(lexicon.prons(w)[0]) if w in lexicon else [OOV_PHONE]
    phones.append(SILENCE)
    lin = G.linear([topo.phone_id(p) for p in phones], topo)
    T = it.num_frames
    if T < lin.num_states:
        return None
    s = (np.arange(T) * lin.num_states) // T
    return lin.pdf[s]


def reestimate_loops(paths, graphs, num_pdfs, floor, ceil):
    frames = np.zeros(num_pdfs)
    visits = np.zeros(num_pdfs)
    for path, g in zip(paths, graphs):
        pdf = g.pdf[path]
        frames += np.bincount(pdf, minlength=num_pdfs)
        starts = np.concatenate([[True], path[1:] != path[:-1]])
        visits += np.bincount(pdf[starts], minlength=num_pdfs)
    loop = np.where(frames > 0, 1.0 - visits / np.maximum(frames, 1), 0.6)
    return tuple(np.clip(loop, floor, ceil).tolist())


@dataclass
class History:
    rows: list[dict] = field(default_factory=list)

    def add(self, echo, **row):
        self.rows.append(row)
        if echo:
            echo("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


def train_gmm(items, lexicon, topo: G.Topology, cfg: GmmConfig = GmmConfig(), echo=None, progress=True):
    """Returns (gmm, topo with re-estimated loops, per-item state paths, graphs, history rows)."""
    from tqdm import tqdm

    X = np.concatenate([it.gmm for it in items])
    gmean, gvar = X.mean(axis=0), X.var(axis=0)
    gmm = DiagGMM.flat(topo.num_pdfs, gmean, gvar)
    graphs = build_graphs(items, lexicon, topo, cfg.sil_prob)
    # equal alignment; utterances too short for it sit out until the first realignment
    ali = [equal_alignment(it, lexicon, topo) for it in items]
    use = [a is not None for a in ali]
    target_gauss = int(min(cfg.max_gauss, max(topo.num_pdfs, len(X) / cfg.frames_per_gauss)))
    inc = max(0, (target_gauss - topo.num_pdfs) / cfg.max_iter_inc)
    num_gauss = topo.num_pdfs
    hist = History()
    sil = topo.phone_id("sil")
    paths = None
    bar = tqdm(range(1, cfg.iterations + 1), desc="gmm", unit="it", disable=not progress)
    for it_no in bar:
        t0 = time.time()
        changed = float("nan")
        loglik = float("nan")
        if it_no in REALIGN_ITERS and it_no > 1 or paths is None and it_no > 1:
            emits = [cfg.acoustic_scale * gmm.loglik(it.gmm).astype(np.float32) for it in items]
            ok = [it.num_frames >= g.min_frames for it, g in zip(items, graphs)]
            idx = [i for i, o in enumerate(ok) if o]
            new_paths, scores = viterbi_many([emits[i] for i in idx], [graphs[i] for i in idx])
            new_ali = [None] * len(items)
            for i, p in zip(idx, new_paths):
                new_ali[i] = graphs[i].pdf[p]
            tot = sum(len(a) for a, u in zip(ali, use) if u)
            changed = 100.0 * sum(int((a != b).sum()) for a, b, u in zip(ali, new_ali, use) if u and b is not None) / max(tot, 1)
            loglik = float(scores.sum() / cfg.acoustic_scale / sum(items[i].num_frames for i in idx))
            paths = [None] * len(items)
            for i, p in zip(idx, new_paths):
                paths[i] = p
            ali = new_ali
            use = [a is not None for a in ali]
            topo = G.Topology(topo.phones, topo.states_per_phone,
                              reestimate_loops([paths[i] for i in idx], [graphs[i] for i in idx],
                                               topo.num_pdfs, cfg.loop_floor, cfg.loop_ceil))
            graphs = build_graphs(items, lexicon, topo, cfg.sil_prob)
        xs = np.concatenate([it.gmm for it, u in zip(items, use) if u])
        pdfs = np.concatenate([a for a, u in zip(ali, use) if u])
        occ = gmm.update(xs, pdfs, gvar)
        if it_no <= cfg.max_iter_inc:
            num_gauss = int(num_gauss + inc)
            gmm.mix_up(num_gauss, occ)
        sil_share = float(np.isin(pdfs, np.flatnonzero(topo.pdf_phone == sil)).mean() * 100)
        hist.add(echo if not progress else None, stage="gmm", iter=it_no, gauss=gmm.num_gauss,
                 loglik=loglik, changed_pct=changed, sil_pct=sil_share, seconds=time.time() - t0)
    return gmm, topo, graphs, hist.rows
