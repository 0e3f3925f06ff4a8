#!/bin/sh
# CMRC2018, ERNIE large (Chinese): machine reading comprehension.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./task_data \
#       sh script/zh_task/ernie_large/run_cmrc2018.sh [extra run_mrc.py flags]
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
# Paper (Table 4, large): 2 epochs, learning rate 3e-5, batch 64.
# The original: 8 processes x --batch_size 8 = 64, without a seed.
# Data: SQuAD-1.1-style JSON; EM/F1 by the CMRC2018 evaluation (ernie.metrics).
# Predictions: $CKPT/<step>_dev_predictions.json and <step>_dev_nbest_predictions.json at every
# evaluation (ernie/finetune/mrc.py); the best evaluation by dev F1 in $CKPT/result.json.
# doc_stride 128, max_seq_len 512, warmup 0 (constant learning rate), weight decay 0.01 as the
# original; --random_seed added for reproducible runs.  One run (paper: mean of five).
# Large: the original read ./config/ (ERNIE 1.0 base); here MODEL_PATH's vocab/config,
# which must be a large model (a warning otherwise).
# Obsolete flags dropped: --use_fast_executor, --num_iteration_per_drop_scope.
#
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"

TASK_NAME=CMRC2018
MODEL_SIZE=large
DATA_DIR=$(ernie_data_dir cmrc2018)
HIDDEN_SIZE=1024
EPOCH=2
LR=3e-5
BATCH_SIZE=64
MAX_SEQ_LEN=512
DOC_STRIDE=128
WARMUP=0.0
WEIGHT_DECAY=0.01
RUNS=1
SKIP_STEPS=10
SAVE_STEPS=1000
VALIDATION_STEPS=100

run_once() {
    ernie_launch run_mrc.py \
        --do_train true --do_val true --verbose true \
        --do_test false \
        --batch_size "$DEVICE_BATCH" --in_tokens false \
        --init_pretraining_params "$MODEL_PATH/params" \
        --vocab_path "$VOCAB_PATH" --ernie_config_path "$ERNIE_CONFIG" --do_lower_case true \
        --train_set "$DATA_DIR/train.json" --dev_set "$DATA_DIR/dev.json" \
        --checkpoints "$CKPT" \
        --epoch "$EPOCH" --learning_rate "$LR" --max_seq_len "$MAX_SEQ_LEN" --doc_stride "$DOC_STRIDE" \
        --warmup_proportion "$WARMUP" --weight_decay "$WEIGHT_DECAY" \
        --skip_steps "$SKIP_STEPS" --save_steps "$SAVE_STEPS" --validation_steps "$VALIDATION_STEPS" \
        --random_seed "$SEED" $PROFILE_FLAGS "$@"
}

ernie_main "$@"
