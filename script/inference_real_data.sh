#!/bin/sh
# Exported Paddle inference models on the Rotten Tomatoes test snippets (1,256), on CPU:
#  1. the "tiny" classifier of script/finetune_real_data.sh (fine-tuned here for TINY_EPOCH=1 epoch when
#     $WORK has none): predict_classifier.py against ernie.cli.export_inference + ernie.cli.inference
#     (paddle.inference predictor): same labels, probabilities compared, predictor sentences/s;
#  2. the MiniLM encoder (all-MiniLM-L6-v2 converted from PyPI): ernie_encoder.py against the exported
#     encoder run by the predictor, and the predictor's sentences/s.
# Usage: WORK=/tmp/ernie_finetune_real sh script/inference_real_data.sh
# Settings: PYTHON, WORK, BATCH_SIZE (32), CPU_THREADS (1), MAX_SEQ_LEN (64).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
WORK=${WORK:-${TMPDIR:-/tmp}/ernie_finetune_real}
BATCH_SIZE=${BATCH_SIZE:-32}
CPU_THREADS=${CPU_THREADS:-1}
MAX_SEQ_LEN=${MAX_SEQ_LEN:-64}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
DATA=$WORK/data/rotten_tomatoes
OUT=$WORK/inference
CKPT=$(ls -d "$WORK"/ckpt/tiny/step_* 2>/dev/null | tail -1 || true)
if [ -z "$CKPT" ]; then
    RUNS=tiny TINY_EPOCH=${TINY_EPOCH:-1} PYTHON=$PYTHON WORK=$WORK sh "$ROOT/script/finetune_real_data.sh" >&2
    CKPT=$(ls -d "$WORK"/ckpt/tiny/step_* | tail -1)
fi
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== classifier $CKPT" >&2
_start=$(date +%s.%N)
"$PYTHON" "$ROOT/predict_classifier.py" --init_checkpoint "$CKPT" --predict_set "$DATA/test.tsv" \
    --batch_size "$BATCH_SIZE" --use_cuda false --output "$OUT/predict_classifier.tsv" 2> "$OUT/predict_classifier.log"
echo "predict_classifier.py: $(echo "$(date +%s.%N) - $_start" | bc) s in all" >&2
grep "qps" "$OUT/predict_classifier.log" >&2
"$PYTHON" -m ernie.cli.export_inference --init_checkpoint "$CKPT" --output_dir "$OUT/tiny_classifier" 2> "$OUT/export.log"
"$PYTHON" -m ernie.cli.inference --model_dir "$OUT/tiny_classifier" --predict_set "$DATA/test.tsv" \
    --batch_size "$BATCH_SIZE" --cpu_threads "$CPU_THREADS" --output "$OUT/inference.tsv" 2> "$OUT/inference.log"
grep "sentences/s" "$OUT/inference.log" >&2
"$PYTHON" - "$OUT/predict_classifier.tsv" "$OUT/inference.tsv" "$DATA/test.tsv" <<'EOF'
import sys
import numpy as np
a = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
b = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])][1:]
gold = [l.rstrip("\n").split("\t") for l in open(sys.argv[3])]
col = gold[0].index("label")
gold = [int(r[col]) for r in gold[1:]]
same = sum(x[:-2] == y[:-2] for x, y in zip(a, b))
diff = max(abs(float(p) - float(q)) for x, y in zip(a, b) for p, q in zip(x[-2:], y[-2:]))
acc = np.mean([int(y[-3]) == g for y, g in zip(b, gold)])
print("classifier: %d/%d rows with the same index and label, max |prob difference| %.2g, test accuracy %.4f"
      % (same, len(a), diff, acc))
EOF

echo "== MiniLM encoder" >&2
MODEL=$WORK/minilm
if [ ! -f "$MODEL/ernie_config.json" ]; then
    "$PYTHON" -m ernie.cli.convert_bert --fetch_minilm --output_dir "$MODEL" >&2
fi
"$PYTHON" -m ernie.cli.export_inference --init_pretraining_params "$MODEL/params" --ernie_config_path "$MODEL/ernie_config.json" \
    --vocab_path "$MODEL/vocab.txt" --max_seq_len "$MAX_SEQ_LEN" --output_dir "$OUT/minilm_encoder" 2>> "$OUT/export.log"
"$PYTHON" -m ernie.cli.inference --model_dir "$OUT/minilm_encoder" --predict_set "$DATA/test.tsv" \
    --batch_size "$BATCH_SIZE" --cpu_threads "$CPU_THREADS" --output "$OUT/minilm_inference" 2> "$OUT/minilm_inference.log"
grep "sentences/s" "$OUT/minilm_inference.log" >&2
"$PYTHON" "$ROOT/ernie_encoder.py" --ernie_config_path "$MODEL/ernie_config.json" --init_pretraining_params "$MODEL/params" \
    --vocab_path "$MODEL/vocab.txt" --data_set "$DATA/test.tsv" --max_seq_len "$MAX_SEQ_LEN" --batch_size "$BATCH_SIZE" \
    --use_cuda false --progress false --output_dir "$OUT/minilm_encoder_py" 2> "$OUT/minilm_encoder_py.log"
"$PYTHON" - "$OUT/minilm_inference" "$OUT/minilm_encoder_py" <<'EOF'
import sys
import numpy as np
a, b = sys.argv[1], sys.argv[2]
lens = np.array_equal(np.load(a + "/seq_lens.npy"), np.load(b + "/seq_lens.npy"))
d_cls = np.abs(np.load(a + "/cls_emb.npy") - np.load(b + "/cls_emb.npy")).max()
d_top = np.abs(np.load(a + "/top_layer_emb.npy") - np.load(b + "/top_layer_emb.npy")).max()
print("minilm encoder: seq_lens equal %s, max |difference| cls_emb %.2g, top_layer_emb %.2g" % (lens, d_cls, d_top))
EOF
