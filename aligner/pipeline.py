"""`aligner align` end to end: corpus -> (train if no model) -> align -> TextGrids, CTMs, report.

Every utterance found is accounted for in report.csv: aligned, or not aligned with the reason.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import align as A
from .errors import ModelError

BATCH = 32


def align_corpus(corpus_dir, out: Path, model_dir=None, dictionary=None, feats_dir=None, overwrite=False,
                 output_format="all", jobs=2, quiet=False, train=None, echo=print) -> dict:
    import numba
    from tqdm import tqdm

    from .corpus import discover, validate
    from .data_prep import load_items
    from .features import FeatureStore
    from .lexicon import Lexicon
    from .model import AcousticModel

    t_start = time.time()
    numba.set_num_threads(max(1, min(jobs, numba.config.NUMBA_NUM_THREADS)))
    try:
        import torch

        torch.set_num_threads(jobs)
    except ImportError:
        pass
    lexicon = Lexicon.load(dictionary)
    corpus = discover(corpus_dir)
    report = validate(corpus, lexicon)
    model = AcousticModel.load(model_dir) if model_dir else None
    if model is not None:
        A.check_phones(model, lexicon, report.words)
    out.mkdir(parents=True, exist_ok=True)
    rows = {p.id: A.report_row(utt_id=p.id, reason=p.reason) for p in report.problems}
    want_tg = output_format in ("all", "textgrid")
    todo_ids = {u for u in report.words if overwrite or not A.is_done(out, u, want_tg)}
    done_ids = [u for u in report.words if u not in todo_ids]
    if done_ids:
        echo(f"{len(done_ids)} utterances already aligned in {out} (--overwrite to redo them)")
    store = FeatureStore(feats_dir) if feats_dir else None
    if store is not None and model is not None and store.cfg != model.features:
        raise ModelError(f"feature store {feats_dir} holds other features ({store.cfg.kind}, "
                         f"{store.cfg.num_mel_bins} bins) than the model was trained on: leave out --features")
    fcfg = model.features if model else (store.cfg if store else None)
    if fcfg is None:
        from .features import FeatureConfig

        fcfg = FeatureConfig()
    alignments = [A.load_alignment(out, u) for u in done_ids]
    if todo_ids or model is None:
        need = todo_ids if model is not None else set(report.words)
        sub = _subset(corpus, need)
        items, problems = load_items(sub, report, fcfg, store, progress=not quiet)
        for uid, reason in problems:
            rows[uid] = A.report_row(utt_id=uid, reason=reason)
        if model is None:
            mdir = out / "model"
            echo(f"no --model given: training one on this corpus first (saved to {mdir})")
            model = train((corpus, lexicon, report, items, problems, fcfg), mdir)
            A.check_phones(model, lexicon, report.words)
        items = [it for it in items if it.id in todo_ids]
        bar = tqdm(total=len(items), desc="align", unit="utt", disable=quiet)
        for i in range(0, len(items), BATCH):
            batch = items[i:i + BATCH]
            als, probs = A.align_items(model, batch, lexicon, progress_cb=bar.update)
            for a in als:
                A.write_alignment(out, a, textgrid=want_tg)
                alignments.append(a)
            for uid, reason in probs:
                dur = next((it.duration for it in batch if it.id == uid), None)
                rows[uid] = A.report_row(utt_id=uid, reason=reason, duration=dur)
        bar.close()
    for a in alignments:
        rows[a.utt_id] = A.report_row(a)
    A.write_ctms_and_report(out, list(rows.values()), alignments, ctm=output_format in ("all", "ctm"))
    n_ok = len(alignments)
    total = len(rows)
    bad = total - n_ok
    secs = time.time() - t_start
    audio = sum(a.duration for a in alignments)
    line = (f"aligned {n_ok} of {total} utterances ({bad} not aligned: see {out / 'report.csv'}); "
            f"{audio / 60:.1f} min of audio in {secs:.1f} s")
    if bad:
        for r in sorted(rows.values(), key=lambda r: r["utt_id"]):
            if r["status"] != "aligned":
                echo(f"  not aligned: {r['utt_id']}: {r['reason']}")
    return {"aligned": n_ok, "total": total, "line": line, "seconds": secs}


def _subset(corpus, ids):
    from .corpus import Corpus

    return Corpus(corpus.root, [u for u in corpus.utterances if u.id in ids], [])
