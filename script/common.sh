# Shared logic of the fine-tuning task scripts (POSIX sh).  Sourced, never run:
#
#   ERNIE_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
#   . "$ERNIE_ROOT/script/common.sh"
#   EPOCH=3 LR=3e-5 BATCH_SIZE=64 ...        (hyper-parameters; BATCH_SIZE is the GLOBAL batch)
#   run_once() { ernie_run_classifier --for_cn false "$@"; }
#   ernie_main "$@"
#
# ernie_main picks the devices, splits the global batch over them and calls run_once once per
# seed with RUN (1, 2, ...), SEED, DEVICE_BATCH, NUM_DEVICES, OUTPUT (per-run output dir),
# CKPT (per-run checkpoint dir) set.  Extra arguments of the task script are passed on to the
# Python entry point last, so they override the script's flags (e.g. `task.sh --epoch 1`).
#
# Environment:
#   MODEL_PATH       pre-trained model: params/, vocab.txt, ernie_config.json      (required)
#   TASK_DATA_PATH   root of the task data (layout: see each script)               (required)
#   PYTHON           interpreter (default: python)
#   CUDA_VISIBLE_DEVICES  the GPUs that may be used ("" or -1: none)
#   ERNIE_NUM_GPUS   use this many GPUs (0 = CPU); default: all visible/detected ones
#   SEEDS            space-separated seeds, one run each (default: 1 .. RUNS of the script)
#   OUTPUT_ROOT, CHECKPOINT_ROOT, LOG_ROOT   default ./output, ./checkpoints, ./log
#   ERNIE_DRY_RUN=1  print each command instead of running it
#
# Devices: with N GPUs the job is one process per GPU, started by
#   python -m paddle.distributed.launch --gpus <ids> ENTRY.py --use_cuda true --batch_size GLOBAL/N
# (the launcher takes the ids as listed in CUDA_VISIBLE_DEVICES).  N is the largest number of
# available GPUs that divides the global batch (e.g. RTE base, global batch 4, runs on 4 of 8
# GPUs), so the per-GPU batch times the GPU count is always the paper's batch.  Without a GPU:
# one process, `--use_cuda false --batch_size GLOBAL`.
#
# Runs: the original GLUE scripts repeated the same command five times with the same
# --random_seed 1 (runs differed only by unseeded dropout and GPU nondeterminism); the paper
# reports the median (GLUE dev) or the mean (Chinese tasks) of five runs.  Here run k uses
# seed k, so the five runs are different and each one is reproducible.  Aggregating the runs
# is left to the reader of the logs.

ernie_die() {
    echo "error: $*" >&2
    exit 1
}

# Number of items of a comma-separated list ("" -> 0).
ernie_count_list() {
    if [ -z "$1" ]; then echo 0; return; fi
    echo "$1" | tr ',' '\n' | grep -c .
}

# The first $2 items of the comma-separated list $1.
ernie_head_list() {
    echo "$1" | tr ',' '\n' | grep . | head -n "$2" | paste -sd, -
}

# 0,1,...,$1-1
ernie_range_list() {
    _i=0 _out=""
    while [ "$_i" -lt "$1" ]; do
        _out="${_out:+$_out,}$_i"
        _i=$((_i + 1))
    done
    echo "$_out"
}

# Comma-separated ids of the GPUs to use (empty: CPU only).
#   CUDA_VISIBLE_DEVICES set: its entries ("" or "-1" = none); else `nvidia-smi -L`; else none.
#   ERNIE_NUM_GPUS=N keeps the first N of those (N larger than what is found: the ids 0..N-1,
#   for machines where detection does not work).
ernie_gpu_list() {
    if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
        case "$CUDA_VISIBLE_DEVICES" in
            ""|-1) _gpus="" ;;
            *) _gpus=$(echo "$CUDA_VISIBLE_DEVICES" | tr -d ' ') ;;
        esac
    elif command -v nvidia-smi >/dev/null 2>&1; then
        _gpus=$(ernie_range_list "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')")
    else
        _gpus=""
    fi
    if [ -n "${ERNIE_NUM_GPUS:-}" ]; then
        case "$ERNIE_NUM_GPUS" in
            *[!0-9]*|"") ernie_die "ERNIE_NUM_GPUS must be a non-negative integer, got '$ERNIE_NUM_GPUS'" ;;
        esac
        if [ "$ERNIE_NUM_GPUS" -eq 0 ]; then
            _gpus=""
        elif [ "$(ernie_count_list "$_gpus")" -ge "$ERNIE_NUM_GPUS" ]; then
            _gpus=$(ernie_head_list "$_gpus" "$ERNIE_NUM_GPUS")
        else
            _gpus=$(ernie_range_list "$ERNIE_NUM_GPUS")
        fi
    fi
    echo "$_gpus"
}

# Largest number of devices <= $2 that divides the global batch $1 (0 devices: 0 = CPU).
ernie_device_count_for() {
    _d=$2
    while [ "$_d" -gt 1 ] && [ $(($1 % _d)) -ne 0 ]; do
        _d=$((_d - 1))
    done
    echo "$_d"
}

# Per-device batch of the global batch $1 on $2 devices (0 = CPU: the global batch).
ernie_per_device_batch() {
    case "$1" in *[!0-9]*|"") ernie_die "global batch size must be a positive integer, got '$1'" ;; esac
    if [ "$2" -le 1 ]; then
        echo "$1"
    elif [ $(($1 % $2)) -ne 0 ]; then
        ernie_die "global batch $1 cannot be split evenly over $2 devices"
    else
        echo $(($1 / $2))
    fi
}

# Print a command, each argument single-quoted where needed.
ernie_print_cmd() {
    _line=""
    for _a in "$@"; do
        case "$_a" in
            *[!A-Za-z0-9_./:,=+@%-]*|"") _a="'$(printf '%s' "$_a" | sed "s/'/'\\\\''/g")'" ;;
        esac
        _line="${_line:+$_line }$_a"
    done
    echo "$_line"
}

# ernie_launch ENTRY.py ARGS...: run an entry point of the repository on the chosen devices.
ernie_launch() {
    _entry="$ERNIE_ROOT/$1"
    shift
    if [ "$NUM_DEVICES" -gt 0 ]; then
        set -- "${PYTHON:-python}" -m paddle.distributed.launch --gpus "$GPU_LIST" --log_dir "$LOG" \
            "$_entry" --use_cuda true "$@"
    else
        set -- "${PYTHON:-python}" "$_entry" --use_cuda false "$@"
    fi
    if [ "${ERNIE_DRY_RUN:-0}" = 1 ]; then
        ernie_print_cmd "$@"
        return 0
    fi
    mkdir -p "$LOG" "$OUTPUT" "$CKPT"
    ernie_print_cmd "$@" > "$LOG/command.txt"
    # Keep the exit status of the job through the pipe into tee (POSIX sh has no pipefail).
    { "$@"; echo $? > "$LOG/status"; } 2>&1 | tee "$LOG/job.log"
    return "$(cat "$LOG/status")"
}

# The classifier command shared by the GLUE and Chinese classification scripts; task flags
# and the user's extra flags follow as arguments.  Uses TRAIN_SET / DEV_SET / TEST_SET
# (comma lists allowed for dev/test) and DO_TEST, TEST_SAVE.
ernie_run_classifier() {
    if [ "${DO_TEST:-true}" = true ]; then
        set -- --do_test true --test_set "$TEST_SET" --test_save "${TEST_SAVE:-$OUTPUT/test_out.tsv}" "$@"
    else
        set -- --do_test false "$@"
    fi
    ernie_launch run_classifier.py \
        --do_train true --do_val true --verbose true \
        --batch_size "$DEVICE_BATCH" \
        --init_pretraining_params "$MODEL_PATH/params" \
        --vocab_path "$VOCAB_PATH" --ernie_config_path "$ERNIE_CONFIG" \
        --train_set "$TRAIN_SET" --dev_set "$DEV_SET" \
        --checkpoints "$CKPT" \
        --epoch "$EPOCH" --learning_rate "$LR" --max_seq_len "$MAX_SEQ_LEN" \
        --warmup_proportion "$WARMUP" --weight_decay "$WEIGHT_DECAY" \
        --num_labels "$NUM_LABELS" --metric "$METRIC" \
        --skip_steps "$SKIP_STEPS" --save_steps "$SAVE_STEPS" --validation_steps "$VALIDATION_STEPS" \
        --random_seed "$SEED" "$@"
}

# Warn when a config does not have the hidden size of the model size the script is tuned for
# (the original large Chinese scripts silently used the ERNIE 1.0 base config).
ernie_check_hidden_size() {
    [ -f "$1" ] || return 0
    _h=$("${PYTHON:-python}" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("hidden_size"))' "$1" \
         2>/dev/null) || return 0
    if [ "$_h" != "$2" ]; then
        echo "warning: $1 has hidden_size $_h, but this script's hyper-parameters are for hidden_size $2" >&2
    fi
}

ernie_main() {
    : "${MODEL_PATH:?set MODEL_PATH to the pre-trained model directory (params/, vocab.txt, ernie_config.json)}"
    : "${TASK_DATA_PATH:?set TASK_DATA_PATH to the task data root}"
    : "${TASK_NAME:?the task script must set TASK_NAME}" "${MODEL_SIZE:?the task script must set MODEL_SIZE}"
    : "${BATCH_SIZE:?the task script must set BATCH_SIZE (global batch)}"
    VOCAB_PATH=${VOCAB_PATH:-$MODEL_PATH/vocab.txt}
    [ -n "${HIDDEN_SIZE:-}" ] && ernie_check_hidden_size "$ERNIE_CONFIG" "$HIDDEN_SIZE"
    GPU_LIST=$(ernie_gpu_list) || exit 1
    NUM_DEVICES=$(ernie_device_count_for "$BATCH_SIZE" "$(ernie_count_list "$GPU_LIST")")
    GPU_LIST=$(ernie_head_list "$GPU_LIST" "$NUM_DEVICES")
    DEVICE_BATCH=$(ernie_per_device_batch "$BATCH_SIZE" "$NUM_DEVICES") || exit 1
    if [ -z "${SEEDS:-}" ]; then
        SEEDS=$(ernie_range_list "${RUNS:-1}" | tr ',' '\n' | while read -r _s; do echo $((_s + 1)); done)
    fi
    if [ "$NUM_DEVICES" -gt 0 ]; then
        echo "[$TASK_NAME/$MODEL_SIZE] global batch $BATCH_SIZE = $NUM_DEVICES GPU(s) [$GPU_LIST] x $DEVICE_BATCH" >&2
    else
        echo "[$TASK_NAME/$MODEL_SIZE] global batch $BATCH_SIZE on CPU, one process" >&2
    fi
    RUN=0
    for SEED in $SEEDS; do
        RUN=$((RUN + 1))
        OUTPUT=${OUTPUT_ROOT:-./output}/$MODEL_SIZE/$TASK_NAME/run$RUN
        CKPT=${CHECKPOINT_ROOT:-./checkpoints}/$MODEL_SIZE/$TASK_NAME/run$RUN
        LOG=${LOG_ROOT:-./log}/$MODEL_SIZE/$TASK_NAME/run$RUN
        echo "[$TASK_NAME/$MODEL_SIZE] run $RUN, seed $SEED" >&2
        run_once "$@" || ernie_die "$TASK_NAME run $RUN (seed $SEED) failed; see $LOG/job.log"
    done
}
