#!/bin/sh
# MSRA-NER, ERNIE base (Chinese): sequence labelling.
#
#   MODEL_PATH=DIR TASK_DATA_PATH=./task_data \
#       sh script/zh_task/ernie_base/run_msra_ner.sh [extra run_sequence_labeling.py flags]
#
# Reads: MODEL_PATH (required); DATA_DIR (the data directory of this task) or TASK_DATA_PATH
# (its parent); optional: ERNIE_CONFIG, VOCAB_PATH, FULL_SCHEDULE, MAX_STEPS, SEEDS, MODEL_NAME,
# OUTPUT_ROOT, CHECKPOINT_ROOT, LOG_ROOT, PYTHON, CUDA_VISIBLE_DEVICES, ERNIE_NUM_GPUS, ERNIE_DRY_RUN
# (script/common.sh and the README's "Task scripts" section say what each does).  Without a GPU
# it runs the CPU demo (one seed, MAX_STEPS=60 steps); FULL_SCHEDULE=1 runs the paper's schedule.
# MODEL_PATH holds params/, vocab.txt and ernie_config.json.
# Shared logic (devices, per-GPU batch, runs): script/common.sh.  BATCH_SIZE is the paper's global
# batch; on N GPUs each of the N processes gets BATCH_SIZE / N.
#
# Paper (Table 4, base): 6 epochs, learning rate 5e-5, batch 16; the original script agrees.
# Data: text_a and label hold characters and BIO tags joined by \x02; label_map.json maps
# B-PER 0, I-PER 1, B-ORG 2, I-ORG 3, B-LOC 4, I-LOC 5, O 6 (O last, as the chunk metric needs).
# Chunk F1 (IOB) on dev and test after every VALIDATION_STEPS steps; test predictions written.
# Warmup 0 (constant learning rate), max_seq_len 256, one run, as the original.
# Real stand-in data: `python -m reader.prepare_finetune_data --task msra_ner --output_dir D`,
# then DATA_DIR=D/msra_ner.
# Obsolete flags dropped: --num_iteration_per_drop_scope, --use_fast_executor.
#
set -eu
ERNIE_ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
. "$ERNIE_ROOT/script/common.sh"

TASK_NAME=MSRA-NER
MODEL_SIZE=base
DATA_DIR=$(ernie_data_dir msra_ner)
HIDDEN_SIZE=768
EPOCH=6
LR=5e-5
BATCH_SIZE=16
MAX_SEQ_LEN=256
WARMUP=0.0
WEIGHT_DECAY=0.01
NUM_LABELS=7
CHUNK_SCHEME=IOB
RUNS=1
SKIP_STEPS=10
SAVE_STEPS=100000
VALIDATION_STEPS=100

run_once() {
    ernie_launch run_sequence_labeling.py \
        --do_train true --do_val true --do_test true --verbose true \
        --batch_size "$DEVICE_BATCH" \
        --init_pretraining_params "$MODEL_PATH/params" \
        --vocab_path "$VOCAB_PATH" --ernie_config_path "$ERNIE_CONFIG" \
        --label_map_config "$DATA_DIR/label_map.json" --num_labels "$NUM_LABELS" --chunk_scheme "$CHUNK_SCHEME" \
        --train_set "$DATA_DIR/train.tsv" --dev_set "$DATA_DIR/dev.tsv,$DATA_DIR/test.tsv" \
        --test_set "$DATA_DIR/test.tsv" --test_save "$OUTPUT/test_out.tsv" \
        --checkpoints "$CKPT" \
        --epoch "$EPOCH" --learning_rate "$LR" --max_seq_len "$MAX_SEQ_LEN" \
        --warmup_proportion "$WARMUP" --weight_decay "$WEIGHT_DECAY" \
        --skip_steps "$SKIP_STEPS" --save_steps "$SAVE_STEPS" --validation_steps "$VALIDATION_STEPS" \
        --random_seed "$SEED" $PROFILE_FLAGS "$@"
}

ernie_main "$@"
