#!/bin/sh
# STS-B (GLUE), ERNIE 2.0 large: fine-tune, evaluate dev, predict test; five runs.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./glue_data_processed \
#       sh script/en_glue/ernie_large/STS-B/task.sh [extra run_classifier.py flags]
#
# Reads: MODEL_PATH (required); DATA_DIR (the data directory of this task) or TASK_DATA_PATH
# (its parent); optional: ERNIE_CONFIG, VOCAB_PATH, FULL_SCHEDULE, MAX_STEPS, SEEDS, MODEL_NAME,
# OUTPUT_ROOT, CHECKPOINT_ROOT, LOG_ROOT, PYTHON, CUDA_VISIBLE_DEVICES, ERNIE_NUM_GPUS, ERNIE_DRY_RUN
# (script/common.sh and the README's "Task scripts" section say what each does).  Without a GPU
# it runs the CPU demo (one seed, MAX_STEPS=60 steps); FULL_SCHEDULE=1 runs the paper's schedule.
# MODEL_PATH holds params/ and vocab.txt (the original shipped the same bert-base-uncased
# vocabulary in script/en_glue/ernie_large/) and normally ernie_config.json; without one (an official
# release), the paper's script/en_glue/ernie_large/ernie_config.json is used.
# Shared logic (devices, per-GPU batch, runs): script/common.sh.  BATCH_SIZE is the paper's global
# batch; on N GPUs each of the N processes gets BATCH_SIZE / N.
#
# Paper (Table 3, large): 3 epochs, learning rate 5e-5, batch 128.  The original script:
# --batch_size 16 per GPU on its default 8 GPU(s) = 128, the same; it is given here as the
# global batch instead.  Warmup 0.1 (linear decay), weight decay 0, max_seq_len 128 as the original
# (the paper does not give them).  Five runs with seeds 1..5 (the original: five runs, all seed 1).
# STS-B is a regression: one output, squared-error loss, Pearson/Spearman on dev.
# Obsolete original flags dropped: --use_fast_executor, --num_iteration_per_drop_scope,
# --tokenizer (ignored by the original), --use_fp16 false (the default).
#
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"

TASK_NAME=STS-B
MODEL_SIZE=large
DATA_DIR=$(ernie_data_dir STS-B)
PAPER_CONFIG=$ERNIE_ROOT/script/en_glue/ernie_large/ernie_config.json
HIDDEN_SIZE=1024
EPOCH=3
LR=5e-5
BATCH_SIZE=128
MAX_SEQ_LEN=128
WARMUP=0.1
WEIGHT_DECAY=0.0
NUM_LABELS=1
METRIC=pearson_and_spearman
RUNS=5
SKIP_STEPS=10
SAVE_STEPS=1000
VALIDATION_STEPS=100000000000
TRAIN_SET=$DATA_DIR/train.tsv
DEV_SET=$DATA_DIR/dev.tsv
TEST_SET=$DATA_DIR/test.tsv

run_once() {
    ernie_run_classifier --for_cn false --is_classify false --is_regression true "$@"
}

ernie_main "$@"
