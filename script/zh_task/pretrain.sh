#!/bin/sh
# ERNIE 2.0 continual multi-task pre-training (default), or ERNIE 1.0 pre-training
# (masked LM with knowledge masking + next sentence prediction).
#
# Usage (from anywhere):  sh script/zh_task/pretrain.sh [extra train.py flags...]
# Extra flags are passed to train.py last, so they override the script's (e.g. --skip_steps 1).
# script/en_task/pretrain.sh is this script with ERNIE_LANG=en.
#
# What is trained (ERNIE_TASK_CONFIG):
#
# * default: the pre-training configuration config/ernie2_zh_tasks.json (ERNIE_LANG=en:
#   config/ernie2_en_tasks.json): the tasks of the released ERNIE 2.0 model that have demo data,
#   one introduced per stage, trained by continual multi-task learning (train.py --task_config;
#   the format, the allocation rule, the log and the stage tables are in
#   docs/continual_pretraining.md).  STRATEGY=continual|multitask|continual_multitask picks
#   another strategy of the paper's Figure 2 with the same total number of updates.
# * ERNIE_TASK_CONFIG=<file>: any other configuration, e.g. config/ernie1_pretrain.json (ERNIE 1.0
#   masked LM + next sentence as one stage, on the ERNIE 1.0 data in data/).
# * ERNIE_TASK_CONFIG=none: ERNIE 1.0 pre-training with the original's flags and log lines
#   (train.py without --task_config, which builds the configuration of config/ernie1_pretrain.json
#   from its flags: file lists TRAIN_FILELIST / VALID_FILELIST, model config
#   config/ernie_config.json or config/ernie_demo_config.json, NUM_TRAIN_STEPS updates).
#
# Two profiles, chosen by the hardware:
#
# * GPUs (`nvidia-smi -L` lists some and PaddlePaddle is a CUDA build): one process per GPU
#   with `python -m paddle.distributed.launch --gpus <ids>`, the ERNIE 2.0 paper's settings:
#   max_seq_len 512, 8192 tokens per GPU and step (the paper's 393,216-token batch is 48 GPUs x
#   8192), Adam beta1 0.9 beta2 0.98, peak learning rate 1.28e-4 for Chinese (5e-5 for English;
#   the original ERNIE 1.0 script used 1e-4), noam decay with 4,000 warm-up steps (per task with
#   the ERNIE 2.0 configurations: "for every pre-training task"), fp16 with dynamic loss scaling,
#   weight decay 0.01, checkpoint every 10,000, log every 10 steps.  Task configurations: model
#   config/ernie2_base_config.json (base, gelu, task embedding of 16 ids), the file's budgets
#   (ITERATIONS_SCALE 1), validation at the end of every stage; ERNIE 1.0: model
#   config/ernie_config.json, 1,000,000 updates, validation every 100.
#   Worker logs go to $LOG_DIR/workerlog.<rank> (default ./log).
# * No GPU: one CPU process, a small model, short runs on the shipped demo data.
#   ERNIE 2.0 (config/ernie2_demo_config.json: 4 layers, hidden 256, 4 heads, relu, vocab 6000,
#   task embedding): the file's budgets x ITERATIONS_SCALE 0.0005 = 30 iterations per task over
#   5 stages (150 updates: 10 / 20 / 30 / 40 / 50 per stage), max_seq_len 128, 512-token
#   batches, peak learning rate 1e-3 (noam, 10 warm-up steps per task), validation of every task
#   before its first update and of every active task at the end of every stage.  The log ends with
#   "[summary]" lines: what ran, each validation metric at its first and last validation, where
#   the model and the log are, what to run next.  Times measured: README, "Quick start".  It
#   shows the mechanics: 30 updates per task teach the label priors (knowledge masking: the most
#   frequent token), not the text (docs/continual_pretraining.md, "What the CPU demo's validation shows").
#   ERNIE 1.0 (ERNIE_TASK_CONFIG=none; config/ernie_demo_config.json: 4 layers, hidden 256,
#   vocab 18000): 200 updates of 1024-token batches at peak learning rate 1e-3 (noam, 100
#   warm-up steps), validation before training, every 100 steps and at the end.  Measured:
#   4 min 36 s; validation loss 10.55 at step 0 (about ln 18000 + ln 2), 7.31 at step 100,
#   7.18 at step 200 (global ppl 19114 -> 651).
#
# Environment (all optional):
#   PYTHON                                 interpreter with the project installed (default: python)
#   ERNIE_LANG                             zh (default) or en: the default configuration and GPU learning rate
#   ERNIE_TASK_CONFIG                      pre-training configuration, or none (see above)
#   STRATEGY                               continual, multitask or continual_multitask (default: the file's)
#   ITERATIONS_SCALE                       factor on every task budget (default: 0.0005 CPU, 1 GPU)
#   ERNIE_DEVICE                           auto (default), gpu or cpu (force a profile)
#   GPUS                                   comma-separated GPU ids (default: CUDA_VISIBLE_DEVICES, else all)
#   TRAIN_FILELIST, VALID_FILELIST         ERNIE 1.0 file lists (default: data/train_filelist, data/valid_filelist)
#   VOCAB_PATH                             vocabulary (default: the configuration's vocab_path; ERNIE 1.0:
#                                          config/vocab.txt)
#   ERNIE_CONFIG                           model config (default: per profile, see above)
#   CHECKPOINTS                            checkpoint root (default: ./checkpoints)
#   INIT_CHECKPOINT                        resume from this checkpoint directory
#   NUM_TRAIN_STEPS, BATCH_SIZE, MAX_SEQ_LEN, LEARNING_RATE, LR_SCHEDULER, WARMUP_STEPS,
#   WEIGHT_DECAY, USE_FP16, SAVE_STEPS, VALIDATION_STEPS, SKIP_STEPS, EPOCH, RANDOM_SEED,
#   MAX_CHECKPOINTS                        the train.py flags of the same name (lower case); with a task
#                                          configuration NUM_TRAIN_STEPS is the number of updates in all:
#                                          unless ITERATIONS_SCALE is given, every task budget is scaled by
#                                          NUM_TRAIN_STEPS / (sum of the budgets); EPOCH is not used
#   VDL_DIR                                VisualDL log directory (default: none)
#   LOG_DIR                                log directory (default: ./log): pretrain.log (CPU), the
#                                          launcher's workerlog.* (GPU)
#   ERNIE_DRY_RUN=1                        print the command instead of running it
set -eu
cd "$(dirname "$0")/../.."
. script/common.sh      # ernie_range_list
PYTHON=${PYTHON:-python}

die() {
    echo "pretrain.sh: error: $*" >&2
    exit 1
}

# Comma-separated ids of the usable GPUs, or nothing.
gpu_list() {
    command -v nvidia-smi >/dev/null 2>&1 || return 0
    _n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    [ "${_n:-0}" -gt 0 ] || return 0
    if ! "$PYTHON" -c 'import sys, paddle; sys.exit(0 if paddle.is_compiled_with_cuda() else 1)' >/dev/null 2>&1; then
        echo "pretrain.sh: warning: $_n GPU(s) found but PaddlePaddle is a CPU-only build: using the CPU" >&2
        return 0
    fi
    if [ -n "${CUDA_VISIBLE_DEVICES:-}" ] && [ "$CUDA_VISIBLE_DEVICES" != "-1" ]; then
        echo "$CUDA_VISIBLE_DEVICES" | tr -d ' '
        return 0
    fi
    ernie_range_list "$_n"
}

case "${ERNIE_DEVICE:-auto}" in
    auto) GPUS=${GPUS:-$(gpu_list)} ;;
    gpu) GPUS=${GPUS:-$(gpu_list)}; [ -n "$GPUS" ] || die "ERNIE_DEVICE=gpu but no usable GPU was found" ;;
    cpu) GPUS="" ;;
    *) die "ERNIE_DEVICE must be auto, gpu or cpu, got '$ERNIE_DEVICE'" ;;
esac

case "${ERNIE_LANG:-zh}" in
    zh) DEFAULT_TASK_CONFIG=./config/ernie2_zh_tasks.json; GPU_LEARNING_RATE=1.28e-4 ;;
    en) DEFAULT_TASK_CONFIG=./config/ernie2_en_tasks.json; GPU_LEARNING_RATE=5e-5 ;;
    *) die "ERNIE_LANG must be zh or en, got '$ERNIE_LANG'" ;;
esac
TASK_CONFIG=${ERNIE_TASK_CONFIG-$DEFAULT_TASK_CONFIG}
[ "$TASK_CONFIG" = none ] && TASK_CONFIG=""
if [ -z "$TASK_CONFIG" ] && [ "${ERNIE_LANG:-zh}" = en ]; then
    die "ERNIE_TASK_CONFIG=none (ERNIE 1.0 pre-training) has Chinese demo data only: use script/zh_task/pretrain.sh"
fi
if [ -n "$TASK_CONFIG" ] && [ ! -f "$TASK_CONFIG" ]; then
    die "pre-training configuration $TASK_CONFIG does not exist"
fi

ITERATIONS_SCALE_SET=${ITERATIONS_SCALE:+yes}
CHECKPOINTS=${CHECKPOINTS:-./checkpoints}
WEIGHT_DECAY=${WEIGHT_DECAY:-0.01}
LR_SCHEDULER=${LR_SCHEDULER:-noam_decay}
RANDOM_SEED=${RANDOM_SEED:-1}
MAX_CHECKPOINTS=${MAX_CHECKPOINTS:-3}

if [ -n "$GPUS" ]; then
    # The paper's settings (see the header).
    MAX_SEQ_LEN=${MAX_SEQ_LEN:-512}
    BATCH_SIZE=${BATCH_SIZE:-8192}
    WARMUP_STEPS=${WARMUP_STEPS:-4000}
    USE_FP16=${USE_FP16:-true}
    SAVE_STEPS=${SAVE_STEPS:-10000}
    SKIP_STEPS=${SKIP_STEPS:-10}
    VALIDATE_AT_START=${VALIDATE_AT_START:-false}
    if [ -n "$TASK_CONFIG" ]; then
        ERNIE_CONFIG=${ERNIE_CONFIG:-./config/ernie2_base_config.json}
        LEARNING_RATE=${LEARNING_RATE:-$GPU_LEARNING_RATE}
        ITERATIONS_SCALE=${ITERATIONS_SCALE:-1}
        VALIDATION_STEPS=${VALIDATION_STEPS:-0}          # 0: at the end of every stage only
    else
        ERNIE_CONFIG=${ERNIE_CONFIG:-./config/ernie_config.json}
        LEARNING_RATE=${LEARNING_RATE:-1.28e-4}
        NUM_TRAIN_STEPS=${NUM_TRAIN_STEPS:-1000000}
        VALIDATION_STEPS=${VALIDATION_STEPS:-100}
    fi
else
    # The CPU demo profile (see the header).
    MAX_SEQ_LEN=${MAX_SEQ_LEN:-128}
    LEARNING_RATE=${LEARNING_RATE:-1e-3}
    USE_FP16=${USE_FP16:-false}
    SKIP_STEPS=${SKIP_STEPS:-10}
    VALIDATE_AT_START=${VALIDATE_AT_START:-true}
    if [ -n "$TASK_CONFIG" ]; then
        ERNIE_CONFIG=${ERNIE_CONFIG:-./config/ernie2_demo_config.json}
        BATCH_SIZE=${BATCH_SIZE:-512}
        ITERATIONS_SCALE=${ITERATIONS_SCALE:-0.0005}     # x the file's budgets: 30 updates per task by default
        WARMUP_STEPS=${WARMUP_STEPS:-10}
        SAVE_STEPS=${SAVE_STEPS:-0}                      # 0: at the end of every stage only
        VALIDATION_STEPS=${VALIDATION_STEPS:-0}          # 0: at the end of every stage (and at the start)
    else
        ERNIE_CONFIG=${ERNIE_CONFIG:-./config/ernie_demo_config.json}
        BATCH_SIZE=${BATCH_SIZE:-1024}
        WARMUP_STEPS=${WARMUP_STEPS:-100}
        NUM_TRAIN_STEPS=${NUM_TRAIN_STEPS:-200}
        SAVE_STEPS=${SAVE_STEPS:-100}
        VALIDATION_STEPS=${VALIDATION_STEPS:-100}
    fi
fi

# Build the command by prepending to the user's extra flags, which thus come last and win
# (argparse keeps the last value of a repeated flag).
if [ -n "${INIT_CHECKPOINT:-}" ]; then
    set -- --init_checkpoint "$INIT_CHECKPOINT" "$@"
fi
if [ -n "${VDL_DIR:-}" ]; then
    set -- --vdl_dir "$VDL_DIR" "$@"
fi
if [ -n "$TASK_CONFIG" ]; then
    # ERNIE 2.0: the data, the vocabulary and the budgets come from the configuration
    if [ -n "${STRATEGY:-}" ]; then
        set -- --strategy "$STRATEGY" "$@"
    fi
    if [ -n "${VOCAB_PATH:-}" ]; then
        set -- --vocab_path "$VOCAB_PATH" "$@"
    fi
    if [ -n "${NUM_TRAIN_STEPS:-}" ]; then
        case "$NUM_TRAIN_STEPS" in *[!0-9]*|"") die "NUM_TRAIN_STEPS must be a positive integer, got '$NUM_TRAIN_STEPS'" ;; esac
        if [ -z "${ITERATIONS_SCALE_SET:-}" ]; then
            # NUM_TRAIN_STEPS updates in all: every task budget scaled by NUM_TRAIN_STEPS / (sum of the budgets)
            ITERATIONS_SCALE=$("$PYTHON" -c 'import json, sys
tasks = json.load(open(sys.argv[1]))["tasks"]
print(repr(int(sys.argv[2]) / sum(t["iterations"] for t in tasks)))' "$TASK_CONFIG" "$NUM_TRAIN_STEPS") \
                || die "cannot read the task budgets of $TASK_CONFIG"
        fi
        set -- --num_train_steps "$NUM_TRAIN_STEPS" "$@"
    fi
    set -- --task_config "$TASK_CONFIG" --iterations_scale "$ITERATIONS_SCALE" "$@"
else
    TRAIN_FILELIST=${TRAIN_FILELIST:-./data/train_filelist}
    VALID_FILELIST=${VALID_FILELIST-./data/valid_filelist}
    VOCAB_PATH=${VOCAB_PATH:-./config/vocab.txt}
    EPOCH=${EPOCH:-100}
    set -- --vocab_path "$VOCAB_PATH" --train_filelist "$TRAIN_FILELIST" --valid_filelist "$VALID_FILELIST" \
        --epoch "$EPOCH" --num_train_steps "$NUM_TRAIN_STEPS" "$@"
fi
set -- \
    --ernie_config_path "$ERNIE_CONFIG" \
    --checkpoints "$CHECKPOINTS" --max_checkpoints "$MAX_CHECKPOINTS" \
    --weight_sharing true --in_tokens true --batch_size "$BATCH_SIZE" --max_seq_len "$MAX_SEQ_LEN" \
    --lr_scheduler "$LR_SCHEDULER" --learning_rate "$LEARNING_RATE" --warmup_steps "$WARMUP_STEPS" \
    --weight_decay "$WEIGHT_DECAY" --adam_beta1 0.9 --adam_beta2 0.98 --use_fp16 "$USE_FP16" \
    --save_steps "$SAVE_STEPS" --validation_steps "$VALIDATION_STEPS" --skip_steps "$SKIP_STEPS" \
    --validate_at_start "$VALIDATE_AT_START" --random_seed "$RANDOM_SEED" "$@"

if [ -n "$TASK_CONFIG" ]; then
    WHAT="ERNIE 2.0 pre-training ($TASK_CONFIG)"
else
    WHAT="ERNIE 1.0 pre-training"
fi
if [ -n "$GPUS" ]; then
    LOG_DIR=${LOG_DIR:-./log}
    set -- "$PYTHON" -m paddle.distributed.launch --gpus "$GPUS" --log_dir "$LOG_DIR" ./train.py \
        --use_cuda true --is_distributed true "$@"
    echo "pretrain.sh: $WHAT, GPU profile on GPU(s) $GPUS; worker logs in $LOG_DIR/workerlog.*" >&2
else
    set -- "$PYTHON" ./train.py --use_cuda false "$@"
    LOG_DIR=${LOG_DIR:-./log}
    echo "pretrain.sh: $WHAT, CPU demo profile (no usable GPU), one process; log: $LOG_DIR/pretrain.log" >&2
fi

if [ "${ERNIE_DRY_RUN:-0}" = 1 ]; then
    echo "$@"
    exit 0
fi
if [ -n "$GPUS" ]; then
    exec "$@"
fi
# CPU: one process; its output goes to the terminal and to $LOG_DIR/pretrain.log (exit status kept
# through the pipe: POSIX sh has no pipefail)
mkdir -p "$LOG_DIR"
{ "$@"; echo $? > "$LOG_DIR/pretrain.status"; } 2>&1 | tee "$LOG_DIR/pretrain.log"
STATUS=$(cat "$LOG_DIR/pretrain.status")
rm -f "$LOG_DIR/pretrain.status"
[ "$STATUS" -eq 0 ] && echo "[summary] log: $LOG_DIR/pretrain.log" >&2
exit "$STATUS"
