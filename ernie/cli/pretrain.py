"""``train.py``: ERNIE 1.0 pre-training (masked LM with knowledge masking + next sentence), and with
``--task_config`` ERNIE 2.0 continual multi-task pre-training (the configuration format, strategies,
allocation rule, logs and stage tables are in ``docs/continual_pretraining.md``).

Usage (one process; see ``script/zh_task/pretrain.sh`` for the GPU launch)::

    python train.py --ernie_config_path config/ernie_config.json --vocab_path config/vocab.txt \\
        --train_filelist data/train_filelist --valid_filelist data/valid_filelist \\
        --batch_size 8192 --in_tokens true --max_seq_len 512 --checkpoints checkpoints

One path for both: a pre-training configuration (``ernie.scheduler.TaskConfig``) of task streams, each
trained by its own program (encoder + the stream's task heads from ``ernie.tasks`` + AdamW), stage after
stage, by one ``ernie.trainer.Trainer`` per stage.  Without ``--task_config`` the configuration is
``config/ernie1_pretrain.json`` with the flags' data and budget (:func:`ernie1_task_config`): one
stream, ``knowledge_masking`` with the ``next_sent`` head on ``--train_filelist``, one learning-rate
schedule over ``--num_train_steps`` updates, at most ``--epoch`` passes over the data.  The two heads are
the ERNIE 1.0 heads parameter for parameter, so official ERNIE 1.0 parameters load unchanged.

Every flag of the original ``pretrain_args.py`` with its name and default,
plus new ones (marked "new" in ``--help``).  Differences from the original:

* ``--in_tokens`` is honoured (the original always batched by tokens): the
  default ``--batch_size 16`` with ``--in_tokens false`` means 16 samples;
* ``--use_cuda`` defaults to true only when a CUDA build and device exist; on
  CPU it runs on CPU (the original refused to start without CUDA);
* ``num_train_steps`` counts optimizer updates, also with several processes
  (the original counted per-process batches times the number of trainers);
* ``--init_checkpoint`` resumes exactly (step, learning rate, loss scale, data
  position); ``--init_pretraining_params`` loads parameters only and starts
  the schedule fresh; the two are mutually exclusive;
* a final checkpoint is written at the end; at most ``--max_checkpoints`` kept;
* validation reports ``global ppl`` = exp(mean masked-LM loss over all masked
  tokens of the set) and ``next_sent_acc`` over all samples; ``loss`` is the
  mean of the per-batch total loss, as the original; ``speed`` is batches/s of
  the validation itself (the original divided skip_steps by the time);
* ``--random_seed`` seeds the parameter initialisation, dropout and the reader;
* fp16 uses Paddle's AMP (float32 parameters, dynamic loss scaling that skips
  overflowing steps, see ``ernie.optimization``); ``--use_bf16`` is new.

Log lines of ERNIE 1.0 pre-training (rank 0, every ``--skip_steps``; the values are those of that step)::

    epoch: %d, progress: %d/%d, step: %d, loss: %f, ppl: %f, next_sent_acc: %f, speed: %f steps/s, file: %s, mask_type: %s, lr: %g, tokens/s: %.0f[, loss_scaling: %g]
    [validation_set] epoch: %d, step: %d, loss: %f, global ppl: %f, next_sent_acc: %f, speed: %f steps/s
    [test_set] loss: %f, global ppl: %f, next_sent_acc: %f, speed: %f steps/s   (--do_test)

tokens/s counts the real (non-padding) tokens this process trained on.  With ``--task_config`` the lines
name the stage and the task (``docs/continual_pretraining.md``).
"""
import argparse
import collections
import functools
import json
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Dict

import numpy as np
import paddle
from paddle.static.pir_io import get_pir_parameters

from ernie.args import (PRETRAIN, ArgumentGroup, DeviceError, UsageError, add_adam_flags, add_compat_flags,
                        add_mixed_precision_flags, cuda_available, init_logging, optimizer_options, print_arguments,
                        warn_compat_flags)
from ernie.atomic_write import write_json
from ernie.checkpoint import (STATE_FILE, CheckpointError, claim_checkpoint_dir, init_pretraining_params,
                              read_train_state)
from ernie.config import ConfigError
from ernie.distributed import DistributedError, allreduce_gradients, init_distributed, rank_failures_reported
from ernie.optimization import AmpDeviceError, amp_guard, build_optimizer
from ernie.runtime import static_runtime
from ernie.scheduler import (LRSchedules, ProgramUnion, ScheduledReader, TaskConfig, build_schedule, format_table,
                             make_stream_reader)
from ernie.tasks import TaskError, import_user_dir
from ernie.trainer import (CheckpointConfig, LoggingConfig, NonFiniteLossError, RoutedOptimizers, Trainer,
                           TrainerConfig, ValidationConfig, run_evaluation)
from reader.pretraining import DataFileError, PretrainingReaderConfig, read_filelist
from reader.vocab import VocabError

logger = logging.getLogger(__name__)

DEFAULT_VOCAB = "./config/vocab.txt"
# ERNIE 1.0 pre-training (train.py without --task_config) trains this configuration
ERNIE1_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "config",
                             "ernie1_pretrain.json")


# --------------------------------------------------------------------------- flags
def build_parser(cuda_default=False):
    parser = argparse.ArgumentParser(description="ERNIE 1.0 pre-training (masked LM + next sentence prediction).")
    model_g = ArgumentGroup(parser, "model", "model configuration and paths.")
    model_g.add_arg("ernie_config_path", str, "./config/ernie_config.json", "Path to the json file for ernie model config.")
    model_g.add_arg("init_checkpoint", str, None,
                    "Checkpoint to resume training from (parameters, optimizer state, step, learning-rate "
                    "position, data position); with --do_test: parameters to evaluate.")
    model_g.add_arg("init_pretraining_params", str, None,
                    "new: parameters only (e.g. released weights); the step, schedule and data start fresh. "
                    "Mutually exclusive with --init_checkpoint.")
    model_g.add_arg("checkpoints", str, "checkpoints", "Path to save checkpoints.")
    model_g.add_arg("overwrite_checkpoints", bool, False,
                    "new: start a new run in a --checkpoints directory holding another run's step_<N> "
                    "checkpoints by deleting them (without it such a run is refused; --init_checkpoint resumes).")
    model_g.add_arg("weight_sharing", bool, True, "If set, share weights between word embedding and masked lm.")
    model_g.add_arg("generate_neg_sample", bool, False, "If set, randomly generate negtive samples by positive samples.")

    train_g = ArgumentGroup(parser, "training", "training options.")
    train_g.add_arg("epoch", int, 100, "Number of epochs for training.", min=1)
    train_g.add_arg("learning_rate", float, 0.0001, "Learning rate used to train with warmup.", min=0)
    train_g.add_arg("lr_scheduler", str, "linear_warmup_decay", "scheduler of learning rate.",
                    choices=["linear_warmup_decay", "noam_decay"])
    train_g.add_arg("weight_decay", float, 0.01, "Weight decay rate for L2 regularizer.", min=0)
    train_g.add_arg("num_train_steps", int, 1000000, "Total steps (optimizer updates) to perform pretraining.", min=0)
    train_g.add_arg("warmup_steps", int, 5000, "Total steps to perform warmup when pretraining.", min=0)
    train_g.add_arg("save_steps", int, 10000, "The steps interval to save checkpoints.", min=0)
    train_g.add_arg("validation_steps", int, 1000, "The steps interval to evaluate model performance.", min=0)
    train_g.add_arg("shuffle_samples", bool, True,
                    "new: false reads each data file's samples in order, as the v2.0 release did (the repro "
                    "branch, and the default here, shuffle them in blocks of 1,000).")
    train_g.add_arg("max_checkpoints", int, 3, "new: number of step_<N> checkpoints kept (<= 0: all).")
    train_g.add_arg("random_seed", int, 1, "new: seed of parameter initialisation, dropout and data order/masking.", min=0)
    train_g.add_arg("validate_at_start", bool, False, "new: also validate before the first step.")
    add_adam_flags(train_g.add_arg,
                   beta2=0.98, beta2_help="new: Adam beta2 (ERNIE 2.0 paper; the original used 0.999).",
                   epsilon=1e-6, epsilon_help="new: Adam epsilon (the original used 1e-8).")
    add_mixed_precision_flags(ArgumentGroup(parser, "mixed precision", "float16 / bfloat16 training (GPU)").add_arg)

    log_g = ArgumentGroup(parser, "logging", "logging related.")
    log_g.add_arg("skip_steps", int, 10, "The steps interval to print loss.", min=0)
    log_g.add_arg("vdl_dir", str, None, "new: VisualDL log directory (train/* and valid/* scalars).")

    data_g = ArgumentGroup(parser, "data", "Data paths, vocab paths and data processing options")
    data_g.add_arg("train_filelist", str, "", "Path to training filelist.")
    data_g.add_arg("valid_filelist", str, "", "Path to valid filelist (empty: no validation).")
    data_g.add_arg("test_filelist", str, "", "Path to test filelist.")
    data_g.add_arg("vocab_path", str, DEFAULT_VOCAB, "Vocabulary path.")
    data_g.add_arg("max_seq_len", int, 512, "Number of words of the longest seqence (longer lines are skipped).", min=2)
    data_g.add_arg("batch_size", int, 16, "Total examples' number in batch for training (tokens with --in_tokens true).", min=1)
    data_g.add_arg("in_tokens", bool, False, "If set, the batch size will be the maximum number of tokens in one batch.")
    data_g.add_arg("max_bad_line_ratio", float, 0.01, "new: fail when more than this fraction of the lines read is malformed.", min=0, max=1)

    run_type_g = ArgumentGroup(parser, "run_type", "running type options.")
    run_type_g.add_arg("is_distributed", bool, False, "If set, then start distributed training (implied when "
                       "launched by paddle.distributed.launch with several processes).")
    run_type_g.add_arg("use_cuda", bool, cuda_default, "If set, use GPU for training (default: whether a CUDA "
                       "build and device are present).")
    run_type_g.add_arg("do_test", bool, False, "Whether to perform evaluation on test data set.")

    task_g = ArgumentGroup(parser, "multi-task", "new: ERNIE 2.0 continual multi-task pre-training "
                           "(docs/continual_pretraining.md).")
    task_g.add_arg("task_config", str, None,
                   "new: pre-training configuration (JSON): tasks, ids, data, budgets, stages. Without it train.py "
                   "runs ERNIE 1.0 pre-training on --train_filelist (the configuration "
                   "config/ernie1_pretrain.json with the flags' data and budget).")
    task_g.add_arg("user_dir", str, None,
                   "new: import the pre-training tasks of DIR (a package directory, a directory of modules or a "
                   ".py file; fairseq's --user_dir) before the configuration is read: tasks registered there with "
                   "ernie.tasks.register_task can be named in --task_config.")
    task_g.add_arg("strategy", str, None, "new: continual | multitask | continual_multitask (ERNIE 2.0); default: "
                   "the configuration's 'strategy'.", choices=["continual", "multitask", "continual_multitask"])
    task_g.add_arg("iterations_scale", float, 1.0,
                   "new: multiply every task's budget (and explicit stage allocation) of the configuration, rounded, "
                   "at least 1 (e.g. 0.001 for a short demo of a paper-scale file).", min=0)
    add_compat_flags(parser, PRETRAIN)
    return parser


def parse_args(argv=None):
    return build_parser(cuda_default=cuda_available()).parse_args(argv)


def check_args(args):
    """UsageError for flags that contradict each other or the mode (with or without --task_config)."""
    if not args.task_config and (args.strategy or args.iterations_scale != 1.0):
        raise UsageError("--strategy and --iterations_scale need --task_config")
    if args.init_checkpoint and args.init_pretraining_params:
        raise UsageError("--init_checkpoint (resume a run) and --init_pretraining_params (start a new run from "
                         "parameters) are mutually exclusive: give one of them")
    if args.use_fp16 and args.use_bf16:
        raise UsageError("--use_fp16 and --use_bf16 are mutually exclusive")
    if args.task_config:
        if args.do_test:
            raise UsageError("--do_test is not supported with --task_config (each task's valid_filelist is "
                             "evaluated during training)")
        given = [flag for flag, value in (("train_filelist", args.train_filelist),
                                          ("valid_filelist", args.valid_filelist),
                                          ("test_filelist", args.test_filelist)) if value]
        if given:
            raise UsageError("--%s is not used with --task_config: each task names its own data in %s"
                             % (", --".join(given), args.task_config))
    elif args.do_test:
        if not args.test_filelist:
            raise UsageError("--do_test true needs --test_filelist")
        if not (args.init_checkpoint or args.init_pretraining_params):
            raise UsageError("--do_test true needs --init_checkpoint or --init_pretraining_params (the parameters "
                             "to evaluate)")
    elif not args.train_filelist:
        raise UsageError("--train_filelist is required for training")
    for flag, value in (("skip_steps", args.skip_steps), ("save_steps", args.save_steps),
                        ("validation_steps", args.validation_steps), ("num_train_steps", args.num_train_steps)):
        if value < 0:
            raise UsageError("--%s must be >= 0, got %d" % (flag, value))


# --------------------------------------------------------------------------- the pre-training configuration
def ernie1_task_config(args, path=ERNIE1_CONFIG):
    """The configuration of ERNIE 1.0 pre-training: ``config/ernie1_pretrain.json`` (its one stream: the
    masked LM with knowledge masking and the next-sentence head, both trained on every batch, task id 0, fed
    only with a model config that has ``use_task_id``; one learning-rate schedule over the run) with
    ``--train_filelist`` / ``--valid_filelist`` (``--test_filelist`` with ``--do_test``) as its data and
    ``--num_train_steps`` as its budget; the file's vocab_path is not used (``--vocab_path`` is)."""
    train = args.test_filelist if args.do_test else args.train_filelist
    for filelist in (train, args.valid_filelist):
        if filelist:
            read_filelist(filelist)        # the data readers' own errors, naming the file
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ConfigError("the ERNIE 1.0 pre-training configuration %s cannot be read: %s" % (path, e)) from None
    streams = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(streams, list) or len(streams) != 1 or not isinstance(streams[0], dict):
        raise ConfigError("%s must hold exactly one task stream (ERNIE 1.0 pre-training is one stream)" % path)
    data.pop("vocab_path", None)
    streams[0].update(iterations=max(1, args.num_train_steps), train_filelist=os.path.abspath(train),
                      valid_filelist=os.path.abspath(args.valid_filelist) if args.valid_filelist else None)
    streams[0].pop("stage_iterations", None)
    return TaskConfig.from_dict(data, base_dir=os.path.dirname(path),
                                source="train.py (ERNIE 1.0 pre-training: %s)" % path)


Ernie1Heads = collections.namedtuple("Ernie1Heads", "stream masked_lm next_sentence")
Ernie1Heads.__doc__ = """Where the ERNIE 1.0 log lines read their values: the stream's name, its masked-LM head
(the task that ``uses_masking``) and its next-sentence head (the task whose label five-field lines carry,
``v1_label``)."""


def ernie1_heads(tc):
    """The :class:`Ernie1Heads` of an ERNIE 1.0 configuration (one stream with those two heads)."""
    (entry,) = tc.tasks
    tasks = list(tc.stream_taskset(entry))
    lm = [t.name for t in tasks if t.uses_masking]
    ns = [t.name for t in tasks if t.v1_label]
    if len(lm) != 1 or len(ns) != 1:
        raise ConfigError("%s: ERNIE 1.0 pre-training needs one masked-LM head and one next-sentence head, the "
                          "stream %s has %s" % (tc.source, entry.name, ", ".join(t.name for t in tasks)))
    return Ernie1Heads(entry.name, lm[0], ns[0])


def load_task_config(args):
    """``--task_config``'s configuration (its vocab_path replaces the default ``--vocab_path``)."""
    tc = TaskConfig.from_json(args.task_config, iterations_scale=args.iterations_scale)
    if tc.vocab_path:
        if args.vocab_path == DEFAULT_VOCAB:
            args.vocab_path = tc.vocab_path
        elif os.path.abspath(args.vocab_path) != os.path.abspath(tc.vocab_path):
            logger.warning("--vocab_path %s differs from the configuration's vocab_path %s: using %s",
                           args.vocab_path, tc.vocab_path, args.vocab_path)
    return tc


# --------------------------------------------------------------------------- setup
def _distributed(args):
    """(rank, nranks); joins the process group when launched with several processes."""
    nranks_env = os.environ.get("PADDLE_TRAINERS_NUM", "1").strip() or "1"
    if not args.is_distributed and int(nranks_env) <= 1:
        return 0, 1
    return init_distributed()


def claim_checkpoints(args, rank, training=True):
    """Rank 0 of a training run holds ``--checkpoints`` from now on (before any compute; see
    ``ernie.checkpoint.claim_checkpoint_dir``): a context manager releasing it at the end."""
    if rank != 0 or not training or not args.checkpoints:
        return nullcontext()
    return claim_checkpoint_dir(args.checkpoints, resume_from=args.init_checkpoint,
                                overwrite=args.overwrite_checkpoints)


def make_reader(args, config, taskset, entry, filelist, is_test):
    """The ``TaskPretrainingReader`` of a stream's data (one pass; ``ScheduledReader`` drives the passes)."""
    neg = args.generate_neg_sample and not is_test and any(t.v1_label for t in taskset)
    settings = PretrainingReaderConfig(
        batch_size=args.batch_size, in_tokens=args.in_tokens, max_seq_len=args.max_seq_len, shuffle_files=True,
        random_seed=args.random_seed, epoch=1, voc_size=config.vocab_size, is_test=is_test, generate_neg_sample=neg,
        max_bad_line_ratio=args.max_bad_line_ratio, max_position=config.max_position_embeddings,
        sent_vocab_size=config.sent_vocab_size, shuffle_samples=args.shuffle_samples)
    return make_stream_reader(taskset, filelist, args.vocab_path, entry.id, config=settings)


# --------------------------------------------------------------------------- programs
def head_count(task, batch):
    """Number of labelled items of ``task`` in a batch (its loss and accuracy are means over them)."""
    if task.uses_masking:
        return float(len(batch["mask_pos"]))
    return float(sum(int((np.asarray(batch[f]) >= 0).sum()) for f in task.label_fields))


@dataclass(eq=False, repr=False)
class StreamProgram:
    """The program of one task stream: encoder + the stream's heads (+ optimizer when training).

    local_fetches: {"loss": sum of the heads' losses, "acc": the stream task's accuracy, and with several heads
    "<head>_loss" for each and "<head>_acc" for the other heads}; fetches: the same under the Trainer's names
    ``<name>/<key>`` (VisualDL tags train/<name>/<key>); weights: {fetch name: f(batch) -> items} for exact
    evaluation means; optimizer: ``ernie.optimization.TrainOptimizer`` or None.  ``feed(batch)`` -> feed dict.
    """

    name: str
    taskset: Any
    config: Any
    program: Any
    startup: Any
    local_fetches: Dict[str, Any]
    weights: Dict[str, Callable]
    optimizer: Any
    fetches: Dict[str, Any] = field(init=False)

    def __post_init__(self):
        self.fetches = collections.OrderedDict((self.name + "/" + k, v) for k, v in self.local_fetches.items())

    def feed(self, batch):
        return self.taskset.feed(batch, self.config)


def build_stream_program(name, taskset, config, is_training, weight_sharing=True, amp=None, optimizer_args=None,
                         grad_hook=None):
    """The :class:`StreamProgram` of stream ``name`` (``taskset``: its task first, then its heads); with
    ``optimizer_args`` (for ``ernie.optimization.build_optimizer``) also its optimizer.  The eval program is
    built with ``is_training=False`` (no dropout) and shares the parameters through the scope by name."""
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        with amp_guard(amp):
            _inputs, _model, total, metrics = taskset.build(config, is_training=is_training,
                                                           weight_sharing=weight_sharing)
        opt = None
        if optimizer_args is not None:
            opt = build_optimizer(total, amp=amp, grad_hook=grad_hook, **optimizer_args)
    own = taskset[name]
    fetches = collections.OrderedDict([("loss", total), ("acc", metrics[name + "_acc"])])
    count = lambda t: (lambda b: head_count(t, b))   # noqa: E731
    weights = {"acc": count(own)}
    if len(taskset.tasks) == 1:
        weights["loss"] = count(own)
    else:
        for t in taskset.tasks:
            fetches[t.name + "_loss"] = metrics[t.name + "_loss"]
            weights[t.name + "_loss"] = count(t)
            if t is not own:            # the stream task's accuracy is "acc"
                fetches[t.name + "_acc"] = metrics[t.name + "_acc"]
                weights[t.name + "_acc"] = count(t)
    return StreamProgram(name, taskset, config, main, startup, fetches, weights, opt)


def init_new_variables(exe, stream, scope, seed, place):
    """Initialise the variables of ``stream``'s program that ``scope`` does not hold yet (its new head, its
    Adam moments; everything for the first program) from its startup program run after ``paddle.seed(seed)``
    in a scratch scope.  Variables already there (the shared encoder and its optimizer state) are kept:
    the hand-over between stages.  Returns the names initialised."""
    params, others = get_pir_parameters(stream.program)
    missing = sorted({v.name for v in params + others if scope.find_var(v.name) is None})
    if not missing:
        return []
    scratch = paddle.static.Scope()
    paddle.seed(seed)
    with paddle.static.scope_guard(scratch):
        exe.run(stream.startup)
    for name in missing:
        var = scratch.find_var(name)
        if var is None:
            raise RuntimeError("the startup program of %s did not create %s" % (stream.name, name))
        scope.var(name).get_tensor().set(np.array(var.get_tensor()), place)
    return missing


def _stream_seed(random_seed, index):
    return int(np.random.SeedSequence([int(random_seed), 0x1217, int(index)]).generate_state(1)[0] % (2 ** 31))


# --------------------------------------------------------------------------- evaluation
def evaluate(exe, stream, batches, scope, what, progress_every=0):
    """Means of ``stream``'s (eval program's) fetches over ``batches``: an ``ernie.trainer.EvalResult``.
    Losses and accuracies are exact means over their items (masked tokens, labelled rows), the total loss a
    mean over batches.  ``what`` names the set in messages."""
    progress_fn = (lambda n: logger.info("[%s] steps: %d", what, n)) if progress_every else None
    res = run_evaluation(exe, stream.program, stream.local_fetches, batches, weights=stream.weights,
                         feed_fn=stream.feed, scope=scope, progress_every=progress_every, progress_fn=progress_fn)
    if res.steps == 0:
        raise ValueError("the %s produced no batch" % what)
    return res


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return float("inf")


# --------------------------------------------------------------------------- log lines
def ernie1_train_line(heads):
    """The original's ERNIE 1.0 pre-training log line, plus lr, tokens/s and (fp16) the loss scale (a
    Trainer ``log_fn``; ``heads``: :class:`Ernie1Heads`)."""
    loss = "%s/loss" % heads.stream
    lm_loss = "%s/%s_loss" % (heads.stream, heads.masked_lm)
    ns_acc = "%s/%s_acc" % (heads.stream, heads.next_sentence)

    def fmt(info):
        v = info["values"]
        progress = getattr(info["batch"], "progress", None)
        epoch = progress.epoch if progress else info["epoch"]
        line = ("epoch: %d, progress: %d/%d, step: %d, loss: %f, ppl: %f, next_sent_acc: %f, speed: %f steps/s, "
                "file: %s, mask_type: %s, lr: %g, tokens/s: %.0f"
                % (epoch, progress.file_index if progress else 0, progress.total_files if progress else 0,
                   info["step"], v[loss], _exp(v[lm_loss]), v[ns_acc], info["speed"],
                   progress.current_file if progress else "-", progress.mask_type if progress else "-",
                   info["lr"], info["tokens_per_s"] if info["tokens_per_s"] is not None else float("nan")))
        if info.get("loss_scaling") is not None:
            line += ", loss_scaling: %g" % info["loss_scaling"]
        return line
    return fmt


def ernie1_metrics(res, heads):
    """(loss, global ppl, next_sent_acc) of an ERNIE 1.0 evaluation."""
    return (res.means["loss"], _exp(res.means[heads.masked_lm + "_loss"]),
            res.means[heads.next_sentence + "_acc"])


def stage_train_line(num_stages):
    """Per-step log line of a ``--task_config`` run (see ``docs/continual_pretraining.md``)."""
    def fmt(info):
        b = info["batch"]
        prefix = b.task + "/"
        values = ", ".join("%s: %f" % (k[len(prefix):], v) for k, v in info["values"].items()
                           if k.startswith(prefix))
        line = ("stage: %d/%d, step: %d, task: %s, task_id: %d, task_step: %d/%d, %s, lr: %g, speed: %f steps/s"
                % (b.stage + 1, num_stages, info["step"], b.task, b.task_id, b.task_step, b.task_budget, values,
                   info["lr"], info["speed"]))
        if info["tokens_per_s"] is not None:
            line += ", tokens/s: %.0f" % info["tokens_per_s"]
        if info.get("loss_scaling") is not None:
            line += ", loss_scaling: %g" % info["loss_scaling"]
        return line
    return fmt


def validation_report(ernie1, trainer, plan, num_stages, entry, res):
    """Log the validation of one stream; returns its scalars (VisualDL ``valid/*``, the summary lines).
    ``ernie1``: the :class:`Ernie1Heads` of train.py without --task_config (the original's line), else None."""
    if ernie1:
        loss, ppl, acc = ernie1_metrics(res, ernie1)
        logger.info("[validation_set] epoch: %d, step: %d, loss: %f, global ppl: %f, next_sent_acc: %f, "
                    "speed: %f steps/s", trainer.epoch, trainer.step, loss, ppl, acc, res.speed)
        return {"loss": loss, "ppl": ppl, "next_sent_acc": acc}
    logger.info("[validation_set] stage: %d/%d, step: %d, task: %s, task_id: %d, %s, steps: %d, speed: %f steps/s",
                plan.index + 1, num_stages, trainer.step, entry.name, entry.id,
                ", ".join("%s: %f" % kv for kv in res.means.items()), res.steps, res.speed)
    return {entry.name + "/" + k: v for k, v in res.means.items()}


def summary_lines(what, steps, seconds, validations, checkpoints):
    """The closing lines of a pre-training run: what ran, each validation metric at its first and last
    validation, where the model is, what to run next."""
    lines = ["[summary] %s: %d updates in %d min %d s" % (what, steps, seconds // 60, seconds % 60)]
    first, last = {}, {}
    for step, scalars in validations:
        for name, value in scalars.items():
            if value is None or not math.isfinite(value):
                continue
            first.setdefault(name, (step, value))
            last[name] = (step, value)
    for name in first:
        (s0, v0), (s1, v1) = first[name], last[name]
        lines.append("[summary] validation %s: %.4f at step %d -> %.4f at step %d" % (name, v0, s0, v1, s1)
                     if s1 != s0 else "[summary] validation %s: %.4f at step %d" % (name, v0, s0))
    if not first:
        lines.append("[summary] no validation ran (--valid_filelist / the configuration's valid_filelist)")
    final = os.path.join(checkpoints, "step_%d" % steps) if checkpoints else None
    if final and os.path.isdir(final):
        lines.append("[summary] model: %s (parameters and training state; fine-tune from it with "
                     "--init_pretraining_params %s, resume with --init_checkpoint %s)" % (final, final, final))
    lines.append("[summary] next: fine-tuning, README section \"Fine-tuning\" (e.g. python -m ernie."
                 "prepare.finetune_data --task rotten_tomatoes, then a task script); the tests: python -m pytest -q tests")
    return lines


# --------------------------------------------------------------------------- stage statistics
class StageStats:
    """Per-task statistics of the current stage (steps, summed training loss), checkpointed as the
    trainer's ``extra`` state so that a resumed stage reports the same table."""

    def __init__(self, stage):
        self.stage = stage
        self.tasks = collections.OrderedDict()

    def hook(self, trainer, step, batch, values):
        t = self.tasks.setdefault(batch.task, {"steps": 0, "loss_sum": 0.0, "loss_n": 0})
        t["steps"] += 1
        if values is not None:
            t["loss_sum"] += values[batch.task + "/loss"]
            t["loss_n"] += 1

    def state(self):
        return {"stage": self.stage, "tasks": self.tasks}

    def restore(self, extra):
        if extra and extra.get("stage") == self.stage:
            self.tasks = collections.OrderedDict((k, dict(v)) for k, v in extra["tasks"].items())

    def mean_loss(self, task):
        t = self.tasks.get(task)
        return t["loss_sum"] / t["loss_n"] if t and t["loss_n"] else float("nan")

    def steps(self, task):
        return self.tasks.get(task, {}).get("steps", 0)


def stage_summary(tc, schedule, plan, stats, trainer, sreader):
    """The stage table: task, id, steps in the stage, updates done / budget, mean training loss over the
    stage's steps, loss and accuracy on the task's valid set at the end of the stage."""
    valid = trainer.last_validation[1] if trainer.last_validation and trainer.last_validation[0] == trainer.step \
        else {}
    done = sreader.task_steps()
    rows, tasks = [], []
    for task in plan.tasks:
        entry = {"task": task, "id": tc[task].id, "steps": stats.steps(task), "allocated": plan.allocations[task],
                 "task_steps": done[task], "budget": schedule.budgets[task],
                 "mean_train_loss": stats.mean_loss(task), "valid_loss": valid.get(task + "/loss"),
                 "valid_acc": valid.get(task + "/acc")}
        tasks.append(entry)
        f = lambda v: "-" if v is None else "%.4f" % v   # noqa: E731
        rows.append([task, entry["id"], "%d/%d" % (entry["steps"], entry["allocated"]),
                     "%d/%d" % (entry["task_steps"], entry["budget"]), f(entry["mean_train_loss"]),
                     f(entry["valid_loss"]), f(entry["valid_acc"])])
    return {"stage": plan.index + 1, "strategy": schedule.strategy, "end_step": trainer.step, "tasks": tasks,
            "columns": ["task", "id", "steps in stage", "updates / budget", "mean train loss", "valid loss",
                        "valid acc"], "rows": rows}


# --------------------------------------------------------------------------- the driver
class PretrainRun:
    """What :func:`run` trained: task_config, schedule, ernie1 (train.py without --task_config), step
    (updates done), history ([(step, {"<task>/loss": ..., "lr": ...})] of the logged steps, all stages),
    validations ([(step, scalars)]), summaries (one dict per finished stage: the stage table), scope (the
    variables), trainer (the last stage's), streams ({task: StreamProgram})."""

    def __init__(self, task_config, schedule, ernie1):
        self.task_config = task_config
        self.schedule = schedule
        self.ernie1 = ernie1
        self.step = 0
        self.history = []
        self.validations = []
        self.summaries = []
        self.scope = None
        self.trainer = None
        self.streams = {}


def run(args, on_stage=None):
    """Train as the flags say (or, with --do_test, evaluate): a :class:`PretrainRun` (--do_test: the test
    metrics dict).  Raises on bad input (``main`` turns that into a message).

    on_stage: optional ``f(event, stage, run)`` called with event "start" (after the stage's variables are
    initialised / loaded, before its first step) and "end" (after its last step and validation).
    """
    check_args(args)
    warn_compat_flags(args, logger)
    if args.user_dir:
        import_user_dir(args.user_dir)
    tc = load_task_config(args) if args.task_config else ernie1_task_config(args)
    rank, nranks = _distributed(args)   # before paddle.enable_static(): collectives need dynamic mode
    if args.do_test:
        return _test(args, tc, rank)
    schedule = build_schedule(tc, args.strategy, seed=args.random_seed)
    with claim_checkpoints(args, rank):
        return Pretraining(args, tc, schedule, rank, nranks).train(on_stage)


def _test(args, tc, rank):
    """--do_test: the ERNIE 1.0 metrics of the given parameters on --test_filelist."""
    params_dir = args.init_checkpoint or args.init_pretraining_params
    rt = static_runtime(args, rank, params_dir)
    amp, config, place, exe, scope = rt.amp, rt.config, rt.place, rt.exe, rt.scope
    (entry,) = tc.tasks
    taskset = tc.stream_taskset(entry)
    stream = build_stream_program(entry.name, taskset, config, False, args.weight_sharing, amp)
    with paddle.static.scope_guard(scope):
        paddle.seed(args.random_seed)
        exe.run(stream.startup)
    init_pretraining_params(params_dir, stream.program, scope=scope, place=place, config=config)
    reader = make_reader(args, config, taskset, entry, args.test_filelist, is_test=True)
    res = evaluate(exe, stream, reader.batches(), scope, "test_set", progress_every=args.skip_steps)
    heads = ernie1_heads(tc)
    loss, ppl, acc = ernie1_metrics(res, heads)
    logger.info("[test_set] loss: %f, global ppl: %f, next_sent_acc: %f, speed: %f steps/s", loss, ppl, acc,
                res.speed)
    return {"loss": loss, "global_ppl": ppl, "next_sent_acc": acc, "lm_loss": res.means[heads.masked_lm + "_loss"],
            "speed": res.speed, "steps": res.steps}


def route_of(routes, batch):
    """The stream program of a batch's task (the Trainer's ``route_fn``)."""
    return routes[batch.task]


class Pretraining:
    """The training part of :func:`run`: the configuration's task streams, trained stage after stage.

    One program per task stream (encoder + its heads + AdamW), all in one scope: parameters and optimizer
    state are shared by name, so stage k starts from stage k-1's parameters and Adam moments; a new stream's
    head is initialised when it first appears.  Each step runs the program of the batch's task (``Trainer``
    with ``route_fn``), one Trainer per stage.  ``ernie1``: train.py without --task_config (the original's
    log lines, ``--epoch``, no stage tables).
    """

    def __init__(self, args, tc, schedule, rank, nranks):
        self.args, self.tc, self.schedule, self.rank, self.nranks = args, tc, schedule, rank, nranks
        self.ernie1 = not args.task_config
        self.ernie1_heads = ernie1_heads(tc) if self.ernie1 else None
        rt = static_runtime(args, rank, args.init_checkpoint or args.init_pretraining_params)
        self.amp, self.config, self.place, self.exe, self.scope = rt.amp, rt.config, rt.place, rt.exe, rt.scope
        tc.check_model_config(self.config)
        self.stop_at = min(schedule.total, args.num_train_steps)
        self.lrs = LRSchedules(tc.lr_schedule, args.lr_scheduler, args.learning_rate, args.warmup_steps,
                               schedule.budgets, schedule.total)
        self.tasksets = {e.name: tc.stream_taskset(e) for e in tc.tasks}
        self.reader = ScheduledReader(schedule, {e.name: self.stream_reader(e, e.train_filelist, False)
                                                 for e in tc.tasks},
                                      tc.ids, epochs=args.epoch if self.ernie1 else None)
        self.result = PretrainRun(tc, schedule, self.ernie1)
        self.result.scope = self.scope
        self.streams = self.result.streams     # {task: training StreamProgram}
        self.evals = {}                        # {task: eval StreamProgram}
        self.summary_path = (os.path.join(args.checkpoints, "stage_summaries.json")
                             if args.checkpoints and not self.ernie1 else None)

    def stream_reader(self, entry, filelist, is_test):
        return make_reader(self.args, self.config, self.tasksets[entry.name], entry, filelist, is_test)

    def grad_hook(self, params_grads):
        return allreduce_gradients(params_grads, self.nranks)

    def optimizer_args(self, task):
        return dict(optimizer_options(self.args), scheduler=self.lrs[task])

    def read_resume_state(self):
        """(stage to start at, train_state.json of --init_checkpoint or None); checked against the schedule."""
        args = self.args
        if not args.init_checkpoint:
            return 0, None
        path = os.path.join(args.init_checkpoint, STATE_FILE)
        resume = read_train_state(args.init_checkpoint)
        reader_state = resume.get("reader")
        if self.ernie1 and isinstance(reader_state, dict) and "batch_index" in reader_state:
            self.reader.accept_stream_state(resume["step"])   # a checkpoint of train.py's ERNIE 1.0 path before
        elif not isinstance(reader_state, dict) or "stage" not in reader_state:
            raise CheckpointError("%s holds no schedule position (a checkpoint of ERNIE 1.0 pre-training, train.py "
                                  "without --task_config, from before it ran as a task configuration?)" % path)
        self.reader.check_state(reader_state)
        stage = int(reader_state.get("stage", 0))
        if not 0 <= stage < self.schedule.num_stages:
            raise CheckpointError("%s: stage %d is outside the schedule's %d stages"
                                  % (path, stage + 1, self.schedule.num_stages))
        return stage, resume

    def write_schedule(self, fresh):
        """Rank 0 of a --task_config run: ``schedule.json``; a fresh run drops an old ``stage_summaries.json``."""
        tc, schedule = self.tc, self.schedule
        os.makedirs(self.args.checkpoints, exist_ok=True)
        write_json(os.path.join(self.args.checkpoints, "schedule.json"),
                    dict(schedule.to_dict(), config=os.path.abspath(tc.source), lr_schedule=tc.lr_schedule,
                         task_ids=tc.ids, table=schedule.table().split("\n")))
        if fresh and os.path.exists(self.summary_path):
            os.remove(self.summary_path)

    def add_streams(self, plan, log_new):
        """Build the programs of the stage's new streams and initialise their new variables: the first program
        initialises everything (``paddle.seed(random_seed)``), a later stream's new variables get a seed of
        their own."""
        for task in plan.tasks:
            if task in self.streams:
                continue
            self.streams[task] = build_stream_program(
                task, self.tasksets[task], self.config, True, self.args.weight_sharing, self.amp,
                self.optimizer_args(task), self.grad_hook if self.nranks > 1 else None)
            fresh = self.scope.find_var("word_embedding") is None
            seed = self.args.random_seed if fresh else _stream_seed(self.args.random_seed, self.tc[task].index)
            new = init_new_variables(self.exe, self.streams[task], self.scope, seed, self.place)
            if new and log_new and not fresh:
                logger.info("stage %d: %s joins; %d new variable(s) initialised (its head and their optimizer "
                            "state)", plan.index + 1, task, len(new))

    def validate(self, plan, trainer, tasks=None):
        """Evaluate every task of the stage (or only ``tasks``) that has a valid set (the Trainer's
        ``eval_fn``); its scalars."""
        scalars = {}
        for task in plan.tasks if tasks is None else tasks:
            e = self.tc[task]
            if not e.valid_filelist:
                continue
            if task not in self.evals:
                self.evals[task] = build_stream_program(task, self.tasksets[task], self.config, False,
                                                        self.args.weight_sharing, self.amp)
            res = evaluate(self.exe, self.evals[task], self.stream_reader(e, e.valid_filelist, True).batches(),
                           self.scope, "validation set %s of task %s" % (e.valid_filelist, task))
            scalars.update(validation_report(self.ernie1_heads, trainer, plan, self.schedule.num_stages, e, res))
        self.result.validations.append((trainer.step, dict(scalars)))
        return scalars

    def report_stage(self, plan, stats, trainer):
        """The stage table: kept in the result; rank 0 of a --task_config run logs it and writes it."""
        summary = stage_summary(self.tc, self.schedule, plan, stats, trainer, self.reader)
        self.result.summaries.append(summary)
        if self.rank != 0 or self.ernie1:
            return
        logger.info("stage %d/%d (%s) finished at step %d:\n%s", plan.index + 1, self.schedule.num_stages,
                    self.schedule.strategy, trainer.step, format_table(summary["columns"], summary["rows"]))
        if self.summary_path:
            old = []
            if os.path.exists(self.summary_path):
                with open(self.summary_path, encoding="utf-8") as f:
                    old = [x for x in json.load(f) if x["stage"] != plan.index + 1]
            write_json(self.summary_path, old + [summary])

    def stage_trainer(self, plan, first, resumed, vdl_writer):
        """The Trainer of one stage: the union of its streams' programs, routed by the batch's task."""
        args, S = self.args, self.schedule.num_stages
        stats = StageStats(plan.index)
        routes = {t: self.streams[t] for t in plan.tasks}
        validated = any(self.tc[t].valid_filelist for t in plan.tasks)
        trainer = Trainer(
            self.exe, ProgramUnion([routes[t].program for t in plan.tasks]),
            RoutedOptimizers(scheduler=self.lrs, amp=self.amp), {},
            TrainerConfig(num_train_steps=min(plan.end, self.stop_at), random_seed=args.random_seed, rank=self.rank,
                          nranks=self.nranks, fetch_every_step=True),
            scope=self.scope, place=self.place,
            checkpoint=CheckpointConfig(directory=args.checkpoints, save_steps=args.save_steps,
                                        max_checkpoints=args.max_checkpoints, model_config=self.config,
                                        extra_state_fn=stats.state),
            validation=ValidationConfig(
                eval_fn=functools.partial(self.validate, plan) if validated else None,
                every_steps=args.validation_steps,
                # ERNIE 1.0 also validates before the first step of a resumed run, as it always did
                at_start=args.validate_at_start and first and (not resumed or self.ernie1)),
            logging=LoggingConfig(every_steps=args.skip_steps,
                                  log_fn=ernie1_train_line(self.ernie1_heads) if self.ernie1 else stage_train_line(S),
                                  vdl_writer=vdl_writer),
            route_fn=functools.partial(route_of, routes), step_hook=stats.hook)
        return trainer, stats

    def train(self, on_stage=None):
        args, tc, schedule, result = self.args, self.tc, self.schedule, self.result
        S = schedule.num_stages
        start_stage, resume = self.read_resume_state()
        if self.rank == 0 and not self.ernie1:
            logger.info("%s: strategy %s, %d stage(s), %d updates%s, learning rate %s per %s\n%s", tc.source,
                        schedule.strategy, S, schedule.total,
                        "" if self.stop_at == schedule.total else
                        " (stopping at %d: --num_train_steps)" % self.stop_at,
                        args.lr_scheduler, "task" if tc.lr_schedule == "per_task" else "run", schedule.table())
            if self.summary_path:
                self.write_schedule(fresh=resume is None)
        started = time.time()
        vdl_writer = None
        if self.rank == 0 and args.vdl_dir:
            from visualdl import LogWriter  # optional package, only with --vdl_dir
            vdl_writer = LogWriter(logdir=args.vdl_dir)      # one file for all stages
        validated_untrained = set()
        try:
            for stage in range(start_stage, S):
                first = stage == start_stage
                plan = schedule.stages[stage]
                self.add_streams(plan, log_new=not first)
                trainer, stats = self.stage_trainer(plan, first, resume is not None, vdl_writer)
                trainer.step = plan.start if first else result.step
                if first and resume is not None:
                    stats.restore(trainer.load_checkpoint(args.init_checkpoint).get("extra"))
                elif first and args.init_pretraining_params:
                    trainer.load_pretraining_params(args.init_pretraining_params)
                trainer.broadcast_parameters()
                result.trainer = trainer
                if on_stage is not None:
                    on_stage("start", stage, result)
                joining = [t for t in plan.tasks if t not in validated_untrained and tc[t].valid_filelist]
                if args.validate_at_start and resume is None and not first and joining and self.rank == 0:
                    # a task that joins is validated before its first update too, so that its first
                    # validation is its untrained value (what the summary's "first -> last" compares)
                    self.validate(plan, trainer, joining)
                validated_untrained.update(plan.tasks)
                done = trainer.train(self.reader)
                result.step = trainer.step
                result.history.extend(trainer.history)
                if trainer.last_batch is not None:
                    self.reader.load_state_dict(trainer.last_batch.state)   # the position after the last batch
                if result.step < plan.end:
                    if result.step >= self.stop_at:
                        logger.info("stopping at step %d in stage %d/%d (--num_train_steps %d); resume with "
                                    "--init_checkpoint", result.step, stage + 1, S, args.num_train_steps)
                    break                       # else the data ended (--epoch): the trainer said so
                if done:
                    self.report_stage(plan, stats, trainer)
                if on_stage is not None:
                    on_stage("end", stage, result)
                if stage + 1 < S:
                    self.reader.next_stage()
        finally:
            if vdl_writer is not None:
                vdl_writer.close()
        if self.rank == 0:
            self.log_summary(int(time.time() - started))
        return result

    def log_summary(self, seconds):
        for task, reader in self.reader.readers.items():
            report = reader.bad_line_report()
            if report and report.get("skipped_lines"):
                logger.info("training data of %s: %s", task, report)
        what = ("ERNIE 1.0 pre-training (%s)" % self.args.train_filelist if self.ernie1 else
                "ERNIE 2.0 pre-training (%s, %s, %d stage(s))" % (self.tc.source, self.schedule.strategy,
                                                                 self.schedule.num_stages))
        for line in summary_lines(what, self.result.step, seconds, self.result.validations, self.args.checkpoints):
            logger.info(line)


def main(argv=None):
    args = parse_args(argv)
    init_logging()
    print_arguments(args, logger)
    try:
        with rank_failures_reported("train.py"):
            run(args)
    except (UsageError, ConfigError, CheckpointError, DataFileError, VocabError, DeviceError, AmpDeviceError,
            TaskError, NonFiniteLossError, DistributedError, ValueError) as e:
        sys.exit("train.py: error: %s" % e)
    return 0
