"""Corpus discovery (MFA layout) and transcript normalisation.

A corpus is a folder of audio files, each with a transcript beside it (same stem, `.lab` or
`.txt`). The speaker is the audio file's parent folder; an utterance is named `<speaker>/<stem>`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorpusError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".au", ".sph", ".opus")
TRANSCRIPT_EXTENSIONS = (".lab", ".txt")


@dataclass
class Utterance:
    id: str                      # "<speaker>/<stem>"
    speaker: str
    audio: Path
    transcript: Path | None
    text: str = ""               # transcript as read (one line, whitespace collapsed)


@dataclass
class Problem:
    """One corpus entry that cannot be aligned, and why."""
    id: str
    reason: str


@dataclass
class Corpus:
    root: Path
    utterances: list[Utterance] = field(default_factory=list)   # readable transcripts, non-empty
    problems: list[Problem] = field(default_factory=list)       # named entries for the report

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances})


def utterance_id(root: Path, audio: Path) -> tuple[str, str]:
    rel = audio.relative_to(root).with_suffix("")
    speaker = rel.parent.as_posix()
    speaker = "" if speaker == "." else speaker
    return rel.as_posix(), speaker


def read_transcript(path: Path) -> str:
    """The transcript as one line. Raises ValueError with a reason a user can act on."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"transcript {path.name} is not UTF-8 (byte {e.start})") from None
    return " ".join(text.split())


def walk_files(root: Path):
    """Every file under root, in sorted order, skipping hidden folders. Symlinked folders are
    followed (corpora are often assembled from links), each real folder once, so a cycle cannot loop."""
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        keep = []
        for d in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, d))
            if not d.startswith(".") and real not in seen:
                seen.add(real)
                keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            yield Path(dirpath) / name


def discover(root: str | os.PathLike) -> Corpus:
    """Find every utterance under `root`. Never raises for one bad file: it becomes a Problem."""
    root = Path(root)
    if not root.exists():
        raise CorpusError(f"corpus directory {root} does not exist")
    if not root.is_dir():
        raise CorpusError(f"corpus {root} is not a directory")
    audio_by_stem: dict[Path, Path] = {}
    transcripts: dict[Path, Path] = {}
    for p in walk_files(root):
        ext = p.suffix.lower()
        if ext in AUDIO_EXTENSIONS:
            audio_by_stem.setdefault(p.with_suffix(""), p)
        elif ext in TRANSCRIPT_EXTENSIONS:
            # .lab wins over .txt when both exist (MFA's order)
            stem = p.with_suffix("")
            if stem not in transcripts or ext == ".lab":
                transcripts[stem] = p
    if not audio_by_stem and not transcripts:
        raise CorpusError(f"corpus directory {root} has no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    corpus = Corpus(root=root)
    for stem, audio in sorted(audio_by_stem.items()):
        uid, speaker = utterance_id(root, audio)
        tr = transcripts.get(stem)
        if tr is None:
            corpus.problems.append(Problem(uid, "no transcript (.lab or .txt) beside the audio"))
            continue
        try:
            text = read_transcript(tr)
        except (OSError, ValueError) as e:
            corpus.problems.append(Problem(uid, str(e)))
            continue
        if not text:
            corpus.problems.append(Problem(uid, f"transcript {tr.name} is empty"))
            continue
        corpus.utterances.append(Utterance(uid, speaker, audio, tr, text))
    audio_dirs = {a.parent for a in audio_by_stem.values()}
    for stem, tr in sorted(transcripts.items()):
        # a transcript in a folder with no audio at all (README.txt, speaker tables) is not an utterance
        if stem not in audio_by_stem and tr.parent in audio_dirs:
            uid, _ = utterance_id(root, tr)
            corpus.problems.append(Problem(uid, f"transcript {tr.name} has no audio file beside it"))
    if not audio_by_stem:
        raise CorpusError(f"corpus directory {root} has no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return corpus


_PUNCT = re.compile(r"[^\w'\-]+", re.UNICODE)


def normalise(text: str, lexicon=None) -> list[str]:
    """Transcript -> word list: lower case, punctuation dropped, apostrophes kept inside words,
    hyphenated words split where every half is in the lexicon, numbers left as they are.

    >>> normalise("Don't ask me to carry an oily rag like that.")
    ["don't", 'ask', 'me', 'to', 'carry', 'an', 'oily', 'rag', 'like', 'that']
    """
    words: list[str] = []
    for tok in _PUNCT.sub(" ", text.lower()).split():
        tok = tok.strip("'-")
        if not tok:
            continue
        if "-" in tok:
            parts = [p.strip("'") for p in tok.split("-") if p.strip("'")]
            if lexicon is not None and parts and all(p in lexicon for p in parts):
                words.extend(parts)
                continue
            if lexicon is not None and tok in lexicon:
                words.append(tok)
                continue
            words.extend(parts if lexicon is None else [tok])
            continue
        words.append(tok)
    return words


@dataclass
class Validation:
    """What `aligner validate` reports about a corpus."""
    num_utterances: int
    duration: float                                  # seconds of readable audio
    speakers: list[str]
    oov: dict[str, list[str]]                        # word -> utterance ids
    problems: list[Problem]                          # each by name, with its reason
    words: dict[str, list[str]]                      # utt id -> normalised words (aligned ones)

    def lines(self) -> list[str]:
        out = [f"{self.num_utterances} utterances, {self.duration / 60:.1f} min of audio, "
               f"{len(self.speakers)} speakers"]
        if self.oov:
            total = sum(len(v) for v in self.oov.values())
            out.append(f"{len(self.oov)} OOV words ({total} occurrences; aligned as spoken noise 'spn'):")
            for w, utts in sorted(self.oov.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                more = f" (+{len(utts) - 3} more)" if len(utts) > 3 else ""
                out.append(f"  {w}\t{len(utts)}\t{', '.join(utts[:3])}{more}")
        else:
            out.append("no OOV words")
        if self.problems:
            out.append(f"{len(self.problems)} problems (these utterances will not be aligned):")
            out += [f"  {p.id}: {p.reason}" for p in self.problems]
        return out


def validate(corpus: Corpus, lexicon, read_audio: bool = True) -> Validation:
    """Check transcripts against the lexicon and audio headers; bad items go to problems."""
    from . import audio

    problems = list(corpus.problems)
    oov: dict[str, list[str]] = {}
    words: dict[str, list[str]] = {}
    total = 0.0
    good = []
    for u in corpus.utterances:
        ws = normalise(u.text, lexicon)
        if not ws:
            problems.append(Problem(u.id, "transcript has no words after normalisation"))
            continue
        if read_audio:
            try:
                d = audio.duration(u.audio)
            except Exception as e:
                msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                problems.append(Problem(u.id, f"unreadable audio {u.audio.name}: {msg}"))
                continue
            if d <= 0:
                problems.append(Problem(u.id, f"audio {u.audio.name} has no samples (zero length)"))
                continue
            total += d
        for w in ws:
            if w not in lexicon:
                lst = oov.setdefault(w, [])
                if u.id not in lst:
                    lst.append(u.id)
        words[u.id] = ws
        good.append(u)
    return Validation(len(good), total, sorted({u.speaker for u in good}), oov, problems, words)
