#!/bin/sh
# MSRA-NER on CPU: a small model pre-trained here vs the same architecture randomly initialised.
#
#   sh script/zh_task/msra_ner_cpu.sh
#
# Environment: the variables set below, with their defaults (and what they are where the name does not
# say it).
#
# Both runs use the same seed, data, schedule and head initialisation; the
# only difference is --init_pretraining_params.  Each run evaluates the dev
# subset and the full test set after every epoch; the reported test F1 is
# the one at the best dev F1 (the run record <WORK>/<init>/result.json).
# The script also reports the share of MSRA characters that are [UNK] under
# the vocabulary, and prints a table row per run.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python}
# converted data, made by `python -m ernie.prepare.finetune_data --task msra_ner --output_dir finetune_data`
MSRA_DIR=${MSRA_DIR:-finetune_data/msra_ner}
# pre-trained parameters: 600 knowledge-masking steps on the demo 三国演义 corpus
PRETRAINED=${PRETRAINED:-output/task_learnability/zh_knowledge_masking/checkpoints/step_600}
CONFIG=${CONFIG:-data/tasks/single_task/tiny_zh_config.json}   # model: H 64, 2 layers, 4 heads
VOCAB=${VOCAB:-config/vocab.txt}                               # 3,909 tokens, the demo corpus's
WORK=${WORK:-output/msra_ner_cpu}      # output directory; a rerun replaces WORK/<init>
TRAIN_N=${TRAIN_N:-4000}               # training sentences: the first N of train.tsv; 0 = all
DEV_N=${DEV_N:-1000}                   # dev sentences: the first N of dev.tsv; 0 = all
EPOCH=${EPOCH:-3}
LR=${LR:-1e-3}                         # peak learning rate, reached after the first WARMUP (a fraction) of the steps
BATCH=${BATCH:-32}
MAX_SEQ_LEN=${MAX_SEQ_LEN:-128}
WARMUP=${WARMUP:-0.1}
SEED=${SEED:-1}
INITS=${INITS:-pretrained random}      # which runs, in order

for f in train.tsv dev.tsv test.tsv label_map.json; do
    [ -f "$MSRA_DIR/$f" ] || { echo "missing $MSRA_DIR/$f: run python -m ernie.prepare.finetune_data --task msra_ner --output_dir DIR" >&2; exit 1; }
done
mkdir -p "$WORK"
# subsets: the header plus the first N sentences (0: the whole file)
subset() {  # file n out
    if [ "$2" -gt 0 ]; then head -n "$(($2 + 1))" "$1" > "$3"; else cp "$1" "$3"; fi
}
subset "$MSRA_DIR/train.tsv" "$TRAIN_N" "$WORK/train.tsv"
subset "$MSRA_DIR/dev.tsv" "$DEV_N" "$WORK/dev.tsv"

# [UNK] share of the characters (tokens of text_a) under the vocabulary
"$PYTHON" - "$VOCAB" "$WORK/train.tsv" "$WORK/dev.tsv" "$MSRA_DIR/test.tsv" <<'EOF' | tee "$WORK/oov.txt"
import sys
from reader.tokenization import FullTokenizer
tok = FullTokenizer(sys.argv[1])
for path in sys.argv[2:]:
    tokens = unk = 0
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            for word in line.rstrip("\n").split("\t")[0].split("\x02"):
                pieces = tok.tokenize(word)
                tokens += 1
                unk += (not pieces) or "[UNK]" in pieces
    print("%s: %d tokens, %d (%.2f%%) become [UNK] under %s" % (path, tokens, unk, 100.0 * unk / tokens, sys.argv[1]))
EOF

for INIT in $INITS; do
    OUT="$WORK/$INIT"
    rm -rf "$OUT"
    mkdir -p "$OUT"
    case $INIT in
        pretrained) INIT_FLAGS="--init_pretraining_params $PRETRAINED" ;;
        random) INIT_FLAGS="" ;;
        *) echo "unknown init $INIT (pretrained or random)" >&2; exit 1 ;;
    esac
    START=$(date +%s)
    # shellcheck disable=SC2086
    "$PYTHON" run_sequence_labeling.py --use_cuda false \
        --ernie_config_path "$CONFIG" --vocab_path "$VOCAB" $INIT_FLAGS \
        --label_map_config "$MSRA_DIR/label_map.json" --num_labels 7 --chunk_scheme IOB \
        --train_set "$WORK/train.tsv" --dev_set "$WORK/dev.tsv" \
        --do_test true --test_set "$MSRA_DIR/test.tsv" --test_save "$OUT/test_out.tsv" \
        --checkpoints "$OUT" --save_steps 0 --validation_steps 0 --max_checkpoints 1 \
        --epoch "$EPOCH" --learning_rate "$LR" --batch_size "$BATCH" --predict_batch_size 128 \
        --max_seq_len "$MAX_SEQ_LEN" --warmup_proportion "$WARMUP" --weight_decay 0.01 \
        --skip_steps 50 --random_seed "$SEED" > "$OUT/train.log" 2>&1
    echo "$INIT: $(($(date +%s) - START)) s" | tee "$OUT/wall.txt"
done

# table: init, train sentences, epochs, dev F1 (best), test F1 at that evaluation, wall time
"$PYTHON" - "$WORK" "$MSRA_DIR/test.tsv" $INITS <<'EOF'
import json, os, sys
work, test = sys.argv[1], sys.argv[2]
print("| init | train sentences | epochs | best dev F1 (epoch) | test F1 there | wall time |")
print("|---|---|---|---|---|---|")
for init in sys.argv[3:]:
    res = json.load(open(os.path.join(work, init, "result.json")))
    ev = res["evaluations"][res["best"]]
    dev = next(iter(ev["dev"].values()))
    t = ev["test"][test]["metrics"]
    n = sum(1 for _ in open(res["args"]["train_set"], encoding="utf-8")) - 1
    wall = open(os.path.join(work, init, "wall.txt")).read().split(":")[1].strip()
    print("| %s | %d | %d | %.4f (%d) | %.4f | %s |" % (init, n, res["args"]["epoch"], dev["f1"], ev["epoch"] + 1,
                                                      t["f1"], wall))
EOF
