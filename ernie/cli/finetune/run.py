"""The shared fine-tuning driver: flags -> readers -> programs -> ``Trainer`` -> evaluations -> run record.

A task (classification here; sequence labelling and reading comprehension
later) is a :class:`FinetuneTask`: it declares its label feeds, builds its head
on the encoder, makes its readers, formats its training log line and
evaluates / predicts a file.  Everything else is generic and lives here:

* :func:`build_program`: one static program (encoder + head [+ optimizer]);
  the training program has dropout and the label feeds, the evaluation
  program has neither (GLUE test files carry dummy ``-1`` labels that modern
  Paddle's losses reject) and shares the parameters through the scope by name;
* :class:`TrainData`: an ``ernie.trainer.BatchSource`` over a task
  reader's ``data_generator`` (epoch, progress, end-of-epoch mark, resumable
  position, one shard per process);
* :func:`max_train_steps`: the original's step estimate behind the schedule;
* :class:`RunRecord`: every evaluation of the run, the best dev one and the
  test results at that point, written to ``result.json``;
* :func:`run`: the original ``run_classifier.py`` flow (§5.1).

Flow of :func:`run` (differences from the original in brackets):

1. flags checked (clear errors before anything is built); with several
   processes (``python -m paddle.distributed.launch``) the process group is
   joined before static mode;
2. every data file is read and checked before training starts [the original
   failed, or ended the data stream, mid-run];
3. ``--do_train``: ``max_train_steps = epoch * examples // batch_size //
   processes`` (tokens: ``// (batch_size // max_seq_len)``), warm-up
   ``int(max_train_steps * warmup_proportion)`` steps of
   ``ernie.optimization.lr_scheduler`` (the original's linear warm-up then
   linear decay to 0 at ``max_train_steps``; constant without warm-up).
   Training runs until the data are exhausted, as the original (a few steps
   past the estimate run with learning rate 0) [new: ``--max_steps N`` stops after N steps, the schedule
   fitted to N].  Parameters come from
   ``--init_checkpoint`` (exact resume) or ``--init_pretraining_params``
   (encoder required, head fresh) or, with neither, a random initialisation;
4. evaluation (rank 0 only) every ``--validation_steps``, after every epoch
   [the original: at the first logging step of the next epoch] and at the end
   [the original's final ``steps`` label was one past the last step]: every
   ``--dev_set`` file, then, with ``--do_test``, every ``--test_set`` file is
   predicted into ``<test_save>.<epoch>.<step>`` (and evaluated too when its
   labels are real, i.e. not all the GLUE dummy ``-1``);
5. at the end: ``--diagnostic`` predicted into ``--diagnostic_save``; the
   best evaluation of the run (by the first dev file's ``--best_metric``) is
   logged, its test predictions are copied to ``<test_save>`` itself, and
   the run record goes to ``--result_file`` (default
   ``<checkpoints>/result.json``).  When ``--checkpoints`` ends in ``run<k>``
   (the task scripts' layout), the records of every sibling ``run*`` with
   the same settings that finished are summarised: best dev per run, then the
   mean over runs (the paper's protocol; also the median and standard
   deviation).  The record says ``"finished": false`` until the run ends; a run
   resumed from its own checkpoint keeps its earlier evaluations up to that step.

Several processes: each process reads the whole training file with the
same seeded shuffle and takes every n-th batch of it (a disjoint shard, so
an epoch is one pass over the data and the effective batch is n x
``--batch_size``); gradients are averaged in the program and rank 0's
parameters are broadcast at the start.  Only rank 0 logs, evaluates and saves.
"""
import argparse
import contextlib
import glob
import json
import logging
import math
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import paddle

from ernie.args import DeviceError, init_logging, optimizer_options, print_arguments, warn_compat_flags
from ernie.atomic_write import write_json
from ernie.checkpoint import (STATE_FILE, CheckpointError, claim_checkpoint_dir, init_pretraining_params,
                              read_train_state)
from ernie.cli.finetune.args import UsageError, check_common_args, resolve_for_cn, split_list, unused_flag_values
from ernie.config import ConfigError
from ernie.distributed import (DistributedError, all_reduce_values, allreduce_gradients, env_rank_and_size,
                               init_distributed, rank_failures_reported)
from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from ernie.optimization import AmpDeviceError, amp_guard, build_optimizer, lr_scheduler
from ernie.runtime import static_runtime
from ernie.trainer import CheckpointConfig, LoggingConfig, NonFiniteLossError, Trainer, TrainerConfig, ValidationConfig
from reader.files import read_json
from reader.task_reader import DataError
from reader.vocab import VocabError

logger = logging.getLogger(__name__)

RESULT_FORMAT = 1
# Settings that define an experiment: runs agreeing on all of them are summarised together.
SIGNATURE_KEYS = ("ernie_config_path", "init_pretraining_params", "vocab_path", "train_set", "dev_set", "epoch",
                  "learning_rate", "lr_scheduler", "batch_size", "in_tokens", "max_seq_len", "warmup_proportion",
                  "weight_decay", "num_labels", "metric", "best_metric", "is_classify", "is_regression",
                  "label_map_config", "for_cn", "do_lower_case")


# --------------------------------------------------------------------------- tasks
class HeadOutputs:
    """What a task head adds to a program.

    loss: scalar float32 Value to minimise (None in evaluation programs);
    fetches: {name: scalar Value} logged during training;
    outputs: {name: Value} fetched when evaluating / predicting (per example, batch first).
    """

    def __init__(self, loss=None, fetches=None, outputs=None):
        self.loss = loss
        self.fetches = dict(fetches or {})
        self.outputs = dict(outputs or {})


class FinetuneTask:
    """Interface of a fine-tuning task (see :mod:`ernie.cli.finetune.classifier` for one)."""

    #: name used in messages
    name = "task"

    def check_args(self, args):
        """Raise ``UsageError`` for flags this task cannot use."""

    def check_config(self, args, config):
        """Raise ``ConfigError`` when the model config cannot serve this task."""

    def label_specs(self, args):
        """{feed name: (shape, dtype)} of the training labels."""
        raise NotImplementedError

    def build_head(self, model, inputs, args, is_training, with_labels):
        """Build the head on ``model`` (an ``ErnieModel``); returns :class:`HeadOutputs`."""
        raise NotImplementedError

    def make_reader(self, args, purpose, seed=None):
        """A reader for ``purpose`` in ("train", "eval", "predict"); ``seed`` shuffles the training data."""
        raise NotImplementedError

    def train_log_format(self, args, info):
        """The training log line of a logging step (``ernie.trainer`` ``info`` dict)."""
        raise NotImplementedError

    def primary_metric(self, args):
        """Name of the dev metric (higher is better) that selects the best evaluation."""
        raise NotImplementedError

    def prepare_eval_files(self, ctx):
        """Read and check the dev / test files now (before training)."""

    def eval_files(self, args):
        """[(path, purpose)] of ``--dev_set`` (``--do_val``: evaluated) and ``--test_set`` (``--do_test``:
        evaluated when :meth:`has_gold` says the file has gold labels/answers, else only predicted)."""
        files = [(p, "eval") for p in split_list(args.dev_set)] if args.do_val else []
        if args.do_test:
            files += [(p, "eval" if self.has_gold(p) else "predict") for p in split_list(args.test_set)]
        return files

    def has_gold(self, path):
        """Whether the test file ``path`` carries gold labels / answers."""
        raise NotImplementedError

    @staticmethod
    def log_learning_rate(args, info):
        """``--verbose``: the learning rate (and loss scaling) of a logged step, on its own line."""
        if args.verbose:
            logger.info("learning rate: %g%s", info["lr"], (", loss scaling: %g" % info["loss_scaling"])
                        if info.get("loss_scaling") is not None else "")

    def _reader(self, ctx, path, purpose):
        """The reader of ``path`` for ``purpose``, made once per run (``ctx.readers`` caches what
        ``prepare_eval_files`` already read and checked)."""
        readers = ctx.readers.setdefault(path, {})
        if purpose not in readers:
            readers[purpose] = self.make_reader(ctx.args, purpose)
        return readers[purpose]

    def evaluate(self, ctx, path, phase, epoch, step):
        """Evaluate a labelled file; log the original's line; return {metric: float}."""
        raise NotImplementedError

    def predict_file(self, ctx, path, save_path, epoch, step):
        """Predict ``path`` into ``save_path``; return {metric: float} when its labels are real, else None."""
        raise NotImplementedError

    def diagnostic(self, ctx, path, save_path):
        """Predict a GLUE diagnostic file into ``save_path`` (``--diagnostic``)."""
        raise NotImplementedError

    def required_params(self):
        """Parameter names a fine-tuned checkpoint must hold for evaluation without training."""
        return []


# --------------------------------------------------------------------------- programs
class FinetuneProgram:
    """A built program: ``main``, ``startup``, ``feed_names``, the head's ``loss`` / ``fetches`` /
    ``outputs`` and (training) the ``ernie.optimization.TrainOptimizer``."""

    def __init__(self, main, startup, feed_names, head, optimizer=None):
        self.main = main
        self.startup = startup
        self.feed_names = feed_names
        self.loss = head.loss
        self.fetches = head.fetches
        self.outputs = head.outputs
        self.optimizer = optimizer


def build_program(config, task, args, is_training, amp=None, optimizer_args=None, grad_hook=None,
                  with_labels=None):
    """Encoder + ``task`` head (+ optimizer when ``optimizer_args``) as a new static program.

    is_training: dropout on; with_labels (default: is_training): declare the
    label feeds and build the loss.  optimizer_args: dict for
    ``ernie.optimization.build_optimizer`` or None.
    """

    with_labels = is_training if with_labels is None else with_labels
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        specs = task.label_specs(args) if with_labels else {}
        names = encoder_input_names(config) + list(specs)
        with amp_guard(amp):
            inputs = create_inputs(names, specs)
            model = ErnieModel(inputs, config, is_training=is_training)
            head = task.build_head(model, inputs, args, is_training, with_labels)
        opt = None
        if optimizer_args is not None:
            if head.loss is None:
                raise ValueError("the %s head built no loss to optimise" % task.name)
            opt = build_optimizer(head.loss, amp=amp, grad_hook=grad_hook, **optimizer_args)
    return FinetuneProgram(main, startup, names, head, opt)


def make_feed_fn(feed_names):
    """Batch dict -> feed dict of the program's feeds (``task_ids`` from the reader when declared)."""
    def feed(batch):
        missing = [n for n in feed_names if n not in batch]
        if missing:
            raise KeyError("the batch lacks the feed(s) %s (has %s)" % (", ".join(missing), ", ".join(batch)))
        return {n: batch[n] for n in feed_names}
    return feed


def max_train_steps(num_examples, epoch, batch_size, nranks=1, in_tokens=False, max_seq_len=None):
    """The original's schedule length: ``epoch * N // batch_size // nranks`` (tokens: the batch counts
    ``batch_size // max_seq_len`` examples).  Only an estimate: training runs until the data end."""
    if in_tokens:
        per_batch = batch_size // max_seq_len
        if per_batch <= 0:
            raise UsageError("--in_tokens: --batch_size %d is smaller than --max_seq_len %d"
                             % (batch_size, max_seq_len))
        return epoch * num_examples // per_batch // nranks
    return epoch * num_examples // batch_size // nranks


# --------------------------------------------------------------------------- training data
class Batch(dict):
    """A feed dict with the training loop's attributes.

    epoch: 0-based epoch; example: examples of that epoch in the batches
    released so far, this one included; num_examples: examples per epoch;
    end_of_epoch: last batch of its epoch for this process; state: reader
    position after this batch.
    """

    epoch = 0
    example = 0
    num_examples = 0
    end_of_epoch = False
    state = None


class TrainData:
    """An ``ernie.trainer.BatchSource`` over ``reader.data_generator`` (a ``reader.task_reader`` reader).

    All processes build the same seeded stream of batches (the reader's own
    ``RandomState``; each epoch reshuffles the previous order, as the
    original) grouped by ``nranks``; process ``rank`` takes the batches whose
    index is ``rank`` modulo ``nranks``.  The final incomplete group of the
    run is dropped, so every process gets the same number of batches.

    Position (``state``): ``{"batches": i + 1}`` after the batch of global
    index i.  ``load_state_dict`` makes the next ``batches()`` replay the
    seeded stream and skip those batches, so a fresh reader with the same
    seed continues exactly where the checkpoint was taken.
    """

    def __init__(self, reader, path, batch_size, epoch, rank=0, nranks=1):
        self.reader = reader
        self.path = path
        self.batch_size = int(batch_size)
        self.epoch = int(epoch)
        self.rank = int(rank)
        self.nranks = int(nranks)
        self.num_examples = reader.get_num_examples(path)
        self._skip = 0

    def num_batches(self):
        """Batches this process will get (None with token batching, which depends on the lengths)."""
        if self.reader.in_tokens:
            return None
        per_epoch = -(-self.num_examples // self.batch_size)
        return self.epoch * per_epoch // self.nranks

    def load_state_dict(self, state):
        self._skip = int(state["batches"])

    def batches(self):
        reader = self.reader
        generator = reader.data_generator(self.path, self.batch_size, epoch=self.epoch, dev_count=self.nranks,
                                          shuffle=True, phase="train")
        previous = None
        for index, padded in enumerate(generator()):
            if index < self._skip or index % self.nranks != self.rank:
                continue
            batch = Batch(padded)
            batch.epoch, batch.example = reader.current_epoch, reader.current_example
            batch.num_examples, batch.state = self.num_examples, {"batches": index + 1}
            if previous is not None:
                previous.end_of_epoch = batch.epoch != previous.epoch
                yield previous
            previous = batch
        if previous is not None:
            previous.end_of_epoch = True
            yield previous


# --------------------------------------------------------------------------- run record
def _finite(value):
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def finished_record(record):
    """Whether a ``result.json`` dict is a finished run's: it says ``"finished": false`` while the run goes on
    and when it was killed or crashed (records written before the field existed count as finished)."""
    return record.get("finished") is not False


class RunRecord:
    """Every evaluation of one run; the best one by ``primary`` on the first dev file.

    evaluations: list of {"step", "epoch", "dev": {path: metrics}, "test": {path: {"file", "metrics"}}}.
    ``finished`` is written False until the run ends normally: a record left by a killed or crashed run
    keeps its evaluations but says it is partial, so summaries and resumable studies never count it.
    """

    def __init__(self, primary, args_dict, random_seed, nranks=1, path=None):
        self.primary = primary
        self.path = path
        self.args = args_dict
        self.random_seed = random_seed
        self.nranks = nranks
        self.evaluations = []
        self.finished = False
        self.start = time.time()

    def add(self, step, epoch, dev, test):
        self.evaluations.append({"step": int(step), "epoch": int(epoch), "dev": dev, "test": test})
        self.save()

    def finish(self):
        """Mark the run complete (its last evaluation is the final one)."""
        self.finished = True

    def resume(self, step):
        """A run resumed from its own step-``step`` checkpoint keeps the evaluations up to that step of the
        record already at ``path``, when that record is this run's (same settings and seed): without them a
        run killed late, e.g. after its last checkpoint, would be summarised by its last evaluation only."""
        if not (self.path and os.path.isfile(self.path)):
            return
        try:
            earlier = read_json(self.path, "run record", expect=dict)
        except ValueError as e:
            logger.warning("the earlier run record is not kept: %s", e)
            return
        if (earlier.get("signature") != self.signature() or earlier.get("random_seed") != self.random_seed
                or not isinstance(earlier.get("evaluations"), list)):
            return
        self.evaluations = [ev for ev in earlier["evaluations"]
                            if isinstance(ev, dict) and isinstance(ev.get("step"), int) and ev["step"] <= step]
        if self.evaluations:
            logger.info("resuming at step %d: %d evaluation(s) of the run record %s kept", step,
                        len(self.evaluations), self.path)

    def save(self):
        """Write the record to ``path`` (if any); done at the start and after every evaluation, so a
        crashed run keeps its evaluations and a checkpoint's run settings are known to the predictor."""
        if self.path:
            write_json(self.path, self.to_dict())

    def best_index(self):
        """Index of the evaluation with the highest primary metric on the first dev file (first of ties);
        without dev results, the last evaluation; None without evaluations."""
        best, best_value = None, None
        for i, ev in enumerate(self.evaluations):
            if not ev["dev"]:
                continue
            value = next(iter(ev["dev"].values())).get(self.primary)
            value = value if _finite(value) else -math.inf
            if best is None or value > best_value:
                best, best_value = i, value
        if best is None and self.evaluations:
            return len(self.evaluations) - 1
        return best

    def signature(self):
        """The settings that make two runs comparable (their seeds aside)."""
        signature = {k: self.args.get(k) for k in SIGNATURE_KEYS}
        signature["nranks"] = self.nranks
        return signature

    def to_dict(self):
        best = self.best_index()
        return {"format": RESULT_FORMAT, "primary": self.primary, "random_seed": self.random_seed,
                "signature": self.signature(), "evaluations": self.evaluations, "best": best, "finished": self.finished,
                "wall_time_s": round(time.time() - self.start, 3), "args": self.args,
                "time": time.strftime("%Y-%m-%d %H:%M:%S")}


# --------------------------------------------------------------------------- evaluation context
@dataclass(eq=False, repr=False)
class EvalContext:
    """What a task needs to evaluate: executor, scope, the evaluation program and the settings."""

    args: Any
    config: Any
    exe: Any
    scope: Any
    program: Any
    place: Any
    feed_fn: Optional[Callable] = field(init=False)
    readers: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.feed_fn = make_feed_fn(self.program.feed_names) if self.program is not None else None

    @property
    def batch_size(self):
        return self.args.predict_batch_size or self.args.batch_size

    def run_batches(self, reader, path, fetch_names):
        """Yield (batch, [fetched arrays]) for every batch of ``path`` in file order."""
        fetch_list = [self.program.outputs[n] for n in fetch_names]
        generator = reader.data_generator(path, self.batch_size, epoch=1, shuffle=False, phase="eval")
        with paddle.static.scope_guard(self.scope):
            for batch in generator():
                out = self.exe.run(self.program.main, feed=self.feed_fn(batch), fetch_list=fetch_list)
                yield batch, [np.asarray(o) for o in out]


def evaluate_all(task, ctx, record, epoch, step):
    """Every dev file, then every test file (predictions, + metrics when labelled); recorded."""
    args = ctx.args
    dev = {}
    if args.do_val:
        for path in split_list(args.dev_set):
            logger.info("validation result of dataset %s:", path)
            dev[path] = task.evaluate(ctx, path, "dev", epoch, step)
    test = {}
    if args.do_test:
        for path, save in zip(split_list(args.test_set), split_list(args.test_save)):
            out = "%s.%d.%d" % (save, epoch, step)
            test[path] = {"file": out, "metrics": task.predict_file(ctx, path, out, epoch, step)}
    record.add(step, epoch, dev, test)
    scalars = {}
    if dev:
        first = next(iter(dev.values()))
        scalars = {k: v for k, v in first.items() if _finite(v)}
    return scalars


# --------------------------------------------------------------------------- summaries
def summarize_runs(results):
    """Summary of several runs' ``result.json`` dicts: best dev per run, then mean / median / std.

    Returns {"runs": [{"seed", "step", "epoch", "dev": {metric: value}, "test": {path: metrics or None},
    "test_files": {path: file}}], "primary", "dev_file", "n", "mean", "median", "std", "min", "max",
    "dev_mean": {metric: mean}, "test_mean": {path: {metric: mean}}}.
    """
    if not results:
        raise ValueError("no run results to summarise")
    primary = results[0]["primary"]
    runs = []
    for res in results:
        if res["primary"] != primary:
            raise ValueError("runs disagree on the selection metric: %s vs %s" % (primary, res["primary"]))
        best = res.get("best")
        if best is None:
            continue
        ev = res["evaluations"][best]
        dev_file, dev_metrics = (next(iter(ev["dev"].items())) if ev["dev"] else (None, {}))
        runs.append({"seed": res.get("random_seed"), "step": ev["step"], "epoch": ev["epoch"],
                     "dev_file": dev_file, "dev": dev_metrics,
                     "test": {p: t.get("metrics") for p, t in ev["test"].items()},
                     "test_files": {p: t.get("file") for p, t in ev["test"].items()},
                     "wall_time_s": res.get("wall_time_s")})
    if not runs:
        raise ValueError("none of the %d runs has an evaluation" % len(results))

    def stats(values):
        arr = np.array([v for v in values if _finite(v)], dtype="float64")
        if arr.size == 0:
            return {"n": 0, "mean": float("nan"), "median": float("nan"), "std": float("nan"),
                    "min": float("nan"), "max": float("nan")}
        return {"n": int(arr.size), "mean": float(arr.mean()), "median": float(np.median(arr)),
                "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
                "min": float(arr.min()), "max": float(arr.max())}

    out = {"primary": primary, "dev_file": runs[0]["dev_file"], "runs": runs, "n": len(runs)}
    out.update({k: v for k, v in stats([r["dev"].get(primary) for r in runs]).items() if k != "n"})
    names = sorted({k for r in runs for k, v in r["dev"].items() if _finite(v)})
    out["dev_mean"] = {k: stats([r["dev"].get(k) for r in runs])["mean"] for k in names}
    test_mean = {}
    for path in sorted({p for r in runs for p in r["test"]}):
        metrics = [r["test"].get(path) for r in runs if r["test"].get(path)]
        keys = sorted({k for m in metrics for k, v in m.items() if _finite(v)})
        test_mean[path] = {k: stats([m.get(k) for m in metrics])["mean"] for k in keys} if metrics else None
    out["test_mean"] = test_mean
    return out


def format_summary(summary):
    """Human-readable lines of :func:`summarize_runs`'s result."""
    p = summary["primary"]
    lines = ["[summary] %d run(s); best dev %s per run on %s:" % (summary["n"], p, summary["dev_file"])]
    for r in summary["runs"]:
        tests = []
        for path, metrics in r["test"].items():
            tests.append("%s %s" % (os.path.basename(path), ("%s %.6f" % (p, metrics[p])) if metrics and p in metrics
                                    else "-> " + str(r["test_files"].get(path))))
        lines.append("[summary]   seed %s: %s %.6f at epoch %d, step %d%s" % (
            r["seed"], p, r["dev"].get(p, float("nan")), r["epoch"], r["step"],
            ("; test " + ", ".join(tests)) if tests else ""))
    lines.append("[summary] dev %s: mean %.6f, median %.6f, std %.6f, min %.6f, max %.6f over %d run(s)" % (
        p, summary["mean"], summary["median"], summary["std"], summary["min"], summary["max"], summary["n"]))
    others = ", ".join("%s %.6f" % (k, v) for k, v in summary["dev_mean"].items() if k != p)
    if others:
        lines.append("[summary] dev means at the best evaluations: %s" % others)
    for path, means in summary["test_mean"].items():
        if means:
            lines.append("[summary] test %s at the best dev evaluations: %s" % (
                path, ", ".join("%s mean %.6f" % (k, v) for k, v in means.items())))
    return lines


def sibling_results(result_file, signature):
    """``result.json`` of the sibling ``run*`` directories whose settings match ``signature`` (finished runs
    only: a record with ``"finished": false`` is a killed or crashed run's)."""
    run_dir = os.path.dirname(os.path.abspath(result_file))
    if not re.fullmatch(r"run\d+", os.path.basename(run_dir)):
        return []
    found = []
    for path in sorted(glob.glob(os.path.join(os.path.dirname(run_dir), "run*", os.path.basename(result_file))),
                       key=lambda p: int(re.sub(r"\D", "", os.path.basename(os.path.dirname(p))) or 0)):
        try:
            with open(path, encoding="utf-8") as f:
                res = json.load(f)
        except (OSError, ValueError):
            continue
        if res.get("signature") == signature and finished_record(res):
            found.append(res)
    return found


# --------------------------------------------------------------------------- driver
def _distributed():
    """(rank, nranks); joins the launcher's process group (before static mode)."""
    _, nranks = env_rank_and_size()
    if nranks <= 1:
        return 0, 1
    return init_distributed()


def _resolve_seed(args, nranks, state):
    """--random_seed, else the seed in ``state`` (the train state of the checkpoint resumed from, or None),
    else a fresh one (agreed by all ranks)."""
    if args.random_seed is not None:
        return int(args.random_seed)
    if state is not None:
        seed = state.get("random_seed")
        if seed is not None:
            logger.info("--random_seed not given: using the seed %s of %s", seed,
                        os.path.join(args.init_checkpoint, STATE_FILE))
            return int(seed)
    seed = secrets.randbelow(2 ** 31)
    if nranks > 1:
        seed = int(all_reduce_values([seed], "max")[0])
    logger.info("--random_seed not given: drew %d (pass --random_seed %d to repeat this run)", seed, seed)
    return seed


# The preprocessing a fine-tuned checkpoint was trained with, saved in its train_state.json ("extra") so that
# predict_classifier.py takes it from the checkpoint itself, not from whatever run record lies beside it.
def checkpoint_settings(args):
    """The preprocessing flags a fine-tuned checkpoint keeps (file paths made absolute)."""
    def absolute(path):
        return os.path.abspath(path) if path else path
    return {"ernie_config_path": absolute(args.ernie_config_path), "vocab_path": absolute(args.vocab_path),
            "for_cn": args.for_cn, "do_lower_case": args.do_lower_case, "max_seq_len": args.max_seq_len,
            "label_map_config": absolute(args.label_map_config), "is_regression": args.is_regression,
            "task_id": args.task_id}


def result_path(args):
    if args.result_file:
        return args.result_file
    return os.path.join(args.checkpoints, "result.json") if args.checkpoints else None


def finish_run(task, args, record, rank):
    """Log the best evaluation, copy its test predictions to <test_save>, write and summarise the record."""
    if rank != 0:
        return None
    record.finish()
    result = record.to_dict()
    best = result["best"]
    if best is not None:
        ev = record.evaluations[best]
        dev_part = ", ".join("%s %s: %.6f" % (os.path.basename(p), record.primary, m.get(record.primary, float("nan")))
                             for p, m in ev["dev"].items())
        logger.info("best evaluation of this run: epoch %d, step %d%s", ev["epoch"], ev["step"],
                    (" (" + dev_part + ")") if dev_part else " (no dev set: the last one)")
        for (path, t), save in zip(ev["test"].items(), split_list(args.test_save)):
            if os.path.isfile(t["file"]) and os.path.abspath(t["file"]) != os.path.abspath(save):
                shutil.copyfile(t["file"], save)
                logger.info("test predictions of %s at that evaluation: %s (copied to %s)", path, t["file"], save)
            if t.get("metrics"):
                logger.info("test result of %s at that evaluation: %s", path,
                            ", ".join("%s: %.6f" % kv for kv in sorted(t["metrics"].items())))
    path = record.path
    if path:
        write_json(path, result)
        logger.info("run record written to %s", path)
        siblings = sibling_results(path, result["signature"])
        if len(siblings) > 1:
            for line in format_summary(summarize_runs(siblings)):
                logger.info(line)
    return result


def run(args, task):
    """Fine-tune / evaluate / predict as the flags say; returns a dict with the ``trainer`` (or None), the
    ``record`` (:class:`RunRecord`) and the ``result`` (rank 0's result dict).  Raises on bad input."""
    check_common_args(args)
    warn_compat_flags(args, logger)
    resolve_for_cn(args, logger.info)
    task.check_args(args)
    for flag in unused_flag_values(args):
        logger.warning("--%s %s has no effect on %s (a flag of another fine-tuning driver)", flag,
                       getattr(args, flag), task.name)
    rank, nranks = _distributed()   # before paddle.enable_static(): collectives need dynamic mode
    # rank 0 of a training run holds --checkpoints from now on, before any compute
    holds_dir = rank == 0 and args.do_train and args.checkpoints
    with claim_checkpoint_dir(args.checkpoints, resume_from=args.init_checkpoint,
                              overwrite=args.overwrite_checkpoints) if holds_dir else contextlib.nullcontext():
        return _run(args, task, rank, nranks)


def evaluation_context(args, task, runtime, needs_program):
    """The :class:`EvalContext` (with the evaluation program when ``needs_program``)."""
    program = build_program(runtime.config, task, args, is_training=False, amp=runtime.amp) if needs_program else None
    return EvalContext(args, runtime.config, runtime.exe, runtime.scope, program, runtime.place)


def training_data(args, task, seed, rank, nranks):
    """The training data of this process (:class:`TrainData`) and the length of the learning-rate schedule
    (the original's estimate, or ``--max_steps``); logs the original's four lines."""
    data = TrainData(task.make_reader(args, "train", seed=seed), args.train_set, args.batch_size, args.epoch,
                     rank, nranks)
    if data.num_examples == 0:
        raise DataError("training set %s holds no example (only a header?): nothing to train on" % args.train_set)
    steps = max_train_steps(data.num_examples, args.epoch, args.batch_size, nranks, args.in_tokens, args.max_seq_len)
    if args.max_steps and args.max_steps < steps:
        logger.info("--max_steps %d: training stops after %d of the %d steps of %d epoch(s); the learning-rate "
                    "schedule is fitted to %d steps", args.max_steps, args.max_steps, steps, args.epoch,
                    args.max_steps)
        steps = args.max_steps
    logger.info("Device count: %d", nranks)
    logger.info("Num train examples: %d", data.num_examples)
    logger.info("Max train steps: %d", steps)
    logger.info("Num warmup steps: %d", int(steps * args.warmup_proportion))
    return data, steps


def training_program(args, task, runtime, schedule_steps, nranks):
    """Encoder + head + AdamW over the original's schedule of ``schedule_steps`` steps (gradients averaged
    over the processes in the program)."""
    scheduler = lr_scheduler(args.lr_scheduler, args.learning_rate, int(schedule_steps * args.warmup_proportion),
                             schedule_steps)
    grad_hook = None
    if nranks > 1:
        grad_hook = lambda params_grads: allreduce_gradients(params_grads, nranks)  # noqa: E731
    return build_program(runtime.config, task, args, is_training=True, amp=runtime.amp, grad_hook=grad_hook,
                         optimizer_args=dict(optimizer_options(args), scheduler=scheduler))


def make_trainer(args, task, runtime, program, data, ctx, record, seed, rank, nranks, evaluating):
    """The ``Trainer`` of the run: until the data end (or ``--max_steps``), evaluating every
    ``--validation_steps``, after every epoch and at the end when ``evaluating``."""
    def eval_fn(trainer):
        epoch = trainer.last_batch.epoch if trainer.last_batch is not None else 0
        return evaluate_all(task, ctx, record, epoch, trainer.step)

    def log_fn(info):
        return task.train_log_format(args, info)

    total = data.num_batches()
    if args.max_steps:
        total = args.max_steps if total is None else min(total, args.max_steps)
    return Trainer(
        runtime.exe, program.main, program.optimizer, program.fetches,
        TrainerConfig(num_train_steps=total if total is not None else 2 ** 62, random_seed=seed, rank=rank,
                      nranks=nranks),
        scope=runtime.scope, place=runtime.place,
        checkpoint=CheckpointConfig(directory=args.checkpoints, save_steps=args.save_steps,
                                    max_checkpoints=args.max_checkpoints, model_config=runtime.config,
                                    extra_state_fn=lambda: {"settings": checkpoint_settings(args)}),
        validation=ValidationConfig(eval_fn=eval_fn if evaluating else None,
                                    every_steps=args.validation_steps if evaluating else 0,
                                    at_end=evaluating, on_epoch_end=evaluating and args.validate_every_epoch),
        logging=LoggingConfig(every_steps=args.skip_steps, log_fn=log_fn, vdl_dir=args.vdl_dir),
        feed_fn=make_feed_fn(program.feed_names))


def initialise_parameters(trainer, program, args, seed):
    """Random initialisation (seeded), then ``--init_checkpoint`` (exact resume) or
    ``--init_pretraining_params`` (encoder only); rank 0's parameters are broadcast to the others."""
    trainer.run_startup(program.startup)
    if args.init_checkpoint:
        if args.init_pretraining_params:
            logger.warning("both --init_checkpoint and --init_pretraining_params are given: resuming from "
                           "--init_checkpoint %s (as the original)", args.init_checkpoint)
        trainer.load_checkpoint(args.init_checkpoint)
    elif args.init_pretraining_params:
        trainer.load_pretraining_params(args.init_pretraining_params)
    else:
        logger.warning("no --init_pretraining_params: fine-tuning starts from randomly initialised "
                       "parameters (seed %d)", seed)
    trainer.broadcast_parameters()


def load_finetuned(args, task, runtime, ctx, seed):
    """Without training: the fine-tuned parameters of ``--init_checkpoint`` into the evaluation program;
    returns the step they were saved at (0 when unknown)."""
    with paddle.static.scope_guard(runtime.scope):
        paddle.seed(seed)
        runtime.exe.run(ctx.program.startup)
    loaded = init_pretraining_params(args.init_checkpoint, ctx.program.main, scope=runtime.scope,
                                     place=runtime.place, config=runtime.config)
    missing = [p for p in task.required_params() if p not in loaded]
    if missing:
        raise CheckpointError("%s holds no %s (%s): it is not a fine-tuned checkpoint of this task"
                              % (args.init_checkpoint, task.name, ", ".join(missing)))
    state = read_train_state(args.init_checkpoint, missing_ok=True)
    return int(state.get("step", 0)) if state is not None else 0


def run_diagnostic(task, ctx, args):
    logger.info("Final diagnostic")
    task.diagnostic(ctx, args.diagnostic, args.diagnostic_save)
    logger.info("Done final diagnostic, saving to %s", args.diagnostic_save)


def _run(args, task, rank, nranks):
    resumed_state = read_train_state(args.init_checkpoint, missing_ok=True) if args.init_checkpoint else None
    seed = _resolve_seed(args, nranks, resumed_state)
    runtime = static_runtime(args, rank, args.init_checkpoint or args.init_pretraining_params,
                             task_id=args.task_id, check_config=lambda c: task.check_config(args, c))
    evaluating = rank == 0 and (args.do_val or args.do_test)
    ctx = evaluation_context(args, task, runtime, needs_program=evaluating or (rank == 0 and bool(args.diagnostic)))
    if rank == 0:
        task.prepare_eval_files(ctx)       # every dev / test file checked before training
    record = RunRecord(task.primary_metric(args), {k: v for k, v in vars(args).items() if not k.startswith("_")},
                       seed, nranks, path=result_path(args) if rank == 0 else None)
    if args.do_train and resumed_state is not None:
        record.resume(int(resumed_state.get("step", 0)))
    record.save()

    trainer = None
    if args.do_train:
        data, schedule_steps = training_data(args, task, seed, rank, nranks)
        program = training_program(args, task, runtime, schedule_steps, nranks)
        trainer = make_trainer(args, task, runtime, program, data, ctx, record, seed, rank, nranks, evaluating)
        initialise_parameters(trainer, program, args, seed)
        trainer.train(data)
    elif rank == 0:
        step = load_finetuned(args, task, runtime, ctx, seed)
        if evaluating:
            evaluate_all(task, ctx, record, 0, step)

    if rank == 0 and args.diagnostic:
        run_diagnostic(task, ctx, args)
    result = finish_run(task, args, record, rank)
    return {"trainer": trainer, "record": record, "result": result}


def main(task, parse, prog, argv=None):
    """Entry point: parse, log the flags, run; bad input ends with ``<prog>: error: <reason>``."""

    args = parse(argv)
    init_logging()
    print_arguments(args, logger)
    try:
        with rank_failures_reported(prog):
            run(args, task)
    except (UsageError, ConfigError, CheckpointError, DataError, VocabError, DeviceError, AmpDeviceError,
            DistributedError, NonFiniteLossError, ValueError) as e:
        sys.exit("%s: error: %s" % (prog, e))
    return 0


@dataclass(frozen=True)
class Driver:
    """The command-line entry points of one fine-tuning task: ``parse_args``, ``run`` (parsed flags) and
    ``main`` (argv, exit status) of ``run_classifier.py``, ``run_sequence_labeling.py`` or ``run_mrc.py``."""

    task_class: Callable[[], FinetuneTask]
    script: str
    make_parser: Callable[[], argparse.ArgumentParser]

    def parse_args(self, argv=None):
        return self.make_parser().parse_args(argv)

    def run(self, args):
        """Run with parsed flags (see :func:`run`)."""
        return run(args, self.task_class())

    def main(self, argv=None):
        return main(self.task_class(), self.parse_args, self.script, argv)

