"""``train.py``: ERNIE 1.0 pre-training (masked LM with knowledge masking + next sentence), and with
``--task_config`` ERNIE 2.0 continual multi-task pre-training (:func:`run_task_config`; the configuration
format, strategies, allocation rule, logs and stage tables are in ``docs/continual_pretraining.md``).

Usage (one process; see ``script/zh_task/pretrain.sh`` for the GPU launch)::

    python train.py --ernie_config_path config/ernie_config.json --vocab_path config/vocab.txt \\
        --train_filelist data/train_filelist --valid_filelist data/valid_filelist \\
        --batch_size 8192 --in_tokens true --max_seq_len 512 --checkpoints checkpoints

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

Log lines (rank 0, every ``--skip_steps``; the values are those of that step)::

    epoch: %d, progress: %d/%d, step: %d, loss: %f, ppl: %f, next_sent_acc: %f, speed: %f steps/s, file: %s, mask_type: %s, lr: %g, tokens/s: %.0f[, loss_scaling: %g]
    [validation_set] epoch: %d, step: %d, loss: %f, global ppl: %f, next_sent_acc: %f, speed: %f steps/s
    [test_set] loss: %f, global ppl: %f, next_sent_acc: %f, speed: %f steps/s   (--do_test)

tokens/s counts the real (non-padding) tokens this process trained on.
"""
import argparse
import collections
import json
import logging
import math
import os
import sys
import time

import numpy as np

from ernie.args import ArgumentGroup, DeviceError, check_cuda, cuda_available, init_logging, print_arguments
from ernie.checkpoint import CheckpointError, check_params_fit_config
from ernie.config import ConfigError, ErnieConfig
from ernie.runtime import create_executor

logger = logging.getLogger(__name__)

PRETRAIN_LABELS = {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64"),
                   "labels": ([-1, 1], "int64")}


class UsageError(ValueError):
    """Flags that contradict each other or are missing."""


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
    train_g.add_arg("use_fp16", bool, False, "Whether to use fp16 mixed precision training (needs a GPU).")
    train_g.add_arg("use_dynamic_loss_scaling", bool, True, "Whether to use dynamic loss scaling.")
    train_g.add_arg("init_loss_scaling", float, 102400, "Loss scaling factor for mixed precision training.", min=0)
    train_g.add_arg("incr_every_n_steps", int, 100, "Increases loss scaling every n consecutive steps with finite gradients.", min=1)
    train_g.add_arg("decr_every_n_nan_or_inf", int, 2, "Decreases loss scaling every n accumulated steps with nan or inf gradients.", min=1)
    train_g.add_arg("incr_ratio", float, 2.0, "The multiplier to use when increasing the loss scaling.", min=1)
    train_g.add_arg("decr_ratio", float, 0.8, "The less-than-one-multiplier to use when decreasing the loss scaling.", min=0, max=1)
    train_g.add_arg("use_bf16", bool, False, "new: bfloat16 mixed precision (no loss scaling).")
    train_g.add_arg("adam_beta1", float, 0.9, "new: Adam beta1.", min=0, max=1)
    train_g.add_arg("adam_beta2", float, 0.98, "new: Adam beta2 (ERNIE 2.0 paper; the original used 0.999).", min=0, max=1)
    train_g.add_arg("adam_epsilon", float, 1e-6, "new: Adam epsilon (the original used 1e-8).", min=0)
    train_g.add_arg("adam_epsilon_as_paddle15", bool, False,
                    "new: add epsilon as Paddle 1.5 (the original's) Adam did; Paddle >= 2.0 scales it by "
                    "sqrt(1 - beta2^t).")
    train_g.add_arg("shuffle_samples", bool, True,
                    "new: false reads each data file's samples in order, as the v2.0 release did (the repro "
                    "branch, and the default here, shuffle them in blocks of 1,000).")
    train_g.add_arg("grad_clip_norm", float, 1.0, "new: global gradient-norm clip (<= 0 disables; the original fixed 1.0).")
    train_g.add_arg("max_checkpoints", int, 3, "new: number of step_<N> checkpoints kept (<= 0: all).")
    train_g.add_arg("random_seed", int, 1, "new: seed of parameter initialisation, dropout and data order/masking.", min=0)
    train_g.add_arg("validate_at_start", bool, False, "new: also validate before the first step.")

    log_g = ArgumentGroup(parser, "logging", "logging related.")
    log_g.add_arg("skip_steps", int, 10, "The steps interval to print loss.", min=0)
    log_g.add_arg("verbose", bool, False, "Whether to output verbose log (unused, as the original).")
    log_g.add_arg("vdl_dir", str, None, "new: VisualDL log directory (train/* and valid/* scalars).")

    data_g = ArgumentGroup(parser, "data", "Data paths, vocab paths and data processing options")
    data_g.add_arg("train_filelist", str, "", "Path to training filelist.")
    data_g.add_arg("valid_filelist", str, "", "Path to valid filelist (empty: no validation).")
    data_g.add_arg("test_filelist", str, "", "Path to test filelist.")
    data_g.add_arg("vocab_path", str, "./config/vocab.txt", "Vocabulary path.")
    data_g.add_arg("max_seq_len", int, 512, "Number of words of the longest seqence (longer lines are skipped).", min=2)
    data_g.add_arg("batch_size", int, 16, "Total examples' number in batch for training (tokens with --in_tokens true).", min=1)
    data_g.add_arg("in_tokens", bool, False, "If set, the batch size will be the maximum number of tokens in one batch.")
    data_g.add_arg("max_bad_line_ratio", float, 0.01, "new: fail when more than this fraction of the lines read is malformed.", min=0, max=1)

    run_type_g = ArgumentGroup(parser, "run_type", "running type options.")
    run_type_g.add_arg("is_distributed", bool, False, "If set, then start distributed training (implied when "
                       "launched by paddle.distributed.launch with several processes).")
    run_type_g.add_arg("use_cuda", bool, cuda_default, "If set, use GPU for training (default: whether a CUDA "
                       "build and device are present).")
    run_type_g.add_arg("use_fast_executor", bool, False, "Accepted for compatibility; no effect (Paddle 3 has one executor).")
    run_type_g.add_arg("do_test", bool, False, "Whether to perform evaluation on test data set.")

    task_g = ArgumentGroup(parser, "multi-task", "new: ERNIE 2.0 continual multi-task pre-training "
                           "(docs/continual_pretraining.md).")
    task_g.add_arg("task_config", str, None,
                   "new: pre-training configuration (JSON): tasks, ids, data, budgets, stages. Without it train.py "
                   "runs ERNIE 1.0 pre-training on --train_filelist.")
    task_g.add_arg("strategy", str, None, "new: continual | multitask | continual_multitask (ERNIE 2.0); default: "
                   "the configuration's 'strategy'.", choices=["continual", "multitask", "continual_multitask"])
    task_g.add_arg("iterations_scale", float, 1.0,
                   "new: multiply every task's budget (and explicit stage allocation) of the configuration, rounded, "
                   "at least 1 (e.g. 0.001 for a short demo of a paper-scale file).", min=0)
    return parser


def parse_args(argv=None):
    return build_parser(cuda_default=cuda_available()).parse_args(argv)


# --------------------------------------------------------------------------- programs
class PretrainProgram:
    """A built pre-training program: main/startup, feed names, fetches and (training) optimizer.

    fetches: {"loss": total loss, "lm_loss": mean masked-LM loss, "next_sent_acc": NSP accuracy},
    scalars float32.  optimizer: ``ernie.optimization.TrainOptimizer`` or None.
    """

    def __init__(self, main, startup, feed_names, fetches, optimizer=None):
        self.main = main
        self.startup = startup
        self.feed_names = feed_names
        self.fetches = fetches
        self.optimizer = optimizer


def build_pretrain_program(config, is_training, weight_sharing=True, amp=None, optimizer_args=None,
                           grad_hook=None):
    """Build the ERNIE 1.0 pre-training network (and, if ``optimizer_args``, its optimizer).

    optimizer_args: dict for ``ernie.optimization.build_optimizer`` (scheduler,
    weight_decay, grad_clip_norm, beta1, beta2, epsilon) or None (forward only).
    The eval program is built separately with ``is_training=False`` (no dropout)
    and shares the parameters through the scope by name.
    """
    import paddle
    from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
    from ernie.optimization import amp_guard, build_optimizer

    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        names = encoder_input_names(config) + list(PRETRAIN_LABELS)
        with amp_guard(amp):
            inputs = create_inputs(names, PRETRAIN_LABELS)
            model = ErnieModel(inputs, config, is_training=is_training, weight_sharing=weight_sharing)
            acc, lm_loss, total = model.get_pretraining_output(inputs["mask_label"], inputs["mask_pos"],
                                                               inputs["labels"])
        opt = None
        if optimizer_args is not None:
            opt = build_optimizer(total, amp=amp, grad_hook=grad_hook, **optimizer_args)
    return PretrainProgram(main, startup, names, {"loss": total, "lm_loss": lm_loss, "next_sent_acc": acc}, opt)


def make_feed_fn(feed_names):
    """Batch -> feed dict; ``task_ids`` (configs with use_task_id) are fed as task 0."""
    def feed(batch):
        out = {}
        for name in feed_names:
            if name == "task_ids" and name not in batch:
                out[name] = np.zeros_like(batch["src_ids"])
            else:
                out[name] = batch[name]
        return out
    return feed


def train_log_format(info):
    """The original's pre-training log line, plus lr, tokens/s and (fp16) the loss scale."""
    v = info["values"]
    progress = getattr(info["batch"], "progress", None)
    epoch = progress.epoch if progress else info["epoch"]
    line = ("epoch: %d, progress: %d/%d, step: %d, loss: %f, ppl: %f, next_sent_acc: %f, speed: %f steps/s, "
            "file: %s, mask_type: %s, lr: %g, tokens/s: %.0f"
            % (epoch, progress.file_index if progress else 0, progress.total_files if progress else 0,
               info["step"], v["loss"], _exp(v["lm_loss"]), v["next_sent_acc"], info["speed"],
               progress.current_file if progress else "-", progress.mask_type if progress else "-",
               info["lr"], info["tokens_per_s"] if info["tokens_per_s"] is not None else float("nan")))
    if info.get("loss_scaling") is not None:
        line += ", loss_scaling: %g" % info["loss_scaling"]
    return line


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return float("inf")


EVAL_WEIGHTS = {
    # per-token mean of the masked-LM loss and per-sample NSP accuracy over the whole set
    "lm_loss": lambda b: len(b["mask_pos"]),
    "next_sent_acc": lambda b: len(b["labels"]),
}


def evaluate(exe, program, reader, scope, progress_tag=None, skip_steps=0):
    """-> dict(loss, global_ppl, next_sent_acc, lm_loss, speed, steps) over all batches of ``reader``."""
    from ernie.trainer import run_evaluation

    progress_fn = (lambda n: logger.info("[%s] steps: %d", progress_tag, n)) if progress_tag else None
    res = run_evaluation(exe, program.main, program.fetches, reader.batches(), weights=EVAL_WEIGHTS,
                         feed_fn=make_feed_fn(program.feed_names), scope=scope,
                         progress_every=skip_steps, progress_fn=progress_fn)
    if res.steps == 0:
        raise ValueError("the evaluation set %s produced no batch" % reader.filelist)
    return {"loss": res.means["loss"], "global_ppl": _exp(res.means["lm_loss"]), "lm_loss": res.means["lm_loss"],
            "next_sent_acc": res.means["next_sent_acc"], "speed": res.speed, "steps": res.steps}


# --------------------------------------------------------------------------- driver
def _check_args(args):
    if getattr(args, "task_config", None):
        return _check_task_args(args)
    if getattr(args, "strategy", None) or getattr(args, "iterations_scale", 1.0) != 1.0:
        raise UsageError("--strategy and --iterations_scale need --task_config")
    if args.init_checkpoint and args.init_pretraining_params:
        raise UsageError("--init_checkpoint (resume a run) and --init_pretraining_params (start a new run from "
                         "parameters) are mutually exclusive: give one of them")
    if args.use_fp16 and args.use_bf16:
        raise UsageError("--use_fp16 and --use_bf16 are mutually exclusive")
    if args.do_test:
        if not args.test_filelist:
            raise UsageError("--do_test true needs --test_filelist")
        if not (args.init_checkpoint or args.init_pretraining_params):
            raise UsageError("--do_test true needs --init_checkpoint or --init_pretraining_params (the parameters "
                             "to evaluate)")
    elif not args.train_filelist:
        raise UsageError("--train_filelist is required for training")
    _check_step_flags(args)


def _check_step_flags(args):
    """The step counts shared by both pre-training modes are not negative."""
    for flag in ("skip_steps", "save_steps", "validation_steps"):
        if getattr(args, flag) < 0:
            raise UsageError("--%s must be >= 0, got %d" % (flag, getattr(args, flag)))
    if args.num_train_steps < 0:
        raise UsageError("--num_train_steps must be >= 0")


def _check_config(config, args):
    from reader.vocab import load_vocab
    if args.max_seq_len > config.max_position_embeddings:
        raise ConfigError("--max_seq_len %d exceeds max_position_embeddings %d of %s"
                          % (args.max_seq_len, config.max_position_embeddings, config.source))
    top = max(load_vocab(args.vocab_path).values())
    if top >= config.vocab_size:
        raise ConfigError("vocabulary %s has ids up to %d but vocab_size in %s is %d"
                          % (args.vocab_path, top, config.source, config.vocab_size))


def make_amp(args):
    from ernie.optimization import AmpConfig
    if args.use_fp16:
        return AmpConfig("float16", init_loss_scaling=args.init_loss_scaling,
                         incr_every_n_steps=args.incr_every_n_steps,
                         decr_every_n_nan_or_inf=args.decr_every_n_nan_or_inf, incr_ratio=args.incr_ratio,
                         decr_ratio=args.decr_ratio, use_dynamic_loss_scaling=args.use_dynamic_loss_scaling)
    if args.use_bf16:
        return AmpConfig("bfloat16")
    return None


def _make_reader(args, config, filelist, is_test):
    from reader.pretraining import PretrainingReader
    return PretrainingReader(filelist, args.vocab_path, batch_size=args.batch_size, in_tokens=args.in_tokens,
                             max_seq_len=args.max_seq_len, shuffle_files=True, random_seed=args.random_seed,
                             epoch=args.epoch, voc_size=config.vocab_size, is_test=is_test,
                             generate_neg_sample=args.generate_neg_sample,
                             max_bad_line_ratio=args.max_bad_line_ratio,
                             max_position=config.max_position_embeddings, sent_vocab_size=config.sent_vocab_size,
                             shuffle_samples=args.shuffle_samples)


def _distributed(args):
    """(rank, nranks); joins the process group when launched with several processes."""
    nranks_env = os.environ.get("PADDLE_TRAINERS_NUM", "1").strip() or "1"
    if not args.is_distributed and int(nranks_env) <= 1:
        return 0, 1
    try:
        from ernie.distributed import init_distributed
    except ImportError as e:
        if int(nranks_env) > 1:
            raise RuntimeError("several processes were launched but ernie.distributed is unavailable: %s" % e)
        return 0, 1
    return init_distributed()


def _static_setup(args, rank):
    """Static mode, device checks, the model config (printed by rank 0, checked against the flags), the
    place, a CPU-aware executor and a fresh scope: ``(amp, config, place, exe, scope)``."""
    import paddle
    from ernie.optimization import check_amp_device

    paddle.enable_static()
    check_cuda(args.use_cuda)
    amp = make_amp(args)
    check_amp_device(amp, args.use_cuda)
    config = ErnieConfig.from_json(args.ernie_config_path)
    if rank == 0:
        config.print_config()
    _check_config(config, args)
    params_dir = args.init_checkpoint or args.init_pretraining_params
    if params_dir:
        check_params_fit_config(params_dir, config)
    if args.use_cuda:
        try:
            from ernie.distributed import device_place
            place = device_place(True)
        except ImportError:
            place = paddle.CUDAPlace(0)
    else:
        place = paddle.CPUPlace()
    return amp, config, place, create_executor(place), paddle.static.Scope()


def recording(eval_fn, validations):
    """``eval_fn`` that also appends ``(step, scalars)`` of every validation to ``validations``."""
    def record(trainer):
        scalars = eval_fn(trainer)
        validations.append((trainer.step, dict(scalars or {})))
        return scalars
    return record


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
    lines.append("[summary] next: fine-tuning, README section \"Fine-tuning\" (e.g. python -m reader."
                 "prepare_finetune_data --task rotten_tomatoes, then a task script); the tests: python -m pytest -q tests")
    return lines


def run(args):
    """Train (or, with --do_test, evaluate) as the flags say.  Returns the Trainer (training) or the
    test metrics dict (--do_test); with --task_config a :class:`ContinualRun`.  Raises on bad input
    (``main`` turns that into a message)."""
    if getattr(args, "task_config", None):
        return run_task_config(args)
    _check_args(args)
    rank, nranks = _distributed(args)   # before paddle.enable_static(): collectives need dynamic mode
    with claim_checkpoints(args, rank, training=not args.do_test):
        return _run(args, rank, nranks)


def claim_checkpoints(args, rank, training=True):
    """Rank 0 of a training run holds ``--checkpoints`` from now on (before any compute; see
    ``ernie.checkpoint.claim_checkpoint_dir``): a context manager releasing it at the end."""
    from contextlib import nullcontext
    from ernie.checkpoint import claim_checkpoint_dir
    if rank != 0 or not training or not args.checkpoints:
        return nullcontext()
    return claim_checkpoint_dir(args.checkpoints, resume_from=args.init_checkpoint,
                                overwrite=getattr(args, "overwrite_checkpoints", False))


def _run(args, rank, nranks):
    import paddle
    from ernie.optimization import lr_scheduler
    from ernie.trainer import Trainer

    if args.use_fast_executor:
        logger.info("--use_fast_executor has no effect on Paddle 3")
    amp, config, place, exe, scope = _static_setup(args, rank)

    eval_prog = build_pretrain_program(config, is_training=False, weight_sharing=args.weight_sharing, amp=amp)

    if args.do_test:
        from ernie.checkpoint import init_pretraining_params
        with paddle.static.scope_guard(scope):
            paddle.seed(args.random_seed)
            exe.run(eval_prog.startup)
        params = args.init_checkpoint or args.init_pretraining_params
        init_pretraining_params(params, eval_prog.main, scope=scope, place=place, config=config)
        test_reader = _make_reader(args, config, args.test_filelist, is_test=True)
        r = evaluate(exe, eval_prog, test_reader, scope, progress_tag="test_set", skip_steps=args.skip_steps)
        logger.info("[test_set] loss: %f, global ppl: %f, next_sent_acc: %f, speed: %f steps/s",
                    r["loss"], r["global_ppl"], r["next_sent_acc"], r["speed"])
        return r

    scheduler = lr_scheduler(args.lr_scheduler, args.learning_rate, args.warmup_steps, args.num_train_steps)
    grad_hook = None
    if nranks > 1:
        from ernie.distributed import allreduce_gradients
        grad_hook = lambda params_grads: allreduce_gradients(params_grads, nranks)  # noqa: E731
    train_prog = build_pretrain_program(
        config, is_training=True, weight_sharing=args.weight_sharing, amp=amp, grad_hook=grad_hook,
        optimizer_args=dict(scheduler=scheduler, weight_decay=args.weight_decay, grad_clip_norm=args.grad_clip_norm,
                            beta1=args.adam_beta1, beta2=args.adam_beta2, epsilon=args.adam_epsilon,
                            epsilon_as_paddle15=args.adam_epsilon_as_paddle15))

    eval_fn = None
    if args.valid_filelist:
        def eval_fn(trainer):
            reader = _make_reader(args, config, args.valid_filelist, is_test=True)
            r = evaluate(exe, eval_prog, reader, scope)
            logger.info("[validation_set] epoch: %d, step: %d, loss: %f, global ppl: %f, next_sent_acc: %f, "
                        "speed: %f steps/s", trainer.epoch, trainer.step, r["loss"], r["global_ppl"],
                        r["next_sent_acc"], r["speed"])
            return {"loss": r["loss"], "ppl": r["global_ppl"], "next_sent_acc": r["next_sent_acc"]}

    validations = []
    if eval_fn is not None:
        eval_fn = recording(eval_fn, validations)
    started = time.time()
    trainer = Trainer(exe, train_prog.main, train_prog.optimizer, train_prog.fetches, args.num_train_steps,
                      scope=scope, place=place, skip_steps=args.skip_steps, save_steps=args.save_steps,
                      checkpoints=args.checkpoints, max_checkpoints=args.max_checkpoints,
                      validation_steps=args.validation_steps if args.valid_filelist else 0, eval_fn=eval_fn,
                      validate_at_start=args.validate_at_start, log_fn=train_log_format, vdl_dir=args.vdl_dir,
                      rank=rank, nranks=nranks, random_seed=args.random_seed,
                      feed_fn=make_feed_fn(train_prog.feed_names), model_config=config)
    trainer.run_startup(train_prog.startup)
    if args.init_checkpoint:
        trainer.load_checkpoint(args.init_checkpoint)
    elif args.init_pretraining_params:
        trainer.load_pretraining_params(args.init_pretraining_params)
    trainer.broadcast_parameters()
    train_reader = _make_reader(args, config, args.train_filelist, is_test=False)
    trainer.train(train_reader)
    if rank == 0:
        report = train_reader.bad_line_report()
        if report and report.get("skipped_lines"):
            logger.info("training data: %s", report)
        for line in summary_lines("ERNIE 1.0 pre-training (%s)" % args.train_filelist, trainer.step,
                                  int(time.time() - started), validations, args.checkpoints):
            logger.info(line)
    return trainer


# --------------------------------------------------------------------------- ERNIE 2.0: --task_config
DEFAULT_VOCAB = "./config/vocab.txt"


def _check_task_args(args):
    if args.init_checkpoint and args.init_pretraining_params:
        raise UsageError("--init_checkpoint (resume a run) and --init_pretraining_params (start a new run from "
                         "parameters) are mutually exclusive: give one of them")
    if args.use_fp16 and args.use_bf16:
        raise UsageError("--use_fp16 and --use_bf16 are mutually exclusive")
    if args.do_test:
        raise UsageError("--do_test is not supported with --task_config (each task's valid_filelist is evaluated "
                         "during training)")
    given = [f for f in ("train_filelist", "valid_filelist", "test_filelist") if getattr(args, f)]
    if given:
        raise UsageError("--%s is not used with --task_config: each task names its own data in %s"
                         % (", --".join(given), args.task_config))
    _check_step_flags(args)


def head_count(task, batch):
    """Number of labelled items of ``task`` in a batch (its loss and accuracy are means over them)."""
    if task.uses_masking:
        return float(len(batch["mask_pos"]))
    return float(sum(int((np.asarray(batch[f]) >= 0).sum()) for f in task.label_fields))


class StreamProgram:
    """The program of one task stream: encoder + the stream's heads (+ optimizer when training).

    fetches: {"loss": sum of the heads' losses, "acc": the stream task's accuracy, and with several heads
    "<head>_loss" for each and "<head>_acc" for the other heads}; weights: {fetch name: f(batch) -> items}
    for exact evaluation means; optimizer: ``ernie.optimization.TrainOptimizer`` or None.
    ``feed(batch)`` -> feed dict.
    """

    def __init__(self, name, taskset, config, main, startup, fetches, weights, optimizer):
        self.name = name
        self.taskset = taskset
        self.config = config
        self.program = main
        self.startup = startup
        self.local_fetches = fetches
        self.weights = weights
        self.optimizer = optimizer
        # the Trainer's names: <task>/<metric> (VisualDL tags train/<task>/<metric>)
        self.fetches = collections.OrderedDict((name + "/" + k, v) for k, v in fetches.items())

    def feed(self, batch):
        return self.taskset.feed(batch, self.config)


def build_stream_program(name, taskset, config, is_training, weight_sharing=True, amp=None, optimizer_args=None,
                         grad_hook=None):
    import paddle
    from ernie.optimization import amp_guard, build_optimizer

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
    import paddle
    from paddle.static.pir_io import get_pir_parameters
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


def task_log_format(num_stages):
    """Per-step log line of multi-task training (see ``docs/continual_pretraining.md``)."""
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


class ContinualRun:
    """What :func:`run_task_config` did: task_config, schedule, step (updates done), history
    ([(step, {"<task>/loss": ..., "lr": ...})] of the logged steps, all stages), summaries (one dict per
    finished stage: the stage table), scope (the variables), trainer (the last stage's), streams
    ({task: StreamProgram})."""

    def __init__(self, task_config, schedule):
        self.task_config = task_config
        self.schedule = schedule
        self.step = 0
        self.history = []
        self.summaries = []
        self.scope = None
        self.trainer = None
        self.streams = {}


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def run_task_config(args, on_stage=None):
    """ERNIE 2.0 pre-training from ``args.task_config`` (see ``docs/continual_pretraining.md``).

    One program per task stream (encoder + its heads + AdamW), all in one scope:
    parameters and optimizer state are shared by name, so stage k starts from
    stage k-1's parameters and Adam moments; a new stream's head is initialised
    when it first appears.  Each step runs the program of the batch's task
    (``ernie.trainer.Trainer`` with ``route_fn``), one Trainer per stage.

    on_stage: optional ``f(event, stage, run)`` called with event "start" (after
    the stage's variables are initialised / loaded, before its first step) and
    "end" (after its last step and validation); ``run`` is the
    :class:`ContinualRun` (``run.scope`` holds the variables).
    """
    from ernie.scheduler import TaskConfig, build_schedule

    _check_task_args(args)
    tc = TaskConfig.from_json(args.task_config, iterations_scale=args.iterations_scale)
    schedule = build_schedule(tc, args.strategy, seed=args.random_seed)
    if tc.vocab_path:
        if args.vocab_path == DEFAULT_VOCAB:
            args.vocab_path = tc.vocab_path
        elif os.path.abspath(args.vocab_path) != os.path.abspath(tc.vocab_path):
            logger.warning("--vocab_path %s differs from the configuration's vocab_path %s: using %s",
                           args.vocab_path, tc.vocab_path, args.vocab_path)
    rank, nranks = _distributed(args)
    with claim_checkpoints(args, rank):
        return _run_task_config(args, on_stage, tc, schedule, rank, nranks)


def _run_task_config(args, on_stage, tc, schedule, rank, nranks):
    from types import SimpleNamespace
    from ernie.scheduler import LRSchedules, ProgramUnion, ScheduledReader, format_table, make_stream_reader
    from ernie.trainer import Trainer, run_evaluation

    amp, config, place, exe, scope = _static_setup(args, rank)
    tc.check_model_config(config)
    S = schedule.num_stages
    stop_at = min(schedule.total, args.num_train_steps)
    if rank == 0:
        logger.info("%s: strategy %s, %d stage(s), %d updates%s, learning rate %s per %s\n%s", tc.source,
                    schedule.strategy, S, schedule.total,
                    "" if stop_at == schedule.total else " (stopping at %d: --num_train_steps)" % stop_at,
                    args.lr_scheduler, "task" if tc.lr_schedule == "per_task" else "run", schedule.table())
    lrs = LRSchedules(tc.lr_schedule, args.lr_scheduler, args.learning_rate, args.warmup_steps, schedule.budgets,
                      schedule.total)
    grad_hook = None
    if nranks > 1:
        from ernie.distributed import allreduce_gradients
        grad_hook = lambda params_grads: allreduce_gradients(params_grads, nranks)  # noqa: E731
    tasksets = {e.name: tc.stream_taskset(e) for e in tc.tasks}
    reader_kw = dict(batch_size=args.batch_size, in_tokens=args.in_tokens, max_seq_len=args.max_seq_len,
                     random_seed=args.random_seed, voc_size=config.vocab_size,
                     max_bad_line_ratio=args.max_bad_line_ratio, max_position=config.max_position_embeddings,
                     sent_vocab_size=config.sent_vocab_size, shuffle_samples=args.shuffle_samples)

    def stream_reader(e, filelist, is_test):
        neg = args.generate_neg_sample and not is_test and "next_sent" in tasksets[e.name].names
        return make_stream_reader(tasksets[e.name], filelist, args.vocab_path, e.id, shuffle_files=True, epoch=1,
                                  is_test=is_test, generate_neg_sample=neg, **reader_kw)

    sreader = ScheduledReader(schedule, {e.name: stream_reader(e, e.train_filelist, False) for e in tc.tasks},
                              tc.ids)
    result = ContinualRun(tc, schedule)
    result.scope = scope
    streams, evals = result.streams, {}

    def optimizer_args(task):
        return dict(scheduler=lrs[task], weight_decay=args.weight_decay, grad_clip_norm=args.grad_clip_norm,
                    beta1=args.adam_beta1, beta2=args.adam_beta2, epsilon=args.adam_epsilon,
                    epsilon_as_paddle15=args.adam_epsilon_as_paddle15)

    def eval_program(task):
        if task not in evals:
            evals[task] = build_stream_program(task, tasksets[task], config, False, args.weight_sharing, amp)
        return evals[task]

    start_stage, resume = 0, None
    if args.init_checkpoint:
        from ernie.checkpoint import STATE_FILE, read_train_state
        path = os.path.join(args.init_checkpoint, STATE_FILE)
        resume = read_train_state(args.init_checkpoint)
        reader_state = resume.get("reader")
        if not isinstance(reader_state, dict) or "stage" not in reader_state:
            raise CheckpointError("%s holds no multi-task schedule position (written by train.py without "
                                  "--task_config?)" % args.init_checkpoint)
        sreader.check_state(reader_state)
        start_stage = int(reader_state["stage"])
        if not 0 <= start_stage < S:
            raise CheckpointError("%s: stage %d is outside the schedule's %d stages" % (path, start_stage + 1, S))

    summary_path = os.path.join(args.checkpoints, "stage_summaries.json") if args.checkpoints else None
    if rank == 0 and args.checkpoints:
        os.makedirs(args.checkpoints, exist_ok=True)
        _write_json(os.path.join(args.checkpoints, "schedule.json"),
                    dict(schedule.to_dict(), config=os.path.abspath(tc.source), lr_schedule=tc.lr_schedule,
                         task_ids=tc.ids, table=schedule.table().split("\n")))
        if resume is None and summary_path and os.path.exists(summary_path):
            os.remove(summary_path)

    def add_streams(plan, log_new):
        # build the programs of the stage's new streams and initialise their new variables; the first program
        # initialises everything as train.py's ERNIE 1.0 run does (paddle.seed(random_seed)), a later stream's
        # new variables get a seed of their own
        for task in plan.tasks:
            if task in streams:
                continue
            streams[task] = build_stream_program(task, tasksets[task], config, True, args.weight_sharing, amp,
                                                 optimizer_args(task), grad_hook)
            fresh = scope.find_var("word_embedding") is None
            seed = args.random_seed if fresh else _stream_seed(args.random_seed, tc[task].index)
            new = init_new_variables(exe, streams[task], scope, seed, place)
            if new and log_new and not fresh:
                logger.info("stage %d: %s joins; %d new variable(s) initialised (its head and their optimizer "
                            "state)", plan.index + 1, task, len(new))

    validations, started = [], time.time()

    def make_eval_fn(plan):
        return recording(plan_eval_fn(plan), validations)

    def plan_eval_fn(plan):
        def eval_fn(trainer):
            out = {}
            for task in plan.tasks:
                e = tc[task]
                if not e.valid_filelist:
                    continue
                prog = eval_program(task)
                res = run_evaluation(exe, prog.program, prog.local_fetches,
                                     stream_reader(e, e.valid_filelist, True).batches(), weights=prog.weights,
                                     feed_fn=prog.feed, scope=scope)
                if res.steps == 0:
                    raise ValueError("the validation set %s of task %s produced no batch" % (e.valid_filelist, task))
                logger.info("[validation_set] stage: %d/%d, step: %d, task: %s, task_id: %d, %s, steps: %d, "
                            "speed: %f steps/s", plan.index + 1, S, trainer.step, task, e.id,
                            ", ".join("%s: %f" % kv for kv in res.means.items()), res.steps, res.speed)
                out.update({task + "/" + k: v for k, v in res.means.items()})
            return out
        return eval_fn

    def report_stage(plan, stats, trainer):
        summary = _stage_summary(tc, schedule, plan, stats, trainer, sreader)
        result.summaries.append(summary)
        if rank != 0:
            return
        logger.info("stage %d/%d (%s) finished at step %d:\n%s", plan.index + 1, S, schedule.strategy, trainer.step,
                    format_table(summary["columns"], summary["rows"]))
        if summary_path:
            old = []
            if os.path.exists(summary_path):
                with open(summary_path, encoding="utf-8") as f:
                    old = [x for x in json.load(f) if x["stage"] != plan.index + 1]
            _write_json(summary_path, old + [summary])

    vdl_writer = None
    if rank == 0 and args.vdl_dir:
        from visualdl import LogWriter
        vdl_writer = LogWriter(logdir=args.vdl_dir)      # one file for all stages
    try:
        for stage in range(start_stage, S):
            first = stage == start_stage
            plan = schedule.stages[stage]
            add_streams(plan, log_new=not first)
            stats = StageStats(stage)
            routes = {t: streams[t] for t in plan.tasks}
            trainer = Trainer(exe, ProgramUnion([routes[t].program for t in plan.tasks]),
                              SimpleNamespace(scheduler=lrs), {}, min(plan.end, stop_at), scope=scope, place=place,
                              skip_steps=args.skip_steps, save_steps=args.save_steps, checkpoints=args.checkpoints,
                              max_checkpoints=args.max_checkpoints, validation_steps=args.validation_steps,
                              eval_fn=make_eval_fn(plan),
                              validate_at_start=args.validate_at_start and first and resume is None,
                              log_fn=task_log_format(S), vdl_writer=vdl_writer, rank=rank, nranks=nranks,
                              random_seed=args.random_seed, route_fn=lambda b, routes=routes: routes[b.task],
                              fetch_every_step=True, step_hook=stats.hook, extra_state_fn=stats.state,
                              model_config=config)
            trainer.step = plan.start if first else result.step
            if first and resume is not None:
                state = trainer.load_checkpoint(args.init_checkpoint)
                stats.restore(state.get("extra"))
            elif first and args.init_pretraining_params:
                trainer.load_pretraining_params(args.init_pretraining_params)
            trainer.broadcast_parameters()
            result.trainer = trainer
            if on_stage is not None:
                on_stage("start", stage, result)
            done = trainer.train(sreader)
            result.step = trainer.step
            result.history.extend(trainer.history)
            if trainer.last_batch is not None:
                sreader.load_state_dict(trainer.last_batch.state)   # the position after the last trained batch
            if result.step < plan.end:
                logger.info("stopping at step %d in stage %d/%d (--num_train_steps %d); resume with "
                            "--init_checkpoint", result.step, stage + 1, S, args.num_train_steps)
                break
            if done:
                report_stage(plan, stats, trainer)
            if on_stage is not None:
                on_stage("end", stage, result)
            if stage + 1 < S:
                sreader.next_stage()
    finally:
        if vdl_writer is not None:
            vdl_writer.close()
    if rank == 0:
        for task, reader in sreader.readers.items():
            report = reader.bad_line_report()
            if report and report.get("skipped_lines"):
                logger.info("training data of %s: %s", task, report)
        what = "ERNIE 2.0 pre-training (%s, %s, %d stage(s))" % (tc.source, schedule.strategy, S)
        for line in summary_lines(what, result.step, int(time.time() - started), validations, args.checkpoints):
            logger.info(line)
    return result

def _stage_summary(tc, schedule, plan, stats, trainer, sreader):
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


def main(argv=None):
    args = parse_args(argv)
    init_logging()
    from reader.pretraining import DataFileError
    from reader.vocab import VocabError
    from ernie.optimization import AmpDeviceError
    from ernie.tasks import TaskError
    from ernie.trainer import NonFiniteLossError
    from ernie.distributed import DistributedError, rank_failures_reported
    print_arguments(args, logger)
    try:
        with rank_failures_reported("train.py"):
            run(args)
    except (UsageError, ConfigError, CheckpointError, DataFileError, VocabError, DeviceError, AmpDeviceError,
            TaskError, NonFiniteLossError, DistributedError, ValueError) as e:
        sys.exit("train.py: error: %s" % e)
    return 0
