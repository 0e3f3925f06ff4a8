#!/bin/sh
# Convert the official GLUE data (as written by GLUE's download_glue_data.py) into the TSV
# files read by script/en_glue/ernie_{base,large}/<TASK>/task.sh:
#
#   sh script/en_glue/preprocess/cvt.sh GLUE_DIR [OUTPUT_DIR]     (default ./glue_data_processed)
#
# then run a task with TASK_DATA_PATH=OUTPUT_DIR.  Layouts, label maps and the checks made are
# described in convert_glue.py (it also fixes the original's loss of the first CoLA train and
# dev examples).  PYTHON selects the interpreter (default: python).
set -eu
if [ $# -lt 1 ]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
exec "${PYTHON:-python}" "$(dirname "$0")/convert_glue.py" "$@"
