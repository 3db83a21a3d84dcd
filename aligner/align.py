"""Corpus -> alignments: features -> scaled log-likelihoods -> Viterbi over the utterance graph ->
forward-backward boundary refinement -> words and phones with start, end and confidence.

Outputs (written atomically, resumable): OUT/<speaker>/<stem>.TextGrid, a sidecar
OUT/.alignments/<speaker>/<stem>.json per utterance (what the CTMs and report are rebuilt from),
OUT/words.ctm, OUT/phones.ctm and OUT/report.csv.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import graph as G
from .errors import InfeasibleAlignment, ModelError, UtteranceError
from .features import atomic_write_bytes
from .lexicon import OOV_PHONE, SILENCE
from .viterbi import Segment, expected_boundaries, forward_backward, segments, token_occupancy, viterbi, viterbi_many

REFINE_CHUNK = 64           # tokens per forward-backward refinement window (bounds memory)
BAND_ABOVE_CELLS = 50_000_000   # full Viterbi up to this many T x S cells, banded above
BAND_WIDTH = 1024            # checked against a search twice as wide (viterbi.viterbi)


@dataclass
class Interval:
    start: float
    end: float
    label: str
    confidence: float = 1.0


@dataclass
class Alignment:
    utt_id: str
    duration: float
    words: list[Interval] = field(default_factory=list)
    phones: list[Interval] = field(default_factory=list)
    loglik_per_frame: float = 0.0

    @property
    def min_confidence(self) -> float:
        c = [p.confidence for p in self.phones if p.label]
        return min(c) if c else 1.0

    def to_json(self) -> dict:
        return {"utt_id": self.utt_id, "duration": self.duration, "loglik_per_frame": self.loglik_per_frame,
                "words": [asdict(w) for w in self.words], "phones": [asdict(p) for p in self.phones]}

    @classmethod
    def from_json(cls, d) -> "Alignment":
        return cls(d["utt_id"], d["duration"], [Interval(**w) for w in d["words"]],
                   [Interval(**p) for p in d["phones"]], d["loglik_per_frame"])


def check_phones(model, lexicon, words_by_utt: dict[str, list[str]]):
    """Every phone the corpus needs must be in the model: fail before any work otherwise."""
    need = lexicon.phones_of({w for ws in words_by_utt.values() for w in ws})
    missing = sorted(need - set(model.phones))
    if missing:
        raise ModelError(f"the model's phone set lacks {len(missing)} phone(s) the dictionary uses: "
                         f"{' '.join(missing)} (train a model with this dictionary)")


def frame_time(frames: float, cfg) -> float:
    """Boundary before frame k (fractional k allowed) in seconds: halfway between the centres of
    frames k-1 and k, i.e. k * shift + (window - shift) / 2."""
    return (frames * cfg.frame_shift_ms + (cfg.frame_length_ms - cfg.frame_shift_ms) / 2) / 1000


def refine(emit, segs, topo, chunk: int = REFINE_CHUNK):
    """Boundaries (in fractional frames) and confidences from forward-backward over the chosen
    phone sequence, in windows of `chunk` tokens whose outer edges stay where Viterbi put them."""
    n = len(segs)
    bounds = np.array([s.start for s in segs[1:]], np.float64)
    conf = np.ones(n)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        t0, t1 = segs[a].start, segs[b - 1].end
        lin = G.linear([s.phone for s in segs[a:b]], topo)
        if t1 - t0 < lin.min_frames:
            continue
        gamma, _ = forward_backward(emit[t0:t1], lin)
        local = [Segment(i, s.phone, s.word, s.start - t0, s.end - t0, s.score) for i, s in enumerate(segs[a:b])]
        occ = token_occupancy(gamma, lin)                      # (frames, tokens)
        bounds[a:b - 1] = t0 + expected_boundaries(occ)
        conf[a:b] = [occ[s.start:s.end, i].mean() for i, s in enumerate(local)]
    return bounds, conf


def to_alignment(item, emit, g: G.Graph, path, topo, fcfg, refine_boundaries=True) -> Alignment:
    segs = segments(path, emit, g)
    if refine_boundaries:
        bounds, conf = refine(emit, segs, topo)
    else:
        bounds, conf = np.array([s.start for s in segs[1:]], float), np.ones(len(segs))
    times = [0.0] + [frame_time(b, fcfg) for b in bounds] + [item.duration]
    phones = []
    words = []
    for i, s in enumerate(segs):
        ph = topo.phones[s.phone]
        label = "" if ph == SILENCE else ph
        phones.append(Interval(times[i], times[i + 1], label, float(conf[i])))
        if s.word >= 0:
            if words and words[-1][0] == s.word:
                words[-1][2] = times[i + 1]
                words[-1][3].append(float(conf[i]))
            else:
                words.append([s.word, times[i], times[i + 1], [float(conf[i])]])
    wints = [Interval(a, b, item.words[w], float(np.mean(c))) for w, a, b, c in words]
    score = float(sum(s.score for s in segs) / max(1, len(path)))
    return Alignment(item.id, item.duration, wints, phones, score)


def decode(model, items, lexicon):
    """Viterbi over each item's graph with the model's scores.
    Returns (decoded [(item, graph, emit, state path)], problems [(utt_id, reason)])."""
    topo = model.topo
    sil_prob = model.config.get("sil_prob", 0.5)
    problems, ok = [], []
    for it in items:
        g = G.build(it.words, lexicon, topo, sil_prob=sil_prob, edge_sil_prob=sil_prob)
        if it.num_frames < g.min_frames:
            problems.append((it.id, InfeasibleAlignment(it.id, it.num_frames, g.min_frames).reason))
        else:
            ok.append((it, g))
    if not ok:
        return [], problems
    emits = model.logliks([it for it, _ in ok])
    small = [i for i, (it, g) in enumerate(ok) if it.num_frames * g.num_states <= BAND_ABOVE_CELLS]
    paths = {}
    if small:
        ps, _ = viterbi_many([emits[i] for i in small], [ok[i][1] for i in small])
        paths.update(zip(small, ps))
    decoded = []
    for i, (it, g) in enumerate(ok):
        if i not in paths:
            try:
                paths[i], _ = viterbi(emits[i], g, it.id, band=BAND_WIDTH)
            except UtteranceError as e:
                problems.append((it.id, e.reason))
                continue
        decoded.append((it, g, emits[i], paths[i]))
    return decoded, problems


def align_items(model, items, lexicon, progress_cb=None, refine_boundaries=True):
    """Align items; returns (alignments, problems [(utt_id, reason)])."""
    decoded, problems = decode(model, items, lexicon)
    out = []
    for it, g, emit, path in decoded:
        try:
            out.append(to_alignment(it, emit, g, path, model.topo, model.features, refine_boundaries))
        except InfeasibleAlignment as e:
            problems.append((it.id, e.reason))
        if progress_cb:
            progress_cb(1)
    return out, problems


# ------------------------------------------------------------------------------- writers
def textgrid_text(a: Alignment) -> str:
    from .textgrid import render

    return render({"words": [(w.start, w.end, w.label) for w in a.words],
                   "phones": [(p.start, p.end, p.label) for p in a.phones]}, a.duration)


def write_alignment(out_dir: Path, a: Alignment, textgrid: bool = True):
    if textgrid:
        atomic_write_bytes(out_dir / f"{a.utt_id}.TextGrid", textgrid_text(a).encode())
    atomic_write_bytes(out_dir / ".alignments" / f"{a.utt_id}.json", json.dumps(a.to_json()).encode())


def is_done(out_dir: Path, utt_id: str, textgrid: bool = True) -> bool:
    """The sidecar is written last, so its presence means the utterance's outputs are complete."""
    return ((not textgrid or (out_dir / f"{utt_id}.TextGrid").is_file())
            and (out_dir / ".alignments" / f"{utt_id}.json").is_file())


def load_alignment(out_dir: Path, utt_id: str) -> Alignment:
    return Alignment.from_json(json.loads((out_dir / ".alignments" / f"{utt_id}.json").read_text()))


def write_ctms_and_report(out_dir: Path, rows: list[dict], alignments: list[Alignment], ctm: bool = True):
    """words.ctm, phones.ctm (`<utt-id> 1 <start> <dur> <label> <confidence>`) and report.csv."""
    words, phones = io.StringIO(), io.StringIO()
    for a in sorted(alignments, key=lambda a: a.utt_id):
        for w in a.words:
            words.write(f"{a.utt_id} 1 {w.start:.3f} {w.end - w.start:.3f} {w.label} {w.confidence:.3f}\n")
        for p in a.phones:
            if p.label:
                phones.write(f"{a.utt_id} 1 {p.start:.3f} {p.end - p.start:.3f} {p.label} {p.confidence:.3f}\n")
    if ctm:
        atomic_write_bytes(out_dir / "words.ctm", words.getvalue().encode())
        atomic_write_bytes(out_dir / "phones.ctm", phones.getvalue().encode())
    buf = io.StringIO()
    cols = ["utt_id", "status", "reason", "duration", "loglik_per_frame", "min_phone_confidence"]
    wr = csv.DictWriter(buf, cols, lineterminator="\n")
    wr.writeheader()
    for r in sorted(rows, key=lambda r: r["utt_id"]):
        wr.writerow(r)
    atomic_write_bytes(out_dir / "report.csv", buf.getvalue().encode())


def report_row(a: Alignment | None = None, utt_id: str = "", reason: str = "", duration=None) -> dict:
    if a is not None:
        return {"utt_id": a.utt_id, "status": "aligned", "reason": "", "duration": f"{a.duration:.3f}",
                "loglik_per_frame": f"{a.loglik_per_frame:.3f}", "min_phone_confidence": f"{a.min_confidence:.3f}"}
    return {"utt_id": utt_id, "status": "not aligned", "reason": reason,
            "duration": "" if duration is None else f"{duration:.3f}", "loglik_per_frame": "",
            "min_phone_confidence": ""}
