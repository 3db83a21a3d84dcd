import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from aligner.cli import cli
from aligner.evaluate import evaluate
from aligner.textgrid import read

from .conftest import SHARED
from .test_corpus_cli import messy_corpus  # noqa: F401  (fixture)
from .conftest import write_dictionary


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def check_textgrid(path: Path, duration: float):
    tiers = read(path)
    assert list(tiers) == ["words", "phones"]
    for ivs in tiers.values():
        assert ivs[0][0] == 0.0 and abs(ivs[-1][1] - duration) < 1e-3
        for (a0, b0, _), (a1, b1, _) in zip(ivs, ivs[1:]):
            assert b0 == pytest.approx(a1) and b1 > a1


def test_align_synthetic_corpus_with_a_trained_model(synth, trained_model, tmp_path):
    corpus, dictionary, refs = synth
    out = tmp_path / "out"
    r = run("align", corpus, out, "--model", trained_model, "-d", dictionary, "-q")
    assert r.exit_code == 0, r.output
    assert "aligned 20 of 20 utterances (0 not aligned" in r.output
    res = evaluate(out, refs)
    assert res["not_aligned"] == []
    assert res["phones"]["within_20ms"] > 75.0, res["phones"]      # measured: 86 %
    assert res["words"]["within_20ms"] > 85.0, res["words"]
    rows = list(csv.DictReader(open(out / "report.csv")))
    assert len(rows) == 20 and all(r["status"] == "aligned" for r in rows)
    assert all(0.0 <= float(r["min_phone_confidence"]) <= 1.0 for r in rows)
    import soundfile as sf
    for p in out.rglob("*.TextGrid"):
        uid = p.relative_to(out).with_suffix("")
        check_textgrid(p, sf.info(corpus / f"{uid}.wav").duration)
    ctm = (out / "phones.ctm").read_text().splitlines()
    utt, ch, start, dur, lab, conf = ctm[0].split()
    assert ch == "1" and float(dur) > 0 and 0 <= float(conf) <= 1
    assert len((out / "words.ctm").read_text().splitlines()) == 62


def test_rerun_resumes_and_overwrite_redoes(synth, trained_model, tmp_path):
    corpus, dictionary, _ = synth
    out = tmp_path / "out"
    assert run("align", corpus, out, "--model", trained_model, "-d", dictionary, "-q").exit_code == 0
    tg = out / "spk0" / "u0.TextGrid"
    stamp = tg.stat().st_mtime_ns
    (out / "spk1" / "u3.TextGrid").unlink()          # as if interrupted before this one
    r = run("align", corpus, out, "--model", trained_model, "-d", dictionary)
    assert r.exit_code == 0 and "19 utterances already aligned" in r.output
    assert tg.stat().st_mtime_ns == stamp and (out / "spk1" / "u3.TextGrid").is_file()
    assert "aligned 20 of 20" in r.output
    r = run("align", corpus, out, "--model", trained_model, "-d", dictionary, "--overwrite", "-q")
    assert r.exit_code == 0 and tg.stat().st_mtime_ns != stamp
    assert not list(out.rglob(".*.tmp*"))


def test_bad_inputs_are_reported_and_the_rest_aligned(messy_corpus, trained_model, tmp_path):  # noqa: F811
    d = write_dictionary(tmp_path / "d.txt")
    out = tmp_path / "out"
    r = run("align", messy_corpus, out, "--model", trained_model, "-d", d, "-q")
    assert r.exit_code == 0, r.output
    rows = {row["utt_id"]: row for row in csv.DictReader(open(out / "report.csv"))}
    aligned = {u for u, row in rows.items() if row["status"] == "aligned"}
    assert aligned == {"spk/good0", "spk/good1", "spk/good2", "spk/stereo44", "spk/oov"}
    reasons = {u: row["reason"] for u, row in rows.items() if row["status"] != "aligned"}
    assert "no transcript" in reasons["spk/notranscript"]
    assert "is empty" in reasons["spk/empty"]
    assert "not UTF-8" in reasons["spk/latin1"]
    assert "unreadable audio" in reasons["spk/corrupt"]
    assert "zero length" in reasons["spk/zero"]
    assert "too short for its phones" in reasons["spk/short"]
    assert "no audio file" in reasons["spk/orphan"]
    assert "aligned 5 of 12 utterances (7 not aligned" in r.output
    words = read(out / "spk" / "oov.TextGrid")["words"]
    phones = read(out / "spk" / "oov.TextGrid")["phones"]
    assert [w[2] for w in words if w[2]] == ["bad", "zyzzyx", "fee"]
    assert "spn" in [p[2] for p in phones]


def test_model_lacking_a_dictionary_phone_fails_before_work(synth, trained_model, tmp_path):
    corpus, _, _ = synth
    d = tmp_path / "d.txt"
    d.write_text((synth[1]).read_text() + "ZED Z EH D\n")
    (corpus.parent / "extra").mkdir(exist_ok=True)
    out = tmp_path / "out"
    c2 = tmp_path / "c2" / "spk0"
    c2.mkdir(parents=True)
    shutil.copy(corpus / "spk0" / "u0.wav", c2 / "u0.wav")
    (c2 / "u0.lab").write_text("zed")
    r = run("align", c2.parent, out, "--model", trained_model, "-d", d)
    assert r.exit_code == 1
    assert r.output.startswith("Error: the model's phone set lacks 2 phone(s) the dictionary uses: eh z")
    assert not (out / "report.csv").exists()


def test_unreadable_model_dir(synth, tmp_path):
    corpus, dictionary, _ = synth
    r = run("align", corpus, tmp_path / "out", "--model", tmp_path / "nomodel", "-d", dictionary)
    assert r.exit_code == 1 and "Error: model directory" in r.output and "does not exist" in r.output
    bad = tmp_path / "badmodel"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    r = run("align", corpus, tmp_path / "out", "--model", bad, "-d", dictionary)
    assert r.exit_code == 1 and "is unreadable" in r.output


def test_bilstm_round_trains_saves_and_aligns(synth, tmp_path):
    corpus, dictionary, refs = synth
    model = tmp_path / "m"
    r = run("train", corpus, model, "-d", dictionary, "--rounds", "1", "--epochs", "2", "-q")
    assert r.exit_code == 0, r.output
    assert [p.name for p in model.glob("*.pt")] == ["bilstm-r1.pt"]
    import json
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["stage"] == "bilstm" and cfg["round"] == 1
    assert [h["epoch"] for h in cfg["history"] if h["stage"] == "bilstm"] == [1, 2]
    r = run("train", corpus, model, "-d", dictionary, "--rounds", "1", "--resume")
    assert r.exit_code == 0 and "resuming" in r.output and "round 1" in r.output
    out = tmp_path / "out"
    r = run("align", corpus, out, "--model", model, "-d", dictionary, "-q")
    assert r.exit_code == 0, r.output
    assert evaluate(out, refs)["phones"]["within_50ms"] > 80.0


def test_align_without_model_trains_first(synth, tmp_path):
    corpus, dictionary, _ = synth
    out = tmp_path / "out"
    r = run("align", corpus, out, "-d", dictionary, "--rounds", "0")
    assert r.exit_code == 0, r.output
    assert "no --model given: training one on this corpus first" in r.output
    assert (out / "model" / "config.json").is_file() and "aligned 20 of 20" in r.output


def praat_opens(paths, tmp_path):
    script = tmp_path / "open.praat"
    lines = []
    for p in paths:
        lines += [f'tg = Read from file: "{p}"', "n = Get number of tiers",
                  'appendInfoLine: n', "removeObject: tg"]
    script.write_text("\n".join(lines) + "\n")
    r = subprocess.run(["praat", "--run", str(script)], capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout.split(), r.stderr


@pytest.mark.skipif(shutil.which("praat") is None, reason="praat is not installed (apt-get install praat)")
def test_praat_opens_our_textgrids(synth, trained_model, tmp_path):
    corpus, dictionary, _ = synth
    out = tmp_path / "out"
    assert run("align", corpus, out, "--model", trained_model, "-d", dictionary, "-q").exit_code == 0
    paths = sorted(out.rglob("*.TextGrid"))
    rc, counts, err = praat_opens(paths, tmp_path)
    assert rc == 0, err
    assert counts == ["2"] * len(paths)


@pytest.mark.skipif(not SHARED.is_dir(), reason="TIMIT sample (../shared) not present")
@pytest.mark.skipif(shutil.which("praat") is None, reason="praat is not installed (apt-get install praat)")
def test_timit_sample_gmm_alignment_accuracy_and_praat(tmp_path):
    """Flat-start GMM stage on the real TIMIT sample (about 30 s): every utterance aligned, boundary
    accuracy well above the uniform-segmentation floor, and Praat opens every TextGrid."""
    out = tmp_path / "out"
    r = run("align", SHARED, out, "--rounds", "0", "-q")
    assert r.exit_code == 0, r.output
    assert "aligned 160 of 160 utterances" in r.output
    res = evaluate(out, SHARED)
    assert res["phones"]["within_20ms"] > 80.0, res["phones"]          # measured 82.4 %
    paths = sorted(out.rglob("*.TextGrid"))
    assert len(paths) == 160
    rc, counts, err = praat_opens(paths, tmp_path)
    assert rc == 0, err
    assert counts == ["2"] * 160


def test_long_items_go_through_the_network_in_windows():
    """A long recording is scored in overlapping windows: same posteriors as one pass."""
    import torch

    from aligner.data_prep import Item
    from aligner.features import FeatureConfig
    from aligner.gmm import DiagGMM
    from aligner.graph import Topology
    from aligner.model import AcousticModel, BiLSTM

    torch.manual_seed(0)
    topo = Topology.create(["sil", "spn", "a"])
    m = AcousticModel(topo, FeatureConfig(), DiagGMM.flat(topo.num_pdfs, np.zeros(39), np.ones(39)), {},
                      BiLSTM.create(80, 3, hidden=16, layers=2), np.zeros(3, np.float32))
    rng = np.random.default_rng(0)
    long = Item("s/long", "s", [], 0.0, np.zeros((3000, 39), np.float32), rng.normal(size=(3000, 80)).astype(np.float32))
    short = Item("s/short", "s", [], 0.0, np.zeros((50, 39), np.float32), rng.normal(size=(50, 80)).astype(np.float32))
    whole = m.net_logpost([short, long], window=100_000)
    windowed = m.net_logpost([short, long], window=500, context=200)
    assert [w.shape for w in windowed] == [(50, 3), (3000, 3)]
    np.testing.assert_allclose(windowed[1], whole[1], atol=1e-3)
    np.testing.assert_allclose(windowed[0], whole[0], atol=1e-6)


def test_banded_path_for_long_recordings_gives_the_same_alignment(synth, trained_model, tmp_path, monkeypatch):
    """Force every utterance through the banded Viterbi (as a long recording would go) with a
    window narrower than the graph: the TextGrids come out the same as with the full search."""
    import aligner.align as A

    corpus, dictionary, _ = synth
    full = tmp_path / "full"
    assert run("align", corpus, full, "--model", trained_model, "-d", dictionary, "-q").exit_code == 0
    monkeypatch.setattr(A, "BAND_ABOVE_CELLS", 0)
    monkeypatch.setattr(A, "BAND_WIDTH", 16)
    banded = tmp_path / "banded"
    assert run("align", corpus, banded, "--model", trained_model, "-d", dictionary, "-q").exit_code == 0
    for p in sorted(full.rglob("*.TextGrid")):
        assert (banded / p.relative_to(full)).read_text() == p.read_text()


def test_training_is_deterministic_given_the_seed(synth, tmp_path):
    import json

    corpus, dictionary, _ = synth
    runs = []
    for name in ("a", "b"):
        r = run("train", corpus, tmp_path / name, "-d", dictionary, "--rounds", "1", "--epochs", "1",
                "--seed", "3", "-q")
        assert r.exit_code == 0, r.output
        cfg = json.loads((tmp_path / name / "config.json").read_text())
        runs.append(([h.get("loss") for h in cfg["history"]], (tmp_path / name / "gmm.npz").read_bytes()))
    assert runs[0] == runs[1]


def test_ctm_only_output_resumes(synth, trained_model, tmp_path):
    corpus, dictionary, _ = synth
    out = tmp_path / "out"
    r = run("align", corpus, out, "--model", trained_model, "-d", dictionary, "--output-format", "ctm", "-q")
    assert r.exit_code == 0 and not list(out.rglob("*.TextGrid"))
    assert len((out / "words.ctm").read_text().splitlines()) == 62
    r = run("align", corpus, out, "--model", trained_model, "-d", dictionary, "--output-format", "ctm")
    assert "20 utterances already aligned" in r.output
    assert len((out / "words.ctm").read_text().splitlines()) == 62


def test_train_names_the_utterances_it_skips(messy_corpus, tmp_path):  # noqa: F811
    d = write_dictionary(tmp_path / "d.txt")
    r = run("train", messy_corpus, tmp_path / "m", "-d", d, "--rounds", "0")
    assert r.exit_code == 0, r.output
    assert "skipped spk/corrupt: unreadable audio corrupt.wav" in r.output
    assert "skipped spk/empty: transcript empty.lab is empty" in r.output
    assert "skipped spk/short: audio too short for its phones" in r.output
