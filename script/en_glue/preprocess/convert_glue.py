"""Convert the official GLUE distribution into the TSV files the GLUE task scripts read.

    python script/en_glue/preprocess/convert_glue.py GLUE_DIR [OUTPUT_DIR] [--tasks CoLA,SST-2,...]

GLUE_DIR is the directory written by GLUE's ``download_glue_data.py``
(``CoLA/``, ``SST-2/``, ``MRPC/``, ``STS-B/``, ``QQP/``, ``MNLI/``, ``QNLI/``,
``RTE/``, ``WNLI/``, ``diagnostic/``); OUTPUT_DIR defaults to
``./glue_data_processed``, the ``TASK_DATA_PATH`` of ``script/en_glue``.
Tasks whose folder is missing are skipped with a message.

Output (header line first; test files get a ``qid`` column and the dummy
label ``-1``, because the reader requires a label column):

======  ==========================================  =============================================
task    train.tsv / dev.tsv                          test.tsv
======  ==========================================  =============================================
CoLA    ``label text_a``                             ``qid text_a label``
SST-2   ``label text_a``                             ``qid text_a label``
MRPC    ``text_a text_b label``                      ``qid text_a text_b label``
STS-B   ``text_a text_b label`` (float score)        ``qid text_a text_b label``
QQP     ``text_a text_b label``                      ``qid text_a text_b label``
MNLI    ``text_a text_b label``: ``train.tsv``,      ``m/test.tsv``, ``mm/test.tsv``;
        ``m/dev.tsv`` (matched), ``mm/dev.tsv``      ``diagnostic.tsv`` (AX, from ``diagnostic/``)
QNLI    ``text_a text_b label``                      ``qid text_a text_b label``
RTE     ``text_a text_b label``                      ``qid text_a text_b label``
WNLI    ``text_a text_b label``                      ``qid text_a text_b label``
======  ==========================================  =============================================

Labels: MNLI contradiction 0, neutral 1, entailment 2; QNLI and RTE
entailment 1, not_entailment 0; the others keep GLUE's values.  This is the
original's ``cvt.sh`` layout, with one bug fixed: GLUE's CoLA train/dev files
have no header, and the original replaced their first line by its header,
dropping the first example of each; here every line is kept.

Rows are checked: a wrong field count or an unknown label raises an error
naming the file and line, except where the original skipped rows silently
(SST-2 rows without exactly 2 fields, QQP train/dev rows without 6 fields or
with an empty label); those are skipped and counted.  Train/dev rows with an
empty first text are skipped and counted too (the reader rejects them); such
test rows are kept (a submission needs every id) and reported.  Text is
written unchanged; GLUE files contain no TABs inside fields.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

from ernie.args import reports_errors  # noqa: E402  (the repository root is on the path above)
from ernie.atomic_write import atomic_open  # noqa: E402
from reader.files import read_text_lines  # noqa: E402

MNLI_LABELS = {"contradiction": "0", "neutral": "1", "entailment": "2"}
NLI2_LABELS = {"entailment": "1", "not_entailment": "0"}
TASKS = ("CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI")


class GlueError(ValueError):
    """A GLUE file does not have the official layout; the message names the file and line."""


def read_rows(path):
    """Lines of a GLUE TSV split on TAB -> [(lineno, fields)] (1-based; line ends and a final CR removed)."""
    return [(i, line.split("\t")) for i, line in enumerate(read_text_lines(path, "GLUE file", GlueError), start=1)]


class Conversion:
    """Rows to write for one output file, plus counts of skipped rows and warnings."""

    def __init__(self, header):
        self.header = header
        self.rows = []
        self.skipped = {}
        self.warnings = {}

    def skip(self, reason):
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def warn(self, reason):
        self.warnings[reason] = self.warnings.get(reason, 0) + 1


def _label(value, mapping, path, lineno):
    if mapping is None:
        return value
    try:
        return mapping[value]
    except KeyError:
        raise GlueError("%s:%d: unknown label %r (expected one of %s)"
                        % (path, lineno, value, ", ".join(sorted(mapping)))) from None


def _need(fields, n, path, lineno, what):
    if len(fields) != n:
        raise GlueError("%s:%d: %d TAB-separated fields, expected %d (%s)" % (path, lineno, len(fields), n, what))


def convert_labelled(path, has_header, n_fields, text_cols, label_col, mapping=None, skip_bad_count=False,
                     skip_empty_label=False, label_first=False, check_label=None):
    """Train/dev file -> Conversion with ``label text_a`` (label_first) or ``text_a [text_b] label`` rows.

    ``text_cols``/``label_col`` are 0-based field indices; ``label_col`` may be negative (from the end).
    """
    names = ["text_a", "text_b"][:len(text_cols)]
    conv = Conversion(["label"] + names if label_first else names + ["label"])
    rows = read_rows(path)
    if has_header:
        rows = rows[1:]
    for lineno, fields in rows:
        if len(fields) != n_fields:
            if skip_bad_count:
                conv.skip("rows without %d fields" % n_fields)
                continue
            _need(fields, n_fields, path, lineno, "the official layout")
        raw_label = fields[label_col]
        if skip_empty_label and not raw_label.strip():
            conv.skip("rows with an empty label")
            continue
        label = _label(raw_label, mapping, path, lineno)
        if check_label is not None and not check_label(label):
            raise GlueError("%s:%d: bad label %r" % (path, lineno, raw_label))
        texts = [fields[c] for c in text_cols]
        if not texts[0].strip():
            conv.skip("rows with an empty first text")
            continue
        conv.rows.append([label] + texts if label_first else texts + [label])
    return conv


def convert_test(path, n_fields, id_col, text_cols, has_header=True):
    """Test file -> Conversion with ``qid text_a [text_b] label`` rows, label -1."""
    names = ["text_a", "text_b"][:len(text_cols)]
    conv = Conversion(["qid"] + names + ["label"])
    rows = read_rows(path)
    if has_header:
        rows = rows[1:]
    for lineno, fields in rows:
        _need(fields, n_fields, path, lineno, "the official test layout")
        qid = fields[id_col]
        if not qid.strip().lstrip("-").isdigit():
            raise GlueError("%s:%d: the id %r is not an integer" % (path, lineno, qid))
        texts = [fields[c] for c in text_cols]
        if not texts[0].strip():
            conv.warn("rows with an empty first text (kept; the reader rejects them)")
        conv.rows.append([qid] + texts + ["-1"])
    return conv


def _is_binary(label):
    return label in ("0", "1")


def _is_float(label):
    try:
        float(label)
    except ValueError:
        return False
    return True


def task_plan(task, glue_dir):
    """[(output path relative to OUTPUT_DIR/, conversion thunk)] of one task."""
    src = lambda *p: os.path.join(glue_dir, task, *p)   # noqa: E731
    if task == "CoLA":
        # train/dev: source, label, original mark, sentence; NO header line.
        lab = lambda f: (lambda: convert_labelled(src(f), False, 4, [3], 1, label_first=True,  # noqa: E731
                                                  check_label=_is_binary))
        return [("CoLA/train.tsv", lab("train.tsv")), ("CoLA/dev.tsv", lab("dev.tsv")),
                ("CoLA/test.tsv", lambda: convert_test(src("test.tsv"), 2, 0, [1]))]
    if task == "SST-2":
        lab = lambda f: (lambda: convert_labelled(src(f), True, 2, [0], 1, skip_bad_count=True,  # noqa: E731
                                                  label_first=True, check_label=_is_binary))
        return [("SST-2/train.tsv", lab("train.tsv")), ("SST-2/dev.tsv", lab("dev.tsv")),
                ("SST-2/test.tsv", lambda: convert_test(src("test.tsv"), 2, 0, [1]))]
    if task == "MRPC":
        # Quality, #1 ID, #2 ID, #1 String, #2 String
        lab = lambda f: (lambda: convert_labelled(src(f), True, 5, [3, 4], 0, check_label=_is_binary))  # noqa: E731
        return [("MRPC/train.tsv", lab("train.tsv")), ("MRPC/dev.tsv", lab("dev.tsv")),
                ("MRPC/test.tsv", lambda: convert_test(src("test.tsv"), 5, 0, [3, 4]))]
    if task == "STS-B":
        # index genre filename year old_index source1 source2 sentence1 sentence2 score
        lab = lambda f: (lambda: convert_labelled(src(f), True, 10, [7, 8], 9, check_label=_is_float))  # noqa: E731
        return [("STS-B/train.tsv", lab("train.tsv")), ("STS-B/dev.tsv", lab("dev.tsv")),
                ("STS-B/test.tsv", lambda: convert_test(src("test.tsv"), 9, 0, [7, 8]))]
    if task == "QQP":
        # id qid1 qid2 question1 question2 is_duplicate
        lab = lambda f: (lambda: convert_labelled(src(f), True, 6, [3, 4], 5, skip_bad_count=True,  # noqa: E731
                                                  skip_empty_label=True, check_label=_is_binary))
        return [("QQP/train.tsv", lab("train.tsv")), ("QQP/dev.tsv", lab("dev.tsv")),
                ("QQP/test.tsv", lambda: convert_test(src("test.tsv"), 3, 0, [1, 2]))]
    if task == "MNLI":
        # train: 12 fields, dev_*: 16 fields; sentence1/2 at 8/9, gold label last; test: 10 fields.
        lab = lambda f, n: (lambda: convert_labelled(src(f), True, n, [8, 9], -1, MNLI_LABELS))  # noqa: E731
        test = lambda f: (lambda: convert_test(src(f), 10, 0, [8, 9]))  # noqa: E731
        return [("MNLI/train.tsv", lab("train.tsv", 12)),
                ("MNLI/m/dev.tsv", lab("dev_matched.tsv", 16)), ("MNLI/mm/dev.tsv", lab("dev_mismatched.tsv", 16)),
                ("MNLI/m/test.tsv", test("test_matched.tsv")), ("MNLI/mm/test.tsv", test("test_mismatched.tsv")),
                ("MNLI/diagnostic.tsv",
                 lambda: convert_test(os.path.join(glue_dir, "diagnostic", "diagnostic.tsv"), 3, 0, [1, 2]))]
    if task in ("QNLI", "RTE"):
        # index, question/sentence1, sentence/sentence2, label
        lab = lambda f: (lambda: convert_labelled(src(f), True, 4, [1, 2], 3, NLI2_LABELS))  # noqa: E731
        return [(task + "/train.tsv", lab("train.tsv")), (task + "/dev.tsv", lab("dev.tsv")),
                (task + "/test.tsv", lambda: convert_test(src("test.tsv"), 3, 0, [1, 2]))]
    if task == "WNLI":
        lab = lambda f: (lambda: convert_labelled(src(f), True, 4, [1, 2], 3, check_label=_is_binary))  # noqa: E731
        return [("WNLI/train.tsv", lab("train.tsv")), ("WNLI/dev.tsv", lab("dev.tsv")),
                ("WNLI/test.tsv", lambda: convert_test(src("test.tsv"), 3, 0, [1, 2]))]
    raise ValueError("unknown GLUE task %r; choose from %s" % (task, ", ".join(TASKS)))


def write_tsv(path, conv):
    with atomic_open(path, newline="\n") as f:
        f.write("\t".join(conv.header) + "\n")
        for row in conv.rows:
            f.write("\t".join(row) + "\n")


def convert(glue_dir, output_dir, tasks=TASKS, log=print):
    """Convert every task of ``tasks`` found in ``glue_dir``; returns {output path: Conversion}."""
    done = {}
    for task in tasks:
        if not os.path.isdir(os.path.join(glue_dir, task)):
            log("%s: no folder %s, skipped" % (task, os.path.join(glue_dir, task)))
            continue
        for rel, thunk in task_plan(task, glue_dir):
            conv = thunk()
            path = os.path.join(output_dir, rel)
            write_tsv(path, conv)
            done[path] = conv
            extra = "".join(", skipped %d %s" % (n, r) for r, n in sorted(conv.skipped.items()))
            extra += "".join(", warning: %d %s" % (n, r) for r, n in sorted(conv.warnings.items()))
            log("%s: %d rows%s" % (path, len(conv.rows), extra))
    return done


@reports_errors(GlueError)
def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert the official GLUE data into ERNIE fine-tuning TSVs.")
    parser.add_argument("glue_dir", help="folder with CoLA/, SST-2/, ..., diagnostic/ as downloaded")
    parser.add_argument("output_dir", nargs="?", default="./glue_data_processed")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset. Default: all.")
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error("unknown task(s) %s; choose from %s" % (", ".join(unknown), ", ".join(TASKS)))
    if not os.path.isdir(args.glue_dir):
        parser.error("GLUE directory %s does not exist" % args.glue_dir)
    convert(args.glue_dir, args.output_dir, tasks)


if __name__ == "__main__":
    sys.exit(main())
