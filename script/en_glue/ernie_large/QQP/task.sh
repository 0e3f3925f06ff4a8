#!/bin/sh
# QQP (GLUE), ERNIE 2.0 large: fine-tune, evaluate dev, predict test; five runs.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./glue_data_processed \
#       sh script/en_glue/ernie_large/QQP/task.sh [extra run_classifier.py flags]
#
# MODEL_PATH holds params/ and vocab.txt (the original shipped the same bert-base-uncased
# vocabulary in script/en_glue/ernie_large/); the model config is script/en_glue/ernie_large/ernie_config.json.
# Shared logic (devices, per-GPU batch, runs): script/common.sh.  BATCH_SIZE is the paper's global
# batch; on N GPUs each of the N processes gets BATCH_SIZE / N.
#
# Paper (Table 3, large): 3 epochs, learning rate 5e-5, batch 256.  The original script:
# --batch_size 32 per GPU on its default 8 GPU(s) = 256, the same; it is given here as the
# global batch instead.  Warmup 0.1 (linear decay), weight decay 0, max_seq_len 128 as the original
# (the paper does not give them).  Five runs with seeds 1..5 (the original: five runs, all seed 1).
# Obsolete original flags dropped: --use_fast_executor, --num_iteration_per_drop_scope,
# --tokenizer (ignored by the original), --use_fp16 false (the default).
#
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"

TASK_NAME=QQP
MODEL_SIZE=large
DATA_DIR=${DATA_DIR:-${TASK_DATA_PATH:?set TASK_DATA_PATH (or DATA_DIR)}/QQP}
ERNIE_CONFIG=${ERNIE_CONFIG:-$ERNIE_ROOT/script/en_glue/ernie_large/ernie_config.json}
HIDDEN_SIZE=1024
EPOCH=3
LR=5e-5
BATCH_SIZE=256
MAX_SEQ_LEN=128
WARMUP=0.1
WEIGHT_DECAY=0.0
NUM_LABELS=2
METRIC=acc_and_f1
RUNS=5
SKIP_STEPS=500
SAVE_STEPS=30000
VALIDATION_STEPS=1000000000000
TRAIN_SET=$DATA_DIR/train.tsv
DEV_SET=$DATA_DIR/dev.tsv
TEST_SET=$DATA_DIR/test.tsv

run_once() {
    ernie_run_classifier --for_cn false "$@"
}

ernie_main "$@"
