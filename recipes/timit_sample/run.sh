#!/usr/bin/env bash
# TIMIT sample: validate -> features -> train (flat start, transcripts only) -> align -> evaluate,
# then the same corpus aligned by PocketSphinx and both scored side by side.
#
#   recipes/timit_sample/run.sh [CORPUS] [--out DIR] [--stage N] [--stop-stage N]
#
# Stages: 1 validate, 2 features, 3 train, 4 align, 5 evaluate, 6 pocketsphinx, 7 side by side.
# Each finished stage leaves DIR/.done.N; a re-run skips it (delete the marker to redo one).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
corpus="$here/../../../shared/data/timit_sample"
out=exp/timit_sample
stage=1
stop_stage=7
while (($#)); do
  case $1 in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) corpus=$1; shift ;;
  esac
done
[ -d "$corpus" ] || { echo "corpus $corpus not found (see data/README.md)" >&2; exit 1; }
mkdir -p "$out"
log() { echo "$(date '+%F %T') [timit_sample] $*" | tee -a "$out/run.log"; }
run_stage() {  # run_stage N name command...
  local n=$1 name=$2; shift 2
  if ((n < stage || n > stop_stage)); then return; fi
  if [ -f "$out/.done.$n" ]; then log "stage $n ($name): done before, skipped"; return; fi
  log "stage $n ($name): $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$out/$n.$name.log"
  log "stage $n ($name) finished in $((SECONDS - t0)) s"
  touch "$out/.done.$n"
}
{ echo "corpus=$corpus"; echo "aligner=$(aligner --version)"; echo "date=$(date -Is)"; } > "$out/config.txt"

run_stage 1 validate aligner validate "$corpus"
run_stage 2 features aligner features "$corpus" "$out/feats" --quiet
run_stage 3 train    aligner train "$corpus" "$out/model" --features "$out/feats" --quiet
run_stage 4 align    aligner align "$corpus" "$out/aligned" --model "$out/model" --features "$out/feats" --quiet
run_stage 5 evaluate aligner evaluate "$out/aligned" "$corpus" --detail
run_stage 6 pocketsphinx aligner peer pocketsphinx "$corpus" "$out/pocketsphinx" --quiet
run_stage 7 compare  aligner evaluate "$out/aligned" "$corpus" --also "pocketsphinx=$out/pocketsphinx"
