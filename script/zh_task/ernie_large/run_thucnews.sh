#!/bin/sh
# THUCNews, ERNIE large (Chinese): fine-tune and evaluate on dev and test.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./task_data \
#       sh script/zh_task/ernie_large/run_thucnews.sh [extra run_classifier.py flags]
#
# Hyper-parameters: the row "THUCNews large" of script/finetune_hyper_parameters.txt.  Data files,
# environment (MODEL_PATH, DATA_DIR or TASK_DATA_PATH, FULL_SCHEDULE, MAX_STEPS, SEEDS, ...), devices,
# the CPU demo and the outputs: script/common.sh and the README's "Task scripts" section.
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"
ernie_finetune THUCNews large "$@"
