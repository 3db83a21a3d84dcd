"""Command-line interface: one thin function per subcommand (parse, call the library, print).

Heavy modules (torch, numba kernels) are imported inside the commands so `aligner --help` stays fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import AlignerError


def _run(fn, *args, **kwargs):
    """Call into the library; typed errors become one-line `Error: ...` messages (exit 1)."""
    try:
        return fn(*args, **kwargs)
    except AlignerError as e:
        raise click.ClickException(str(e)) from None


def _say(quiet: bool, msg: str = "", err: bool = False):
    if not quiet:
        click.echo(msg, err=err)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aligner")
def cli():
    """aligner: find where every word and phone starts and ends.

    \b
    Typical run (trains on your corpus, then aligns it):
      aligner validate corpus/
      aligner align corpus/ out/            # writes out/<speaker>/<utt>.TextGrid, CTMs, report
      aligner evaluate out/ reference/      # boundary accuracy against hand labels
    """


dictionary_opt = click.option("--dictionary", "-d", type=click.Path(dir_okay=False),
                              help="Pronunciation dictionary (WORD PH1 PH2 ...). Default: CMUdict.")
quiet_opt = click.option("--quiet", "-q", is_flag=True, help="No progress bars or chatter.")
jobs_opt = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=2, show_default=True,
                        help="Parallel workers.")


def _load_corpus(corpus_dir, dictionary):
    from .corpus import discover, validate
    from .lexicon import Lexicon

    lexicon = Lexicon.load(dictionary)
    corpus = discover(corpus_dir)
    return corpus, lexicon, validate(corpus, lexicon)


@cli.command("validate")
@click.argument("corpus_dir", type=click.Path(file_okay=False))
@dictionary_opt
def validate_cmd(corpus_dir, dictionary):
    """Report what a corpus holds and what is wrong with it: utterances, duration, speakers, OOV
    words (with the utterances they occur in), files without transcripts, unreadable audio.

    Example: aligner validate ../shared/data/timit_sample
    """
    _, _, report = _run(_load_corpus, corpus_dir, dictionary)
    for line in report.lines():
        click.echo(line)


@cli.command("features")
@click.argument("corpus_dir", type=click.Path(file_okay=False))
@click.argument("feats_dir", type=click.Path(file_okay=False))
@dictionary_opt
@click.option("--kind", type=click.Choice(["fbank", "mfcc"]), default="fbank", show_default=True)
@click.option("--num-mel-bins", type=int, default=80, show_default=True)
@click.option("--cmvn", type=click.Choice(["speaker", "utterance", "none"]), default="speaker",
              show_default=True, help="Normalisation applied when the features are used.")
@click.option("--overwrite", is_flag=True, help="Recompute utterances already in the store.")
@jobs_opt
@quiet_opt
def features_cmd(corpus_dir, feats_dir, dictionary, kind, num_mel_bins, cmvn, overwrite, jobs, quiet):
    """Compute Kaldi-compatible features (25 ms / 10 ms, 16 kHz) into a feature store:
    FEATS_DIR/<speaker>/<utt>.npy plus FEATS_DIR/features.json. Resumable.

    Example: aligner features ../shared/data/timit_sample feats/
    """
    from .features import FeatureConfig, FeatureStore, extract

    t0 = time.time()
    corpus, _, report = _run(_load_corpus, corpus_dir, dictionary)
    for line in report.lines():
        _say(quiet, line)
    good = [u for u in corpus.utterances if u.id in report.words]
    store = _run(FeatureStore, feats_dir, FeatureConfig(kind=kind, num_mel_bins=num_mel_bins, cmvn=cmvn))
    done, skipped, problems, seconds = _run(extract, good, store, jobs, not quiet, overwrite)
    for uid, reason in problems:
        click.echo(f"  {uid}: {reason}", err=True)
    click.echo(f"features: {done} computed, {skipped} already there, {len(problems)} failed "
               f"({seconds / 60:.1f} min of audio) in {time.time() - t0:.1f} s -> {feats_dir}")


def _items(corpus_dir, dictionary, feats_dir, quiet):
    """Corpus -> (corpus, lexicon, validation, items, problems, feature config), features loaded.
    Utterances that cannot be used are listed by name."""
    from .data_prep import load_items
    from .features import FeatureConfig, FeatureStore

    corpus, lexicon, report = _run(_load_corpus, corpus_dir, dictionary)
    store = _run(FeatureStore, feats_dir) if feats_dir else None
    cfg = store.cfg if store else FeatureConfig()
    items, problems = load_items(corpus, report, cfg, store, progress=not quiet)
    for p in report.problems:
        _say(quiet, f"  skipped {p.id}: {p.reason}")
    for uid, reason in problems:
        _say(quiet, f"  skipped {uid}: {reason}")
    return corpus, lexicon, report, items, problems, cfg


def _train(corpus_dir, model_dir, dictionary, feats_dir, seed, resume, rounds, epochs, quiet, items_etc=None):
    from .train import GmmConfig, NetConfig, train_model

    corpus, lexicon, report, items, problems, fcfg = items_etc or _items(corpus_dir, dictionary, feats_dir, quiet)
    if not items:
        raise click.ClickException(f"no usable utterances in {corpus_dir} to train on")
    t0 = time.time()
    model = _run(train_model, items, lexicon, model_dir, fcfg, seed=seed, resume=resume,
                 gmm_cfg=GmmConfig(), net_cfg=NetConfig(rounds=rounds, epochs=epochs),
                 echo=lambda m: _say(quiet, m), progress=not quiet)
    _say(quiet, f"trained in {time.time() - t0:.1f} s -> {model_dir}")
    return model


seed_opt = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
rounds_opt = click.option("--rounds", type=click.IntRange(0, 20), default=1, show_default=True,
                          help="BiLSTM realign->retrain rounds after the GMM bootstrap (0: GMM only).")
epochs_opt = click.option("--epochs", type=click.IntRange(1, 200), default=12, show_default=True,
                          help="BiLSTM epochs per round.")
feats_opt = click.option("--features", "feats_dir", type=click.Path(file_okay=False),
                         help="Feature store made by `aligner features` (default: compute on the fly).")


@cli.command("train")
@click.argument("corpus_dir", type=click.Path(file_okay=False))
@click.argument("model_dir", type=click.Path(file_okay=False))
@dictionary_opt
@feats_opt
@seed_opt
@rounds_opt
@epochs_opt
@click.option("--resume", is_flag=True, help="Continue after the last complete checkpoint in MODEL_DIR.")
@quiet_opt
def train_cmd(corpus_dir, model_dir, dictionary, feats_dir, seed, rounds, epochs, resume, quiet):
    """Train an acoustic model on the corpus's own transcripts, from a flat start:
    a monophone GMM-HMM (Viterbi EM) then BiLSTM realign->retrain rounds.

    Example: aligner train ../shared/data/timit_sample model/
    """
    _train(corpus_dir, model_dir, dictionary, feats_dir, seed, resume, rounds, epochs, quiet)


@cli.command("align")
@click.argument("corpus_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--model", "model_dir", type=click.Path(file_okay=False),
              help="Trained model directory. Default: train one on the corpus first (OUT/model).")
@dictionary_opt
@feats_opt
@seed_opt
@rounds_opt
@epochs_opt
@click.option("--overwrite", is_flag=True, help="Realign utterances that already have outputs.")
@click.option("--output-format", type=click.Choice(["all", "textgrid", "ctm"]), default="all",
              show_default=True, help="TextGrids and/or CTMs (the report is always written).")
@jobs_opt
@quiet_opt
def align_cmd(corpus_dir, out_dir, model_dir, dictionary, feats_dir, seed, rounds, epochs, overwrite,
              output_format, jobs, quiet):
    """Align every utterance: OUT/<speaker>/<utt>.TextGrid (tiers words, phones), OUT/words.ctm,
    OUT/phones.ctm and OUT/report.csv (one row per utterance, aligned or why not).

    Example: aligner align ../shared/data/timit_sample out/ --model model/
    """
    from .pipeline import align_corpus

    out = Path(out_dir)
    summary = _run(align_corpus, corpus_dir, out, model_dir, dictionary, feats_dir, overwrite=overwrite,
                   output_format=output_format, jobs=jobs, quiet=quiet,
                   train=lambda items_etc, mdir: _train(corpus_dir, mdir, dictionary, feats_dir, seed, False,
                                                        rounds, epochs, quiet, items_etc),
                   echo=lambda m: _say(quiet, m))
    click.echo(summary["line"])
    if summary["aligned"] == 0:
        raise click.ClickException(f"nothing could be aligned (see {out / 'report.csv'})")


@cli.command("evaluate")
@click.argument("hyp_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("ref_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False),
              help="Label folding file (default: TIMIT 61 -> ARPAbet, aligner/data/timit_fold.txt).")
@click.option("--name", default="aligner", show_default=True, help="Column title.")
@click.option("--also", multiple=True, metavar="NAME=DIR",
              help="Another system's output to score and print beside it (repeatable).")
@click.option("--detail", is_flag=True, help="Also print a per-phone table.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def evaluate_cmd(hyp_dir, ref_dir, mapping, name, also, detail, as_json):
    """Boundary accuracy of HYP_DIR's TextGrids against REF_DIR's references (TextGrid or TIMIT
    .phn/.wrd): % of onsets/offsets within 10/20/25/50 ms, mean and median error.

    Example: aligner evaluate out/ ../shared/data/timit_sample
    """
    import json

    from .evaluate import evaluate, format_table

    res = evaluate(hyp_dir, ref_dir, mapping)
    if not res["utterances"]:
        raise click.ClickException(f"no references (.phn or .TextGrid) found in {ref_dir}")
    if as_json:
        click.echo(json.dumps(res if detail else {k: v for k, v in res.items() if k != "per_phone"}, indent=1))
        return
    table = {name: res}
    for spec in also:
        other, _, d = spec.partition("=")
        if not d or not Path(d).is_dir():
            raise click.BadParameter(f"expected NAME=DIR with an existing DIR, got {spec!r}", param_hint="--also")
        table[other] = evaluate(d, ref_dir, mapping)
    for line in format_table(table):
        click.echo(line)
    if detail:
        click.echo("")
        click.echo(f"{'phone':8}{'n':>6}{'<=20ms':>9}{'mean':>9}")
        for ph, r in res["per_phone"].items():
            click.echo(f"{ph:8}{r['n']:>6}{r['within_20ms']:>8.1f}%{r['mean_ms']:>7.1f}ms")


@cli.group("peer")
def peer():
    """Align a corpus with another aligner, for side-by-side evaluation."""


@peer.command("pocketsphinx")
@click.argument("corpus_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@quiet_opt
def peer_pocketsphinx(corpus_dir, out_dir, quiet):
    """PocketSphinx 5 with its bundled en-us model (pip install pocketsphinx): TextGrids, CTMs and
    report in OUT_DIR, the same layout as `aligner align`.

    Example: aligner peer pocketsphinx ../shared/data/timit_sample ps_out/
    """
    from .peers import pocketsphinx_align

    res = _run(pocketsphinx_align, corpus_dir, Path(out_dir), not quiet)
    click.echo(f"pocketsphinx aligned {res['aligned']} of {res['total']} utterances -> {out_dir}")


@cli.group("benchmark")
def benchmark():
    """Speed benchmarks against a peer measured in the same run."""


@benchmark.command("viterbi")
@click.option("--sizes", default="1000,10000,100000", show_default=True, help="Frame counts T.")
@click.option("--repeat", type=int, default=3, show_default=True)
@click.option("--hour/--no-hour", default=True, show_default=True,
              help="Also align a synthetic 1-hour recording with the banded kernel.")
def benchmark_viterbi(sizes, repeat, hour):
    """Our Numba Viterbi vs torchaudio.functional.forced_align, one thread each, same T x S cells."""
    from .benchmark import viterbi_benchmark

    viterbi_benchmark([int(s) for s in sizes.split(",")], repeat, hour, echo=click.echo)


def main():
    cli(prog_name="aligner")


if __name__ == "__main__":
    main()
