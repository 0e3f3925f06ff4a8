"""What did pre-training put into the encoder?  A linear probe of frozen sentence features.

    python bench/linear_probe.py --model_config <work>/model_config.json --vocab <work>/task_data/vocab.txt \\
        --train train.tsv --dev dev.tsv --test test.tsv [--for_cn false] \\
        --arm ernie1_char=<work>/pretrain/ernie1_char/step_N --arm ernie2=<work>/pretrain/ernie2/step_N \\
        [--random_seeds 1,2,3] [--max_seq_len 128] [--json OUT]

Fine-tuning changes every weight, so a fine-tuned score mixes what the encoder brought with what the
labelled data taught it.  This probe keeps the encoder frozen: each arm's encoder (its pre-trained
parameters, or for ``random_init`` the seeded random initialisation of every ``--random_seeds`` seed)
encodes every example of a sentence-classification set (``label``/``text_a`` TSV, read as
``run_classifier.py`` reads it: ``--for_cn`` removes spaces), and an L2-regularised logistic regression
(scikit-learn) is trained on the training set's features, one probe per feature:

* ``layer_<k>``: the mean of hidden state k over the example's tokens ([CLS]/[SEP] included); ``layer_0``
  is the embedding layer's output (word + position + segment + task embeddings, layer-normed), the last is
  the top layer's (what a classifier on the sequence output would read);
* ``cls``: the pooled output, tanh(fc(last-layer [CLS])) (the next-sentence pooler of a pre-trained arm,
  what ``run_classifier.py`` classifies).

Features are standardised on the training set; the inverse regularisation C is chosen on dev accuracy from
{0.01, 0.1, 1, 10}; the test accuracy is that C's.  A pre-trained encoder whose frozen features classify
better than random ones has learned something the task can use; whether fine-tuning keeps it is then a
separate question.  Printed, and written to --json: per arm and feature, dev and test accuracy and C.
"""
import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np
import paddle
from sklearn.linear_model import LogisticRegression

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench._common import machine_info, paddle_info, write_json  # noqa: E402
from ernie.args import str2bool  # noqa: E402
from ernie.cli.embed import build_encoder_program, load_encoder_params  # noqa: E402
from ernie.config import ErnieConfig  # noqa: E402
from ernie.runtime import create_executor  # noqa: E402
from reader.task_reader import ClassifyReader, ExtractEmbeddingReader  # noqa: E402

logger = logging.getLogger(__name__)
C_GRID = (0.01, 0.1, 1.0, 10.0)
SPLITS = ("train", "dev", "test")


def read_split(path, vocab, for_cn):
    """-> (texts, labels) of a ``label``/``text_a`` TSV, as the classifier's reader reads it.  Single
    sentences only: a ``text_b`` column is refused (the probe would silently read half of each pair)."""
    examples = ClassifyReader(vocab, for_cn=for_cn).read_examples(path)
    if not examples:
        raise SystemExit("linear_probe: %s holds no example" % path)
    if any(e.text_b for e in examples):
        raise SystemExit("linear_probe: %s has a text_b column: the probe reads single sentences only" % path)
    return [e.text_a for e in examples], np.array([e.label for e in examples], dtype="int64")


def sentence_features(config, params_dir, texts_by_split, vocab, max_seq_len, seed, tmp_dir):
    """{split: {feature: float32 [N, H]}} of each split's texts through one frozen encoder, built and loaded
    once (``params_dir`` None: the random initialisation drawn after ``paddle.seed(seed)``).  Features:
    ``cls`` and ``layer_0`` .. ``layer_<num_hidden_layers>``, as in the module doc."""
    reader = ExtractEmbeddingReader(vocab, max_seq_len=max_seq_len)
    config.check_inputs(max_seq_len, vocab, vocab=reader.vocab)
    paddle.enable_static()
    main, startup, names, pooled, states = build_encoder_program(config, every_layer=True)
    fetches = [pooled] + states
    place = paddle.CPUPlace()
    exe, scope = create_executor(place), paddle.static.Scope()
    out = {}
    with paddle.static.scope_guard(scope):
        paddle.seed(seed)
        exe.run(startup)
        if params_dir is not None:
            if not load_encoder_params(params_dir, main, scope, place, config):
                logger.warning("%s has no pooled_fc: its cls feature comes from a random pooler", params_dir)
        for split, texts in texts_by_split.items():
            path = os.path.join(tmp_dir, "%s.tsv" % split)      # the reader reads files: one per split
            with open(path, "w", encoding="utf-8") as f:
                f.write("text_a\n")
                f.writelines(t + "\n" for t in texts)
            parts = []
            for batch in reader.data_generator(path, 64, epoch=1, shuffle=False, phase="encode")():
                pooled, *states = exe.run(main, feed={n: batch[n] for n in names}, fetch_list=fetches)
                mask = batch["input_mask"]                              # [B, L, 1]: 1 on real tokens
                parts.append([pooled] + [(h * mask).sum(axis=1) / mask.sum(axis=1) for h in states])
            columns = [np.concatenate(c).astype("float32") for c in zip(*parts)]
            out[split] = dict([("cls", columns[0])] + [("layer_%d" % k, c) for k, c in enumerate(columns[1:])])
    return out


def probe(features, labels):
    """Logistic regression on standardised training features, C chosen on dev.
    -> {"dev", "test", "C"} (accuracies in [0, 1])."""
    mu = features["train"].mean(axis=0)
    sd = features["train"].std(axis=0) + 1e-6
    x = {split: (features[split] - mu) / sd for split in SPLITS}
    best = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=5000).fit(x["train"], labels["train"])
        dev = float(model.score(x["dev"], labels["dev"]))
        if best is None or dev > best["dev"]:
            best = {"dev": dev, "test": float(model.score(x["test"], labels["test"])), "C": c}
    return best


def parse_arm(spec):
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError("--arm takes NAME=PARAMS_DIR, got %r" % spec)
    if not os.path.isdir(path):
        raise argparse.ArgumentTypeError("--arm %s: %s is not a directory" % (name, path))
    return name, path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_config", required=True)
    parser.add_argument("--vocab", required=True)
    for split in SPLITS:
        parser.add_argument("--" + split, required=True, help="%s TSV (label, text_a)" % split)
    parser.add_argument("--for_cn", type=str2bool, default=False, help="remove spaces, as run_classifier.py")
    parser.add_argument("--arm", type=parse_arm, action="append", default=[], help="NAME=PARAMS_DIR (repeat)")
    parser.add_argument("--random_seeds", default="1,2,3", help="seeds of the random_init arm ('' for none)")
    parser.add_argument("--max_seq_len", type=int, default=128)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.random_seeds.split(",") if s.strip()]
    if not args.arm and not seeds:
        parser.error("nothing to probe: give --arm and/or --random_seeds")

    config = ErnieConfig.from_json(args.model_config)
    data = {split: read_split(getattr(args, split), args.vocab, args.for_cn) for split in SPLITS}
    labels = {split: data[split][1] for split in SPLITS}
    runs = [("random_init", None, seed) for seed in seeds] + [(name, path, 0) for name, path in args.arm]
    results = {}
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for arm, params_dir, seed in runs:
            per_split = sentence_features(config, params_dir, {split: data[split][0] for split in SPLITS},
                                          args.vocab, args.max_seq_len, seed, tmp)
            features = list(per_split["train"])
            row = {"features": {f: probe({s: per_split[s][f] for s in SPLITS}, labels) for f in features},
                   "params": params_dir, "seed": seed if params_dir is None else None}
            results.setdefault(arm, []).append(row)
            print("%-18s dev/test: %s" % (arm + ("" if params_dir else " seed %d" % seed), "  ".join(
                "%s %.1f/%.1f" % (f, 100 * r["dev"], 100 * r["test"]) for f, r in row["features"].items())),
                flush=True)
    values, counts = np.unique(labels["train"], return_counts=True)
    majority = float(np.mean(labels["test"] == values[counts.argmax()]))
    print("majority class (of train) on test: %.2f; %d / %d / %d examples; %.0f s"
          % (100 * majority, *(len(labels[s]) for s in SPLITS), time.time() - start))
    if args.json:
        write_json(args.json, {"command": " ".join(sys.argv), "machine": machine_info(), "paddle": paddle_info(),
                               "data": {s: getattr(args, s) for s in SPLITS},
                               "examples": {s: len(labels[s]) for s in SPLITS},
                               "majority_test": majority, "c_grid": list(C_GRID), "arms": results,
                               "wall_s": round(time.time() - start, 1)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
