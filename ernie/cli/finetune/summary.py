"""Summaries of fine-tuning runs from their ``result.json`` records (``ernie.cli.finetune.run.RunRecord``).

    # the paper's protocol over the runs of a task script (best dev per run, then the mean)
    python -m ernie.cli.finetune.summary checkpoints/minilm/SST-2-base     # every run*/result.json below it
    python -m ernie.cli.finetune.summary --brief checkpoints/minilm/SST-2-base   # per run: best dev, test there
    python -m ernie.cli.finetune.summary run1/result.json run2/result.json

    # one Markdown row per run (best dev, test at that evaluation, steps, wall time) + a majority baseline
    python -m ernie.cli.finetune.summary --table "MiniLM=ck/minilm/result.json" "scratch=ck/scratch/result.json" \\
        --majority DATA/train.tsv,DATA/dev.tsv,DATA/test.tsv

The first form prints :func:`ernie.cli.finetune.run.format_summary`'s lines:
each run's best dev evaluation (by the run's ``--best_metric`` on its first
dev file) with the test results at that evaluation, then the mean, median,
standard deviation, minimum and maximum over runs.  The paper reports the
mean of five runs (the GLUE dev numbers: the median), both are printed.
"""
import argparse
import collections
import glob
import os
import sys

from ernie.cli.finetune.run import finished_record, format_summary, summarize_runs
from reader.files import read_json
from reader.task_reader import read_tsv


def load_results(paths):
    """result.json dicts of ``paths`` (files, or directories searched for ``result.json`` and
    ``*/result.json``), in the order given (directories: by run number).  A record of a run that did not
    finish (``"finished": false``: killed or crashed) is left out, with a line on stderr naming it; none
    left is an error."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = glob.glob(os.path.join(path, "result.json")) + glob.glob(os.path.join(path, "*", "result.json"))
            if not found:
                raise ValueError("no result.json in %s or its subdirectories" % path)
            files += sorted(found, key=_run_number)
        else:
            files.append(path)
    results = []
    for f in files:
        record = read_json(f, "run record", expect=dict)
        if not finished_record(record):
            print("left out %s: the run did not finish (killed or crashed)" % f, file=sys.stderr)
            continue
        results.append(record)
    if not results:
        raise ValueError("no finished run record in %s" % ", ".join(paths))
    return results


def _run_number(path):
    name = os.path.basename(os.path.dirname(path))
    digits = "".join(c for c in name if c.isdigit())
    return (int(digits) if digits else -1, path)


def majority_baseline(train_path, eval_paths):
    """Accuracy of always predicting the most frequent training label, on each of ``eval_paths``.

    Returns (label, {path: accuracy}); ties pick the smallest label string."""
    _, rows = read_tsv(train_path, required=("label",))
    counts = collections.Counter(fields["label"] for _, fields in rows)
    if not counts:
        raise ValueError("%s has no example" % train_path)
    label = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    accs = {}
    for path in eval_paths:
        _, eval_rows = read_tsv(path, required=("label",))
        if not eval_rows:
            raise ValueError("%s has no example" % path)
        accs[path] = sum(fields["label"] == label for _, fields in eval_rows) / float(len(eval_rows))
    return label, accs


def table_row(name, result):
    """(name, dev metric, test metric at the best dev evaluation, epoch/step, wall time) of a run record."""
    best = result.get("best")
    primary = result["primary"]
    if best is None:
        return name, None, None, None, result.get("wall_time_s")
    ev = result["evaluations"][best]
    dev = next(iter(ev["dev"].values())).get(primary) if ev["dev"] else None
    test = None
    for t in ev["test"].values():
        if t.get("metrics"):
            test = t["metrics"].get(primary)
            break
    return name, dev, test, (ev["epoch"], ev["step"]), result.get("wall_time_s")


def format_table(rows, primary, majority=None):
    def f(v):
        return "-" if v is None else "%.4f" % v
    lines = ["| run | dev %s (best) | test %s at best dev | epoch / step | wall time |" % (primary, primary),
             "|---|---|---|---|---|"]
    for name, dev, test, where, wall in rows:
        lines.append("| %s | %s | %s | %s | %s |" % (
            name, f(dev), f(test), "-" if where is None else "%d / %d" % where,
            "-" if wall is None else "%.1f min" % (wall / 60.0)))
    if majority is not None:
        label, accs = majority
        values = list(accs.values())
        lines.append("| majority class (label %s) | %s | %s | - | - |" % (
            label, f(values[0]) if values else "-", f(values[1]) if len(values) > 1 else "-"))
    return lines


def brief_lines(result):
    """One or two lines on one run record: the best dev evaluation and the test results at that point."""
    seed = result.get("random_seed")
    best = result.get("best")
    if best is None or not result.get("evaluations"):
        return ["seed %s: no evaluation was recorded" % seed]
    ev = result["evaluations"][best]
    lines = []

    def metrics(values):
        return ", ".join("%s %.4f" % (k, v) for k, v in sorted(values.items()) if isinstance(v, (int, float)))
    for path, values in ev["dev"].items():
        lines.append("seed %s: dev %s at step %d (epoch %d): %s" % (seed, os.path.basename(path), ev["step"],
                                                                    ev["epoch"], metrics(values)))
    for path, test in ev["test"].items():
        if test.get("metrics"):
            lines.append("seed %s: test %s at that step: %s; predictions: %s" % (
                seed, os.path.basename(path), metrics(test["metrics"]), test.get("file")))
        else:
            lines.append("seed %s: test %s has no labels; predictions: %s" % (seed, os.path.basename(path),
                                                                               test.get("file")))
    if not lines:
        return ["seed %s: step %d, no dev or test set" % (seed, ev["step"])]
    lines.extend(majority_lines(result, list(ev["dev"]) + [p for p, t in ev["test"].items() if t.get("metrics")]))
    return lines


def majority_lines(result, eval_paths):
    """The accuracy of always predicting the most frequent training label on ``eval_paths`` (classification runs
    with an accuracy only), to read the run's accuracies against; [] when it does not apply."""
    args = result.get("args", {})
    train = args.get("train_set")
    if not train or args.get("is_regression") or result.get("primary") not in ("acc", "f1") or not eval_paths:
        return []
    try:
        label, accs = majority_baseline(train, eval_paths)
    except (ValueError, OSError):
        return []
    return ["majority class (label %s of %s) for comparison: %s" % (
        label, os.path.basename(train), ", ".join("%s acc %.4f" % (os.path.basename(p), a) for p, a in accs.items()))]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Summarise fine-tuning runs (result.json records).")
    parser.add_argument("paths", nargs="*", help="result.json files or directories holding run*/result.json")
    parser.add_argument("--table", nargs="+", metavar="NAME=RESULT",
                        help="print a Markdown table with one row per named run record")
    parser.add_argument("--brief", action="store_true",
                        help="per run only: the best dev evaluation and the test results at that point")
    parser.add_argument("--majority", metavar="TRAIN,DEV[,TEST]",
                        help="add the majority-class accuracy (most frequent train label) on DEV and TEST")
    args = parser.parse_args(argv)
    try:
        if args.table:
            rows, primary = [], None
            for item in args.table:
                if "=" not in item:
                    parser.error("--table items are NAME=RESULT, got %r" % item)
                name, path = item.split("=", 1)
                loaded = load_results([path])
                if len(loaded) != 1:
                    raise ValueError("--table %s: %d finished run records there; name one result.json"
                                     % (item, len(loaded)))
                result = loaded[0]
                primary = primary or result["primary"]
                rows.append(table_row(name, result))
            majority = None
            if args.majority:
                parts = [p for p in args.majority.split(",") if p]
                if len(parts) < 2:
                    parser.error("--majority needs TRAIN,DEV[,TEST]")
                majority = majority_baseline(parts[0], parts[1:])
            print("\n".join(format_table(rows, primary, majority)))
        if args.paths and args.brief:
            for result in load_results(args.paths):
                print("\n".join(brief_lines(result)))
        elif args.paths:
            print("\n".join(format_summary(summarize_runs(load_results(args.paths)))))
        if not args.table and not args.paths:
            parser.error("give result.json paths / directories, or --table")
    except ValueError as e:
        sys.exit("ernie.cli.finetune.summary: error: %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
