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

    corpus = discover(corpus_dir)
    lexicon = Lexicon.load(dictionary)
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
