"""``run_classifier.py``: sentence(-pair) classification, regression (STS-B) and ranking (NLPCC-DBQA).

Usage (English, e.g. SST-2; see ``script/en_glue/*/*/task.sh`` for the paper settings)::

    python run_classifier.py --use_cuda false --for_cn false --do_train true --do_val true --do_test true \\
        --ernie_config_path MODEL/ernie_config.json --vocab_path MODEL/vocab.txt \\
        --init_pretraining_params MODEL/params --train_set D/train.tsv --dev_set D/dev.tsv \\
        --test_set D/test.tsv --test_save output/test_out.tsv --checkpoints checkpoints \\
        --epoch 3 --learning_rate 2e-5 --batch_size 32 --max_seq_len 128 --warmup_proportion 0.1 \\
        --weight_decay 0.0 --num_labels 2 --metric simple_accuracy --random_seed 1

Flags: ``ernie.cli.finetune.args`` (every flag of the original, same meanings);
flow, evaluation schedule, checkpoints, several processes and the run record:
``ernie.cli.finetune.run``.  Data: ``reader.task_reader.ClassifyReader`` (TSV
with a header; ``text_a``, optional ``text_b``, ``label``, optional ``qid``).

Head (as the original's classifier): pooled output -> dropout (training)
-> fully connected ``num_labels`` outputs, parameters ``_cls_out_w`` [H, C]
(truncated normal, std 0.02) and ``_cls_out_b`` [C] (zeros), the original's
names (``<task_name>_cls_out_*`` with an empty task name).  The dropout rate
is the config's ``hidden_dropout_prob``: 0.1 in every shipped config, the
value the original hard-coded (so a config without dropout has none at all).

* classification (``--is_classify true``, the default): mean softmax
  cross-entropy; training logs the batch accuracy;
* regression (``--is_classify false --is_regression true --num_labels 1``):
  mean squared error of the raw output.

Evaluation metrics (``--metric``, §3.3/3.4) on the whole file, with the
original's lines (``ernie.metrics``), each followed by ``, file: <path>,
epoch: <e>, steps: <s>``::

    simple_accuracy      [dev evaluation] ave loss: %f, acc:%f, data_num: %d, elapsed time: %f s
    acc_and_f1           [dev evaluation] ave loss: %f, ave_acc: %f, f1: %f, data_num: %d, elapsed time: %f s
    matthews_corrcoef    [dev evaluation] ave loss: %f, matthews_corrcoef: %f, data_num: %d, elapsed time: %f s
    acc_and_f1_and_mrr   [dev evaluation] ave loss: %f, acc: %f, f1: %f, mrr: %f, data_num: %d, elapsed time: %f s
    regression           [dev evaluation] ave loss: %f, pearson:%f, spearman:%f, corr:%f, elapsed time: %f s

F1 is that of class 1; MRR groups by ``qid`` (the file needs a qid column).
``pearson_and_spearman`` with a classifier correlates the class-1
probability with the labels (the original crashed there).  Differences from
the original: ``ave loss`` is the mean loss over all examples, also for
regression (the original printed 0.0 there); evaluation runs without
dropout in a program without a loss, the loss being computed from the
logits in float64.

Training log line (every ``--skip_steps``; the values of that step's batch)::

    epoch: %d, progress: %d/%d, step: %d, ave loss: %f, ave acc: %f, speed: %f steps/s
    epoch: %d, progress: %d/%d, step: %d, ave loss: %f,  speed: %f steps/s          (regression)

epoch is 0-based, progress = examples of the epoch trained so far / examples
per epoch, speed = steps per second since the previous line; ``--verbose``
adds a ``learning rate: %g`` line before it.

Test prediction (``--do_test``): ``testing <test file>, save to <file>`` and
one line per example, in file order, in ``<test_save>.<epoch>.<step>``::

    [qid TAB] pred TAB probs

pred: the class id (argmax; the original wrote it as a float, ``1.0``) or the
regression output; probs: the class probabilities (or the regression
output) as a bracketed numpy row, e.g. ``[0.01234567 0.98765433]``.  The qid
column is written when the file has one.  Test files may carry the GLUE
dummy label ``-1`` (or no label column): then only predictions are written;
with real labels the test file is also evaluated (``[test evaluation] ...``).
``--diagnostic`` (GLUE AX) is predicted once at the end into
``--diagnostic_save`` with the same line format.
"""
import logging
import os
import time

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle.nn.initializer import Constant

from ernie.args import cuda_available
from ernie.atomic_write import atomic_open
from ernie.cli.finetune.args import CLASSIFIER, UsageError, build_parser
from ernie.cli.finetune.run import Driver, FinetuneTask, HeadOutputs
from ernie.metrics import classify_eval_line, evaluate_classification, evaluate_regression, regression_eval_line
from ernie.modeling import graph_accuracy, truncated_normal
from reader.task_reader import ClassifyReader, DataError, read_tsv

logger = logging.getLogger(__name__)

HEAD_INIT_STD = 0.02

# --metric -> the metrics it computes and the default one that selects the best evaluation
METRIC_KEYS = {
    "simple_accuracy": ("acc", ("acc",)),
    "acc_and_f1": ("f1", ("acc", "f1", "precision", "recall")),
    "matthews_corrcoef": ("mcc", ("mcc",)),
    "acc_and_f1_and_mrr": ("mrr", ("acc", "f1", "precision", "recall", "mrr")),
    "pearson_and_spearman": ("pearson", ("pearson", "spearman", "corr")),
}
REGRESSION_KEYS = ("pearson", ("pearson", "spearman", "corr"))
BEST_METRIC_ALIASES = {"matthews_corrcoef": "mcc", "accuracy": "acc"}
GLUE_DUMMY_LABEL = "-1"


def head_param_names(task_name=""):
    return task_name + "_cls_out_w", task_name + "_cls_out_b"


def create_classifier_head(model, num_labels, is_training, task_name=""):
    """Pooled output -> dropout(hidden_dropout_prob) when training -> fc(num_labels): float32 [B, num_labels]."""

    pooled = model.get_pooled_output()
    rate = model.config.hidden_dropout_prob
    if is_training and rate > 0:
        pooled = F.dropout(pooled, p=rate, training=True, mode="upscale_in_train")
    w_name, b_name = head_param_names(task_name)
    hidden = model.config.hidden_size
    w = model.params.get(w_name, [hidden, num_labels], truncated_normal(HEAD_INIT_STD))
    b = model.params.get(b_name, [num_labels], Constant(0.0))
    return paddle.cast(paddle.matmul(pooled, w) + b, "float32")


def softmax_and_log(logits):
    """float64 (softmax, log-softmax) of ``logits`` [N, C]."""
    z = np.asarray(logits, dtype="float64")
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return np.exp(log_p), log_p


def format_row(values):
    """A numpy row as the original's bracketed string, on one line: ``[0.01234567 0.98765433]``."""
    return np.array2string(np.asarray(values, dtype="float32"), precision=8, separator=" ",
                           max_line_width=1 << 30, threshold=1 << 30)


def labels_are_real(path):
    """False when ``path`` has no label column or only the GLUE dummy label -1 (test files)."""
    header, rows = read_tsv(path)
    if "label" not in header:
        return False
    return any(fields["label"].strip() != GLUE_DUMMY_LABEL for _, fields in rows)


class ClassifierTask(FinetuneTask):
    """Classification / regression head, losses, evaluation and prediction files."""

    name = "classification head"

    # ------------------------------------------------------------------ flags
    def check_args(self, args):
        if bool(args.is_classify) == bool(args.is_regression):
            raise UsageError("exactly one of --is_classify and --is_regression must be true (got %s and %s)"
                             % (args.is_classify, args.is_regression))
        if args.is_regression:
            if args.num_labels != 1:
                raise UsageError("--is_regression true needs --num_labels 1, got %d" % args.num_labels)
            if args.label_map_config:
                raise UsageError("--label_map_config maps class names; it makes no sense with --is_regression")
        elif args.num_labels < 2:
            raise UsageError("classification needs --num_labels >= 2, got %d" % args.num_labels)
        if args.is_classify and args.metric == "matthews_corrcoef" and args.num_labels != 2:
            raise UsageError("--metric matthews_corrcoef is binary: it needs --num_labels 2, got %d"
                             % args.num_labels)
        keys = self._keys(args)[1]
        best = BEST_METRIC_ALIASES.get(args.best_metric, args.best_metric)
        if best != "auto" and best not in keys:
            raise UsageError("--best_metric %s is not computed by %s; choose auto or one of %s"
                             % (args.best_metric, "regression" if args.is_regression else
                                "--metric " + args.metric, ", ".join(keys)))
        if args.diagnostic and not args.diagnostic_save:
            raise UsageError("--diagnostic needs --diagnostic_save (where to write its predictions)")

    @staticmethod
    def _keys(args):
        if args.is_regression:
            return REGRESSION_KEYS
        return METRIC_KEYS[args.metric]

    def primary_metric(self, args):
        default, _ = self._keys(args)
        best = BEST_METRIC_ALIASES.get(args.best_metric, args.best_metric)
        return default if best == "auto" else best

    def required_params(self):
        return list(head_param_names())

    # ------------------------------------------------------------------ program
    def label_specs(self, args):
        return {"labels": ([-1, 1], "float32" if args.is_regression else "int64")}

    def build_head(self, model, inputs, args, is_training, with_labels):

        out = create_classifier_head(model, args.num_labels, is_training)
        if args.is_regression:
            outputs = {"preds": out}
        else:
            outputs = {"logits": out, "probs": F.softmax(out, axis=-1)}
        if not with_labels:
            return HeadOutputs(outputs=outputs)
        labels = inputs["labels"]
        if args.is_regression:
            loss = paddle.mean(F.square_error_cost(out, labels))
            return HeadOutputs(loss, {"loss": loss}, outputs)
        loss = paddle.mean(F.cross_entropy(out, labels, reduction="none"))
        return HeadOutputs(loss, {"loss": loss, "acc": graph_accuracy(out, labels)}, outputs)

    # ------------------------------------------------------------------ data
    def make_reader(self, args, purpose, seed=None):
        return ClassifyReader(args.vocab_path, label_map_config=args.label_map_config, max_seq_len=args.max_seq_len,
                              do_lower_case=args.do_lower_case, in_tokens=args.in_tokens,
                              is_inference=purpose == "predict", random_seed=seed, task_id=args.task_id,
                              tokenizer=args.tokenizer or "FullTokenizer", is_classify=args.is_classify,
                              is_regression=args.is_regression, for_cn=args.for_cn,
                              num_labels=None if args.is_regression else args.num_labels)

    def has_gold(self, path):
        return labels_are_real(path)

    def prepare_eval_files(self, ctx):
        """One reader per dev / test / diagnostic file, every line read and checked now."""
        args = ctx.args
        files = self.eval_files(args)
        if args.diagnostic:
            files.append((args.diagnostic, "predict"))
        for path, purpose in files:
            reader = self.make_reader(args, purpose)
            examples = reader.read_examples(path)
            if not examples:
                raise DataError("%s: no example after the header" % path)
            if purpose == "eval" and args.is_classify and args.metric == "acc_and_f1_and_mrr":
                bad = [e.lineno for e in examples if e.qid is None]
                if bad:
                    raise DataError("%s:%d: --metric acc_and_f1_and_mrr needs a qid column (query id of each "
                                    "candidate) in every evaluated file" % (path, bad[0]))
            ctx.readers.setdefault(path, {})[purpose] = reader

    def collect(self, ctx, path, purpose):
        """Run the evaluation program over ``path``: dict of numpy arrays in file order:
        ``logits``/``probs`` [N, C] (classification) or ``preds`` [N] (regression), ``labels`` [N]
        (when labelled), ``qids`` [N] (when the file has a qid column)."""
        args = ctx.args
        names = ["preds"] if args.is_regression else ["logits", "probs"]
        parts = {n: [] for n in names}
        labels, qids = [], []
        for batch, out in ctx.run_batches(self._reader(ctx, path, purpose), path, names):
            for n, v in zip(names, out):
                parts[n].append(v)
            if "labels" in batch:
                labels.append(batch["labels"].reshape(-1))
            if "qids" in batch:
                qids.append(batch["qids"].reshape(-1))
        res = {n: np.concatenate(v) for n, v in parts.items()}
        if args.is_regression:
            res["preds"] = res["preds"].reshape(-1)
        if labels:
            res["labels"] = np.concatenate(labels)
        if qids:
            res["qids"] = np.concatenate(qids)
        return res

    def metrics(self, args, res):
        """({metric: value} incl. ``loss``, the evaluation line without the phase prefix / suffix);
        ``res`` from :meth:`collect` (labelled); ``res["elapsed"]`` seconds."""
        labels, n = res["labels"], len(res["labels"])
        if args.is_regression:
            loss = float(np.mean((res["preds"].astype("float64") - labels.astype("float64")) ** 2))
            metrics = evaluate_regression(res["preds"], labels)
            line = regression_eval_line(metrics, res["elapsed"], loss)
        else:
            _, log_p = softmax_and_log(res["logits"])
            loss = float(-np.mean(log_p[np.arange(n), labels.astype("int64")]))
            metrics = evaluate_classification(args.metric, labels, res["probs"], res.get("qids"))
            line = classify_eval_line(args.metric, metrics, loss, n, res["elapsed"])
        metrics = dict(metrics, loss=loss)
        return metrics, line

    # ------------------------------------------------------------------ phases
    def evaluate(self, ctx, path, phase, epoch, step):
        start = time.time()
        res = self.collect(ctx, path, "eval")
        res["elapsed"] = time.time() - start
        metrics, line = self.metrics(ctx.args, res)
        logger.info("[%s evaluation] %s, file: %s, epoch: %d, steps: %d", phase, line, path, epoch, step)
        return metrics

    def write_predictions(self, args, res, save_path):
        """One line per example: ``[qid TAB] pred TAB probs`` (see the module doc)."""
        directory = os.path.dirname(os.path.abspath(save_path))
        os.makedirs(directory, exist_ok=True)
        if args.is_regression:
            preds = ["%.8g" % v for v in res["preds"]]
            rows = [format_row([v]) for v in res["preds"]]
        else:
            preds = [str(int(i)) for i in np.argmax(res["probs"], axis=1)]
            rows = [format_row(r) for r in res["probs"]]
        qids = res.get("qids")
        with atomic_open(save_path) as f:
            for i, (pred, row) in enumerate(zip(preds, rows)):
                f.write(("%d\t" % qids[i] if qids is not None else "") + "%s\t%s\n" % (pred, row))

    def predict_file(self, ctx, path, save_path, epoch, step):
        labelled = "eval" in ctx.readers.get(path, {})
        start = time.time()
        res = self.collect(ctx, path, "eval" if labelled else "predict")
        res["elapsed"] = time.time() - start
        logger.info("testing %s, save to %s", path, save_path)
        self.write_predictions(ctx.args, res, save_path)
        if not labelled:
            return None
        metrics, line = self.metrics(ctx.args, res)
        logger.info("[test evaluation] %s, file: %s, epoch: %d, steps: %d", line, path, epoch, step)
        return metrics

    def diagnostic(self, ctx, path, save_path):
        res = self.collect(ctx, path, "predict")
        self.write_predictions(ctx.args, res, save_path)

    # ------------------------------------------------------------------ logging
    def train_log_format(self, args, info):
        batch = info["batch"]
        v = info["values"]
        self.log_learning_rate(args, info)
        head = "epoch: %d, progress: %d/%d, step: %d, ave loss: %f, " % (
            getattr(batch, "epoch", 0), getattr(batch, "example", 0), getattr(batch, "num_examples", 0),
            info["step"], v["loss"])
        if args.is_regression:
            return head + " speed: %f steps/s" % info["speed"]
        return head + "ave acc: %f, speed: %f steps/s" % (v["acc"], info["speed"])


DRIVER = Driver(ClassifierTask, "run_classifier.py", lambda: build_parser(
    "Fine-tune ERNIE for sentence(-pair) classification, regression or ranking.", cuda_default=cuda_available(),
    task=CLASSIFIER))
parse_args, run, main = DRIVER.parse_args, DRIVER.run, DRIVER.main
