#!/bin/sh
# The seven ERNIE 2.0 pre-training tasks, each trained alone on CPU with the tiny model
# (2 layers, hidden 64), on data built from the demo corpora: the table of the README
# ("Each task alone").
#
#   sh bench/task_learnability.sh                                      # about an hour on 2 cores
#   ROWS="zh:sentence_reordering en:capitalization" sh bench/task_learnability.sh   # some rows
#   a row is LANG:TASK or LANG:TASK:SCALE (SCALE x 600 updates; default $SCALE = 2.5, i.e. 1,500)
#
# 1. data: FULL=1 script/{zh,en}_task/make_task_demo_data.sh -> output/task_data_full/{zh,en}
#    (every sample the novels give, constructed 4 times with new random draws; skipped when present);
# 2. every row: python bench/task_learnability.py --lang L --task T --data_dir output/task_data_full/L
#    --iterations_scale 2.5 (1,500 updates of batch 32; sentence_distance 5: 3,000), learning rate
#    1e-3 (the recipe is in task_learnability.py), baselines computed on the same validation file;
# 3. the markdown table of all rows (task_learnability.py --table).
# Results: output/task_learnability/full/<lang>_<task>.json, logs beside them.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
SCALE=${SCALE:-2.5}
# sentence_distance only leaves chance after about 1,100 updates: it gets 3,000
ROWS=${ROWS:-"zh:knowledge_masking en:capitalization zh:token_document_relation zh:sentence_reordering zh:sentence_distance:5 zh:discourse_relation zh:ir_relevance"}
OUT=output/task_learnability/full

for lang in zh en; do
    case " $ROWS " in *" $lang:"*) ;; *) continue ;; esac
    if [ ! -f "output/task_data_full/$lang/stats.json" ]; then
        FULL=1 PYTHON="$PYTHON" sh "script/${lang}_task/make_task_demo_data.sh"
    fi
done
mkdir -p "$OUT"
JSONS=""
for row in $ROWS; do
    lang=${row%%:*} rest=${row#*:}
    task=${rest%%:*} scale=$SCALE
    [ "$task" = "$rest" ] || scale=${rest#*:}
    "$PYTHON" bench/task_learnability.py --lang "$lang" --task "$task" --data_dir "output/task_data_full/$lang" \
        --iterations_scale "$scale" --out "$OUT/${lang}_$task" --json "$OUT/${lang}_$task.json"
    JSONS="$JSONS $OUT/${lang}_$task.json"
done
# shellcheck disable=SC2086 -- JSONS: paths without spaces
"$PYTHON" bench/task_learnability.py --table $JSONS
