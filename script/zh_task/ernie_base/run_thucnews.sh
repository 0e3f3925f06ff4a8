#!/bin/sh
# THUCNews, ERNIE base (Chinese): fine-tune and evaluate on dev and test.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./task_data \
#       sh script/zh_task/ernie_base/run_thucnews.sh [extra run_classifier.py flags]
#
# MODEL_PATH holds params/, vocab.txt and ernie_config.json.
# Shared logic (devices, per-GPU batch, runs): script/common.sh.  BATCH_SIZE is the paper's global
# batch; on N GPUs each of the N processes gets BATCH_SIZE / N.
#
# THUCNews is not in the paper: the original script's values are kept (8 GPUs x 8 = 64).
# Warmup 0 (constant learning rate) and max_seq_len 512 as the original (the paper is silent).
# One run, as the original (the paper averages five: SEEDS="1 2 3 4 5").
# The test set is labelled: it is evaluated with dev (--dev_set dev,test) as the original did,
# and --do_test is false. (The original passed --do_test true without --test_set, which crashed at
# the first validation.)
# --task_id 2 of the original dropped: inert without use_task_id in the config.
# Real stand-in data: `python -m reader.prepare_finetune_data --task thucnews --output_dir D`,
# then DATA_DIR=D/thucnews.
# Obsolete flags dropped: --num_iteration_per_drop_scope, --use_fast_executor, --use_fp16.
#
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"

TASK_NAME=THUCNews
MODEL_SIZE=base
DATA_DIR=${DATA_DIR:-${TASK_DATA_PATH:?set TASK_DATA_PATH (or DATA_DIR)}/thucnews}
ERNIE_CONFIG=${ERNIE_CONFIG:-${MODEL_PATH:?set MODEL_PATH}/ernie_config.json}
HIDDEN_SIZE=768
EPOCH=3
LR=3e-5
BATCH_SIZE=64
MAX_SEQ_LEN=512
WARMUP=0.0
WEIGHT_DECAY=0.01
NUM_LABELS=10
METRIC=simple_accuracy
RUNS=1
SKIP_STEPS=10
SAVE_STEPS=10000
VALIDATION_STEPS=1000
TRAIN_SET=$DATA_DIR/train.tsv
DEV_SET=$DATA_DIR/dev.tsv,$DATA_DIR/test.tsv
DO_TEST=false

run_once() {
    ernie_run_classifier --for_cn true "$@"
}

ernie_main "$@"
