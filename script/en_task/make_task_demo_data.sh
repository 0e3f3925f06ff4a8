#!/bin/sh
# Regenerate the shipped English ERNIE 2.0 task demo data from Jane Austen's novels
# (see data/tasks/README.md):
#   data/tasks/en/vocab.txt, <task>.{train,valid}.gz, <task>.{train,valid}_filelist, tasks.json, stats.json
#
# Usage (from anywhere):  sh script/en_task/make_task_demo_data.sh
#   PYTHON       interpreter with the project installed (default: python)
#   ERNIE_CACHE  download cache (default: ~/.cache/ernie2)
#   AUSTEN_DEB   an already downloaded r-cran-janeaustenr_1.0.0-1_all.deb (default: fetched into the cache)
#   FULL=1       instead: every training sample the novels give, each task constructed DUPE_FACTOR
#                (default 4) times with new random draws, sentence_distance on runs of sentences of
#                at most 60 tokens, ids of the shipped data/tasks/en/vocab.txt; into OUT (default
#                output/task_data_full/en, not committed): the data of bench/task_learnability.sh.
#
# Needs network once: the Debian package r-cran-janeaustenr 1.0.0-1 (texts public domain,
# package MIT) is fetched with `apt-get download` (Debian/Ubuntu with Debian main in the
# sources; elsewhere download it by hand and set AUSTEN_DEB).  It is never installed: its R data
# base is decoded in Python (ernie/prepare/build_task_data.py --extract_austen, sha256-checked).
# The output is deterministic: a rerun gives identical files.
set -eu
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python}
CACHE=${ERNIE_CACHE:-$HOME/.cache/ernie2}
DEB=${AUSTEN_DEB:-$CACHE/r-cran-janeaustenr_1.0.0-1_all.deb}
mkdir -p "$CACHE"
if [ ! -f "$DEB" ]; then
    (cd "$CACHE" && apt-get download r-cran-janeaustenr=1.0.0-1)
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# One file per chapter of the six novels (269 chapters, files sorted by novel then chapter).
"$PYTHON" -m ernie.prepare.build_task_data --extract_austen "$DEB" --dest "$TMP/austen" \
    --austen_novels emma,mansfieldpark,northangerabbey,persuasion,prideprejudice,sensesensibility

if [ "${FULL:-0}" = 1 ]; then
    # every training sample, DUPE_FACTOR passes (default 4), sentence_distance on runs of <= 60 tokens,
    # the shipped vocabulary; into OUT (default output/task_data_full/en, not committed)
    OUT=${OUT:-output/task_data_full/en}
    LIMITS="knowledge_masking=0/200,capitalization=0/200,token_document_relation=0/200,sentence_reordering=0/400,sentence_distance=0/600,discourse_relation=0/300"
    set -- --vocab_path data/tasks/en/vocab.txt --dupe_factor "${DUPE_FACTOR:-4}" \
        --task_option sentence_distance.segment_tokens=60
else
    OUT=data/tasks/en
    LIMITS="knowledge_masking=1500/200,capitalization=1500/200,token_document_relation=1500/200,sentence_reordering=2000/400,sentence_distance=5000/600,discourse_relation=2000/300"
    set -- --build_vocab data/tasks/en/vocab.txt --max_vocab_size 6000 --min_count 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"
# 20 chapters spread over the six novels (--valid_split spread: every novel has validation
# chapters) are the validation split; the vocabulary (uncased, ERNIE 1.0 layout) is built from
# the training chapters.  The novels have no
# document titles, so ir_relevance is skipped (the English ERNIE 2.0 did not use it either).
"$PYTHON" -m ernie.prepare.build_task_data \
    --corpus "$TMP/austen" --input_format one_doc_per_file --lang en \
    --output_dir "$OUT" --tasks all --max_seq_len 128 --num_valid_docs 20 --valid_split spread \
    --random_seed 1 \
    --task_max_samples "$LIMITS" "$@"
