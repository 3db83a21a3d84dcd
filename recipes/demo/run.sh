#!/usr/bin/env bash
# The bundled demo: 51 synthetic utterances (4 espeak-ng voices, 3.5 min, made by make_corpus.py
# and committed) with exact word boundaries. Trains a model on the demo corpus itself, aligns it,
# and scores the word boundaries.
#
#   recipes/demo/run.sh [--out DIR] [--stage N] [--stop-stage N]
# Stages: 1 validate, 2 align (trains first: no --model), 3 evaluate.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
corpus="$here/corpus"
out=exp/demo
stage=1
stop_stage=3
while (($#)); do
  case $1 in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
log() { echo "$(date '+%F %T') [demo] $*" | tee -a "$out/run.log"; }
t_all=$SECONDS
if ((stage <= 1 && 1 <= stop_stage)); then
  log "stage 1: validate"; aligner validate "$corpus" | tee "$out/validate.log"
fi
if ((stage <= 2 && 2 <= stop_stage)); then
  log "stage 2: align (no model given: trains one on the corpus first)"
  aligner align "$corpus" "$out/aligned" 2>&1 | tee "$out/align.log"
fi
if ((stage <= 3 && 3 <= stop_stage)); then
  log "stage 3: evaluate word boundaries against the exact synthetic ones"
  aligner evaluate "$out/aligned" "$here/reference" | tee "$out/evaluate.log"
  log "TextGrids: $out/aligned/<speaker>/<utt>.TextGrid; report: $out/aligned/report.csv"
fi
log "demo finished in $((SECONDS - t_all)) s"
