#!/bin/sh
# BQ, ERNIE large (Chinese): fine-tune and evaluate on dev and test.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./task_data \
#       sh script/zh_task/ernie_large/run_bq.sh [extra run_classifier.py flags]
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
# Paper (Table 4, large): 3 epochs, learning rate 1.5e-5, batch 64.
# Warmup 0 (constant learning rate) and max_seq_len 128 as the original (the paper is silent).
# One run, as the original (the paper averages five: SEEDS="1 2 3 4 5").
# The test set is labelled: it is evaluated with dev (--dev_set dev,test) as the original did,
# and --do_test is false. (The original passed --do_test true without --test_set, which crashed at
# the first validation.)
# Large: the original read config/vocab.txt and config/ernie_config.json, the ERNIE 1.0 base
# model; here MODEL_PATH's files, which must be a large model (a warning otherwise).
# Real stand-in data: `python -m reader.prepare_finetune_data --task taobao_pairs --output_dir D`,
# then DATA_DIR=D/taobao_pairs.
# Obsolete flags dropped: --num_iteration_per_drop_scope, --use_fast_executor, --use_fp16.
#
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"

TASK_NAME=BQ
MODEL_SIZE=large
DATA_DIR=$(ernie_data_dir bq)
HIDDEN_SIZE=1024
EPOCH=3
LR=1.5e-5
BATCH_SIZE=64
MAX_SEQ_LEN=128
WARMUP=0.0
WEIGHT_DECAY=0.01
NUM_LABELS=2
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
