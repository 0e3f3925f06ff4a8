"""How much of the test set did the pre-training corpus hold?  Test scores split by overlap.

    python bench/overlap_scores.py --lang zh --corpus <work>/corpus_msra_ner_train ... <cache>/corpus_pd1998 \\
        --test <finetune_data>/msra_ner/test.tsv [--label_map <finetune_data>/msra_ner/label_map.json] \\
        --runs <work>/finetune/msra_ner_sample3000_epoch8/*/lr1e-3_seed* [--json OUT]

Each test example is compared with every document of the pre-training corpora (``one_doc_per_file``
directories, read as the study's build reads them) by the relation of ``build_task_data --exclude_text``
(ernie/prepare/overlap.py: a shared run of 8 words / 12 characters) and falls in one subset
(:func:`overlap_subsets`): *clean* (it shares no run with the corpus), *contained* (one document covers half
of it or more), *partial* (shared runs, but no single document covers half: a stock phrase, a quotation),
*short* (a line shorter than the run standing whole in a document) or *unchecked* (too short to tell);
*seen* is partial + contained + short.  Each fine-tuning run (a ``run_classifier.py`` /
``run_sequence_labeling.py`` output directory whose ``ckpt/result.json`` says it finished) is rescored from
the test predictions of the evaluation its result names as best: accuracy, or chunk F1 (IOB, the toolkit's
metric) with ``--label_map``, on all test examples (checked equal to the recorded score) and on each subset
(none for an empty subset).  Printed per arm (the run directory's parent) as mean +- sd over its runs;
written to --json.  The corpus here includes the documents the build held out for validation, which
pre-training never trained on.
"""
import argparse
import collections
import json
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench._common import best_evaluation, machine_info, write_json  # noqa: E402
from ernie.args import number_type  # noqa: E402
from ernie.metrics import chunk_counts, chunk_f1, num_chunk_types  # noqa: E402
from ernie.prepare import overlap  # noqa: E402
from ernie.prepare.corpus import load_corpus  # noqa: E402
from reader.task_reader import DataError, load_label_map, read_tsv  # noqa: E402

SUBSETS = ("all", "clean", "seen", "partial", "contained", "short", "unchecked")
SEEN = ("partial", "contained", "short")
CONTAINED = 0.5         # the share of an example one corpus document must cover for "contained"


def overlap_subsets(test_path, corpus_dirs, lang, n=None):
    """{line number: subset} of every test example: ``clean`` (no run shared with any corpus document),
    ``contained`` (one document covers half its units or more; an example of at least n units), ``partial``
    (shared runs, but no single document covers half: stock phrases, quotations, runs stitched from several
    documents), ``short`` (shorter than n units and standing whole in a document: a boilerplate line) or
    ``unchecked`` (shorter than n // 2 units: the relation cannot tell)."""
    index = overlap.index_files([test_path], lang, n)
    units = collections.Counter()
    for (_path, line, _column), length in index.lengths.items():
        units[line] += length
    best = {}       # line -> the largest share of it one document covers
    for doc in load_corpus(corpus_dirs, "one_doc_per_file", lang):
        covered = collections.Counter()
        for (_path, line, _column), positions in index.covered(overlap.document_text(doc)).items():
            covered[line] += len(positions)
        for line, done in covered.items():
            best[line] = max(best.get(line, 0.0), done / units[line])
    subsets = {}
    for line, total in units.items():
        if line not in best:
            subsets[line] = "clean"
        elif total < index.n:
            subsets[line] = "short"
        else:
            subsets[line] = "contained" if best[line] >= CONTAINED else "partial"
    return subsets


def read_gold(path, label_map):
    """-> [(line number, gold)]: the label (classification) or its tag ids (sequence labelling)."""
    _header, rows = read_tsv(path, required=("label",))
    out = []
    for lineno, row in rows:
        if label_map is None:
            out.append((lineno, row["label"]))
            continue
        tags = row["label"].split("\x02")
        unknown = [t for t in tags if t not in label_map]
        if unknown:
            raise SystemExit("%s:%d: label(s) %s not in the label map"
                             % (path, lineno, ", ".join(sorted(set(unknown)))))
        out.append((lineno, [label_map[t] for t in tags]))
    return out


def run_counts(run_dir, gold, label_map):
    """Per test example: (num_infer, num_label, num_correct) chunk counts, or (1, 1, correct) for a class
    label; and the score the run recorded."""
    path = os.path.join(run_dir, "ckpt", "result.json")
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    best = best_evaluation(result) if result.get("finished") is True else None
    if best is None:
        raise SystemExit("%s: the run did not finish (no best evaluation to rescore)" % path)
    tests = best.get("test", {})
    if len(tests) != 1:
        raise SystemExit("%s: its best evaluation has %d test sets; one is expected" % (path, len(tests)))
    (test,) = tests.values()
    with open(test["file"], encoding="utf-8") as f:
        preds = [line.rstrip("\n").split("\t") for line in f]
    if len(preds) != len(gold):
        raise SystemExit("%s: %d predictions for %d test examples" % (test["file"], len(preds), len(gold)))
    counts = []
    if label_map is not None:
        num_types = num_chunk_types(len(label_map), "IOB")
        for k, ((_line, tags), pred) in enumerate(zip(gold, preds), 1):
            try:
                ids = [label_map[t] for t in pred[1].split("\x02")][:len(tags)]
            except (IndexError, KeyError):
                raise SystemExit("%s:%d: not text<TAB>tags with tags of the label map" % (test["file"], k)) from None
            counts.append(chunk_counts([ids], [tags], scheme="IOB", num_types=num_types))
    else:
        counts = [(1, 1, int(pred[0] == label)) for (_line, label), pred in zip(gold, preds)]
    return counts, test["metrics"][result["primary"]], result["primary"]


def score(counts, f1):
    """The metric over some examples' counts; None for no example."""
    if not counts:
        return None
    infer, label, correct = (sum(c[k] for c in counts) for k in range(3))
    return chunk_f1(infer, label, correct)[2] if f1 else correct / label


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang", choices=sorted(overlap.DEFAULT_NGRAM), required=True)
    p.add_argument("--corpus", nargs="+", required=True, help="the pre-training corpora (one_doc_per_file dirs)")
    p.add_argument("--test", required=True, help="the test TSV the runs were scored on")
    p.add_argument("--label_map", help="sequence labelling: the label map (chunk F1); without it, accuracy")
    p.add_argument("--runs", nargs="+", required=True, help="fine-tuning run directories; arm = parent's name")
    p.add_argument("--ngram", type=number_type(int, 2), help="shared run length (default 8 words / 12 characters)")
    p.add_argument("--json", help="write the scores here")
    args = p.parse_args(argv)
    try:
        label_map = load_label_map(args.label_map) if args.label_map else None
        gold = read_gold(args.test, label_map)
    except DataError as e:
        raise SystemExit(str(e)) from None
    subset_of = overlap_subsets(args.test, args.corpus, args.lang, args.ngram)
    members = {s: [] for s in SUBSETS}
    for k, (line, _) in enumerate(gold):
        subset = subset_of.get(line, "unchecked")
        for s in ("all", subset) + (("seen",) if subset in SEEN else ()):
            members[s].append(k)
    print("test examples: %s" % ", ".join("%s %d" % (s, len(members[s])) for s in SUBSETS))
    f1 = label_map is not None
    arms = {}
    for run in sorted(args.runs):
        counts, recorded, primary = run_counts(run, gold, label_map)
        scores = {s: score([counts[k] for k in members[s]], f1) for s in SUBSETS}
        if abs(scores["all"] - recorded) > 1e-9:
            raise SystemExit("%s: rescored %s %.6f, recorded %.6f: the predictions do not match the test file"
                             % (run, primary, scores["all"], recorded))
        arms.setdefault(os.path.basename(os.path.dirname(os.path.abspath(run))), []).append(
            dict(run=os.path.abspath(run), **scores))
    summary = {}
    for arm, runs in arms.items():
        summary[arm] = {}
        for s in SUBSETS:
            values = [100 * r[s] for r in runs if r[s] is not None]
            summary[arm][s] = {"mean": statistics.mean(values) if values else None,
                               "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "runs": values}
        print("%-18s %s" % (arm, "  ".join("%s %.2f +- %.2f" % (s, summary[arm][s]["mean"], summary[arm][s]["sd"])
                                            for s in SUBSETS if summary[arm][s]["mean"] is not None)))
    if args.json:
        write_json(args.json, {"test": os.path.abspath(args.test), "metric": "f1" if f1 else "acc",
                               "corpora": [os.path.abspath(c) for c in args.corpus],
                               "ngram": args.ngram or overlap.DEFAULT_NGRAM[args.lang],
                               "contained_from_one_document_covering": CONTAINED,
                               "examples": {s: len(members[s]) for s in SUBSETS},
                               "arms": summary, "per_run": arms, "machine": machine_info()})
    return summary


if __name__ == "__main__":
    main()
