import json
import time

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from aligner.cli import cli
from aligner.corpus import discover, normalise, validate
from aligner.errors import CorpusError, DictionaryError
from aligner.lexicon import Lexicon

from .conftest import LEXICON, make_utterance, write_dictionary


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_help_lists_subcommands_and_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from aligner.cli import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    for cmd in ("validate", "features", "train", "align", "evaluate", "benchmark"):
        assert cmd in out
    assert out.strip().endswith("NO-TORCH")


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and "aligner, version" in r.output


def test_normalise():
    lex = Lexicon({"semi": [("s",)], "heights": [("h",)], "don't": [("d",)], "test-run": [("t",)]}, "t")
    assert normalise("Semi-heights, DON'T \"stop\"!", lex) == ["semi", "heights", "don't", "stop"]
    assert normalise("A test-run 42.", lex) == ["a", "test-run", "42"]


def test_dictionary_format(tmp_path):
    p = tmp_path / "d.txt"
    p.write_text(";;; comment\nREAD  R IY1 D\nREAD R EH1 D\nRECORD(2) R IH0 K AO1 R D\nA 0.9 AH0\n")
    lex = Lexicon.load(p)
    assert lex.prons("read") == [("r", "iy", "d"), ("r", "eh", "d")]
    assert lex.prons("RECORD") == [("r", "ih", "k", "ao", "r", "d")]
    assert lex.prons("a") == [("ah",)]


def test_cmudict_default():
    lex = Lexicon.load()
    assert ("hh", "ah", "l", "ow") in lex.prons("hello")
    assert len(lex.phones()) == 39


def test_bad_dictionaries(tmp_path):
    with pytest.raises(DictionaryError, match="does not exist"):
        Lexicon.load(tmp_path / "nope.txt")
    p = tmp_path / "bad.txt"
    p.write_text("GOOD G UH D\nLONELYWORD\n")
    with pytest.raises(DictionaryError, match=r"bad.txt:2: malformed line"):
        Lexicon.load(p)
    r = run("validate", tmp_path, "-d", p)
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "malformed line" in r.output


def test_missing_and_empty_corpus(tmp_path):
    r = run("validate", tmp_path / "missing")
    assert r.exit_code == 1 and "does not exist" in r.output
    with pytest.raises(CorpusError, match="no audio files"):
        discover(tmp_path)


def test_symlinked_speaker_folders_are_followed_once(tmp_path):
    """A corpus assembled from links (Kaldi-style data prep) is found; a link cycle does not loop."""
    from .conftest import make_corpus

    real = make_corpus(tmp_path / "real", n_speakers=2, n_utts=2)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "spk0").symlink_to(real / "spk0", target_is_directory=True)
    (real / "spk0" / "loop").symlink_to(linked, target_is_directory=True)     # a cycle
    c = discover(linked)
    assert sorted(u.id for u in c.utterances) == ["spk0/u0", "spk0/u1"]


@pytest.fixture
def messy_corpus(tmp_path):
    """Good files next to every kind of bad input."""
    rng = np.random.default_rng(5)
    root = tmp_path / "corpus"
    s = root / "spk"
    s.mkdir(parents=True)
    for i in range(3):
        x, _, _ = make_utterance(["bad", "fee"], rng)
        sf.write(s / f"good{i}.wav", x, 16000)
        (s / f"good{i}.lab").write_text("bad fee")
    x, _, _ = make_utterance(["bad", "fee"], rng)
    sf.write(s / "notranscript.wav", x, 16000)
    sf.write(s / "empty.wav", x, 16000)
    (s / "empty.lab").write_text("  \n")
    sf.write(s / "latin1.wav", x, 16000)
    (s / "latin1.lab").write_bytes("caf\xe9 bad".encode("latin-1"))
    (s / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    (s / "corrupt.lab").write_text("bad fee")
    sf.write(s / "zero.wav", np.zeros(0, np.float32), 16000)
    (s / "zero.lab").write_text("bad fee")
    (s / "orphan.lab").write_text("bad fee")
    # 44.1 kHz stereo
    y = np.stack([x, x], axis=1)
    from scipy.signal import resample_poly
    y = resample_poly(y, 441, 160, axis=0).astype(np.float32)
    sf.write(s / "stereo44.wav", y, 44100)
    (s / "stereo44.lab").write_text("bad fee")
    (s / "oov.wav").write_bytes((s / "good0.wav").read_bytes())
    (s / "oov.lab").write_text("bad zyzzyx fee")
    (s / "short.wav").write_bytes(b"")
    sf.write(s / "short.wav", x[:1600], 16000)   # 0.1 s for 8 phones
    (s / "short.lab").write_text("bad fee bad fee")
    return root


def test_validate_reports_each_problem_by_name(messy_corpus, tmp_path):
    d = write_dictionary(tmp_path / "d.txt")
    r = run("validate", messy_corpus, "-d", d)
    assert r.exit_code == 0, r.output
    out = r.output
    assert "spk/notranscript: no transcript" in out
    assert "spk/empty: transcript empty.lab is empty" in out
    assert "spk/latin1: transcript latin1.lab is not UTF-8" in out
    assert "spk/corrupt: unreadable audio corrupt.wav" in out
    assert "spk/zero: audio zero.wav has no samples" in out
    assert "spk/orphan: transcript orphan.lab has no audio file" in out
    assert "zyzzyx\t1\tspk/oov" in out
    assert "6 utterances" in out        # good0-2, stereo44, oov, short


def test_features_store_resumes_and_handles_bad_audio(messy_corpus, tmp_path):
    d = write_dictionary(tmp_path / "d.txt")
    feats = tmp_path / "feats"
    r = run("features", messy_corpus, feats, "-d", d, "-q", "-j", "1")
    assert r.exit_code == 0, r.output
    assert "6 computed, 0 already there, 0 failed" in r.output
    cfg = json.loads((feats / "features.json").read_text())
    assert cfg["kind"] == "fbank" and cfg["num_mel_bins"] == 80
    f = np.load(feats / "spk" / "stereo44.npy")
    n16 = sf.info(messy_corpus / "spk" / "stereo44.wav").frames * 16000 / 44100
    assert f.shape[1] == 80 and abs(len(f) - (1 + (n16 - 400) // 160)) <= 1   # resampled, downmixed
    r = run("features", messy_corpus, feats, "-d", d, "-q")
    assert "0 computed, 6 already there" in r.output


def test_kaldi_frame_count():
    from aligner.features import FeatureConfig, compute

    x = np.random.default_rng(0).normal(size=16000).astype(np.float32) * 0.1
    f = compute(x, FeatureConfig())
    assert f.shape == (1 + (16000 - 400) // 160, 80)
    m = compute(x, FeatureConfig(kind="mfcc"))
    assert m.shape == (98, 13)
