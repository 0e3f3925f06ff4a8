#!/bin/sh
# XNLI, ERNIE base (Chinese): fine-tune and evaluate on dev and test.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./task_data \
#       sh script/zh_task/ernie_base/run_xnli.sh [extra run_classifier.py flags]
#
# Reads: MODEL_PATH (required); DATA_DIR (the data directory of this task) or TASK_DATA_PATH
# (its parent); optional: ERNIE_CONFIG, VOCAB_PATH, FULL_SCHEDULE, MAX_STEPS, SEEDS, MODEL_NAME,
# OUTPUT_ROOT, CHECKPOINT_ROOT, LOG_ROOT, PYTHON, CUDA_VISIBLE_DEVICES, ERNIE_NUM_GPUS, ERNIE_DRY_RUN
# (script/common.sh and the README's "Task scripts" section say what each does).  Without a GPU
# it runs the CPU demo (one seed, MAX_STEPS=60 steps); FULL_SCHEDULE=1 runs the paper's schedule.
# MODEL_PATH holds params/, vocab.txt and ernie_config.json.
# Shared logic (devices, per-GPU batch, runs): script/common.sh.  BATCH_SIZE is the paper's global
# batch; on N GPUs each of the N processes gets BATCH_SIZE / N.
#
# Paper (Table 4, base): 3 epochs, learning rate 1e-4, batch 512.
# Deviation from the original, which batched by tokens (--in_tokens true, 8192 tokens per
# GPU x 8 = 65536 tokens): the paper's batch of 512 examples is used.  The label map
# DATA_DIR/label_map.json maps the string labels (the original passed --label_map).
# Warmup 0 (constant learning rate) and max_seq_len 512 as the original (the paper is silent).
# One run, as the original (the paper averages five: SEEDS="1 2 3 4 5").
# The test set is labelled: it is evaluated with dev (--dev_set dev,test) as the original did,
# and --do_test is false.
# Obsolete flags dropped: --num_iteration_per_drop_scope, --use_fast_executor, --use_fp16.
#
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"

TASK_NAME=XNLI
MODEL_SIZE=base
DATA_DIR=$(ernie_data_dir xnli)
HIDDEN_SIZE=768
EPOCH=3
LR=1e-4
BATCH_SIZE=512
MAX_SEQ_LEN=512
WARMUP=0.0
WEIGHT_DECAY=0.01
NUM_LABELS=3
METRIC=simple_accuracy
RUNS=1
SKIP_STEPS=10
SAVE_STEPS=10000
VALIDATION_STEPS=100
TRAIN_SET=$DATA_DIR/train.tsv
DEV_SET=$DATA_DIR/dev.tsv,$DATA_DIR/test.tsv
DO_TEST=false

run_once() {
    ernie_run_classifier --for_cn true --label_map_config "$DATA_DIR/label_map.json" "$@"
}

ernie_main "$@"
