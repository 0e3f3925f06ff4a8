#!/bin/sh
# ERNIE 1.0 pre-training (masked LM with knowledge masking + next sentence prediction).
#
# Usage (from anywhere):  sh script/zh_task/pretrain.sh [extra train.py flags...]
# Extra flags are passed to train.py last, so they override the script's (e.g. --skip_steps 1).
#
# Two profiles, chosen by the hardware:
#
# * GPUs (`nvidia-smi -L` lists some and PaddlePaddle is a CUDA build): one process per GPU
#   with `python -m paddle.distributed.launch --gpus <ids>`, the ERNIE 2.0 paper's settings
#   for Chinese: base model (config/ernie_config.json), max_seq_len 512, 8192 tokens per GPU
#   and step (the paper's 393,216-token batch is 48 GPUs x 8192), Adam beta1 0.9 beta2 0.98,
#   peak learning rate 1.28e-4 (the paper's Chinese value; the original script used 1e-4),
#   noam decay with 4,000 warm-up steps, fp16 with dynamic loss scaling, weight decay 0.01,
#   1,000,000 updates, checkpoint every 10,000, validation every 100, log every 10 steps.
#   Worker logs go to $LOG_DIR/workerlog.<rank> (default ./log).
# * No GPU: one CPU process on the shipped demo data (data/, 三国演义) with a small model
#   (config/ernie_demo_config.json: 4 layers, hidden 256, 4 heads, relu, vocab_size 18000),
#   max_seq_len 128, 1024-token batches, 200 updates at peak learning rate 1e-3 (noam,
#   100 warm-up steps), validation before training, every 100 steps and at the end.  Measured
#   on 2 CPU cores (shared with other jobs): 4 min 36 s in all; validation loss 10.55 at step 0
#   (about ln 18000 + ln 2), 7.31 at step 100, 7.18 at step 200 (global ppl 19114 -> 651).
#
# Environment (all optional):
#   PYTHON                                 interpreter with the project installed (default: python)
#   ERNIE_DEVICE                           auto (default), gpu or cpu (force a profile)
#   GPUS                                   comma-separated GPU ids (default: CUDA_VISIBLE_DEVICES, else all)
#   TRAIN_FILELIST, VALID_FILELIST         file lists (default: data/train_filelist, data/valid_filelist)
#   VOCAB_PATH                             vocabulary (default: config/vocab.txt)
#   ERNIE_CONFIG                           model config (default: per profile, see above)
#   CHECKPOINTS                            checkpoint root (default: ./checkpoints)
#   INIT_CHECKPOINT                        resume from this checkpoint directory
#   NUM_TRAIN_STEPS, BATCH_SIZE, MAX_SEQ_LEN, LEARNING_RATE, LR_SCHEDULER, WARMUP_STEPS,
#   WEIGHT_DECAY, USE_FP16, SAVE_STEPS, VALIDATION_STEPS, SKIP_STEPS, EPOCH, RANDOM_SEED,
#   MAX_CHECKPOINTS                        the train.py flags of the same name (lower case)
#   VDL_DIR                                VisualDL log directory (default: none)
#   LOG_DIR                                launcher log directory, GPU profile (default: ./log)
#   ERNIE_DRY_RUN=1                        print the command instead of running it
set -eu
cd "$(dirname "$0")/../.."
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
    _i=0 _out=""
    while [ "$_i" -lt "$_n" ]; do
        _out="${_out:+$_out,}$_i"
        _i=$((_i + 1))
    done
    echo "$_out"
}

case "${ERNIE_DEVICE:-auto}" in
    auto) GPUS=${GPUS:-$(gpu_list)} ;;
    gpu) GPUS=${GPUS:-$(gpu_list)}; [ -n "$GPUS" ] || die "ERNIE_DEVICE=gpu but no usable GPU was found" ;;
    cpu) GPUS="" ;;
    *) die "ERNIE_DEVICE must be auto, gpu or cpu, got '$ERNIE_DEVICE'" ;;
esac

TRAIN_FILELIST=${TRAIN_FILELIST:-./data/train_filelist}
VALID_FILELIST=${VALID_FILELIST-./data/valid_filelist}
VOCAB_PATH=${VOCAB_PATH:-./config/vocab.txt}
CHECKPOINTS=${CHECKPOINTS:-./checkpoints}
WEIGHT_DECAY=${WEIGHT_DECAY:-0.01}
LR_SCHEDULER=${LR_SCHEDULER:-noam_decay}
EPOCH=${EPOCH:-100}
RANDOM_SEED=${RANDOM_SEED:-1}
MAX_CHECKPOINTS=${MAX_CHECKPOINTS:-3}

if [ -n "$GPUS" ]; then
    # The paper's settings (see the header).
    ERNIE_CONFIG=${ERNIE_CONFIG:-./config/ernie_config.json}
    MAX_SEQ_LEN=${MAX_SEQ_LEN:-512}
    BATCH_SIZE=${BATCH_SIZE:-8192}
    LEARNING_RATE=${LEARNING_RATE:-1.28e-4}
    WARMUP_STEPS=${WARMUP_STEPS:-4000}
    USE_FP16=${USE_FP16:-true}
    NUM_TRAIN_STEPS=${NUM_TRAIN_STEPS:-1000000}
    SAVE_STEPS=${SAVE_STEPS:-10000}
    VALIDATION_STEPS=${VALIDATION_STEPS:-100}
    SKIP_STEPS=${SKIP_STEPS:-10}
    VALIDATE_AT_START=${VALIDATE_AT_START:-false}
else
    # The CPU demo profile (see the header).
    ERNIE_CONFIG=${ERNIE_CONFIG:-./config/ernie_demo_config.json}
    MAX_SEQ_LEN=${MAX_SEQ_LEN:-128}
    BATCH_SIZE=${BATCH_SIZE:-1024}
    LEARNING_RATE=${LEARNING_RATE:-1e-3}
    WARMUP_STEPS=${WARMUP_STEPS:-100}
    USE_FP16=${USE_FP16:-false}
    NUM_TRAIN_STEPS=${NUM_TRAIN_STEPS:-200}
    SAVE_STEPS=${SAVE_STEPS:-100}
    VALIDATION_STEPS=${VALIDATION_STEPS:-100}
    SKIP_STEPS=${SKIP_STEPS:-10}
    VALIDATE_AT_START=${VALIDATE_AT_START:-true}
fi

# Build the command by prepending to the user's extra flags, which thus come last and win
# (argparse keeps the last value of a repeated flag).
if [ -n "${INIT_CHECKPOINT:-}" ]; then
    set -- --init_checkpoint "$INIT_CHECKPOINT" "$@"
fi
if [ -n "${VDL_DIR:-}" ]; then
    set -- --vdl_dir "$VDL_DIR" "$@"
fi
set -- \
    --ernie_config_path "$ERNIE_CONFIG" --vocab_path "$VOCAB_PATH" \
    --train_filelist "$TRAIN_FILELIST" --valid_filelist "$VALID_FILELIST" \
    --checkpoints "$CHECKPOINTS" --max_checkpoints "$MAX_CHECKPOINTS" \
    --weight_sharing true --in_tokens true --batch_size "$BATCH_SIZE" --max_seq_len "$MAX_SEQ_LEN" \
    --epoch "$EPOCH" --num_train_steps "$NUM_TRAIN_STEPS" \
    --lr_scheduler "$LR_SCHEDULER" --learning_rate "$LEARNING_RATE" --warmup_steps "$WARMUP_STEPS" \
    --weight_decay "$WEIGHT_DECAY" --adam_beta1 0.9 --adam_beta2 0.98 --use_fp16 "$USE_FP16" \
    --save_steps "$SAVE_STEPS" --validation_steps "$VALIDATION_STEPS" --skip_steps "$SKIP_STEPS" \
    --validate_at_start "$VALIDATE_AT_START" --random_seed "$RANDOM_SEED" "$@"

if [ -n "$GPUS" ]; then
    LOG_DIR=${LOG_DIR:-./log}
    set -- "$PYTHON" -m paddle.distributed.launch --gpus "$GPUS" --log_dir "$LOG_DIR" ./train.py \
        --use_cuda true --is_distributed true "$@"
    echo "pretrain.sh: GPU profile on GPU(s) $GPUS; worker logs in $LOG_DIR/workerlog.*" >&2
else
    set -- "$PYTHON" ./train.py --use_cuda false "$@"
    echo "pretrain.sh: CPU demo profile (no usable GPU), one process" >&2
fi

if [ "${ERNIE_DRY_RUN:-0}" = 1 ]; then
    echo "$@"
    exit 0
fi
exec "$@"
