#!/bin/sh
# Pre-training that pays off: four arms (random initialisation, ERNIE 1.0 with character/token masking,
# ERNIE 1.0 with knowledge masking, ERNIE 2.0 continual multi-task), one model, equal updates, fine-tuned
# with 3 seeds on real downstream tasks.  Details: docs/pretrain_transfer.md.
#
#   sh bench/pretrain_transfer.sh en        # Brown + Austen + RT training text -> Rotten Tomatoes
#   sh bench/pretrain_transfer.sh zh        # People's Daily 1998 + 三国演义 + training text -> MSRA-NER, ChnSentiCorp
#
# Everything goes to $WORK (default $ERNIE_CACHE/pt/<lang>, $ERNIE_CACHE defaulting to ~/.cache/ernie2; corpora and fine-tuning data in its parent,
# or $FINETUNE_DATA), outside the repository; rerunning skips every finished step and continues an
# interrupted pre-training run from its last checkpoint.  At the end the results are merged into
# docs/results/pretrain_transfer.json and the curves drawn into docs/pretrain_transfer_<lang>_<arm>.png.
# Extra arguments go to bench/pretrain_transfer.py (e.g. --dry_run, --updates 800).
set -eu
cd "$(dirname "$0")/.."
LANG_CODE=${1:?usage: sh bench/pretrain_transfer.sh en|zh [pretrain_transfer.py flags]}
shift
PYTHON=${PYTHON:-python}
WORK=${WORK:-${ERNIE_CACHE:-$HOME/.cache/ernie2}/pt/$LANG_CODE}
set -- --lang "$LANG_CODE" --work "$WORK" --updates "${UPDATES:-1600}" --warmup_steps "${WARMUP:-160}" "$@"
if [ -n "${FINETUNE_DATA:-}" ]; then
    set -- "$@" --finetune_data "$FINETUNE_DATA"
fi
"$PYTHON" bench/pretrain_transfer.py "$@" --docs
