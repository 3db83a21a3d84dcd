"""Peer aligners run on the same corpus for side-by-side accuracy (`aligner peer ...`).

PocketSphinx 5 (`pip install pocketsphinx`) ships an en-us acoustic model and dictionary and
aligns text to audio in two passes (word alignment, then phones inside it).
"""

from __future__ import annotations

import re
from pathlib import Path

from . import align as A


def pocketsphinx_align(corpus_dir, out: Path, progress: bool = True) -> dict:
    import numpy as np
    from tqdm import tqdm

    from . import audio
    from .corpus import discover, normalise
    from .errors import UtteranceError

    try:
        from pocketsphinx import Decoder
    except ImportError:
        from .errors import AlignerError

        raise AlignerError("pocketsphinx is not installed: pip install pocketsphinx") from None
    corpus = discover(corpus_dir)
    decoder = Decoder(samprate=16000, bestpath=False, loglevel="FATAL")
    rows = {p.id: A.report_row(utt_id=p.id, reason=p.reason) for p in corpus.problems}
    alignments = []
    for u in tqdm(corpus.utterances, desc="pocketsphinx", unit="utt", disable=not progress):
        try:
            wav = audio.load(u.audio, 16000, u.id)
            pcm = (np.clip(wav, -1, 1) * 32767).astype(np.int16).tobytes()
            words = normalise(u.text)
            missing = [w for w in words if decoder.lookup_word(w) is None]
            if missing:
                raise UtteranceError(u.id, f"not in pocketsphinx's dictionary: {' '.join(missing)}")
            decoder.set_align_text(" ".join(words))
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            al = decoder.get_alignment()
            if al is None:
                raise UtteranceError(u.id, "pocketsphinx found no alignment")
            dur = len(wav) / 16000
            a = A.Alignment(u.id, dur)
            for w in al:
                name = re.sub(r"\(\d+\)$", "", w.name)
                if not name.startswith("<") and not name.startswith("["):
                    a.words.append(A.Interval(w.start / 100, (w.start + w.duration) / 100, name))
                for p in w:
                    lab = "" if p.name in ("SIL", "+NSN+", "+SPN+") else p.name.lower()
                    a.phones.append(A.Interval(p.start / 100, (p.start + p.duration) / 100, lab))
            if not a.words:
                raise UtteranceError(u.id, "pocketsphinx found no alignment")
            A.write_alignment(out, a)
            alignments.append(a)
            rows[u.id] = A.report_row(a)
        except UtteranceError as e:
            rows[u.id] = A.report_row(utt_id=u.id, reason=e.reason)
        except Exception as e:   # the peer's own failures are its results, not ours to crash on
            rows[u.id] = A.report_row(utt_id=u.id, reason=f"pocketsphinx failed: {type(e).__name__}: {e}")
    A.write_ctms_and_report(out, list(rows.values()), alignments)
    return {"aligned": len(alignments), "total": len(rows)}
