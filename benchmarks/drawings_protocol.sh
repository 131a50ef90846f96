#!/usr/bin/env bash
# Issue 15's measurements on the embedded thesis subset (make demo builds it in out/embedded-thesis) and on
# OpenClipart (out/embedded-openclipart): frozen backbones under both normalisations, the flip, joined
# features, the per-style holdout, and the `drawings` fine-tune over 3 seeds. Figures go to $EXP.
#   bash benchmarks/drawings_protocol.sh frozen|finetune|holdout|holdout_finetune [SEEDS | STYLE]
# On 2 busy CPU cores: frozen about 75 min, finetune about 25 min a seed, holdout_finetune about 30 min.
set -euo pipefail
PY=${PY:-.venv/bin/python}
EXP=${EXP:-out/protocol}
THESIS=${THESIS:-out/embedded-thesis}
OC=${OC:-out/embedded-openclipart}
EPOCHS=${EPOCHS:-4}
export FIFTYONE_DO_NOT_TRACK=true
mkdir -p "$EXP"

extract() {  # extract ARGS... --out FILE: skipped when FILE exists (a killed one resumes from its .partial)
  [ -e "${@: -1}" ] || $PY -m evaluation.extract "$@"
}

evaluate() {  # evaluate FEATURES OUT: softmax baseline and SVM/logistic, unless done
  [ -e "$2/metrics.json" ] && grep -q '"svm"' "$2/metrics.json" && return
  $PY -m evaluation.baseline --features "$1" --out "$2"
  $PY -m evaluation.svm --features "$1" --out "$2"
}

frozen() {
  # preprocessing: the softmax top-1 on the val split under each normalisation
  grep '"split": "val"' "$THESIS/manifest.jsonl" > "$EXP/thesis-val.jsonl"
  for b in efficientnet-lite0 efficientnet-lite1 efficientnet-lite2; do
    for n in lite imagenet; do
      extract --manifest "$EXP/thesis-val.jsonl" --backbone $b --normalize $n --out "$EXP/val-$b-$n.h5"
      [ -e "$EXP/val-$b-$n/metrics.json" ] || $PY -m evaluation.baseline --features "$EXP/val-$b-$n.h5" --out "$EXP/val-$b-$n"
    done
  done
  for b in efficientnet-lite0 efficientnet-lite1 efficientnet-lite2; do
    for s in thesis:$THESIS openclipart:$OC; do
      name=${s%%:*}; dir=${s#*:}
      extract --manifest "$dir/manifest.jsonl" --backbone $b --out "$EXP/$name-$b.h5"
      evaluate "$EXP/$name-$b.h5" "$EXP/$name-$b"
    done
  done
  [ -e "$EXP/thesis-lite0+lite2/metrics.json" ] || $PY -m evaluation.svm --features "$EXP/thesis-efficientnet-lite0.h5" --features "$EXP/thesis-efficientnet-lite2.h5" \
    --out "$EXP/thesis-lite0+lite2"
  for name in thesis openclipart; do
    [ -e "$EXP/$name-lite0+lite1+lite2/metrics.json" ] || $PY -m evaluation.svm \
      --features "$EXP/$name-efficientnet-lite0.h5" --features "$EXP/$name-efficientnet-lite1.h5" \
      --features "$EXP/$name-efficientnet-lite2.h5" --out "$EXP/$name-lite0+lite1+lite2"
  done
  extract --manifest "$THESIS/manifest.jsonl" --backbone efficientnet-lite2 --tta flip \
    --out "$EXP/thesis-efficientnet-lite2-flip.h5"
  evaluate "$EXP/thesis-efficientnet-lite2-flip.h5" "$EXP/thesis-efficientnet-lite2-flip"
}

finetune() {  # the drawings recipe, one run per seed; each run evaluates itself (head, SVM on its features)
  for seed in ${1:-0 1 2}; do
    [ -e "$EXP/ft-${BACKBONE:-efficientnet-lite0}-s$seed/results/metrics.json" ] && continue
    $PY -m training.finetune --manifest "$THESIS/manifest.jsonl" --out "$EXP/ft-${BACKBONE:-efficientnet-lite0}-s$seed" \
      --backbone ${BACKBONE:-efficientnet-lite0} --recipe ${RECIPE:-drawings} --epochs $EPOCHS --batch-size 32 \
      --device cpu --seed $seed ${FT_ARGS:-}
  done
}

holdout() {  # frozen features, each style with 20+ rows held out in turn
  for b in ${1:-efficientnet-lite0}; do
    $PY -m evaluation.svm --features "$EXP/thesis-$b.h5" --out "$EXP/holdout-$b" --holdout-style all \
      --protocol thesis --no-logistic
  done
}

holdout_finetune() {  # the drawings fine-tune without one style, then the SVM held out on that style
  style=${1:-openclipart}
  run="$EXP/ft-holdout-$style"
  [ -e "$run/features-efficientnet-lite0-best.h5" ] || $PY -m training.finetune --manifest "$THESIS/manifest.jsonl" \
    --out "$run" --backbone efficientnet-lite0 --recipe drawings --epochs $EPOCHS --batch-size 32 --device cpu \
    --seed 0 --holdout-style "$style" --no-evaluate --extract
  $PY -m evaluation.svm --features "$run/features-efficientnet-lite0-best.h5" --out "$EXP/holdout-ft-efficientnet-lite0-$style" \
    --holdout-style "$style" --protocol thesis --no-logistic
}

"$@"
