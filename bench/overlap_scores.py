"""Did the pre-training corpus hold part of the test set?  Test scores split by overlap.

    python bench/overlap_scores.py --lang zh --corpus <work>/corpus_msra_ner_train ... <cache>/corpus_pd1998 \\
        --test <finetune_data>/msra_ner/test.tsv [--label_map <finetune_data>/msra_ner/label_map.json] \\
        --runs <work>/finetune/msra_ner_sample3000_epoch8/*/lr1e-3_seed* [--json OUT]

Each test example is *seen* when a document of the pre-training corpora (``one_doc_per_file`` directories)
overlaps it, by the relation ``build_task_data --exclude_text`` uses to keep such text out
(ernie/prepare/overlap.py: a shared run of 8 words / 12 characters), and *clean* otherwise.  Each
fine-tuning run (a ``run_classifier.py`` / ``run_sequence_labeling.py`` output directory with
``ckpt/result.json``) is rescored from the test predictions of the evaluation its result names as best:
accuracy, or chunk F1 (IOB, as the toolkit's metric) with ``--label_map``, on all test examples (checked
equal to the recorded score), on the clean ones and on the seen ones.  Printed per arm (the run directory's
parent) as mean +- sd over its runs; written to --json.  A gain of a pre-trained arm that holds on the clean
examples does not come from having read the test text.
"""
import argparse
import json
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench._common import machine_info, write_json  # noqa: E402
from ernie.metrics import get_chunks, num_chunk_types  # noqa: E402
from ernie.prepare import overlap  # noqa: E402
from ernie.prepare.corpus import load_corpus  # noqa: E402

SUBSETS = ("all", "clean", "seen")


def seen_examples(test_path, corpus_dirs, lang, n=None):
    """{line number of a test example whose text a corpus document overlaps}."""
    index = overlap.index_files([test_path], lang, n)
    found = set()
    for doc in load_corpus(corpus_dirs, "one_doc_per_file", lang):
        found |= {line for _path, line in overlap.document_matches(doc, index)}
    return found


def read_test(path, label_map):
    """-> [(line number, gold)]: gold is the label (classification) or the tag ids (sequence labelling)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("label")
        for lineno, line in enumerate(f, 2):
            label = line.rstrip("\n").split("\t")[col]
            rows.append((lineno, [label_map[t] for t in label.split("\x02")] if label_map else label))
    return rows


def run_counts(run_dir, rows, label_map):
    """Per test example: (correct, predicted, gold) chunk counts, or (correct, 1, 1) for a class label."""
    with open(os.path.join(run_dir, "ckpt", "result.json"), encoding="utf-8") as f:
        result = json.load(f)
    best = result["evaluations"][result["best"]]
    (test,) = best["test"].values()
    with open(test["file"], encoding="utf-8") as f:
        preds = [line.rstrip("\n").split("\t") for line in f]
    if len(preds) != len(rows):
        raise SystemExit("%s: %d predictions for %d test examples" % (test["file"], len(preds), len(rows)))
    counts = []
    if label_map:
        num_types = num_chunk_types(len(label_map), "IOB")
        for (_line, gold), pred in zip(rows, preds):
            tags = [label_map[t] for t in pred[1].split("\x02")][:len(gold)]
            g, p = set(get_chunks(gold, "IOB", num_types)), set(get_chunks(tags, "IOB", num_types))
            counts.append((len(g & p), len(p), len(g)))
    else:
        counts = [(int(pred[0] == gold), 1, 1) for (_line, gold), pred in zip(rows, preds)]
    return counts, test["metrics"], result["primary"]


def score(counts, f1):
    correct, predicted, gold = (sum(c[k] for c in counts) for k in range(3))
    if not f1:
        return correct / gold if gold else 0.0
    p, r = (correct / predicted if predicted else 0.0), (correct / gold if gold else 0.0)
    return 2 * p * r / (p + r) if p + r else 0.0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang", choices=sorted(overlap.DEFAULT_NGRAM), required=True)
    p.add_argument("--corpus", nargs="+", required=True, help="the pre-training corpora (one_doc_per_file dirs)")
    p.add_argument("--test", required=True, help="the test TSV the runs were scored on")
    p.add_argument("--label_map", help="sequence labelling: the label map (chunk F1); without it, accuracy")
    p.add_argument("--runs", nargs="+", required=True, help="fine-tuning run directories; arm = parent's name")
    p.add_argument("--ngram", type=int, default=None, help="overlap run length (default 8 words / 12 characters)")
    p.add_argument("--json", help="write the scores here")
    args = p.parse_args(argv)
    label_map = None
    if args.label_map:
        with open(args.label_map, encoding="utf-8") as f:
            label_map = json.load(f)
    rows = read_test(args.test, label_map)
    seen = seen_examples(args.test, args.corpus, args.lang, args.ngram)
    members = {"all": set(range(len(rows))), "seen": {k for k, (line, _) in enumerate(rows) if line in seen}}
    members["clean"] = members["all"] - members["seen"]
    print("%d of %d test examples seen in the pre-training corpora" % (len(members["seen"]), len(rows)))
    arms = {}
    for run in sorted(args.runs):
        counts, recorded, primary = run_counts(run, rows, label_map)
        f1 = label_map is not None
        scores = {s: score([counts[k] for k in sorted(members[s])], f1) for s in SUBSETS}
        if abs(scores["all"] - recorded[primary]) > 1e-9:
            raise SystemExit("%s: rescored %s %.6f, recorded %.6f: the predictions do not match the test file"
                             % (run, primary, scores["all"], recorded[primary]))
        arms.setdefault(os.path.basename(os.path.dirname(os.path.abspath(run))), []).append(
            dict(run=os.path.abspath(run), **scores))
    summary = {}
    for arm, runs in arms.items():
        summary[arm] = {}
        for s in SUBSETS:
            values = [100 * r[s] for r in runs]
            summary[arm][s] = {"mean": statistics.mean(values),
                               "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "runs": values}
        print("%-18s %s" % (arm, "  ".join("%s %.2f +- %.2f" % (s, summary[arm][s]["mean"], summary[arm][s]["sd"])
                                            for s in SUBSETS)))
    if args.json:
        write_json(args.json, {"test": os.path.abspath(args.test), "metric": "f1" if label_map else "acc",
                               "corpora": [os.path.abspath(c) for c in args.corpus],
                               "ngram": args.ngram or overlap.DEFAULT_NGRAM[args.lang],
                               "examples": {s: len(members[s]) for s in SUBSETS},
                               "arms": summary, "per_run": arms, "machine": machine_info()})
    return summary


if __name__ == "__main__":
    main()
