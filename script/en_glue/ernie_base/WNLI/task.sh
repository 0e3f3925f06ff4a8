#!/bin/sh
# WNLI (GLUE), ERNIE 2.0 base: fine-tune, evaluate dev, predict test; five runs.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./glue_data_processed \
#       sh script/en_glue/ernie_base/WNLI/task.sh [extra run_classifier.py flags]
#
# Hyper-parameters: the row "WNLI base" of script/finetune_hyper_parameters.txt.  Data files,
# environment (MODEL_PATH, DATA_DIR or TASK_DATA_PATH, FULL_SCHEDULE, MAX_STEPS, SEEDS, ...), devices,
# the CPU demo and the outputs: script/common.sh and the README's "Task scripts" section.
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"
ernie_finetune WNLI base "$@"
