import json

import pytest
from click.testing import CliRunner

from aligner.cli import cli
from aligner.evaluate import Mapping, edit_align, evaluate
from aligner.textgrid import render


def test_timit_folding():
    m = Mapping.load()
    segs = [(0.0, 0.1, "h#"), (0.1, 0.15, "bcl"), (0.15, 0.2, "b"), (0.2, 0.3, "ix"), (0.3, 0.35, "tcl"),
            (0.35, 0.45, "ch"), (0.45, 0.5, "pau"), (0.5, 0.55, "dcl"), (0.55, 0.6, "iy"), (0.6, 0.7, "AH0")]
    assert m.fold(segs) == [(0.1, 0.2, "b"), (0.2, 0.3, "ih"), (0.3, 0.45, "ch"), (0.5, 0.55, "d"),
                            (0.55, 0.6, "iy"), (0.6, 0.7, "ah")]


def test_edit_align_pairs_matches_and_substitutions():
    assert edit_align(list("abcd"), list("abxd")) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert edit_align(list("abd"), list("abcd")) == [(0, 0), (1, 1), (2, 3)]
    assert edit_align([], list("ab")) == []


@pytest.fixture
def pair(tmp_path):
    """A TIMIT-style reference and a hypothesis whose boundaries are all 15 ms late."""
    ref, hyp = tmp_path / "ref" / "spk", tmp_path / "hyp" / "spk"
    ref.mkdir(parents=True)
    hyp.mkdir(parents=True)
    (ref / "u1.phn").write_text("0 1600 h#\n1600 3200 sh\n3200 4800 iy\n4800 8000 h#\n")
    (ref / "u1.wrd").write_text("1600 4800 she\n")
    d = 0.015
    (hyp / "u1.TextGrid").write_text(render({"words": [(0.1 + d, 0.3 + d, "she")],
                                             "phones": [(0.1 + d, 0.2 + d, "sh"), (0.2 + d, 0.3 + d, "iy")]}, 0.5))
    (ref / "u2.phn").write_text("0 1600 h#\n1600 3200 sh\n3200 4800 h#\n")   # no hypothesis: not aligned
    return tmp_path / "hyp", tmp_path / "ref"


def test_evaluate_known_offsets(pair):
    hyp, ref = pair
    r = evaluate(hyp, ref)
    assert r["utterances"] == 2 and r["not_aligned"] == ["spk/u2"]
    assert r["phones"]["matched"] == 2 and r["phones"]["reference"] == 2
    assert r["phones"]["within_10ms"] == 0.0 and r["phones"]["within_20ms"] == 100.0
    assert r["phones"]["mean_ms"] == pytest.approx(15.0, abs=0.01)
    assert r["words"]["matched"] == 1 and r["words"]["median_ms"] == pytest.approx(15.0, abs=0.01)


def test_evaluate_cli_json_and_side_by_side(pair):
    hyp, ref = pair
    res = CliRunner().invoke(cli, ["evaluate", str(hyp), str(ref), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["phones"]["within_20ms"] == 100.0
    res = CliRunner().invoke(cli, ["evaluate", str(hyp), str(ref), "--also", f"again={hyp}", "--detail"])
    assert res.exit_code == 0
    head = res.output.splitlines()[0].split()
    assert head == ["aligner", "again"]
    assert "phones within 20 ms" in res.output and "iy" in res.output
    res = CliRunner().invoke(cli, ["evaluate", str(hyp), str(ref), "--also", "broken"])
    assert res.exit_code == 2 and "NAME=DIR" in res.output
