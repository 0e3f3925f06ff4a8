#!/bin/sh
# ERNIE 2.0 continual multi-task pre-training on the English tasks: config/ernie2_en_tasks.json
# (knowledge masking, capitalization prediction, token-document relation, sentence reordering,
# discourse relation, as the released English model; demo data in data/tasks/en, vocabulary
# data/tasks/en/vocab.txt; capitalization labels come from the cased text, the input is uncased).
#
# Usage (from anywhere):  sh script/en_task/pretrain.sh [extra train.py flags...]
#
# This is script/zh_task/pretrain.sh with ERNIE_LANG=en: the same profiles (GPU: the paper's
# settings with the English peak learning rate 5e-5; CPU: a short demo on the shipped data), the
# same environment variables (ERNIE_TASK_CONFIG, STRATEGY, ITERATIONS_SCALE, ERNIE_CONFIG,
# CHECKPOINTS, ...) and the same log; see that script's header and docs/continual_pretraining.md.
set -eu
ERNIE_LANG=en
export ERNIE_LANG
exec sh "$(dirname "$0")/../zh_task/pretrain.sh" "$@"
