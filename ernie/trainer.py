"""The training loop shared by every job (pre-training, multi-task pre-training, fine-tuning).

A :class:`Trainer` runs a built static training program step by step:

* feeds batches from a reader through ``reader.batching.Prefetcher``;
* fetches the named metrics every step (the loss is checked for NaN; without
  a loss among them, only on logging steps), on logging steps
  (``LoggingConfig.every_steps``) formats one log line (``log_fn``) and writes
  the same scalars to VisualDL (``vdl_dir``; tags ``train/<name>`` and ``valid/<name>``);
* steps the learning-rate scheduler after every run;
* validates every ``ValidationConfig.every_steps`` by calling ``eval_fn(trainer)``
  (see :func:`run_evaluation` for the helper that runs an eval program over a set);
* saves a checkpoint every ``CheckpointConfig.save_steps`` under ``<directory>/step_<N>``,
  keeps the newest ``max_checkpoints``, and saves a final one at the end; at a step that validates
  too, after the validation (a checkpoint never precedes its step's evaluation, so resuming from
  it never skips one);
* stops after ``TrainerConfig.num_train_steps`` optimizer updates (one step = one run of the
  program = one update of every rank; updates skipped for float16 overflow
  still count, as the learning-rate position advances).

What the trainer consumes is written down as ``typing.Protocol`` classes below:
:class:`BatchSource` (the reader: ``batches()`` and ``load_state_dict``), :class:`StepOptimizer` (what
``ernie.optimization.build_optimizer`` returns: the learning-rate schedule, the AMP setting and the
optimizer state to fetch), :class:`StepProgram` (one routed program).  Batches are dicts of feeds (or
objects with ``.feed()``), optionally with ``.state`` (the reader position right after the batch),
``.num_tokens``, ``.progress`` (a ``reader.pretraining.Progress``), ``.epoch`` and ``.end_of_epoch`` (see
``ValidationConfig.on_epoch_end``).  With prefetching the reader runs ahead, so the position saved is
``batch.state`` of the last batch actually trained on.  The settings are grouped in four dataclasses:
:class:`TrainerConfig` (how long, seeds, processes), :class:`CheckpointConfig`, :class:`ValidationConfig`
and :class:`LoggingConfig`.

Exact resume.  ``load_checkpoint`` restores every persistable (parameters,
Adam moments, beta powers, loss-scaling state), the step counter, the
scheduler position and the reader position, so ``--init_checkpoint`` at step k
continues exactly as the uninterrupted run (same losses, bit for bit on CPU).
Dropout randomness: before every step the global Paddle generator is seeded
with a value derived from ``(random_seed, rank, step)``, so the dropout masks
of step k do not depend on what ran before (no generator state to save); the
startup program is run after ``paddle.seed(random_seed)`` (identical initial
parameters on every rank).  GPU kernels whose results depend on thread
scheduling (e.g. atomics in some backward ops) can still make GPU runs differ
in the last bits.

Several processes (``nranks > 1``): only rank 0 logs, validates and writes
``<checkpoints>/step_<N>`` (its reader state inside ``train_state.json``);
every other rank k writes its own reader position to
``<checkpoints>/reader_states/step_<N>.rank_<k>.json`` (atomic rename, the
newest ``max_checkpoints`` kept) and reads it back from next to the
checkpoint directory when resuming.  Rank 0's atomic directory rename never
touches those files.  If a rank's file is missing, that rank continues from
rank 0's position with a warning (exact only when all ranks' epochs have equal
batch counts).

``train_state.json`` holds::

    {"format": 1, "step": N, "scheduler": {"schedule", "last_epoch", "last_lr"},
     "reader": <reader state or null>, "random_seed": S, "nranks": R, "time": "..."
     [, "extra": <extra_state_fn()>]}

Several programs (``route_fn``).  Multi-task pre-training (``ernie.scheduler``)
runs one program per task, all sharing the parameters and optimizer state of
one scope by name; ``route_fn(batch)`` returns the :class:`StepProgram` of a batch
(``program``, ``fetches``, ``optimizer``: its ``TrainOptimizer``, stepped after the
run, and ``feed(batch)``).  ``program`` (the constructor argument) is then only
used to list the variables to checkpoint, load and broadcast: any object with
``list_vars()`` (e.g. ``ernie.scheduler.ProgramUnion`` of the routed programs), and
``optimizer`` is a :class:`RoutedOptimizers`: the schedule saved in
``train_state.json`` (e.g. ``ernie.scheduler.LRSchedules``) and the routes' AMP setting.
"""
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Protocol, runtime_checkable

import numpy as np
import paddle

from ernie.atomic_write import write_json
from ernie.checkpoint import (STATE_FILE, NonFiniteCheckpointError, claim_checkpoint_dir, holds_checkpoint_dir,
                              init_checkpoint, init_pretraining_params, prune_checkpoints, save_checkpoint)
from ernie.config import ErnieConfig
from ernie import distributed
from ernie.optimization import AmpConfig
from reader.batching import Prefetcher

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
READER_STATES_DIR = "reader_states"


class NonFiniteLossError(RuntimeError):
    """The training loss was NaN or infinite for ``max_nonfinite_steps`` consecutive steps."""


class EmptyTrainingDataError(ValueError):
    """A new run's training data produced no batch at all."""


def _scalar(value):
    """Mean of a fetched array as a Python float."""
    arr = np.asarray(value, dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")


def default_feed(batch):
    return batch.feed() if hasattr(batch, "feed") else dict(batch)


def step_seed(random_seed, rank, step):
    """The Paddle generator seed for ``step`` of ``rank`` (a pure function: no state to checkpoint)."""
    seq = np.random.SeedSequence([int(random_seed), int(rank), int(step), 0x45524e49])
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def default_log_format(info):
    """``step: N, <name>: <value>, ..., lr: ..., speed: ... steps/s, tokens/s: ...``."""
    parts = ["step: %d" % info["step"]]
    parts += ["%s: %f" % (k, v) for k, v in info["values"].items()]
    parts.append("lr: %g" % info["lr"])
    if info.get("loss_scaling") is not None:
        parts.append("loss_scaling: %g" % info["loss_scaling"])
    parts.append("speed: %f steps/s" % info["speed"])
    if info.get("tokens_per_s") is not None:
        parts.append("tokens/s: %.0f" % info["tokens_per_s"])
    return ", ".join(parts)


class EvalResult:
    """What :func:`run_evaluation` measured.

    means: {name: weighted mean over the batches}; weights: {name: total weight};
    steps: number of batches; elapsed: seconds; speed: steps / elapsed.
    """

    def __init__(self, means, weights, steps, elapsed):
        self.means = means
        self.weights = weights
        self.steps = steps
        self.elapsed = elapsed
        self.speed = steps / elapsed if elapsed > 0 else float("nan")

    def __repr__(self):
        return "EvalResult(means=%r, steps=%d, elapsed=%.2fs)" % (self.means, self.steps, self.elapsed)


def run_evaluation(exe, program, fetches, batches, weights=None, feed_fn=default_feed, scope=None,
                   progress_every=0, progress_fn=None):
    """Run ``program`` over every batch of ``batches`` and average the fetched scalars.

    fetches: {name: Value} of per-batch scalars; weights: {name: f(batch) -> float}
    giving the batch weight of a metric (e.g. the number of masked tokens for a
    per-token mean loss, the number of samples for an accuracy), so the result
    is the exact mean over tokens / samples; names without a weight are averaged
    over batches.  ``progress_fn(steps)`` is called every ``progress_every`` batches.
    Returns an :class:`EvalResult`.
    """
    weights = weights or {}
    names = list(fetches)
    fetch_list = [fetches[n] for n in names]
    sums = {n: 0.0 for n in names}
    totals = {n: 0.0 for n in names}
    steps = 0
    start = time.time()
    scope = scope if scope is not None else paddle.static.global_scope()
    with paddle.static.scope_guard(scope):
        for batch in batches:
            out = exe.run(program, feed=feed_fn(batch), fetch_list=fetch_list)
            steps += 1
            for n, v in zip(names, out):
                w = float(weights[n](batch)) if n in weights else 1.0
                sums[n] += _scalar(v) * w
                totals[n] += w
            if progress_every and progress_fn and steps % progress_every == 0:
                progress_fn(steps)
    means = {n: (sums[n] / totals[n] if totals[n] else float("nan")) for n in names}
    return EvalResult(means, totals, steps, time.time() - start)


# --------------------------------------------------------------------------- what the trainer consumes
@runtime_checkable
class LRSchedule(Protocol):
    """A learning-rate schedule whose position is checkpointed (``ernie.optimization.ErnieLRScheduler``,
    ``ernie.scheduler.LRSchedules``)."""

    last_lr: float

    def state_dict(self) -> dict: ...

    def set_state_dict(self, state: dict) -> None: ...


@runtime_checkable
class SteppedSchedule(LRSchedule, Protocol):
    """The schedule of one program: stepped after every run of it."""

    def step(self) -> None: ...


@runtime_checkable
class CheckpointedOptimizer(Protocol):
    """The optimizer side the trainer checkpoints and checks: the schedule saved in ``train_state.json``
    and the AMP setting (float16 with dynamic loss scaling skips non-finite steps instead of stopping)."""

    scheduler: LRSchedule
    amp: Optional[AmpConfig]


@runtime_checkable
class StepOptimizer(CheckpointedOptimizer, Protocol):
    """The optimizer of a program the trainer runs (``ernie.optimization.TrainOptimizer``)."""

    scheduler: SteppedSchedule

    def state_fetches(self) -> Dict[str, Any]:
        """{name: Value} fetched on logging steps: ``lr`` and, with float16, ``loss_scaling``."""


@runtime_checkable
class StepProgram(Protocol):
    """One program of routed training (``route_fn(batch)``): ``ernie.cli.pretrain.StreamProgram``."""

    program: Any                      # a paddle.static.Program
    fetches: Mapping[str, Any]        # {name: scalar Value} logged
    optimizer: StepOptimizer

    def feed(self, batch: Any) -> Dict[str, Any]: ...


@runtime_checkable
class BatchSource(Protocol):
    """The training data: ``batches()`` from the current position; ``load_state_dict`` moves that position
    to a saved ``batch.state`` (``reader.pretraining.PretrainingReader``, ``ernie.scheduler.ScheduledReader``,
    ``ernie.cli.finetune.run.TrainData``)."""

    def batches(self) -> Iterable[Any]: ...

    def load_state_dict(self, state: Any) -> None: ...


@dataclass
class RoutedOptimizers:
    """The ``optimizer`` of a trainer whose steps are routed to several programs (each with its own
    ``TrainOptimizer``): the schedule of all of them, saved in ``train_state.json`` (e.g.
    ``ernie.scheduler.LRSchedules``), and the AMP setting they were built with."""

    scheduler: LRSchedule
    amp: Optional[AmpConfig] = None


# --------------------------------------------------------------------------- settings
@dataclass
class TrainerConfig:
    """How long and how a trainer runs.

    num_train_steps: stop after this many optimizer updates (counted from 0, including those done before
        a resume).
    random_seed: seed of the initial parameters (``run_startup``) and of each step's dropout.
    rank, nranks: this process and the number of processes.
    prefetch: batches prepared ahead on a background thread (0: no thread).
    max_nonfinite_steps: stop with NonFiniteLossError after this many consecutive steps whose loss (the
        fetch named ``loss_name``, or ``<task>/<loss_name>`` of a route) is NaN or infinite; such a step is
        never checkpointed.  With float16 dynamic loss scaling non-finite steps are skipped updates (the
        parameters stay finite) and training goes on.
    fetch_every_step: fetch the scalars on every step (not only on logging steps), for ``step_hook`` (a
        scalar fetch per step; costs a device sync on GPU).
    """

    num_train_steps: int
    random_seed: int = 0
    rank: int = 0
    nranks: int = 1
    prefetch: int = 4
    max_nonfinite_steps: int = 3
    loss_name: str = "loss"
    fetch_every_step: bool = False

    def __post_init__(self):
        if self.num_train_steps < 0:
            raise ValueError("num_train_steps must be >= 0, got %d" % self.num_train_steps)


@dataclass
class CheckpointConfig:
    """Where and when a trainer saves.

    directory: root of the checkpoints, ``<directory>/step_<N>`` (None / "": no saving).
    save_steps: checkpoint every this many steps (0: only the final one).
    max_checkpoints: how many ``step_<N>`` checkpoints to keep (<= 0: all).
    save_final: save a checkpoint after the last step (if not just saved).
    model_config: the ErnieConfig of the program: saved in every checkpoint (``ernie_config.json``) and
        checked against the saved one when loading.
    extra_state_fn: ``f() -> JSON-able``, saved as ``"extra"`` in ``train_state.json``
        (``load_checkpoint`` returns the whole state).
    """

    directory: Optional[str] = None
    save_steps: int = 0
    max_checkpoints: int = 3
    save_final: bool = True
    model_config: Optional[ErnieConfig] = None
    extra_state_fn: Optional[Callable[[], Any]] = None


@dataclass
class ValidationConfig:
    """When a trainer validates.

    eval_fn: ``f(trainer) -> {name: float}`` (rank 0 only; None: never); logs its own line; the returned
        scalars go to VisualDL under ``valid/``.
    every_steps: call ``eval_fn`` every this many steps (0: never).
    at_start: also validate before the first step.
    at_end: also validate after the last step (unless just done).
    on_epoch_end: also validate after a step whose batch has a true ``end_of_epoch`` attribute (the
        reader marks the last batch of each epoch).
    """

    eval_fn: Optional[Callable[["Trainer"], Optional[Dict[str, float]]]] = None
    every_steps: int = 0
    at_start: bool = False
    at_end: bool = True
    on_epoch_end: bool = False


@dataclass
class LoggingConfig:
    """What a trainer logs (rank 0).

    every_steps: log every this many steps (``--skip_steps``; 0: never).
    log_fn: ``f(info) -> str`` formatting a logging step; ``info`` has step, values ({name: float} of the
        fetches), lr, loss_scaling (None without float16), speed (steps/s since the last log),
        tokens_per_s (None when batches have no ``num_tokens``; this process's tokens), elapsed, batch
        (the last batch), epoch.
    vdl_dir: VisualDL log directory (None: no VisualDL).
    vdl_writer: an open VisualDL ``LogWriter`` to use instead of opening one in ``vdl_dir`` (several
        trainers of one run write one file; the caller closes it).
    """

    every_steps: int = 10
    log_fn: Callable[[Dict[str, Any]], str] = default_log_format
    vdl_dir: Optional[str] = None
    vdl_writer: Any = None


class Trainer:
    """Runs a training program; see the module docstring.

    Args:
        exe: a ``paddle.static.Executor``.
        program: the training program (built with ``ernie.optimization.build_optimizer``); with
            ``route_fn`` only the variables to checkpoint (an object with ``list_vars()``).
        optimizer: the :class:`StepOptimizer` of that program (with ``route_fn``: a
            :class:`RoutedOptimizers`).
        fetches: {name: Value} of scalars to log (e.g. loss, ppl inputs, accuracy); fetched every step
            when one is the loss (``config.loss_name``), else only on logging steps.
        config: :class:`TrainerConfig` (steps, seed, processes).
        scope: the scope holding the variables (default: a fresh one).
        place: the executor's place (used when loading checkpoints).
        checkpoint, validation, logging: :class:`CheckpointConfig` (default: no saving),
            :class:`ValidationConfig` (default: no validation), :class:`LoggingConfig`.
        feed_fn: ``f(batch) -> feed dict`` (default ``batch.feed()`` / ``dict(batch)``).
        route_fn: ``f(batch) -> StepProgram`` selecting the program of each step (see the module
            docstring); None: always ``program`` / ``fetches`` / ``optimizer``.
        step_hook: ``f(trainer, step, batch, values)`` called after every step (rank 0 and the others);
            values: {name: float} of the fetches when they were fetched this step, else None.

    Rank 0 holds the checkpoint directory while training
    (``ernie.checkpoint.claim_checkpoint_dir``) unless its caller already claimed it.
    """

    def __init__(self, exe, program, optimizer: CheckpointedOptimizer, fetches: Mapping[str, Any],
                 config: TrainerConfig, scope=None, place=None, checkpoint: Optional[CheckpointConfig] = None,
                 validation: Optional[ValidationConfig] = None, logging: Optional[LoggingConfig] = None,
                 feed_fn: Optional[Callable[[Any], Dict[str, Any]]] = None,
                 route_fn: Optional[Callable[[Any], StepProgram]] = None,
                 step_hook: Optional[Callable[..., None]] = None):
        self.exe = exe
        self.program = program
        self.optimizer = optimizer
        self.scheduler = optimizer.scheduler
        self.fetches = dict(fetches)
        self.config = config
        self.scope = scope if scope is not None else paddle.static.Scope()
        self.place = place or paddle.CPUPlace()
        self.checkpointing = checkpoint if checkpoint is not None else CheckpointConfig()
        self.validation = validation if validation is not None else ValidationConfig()
        self.logging = logging if logging is not None else LoggingConfig()
        self.feed_fn = feed_fn or default_feed
        self.route_fn = route_fn
        self.step_hook = step_hook
        amp = optimizer.amp
        self.skips_nonfinite = amp is not None and amp.dynamic

        self.step = 0                  # optimizer updates done
        self.last_batch = None
        self.last_validation = None    # (step, scalars)
        self.history = []              # [(step, {name: value})] of the logged steps (rank 0)
        self._pending_reader_state = None
        self._saved_step = None
        self._validated_step = None
        self._writer = None
        self._resumed_from = None
        self._nonfinite = []           # consecutive steps with a non-finite loss

    # ------------------------------------------------------------------ properties
    @property
    def rank(self):
        return self.config.rank

    @property
    def nranks(self):
        return self.config.nranks

    @property
    def num_train_steps(self):
        return self.config.num_train_steps

    @property
    def checkpoints(self):
        """Root directory of the checkpoints (None: no saving)."""
        return self.checkpointing.directory or None

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def epoch(self):
        """1-based epoch of the last trained batch (0 before training)."""
        b = self.last_batch
        if b is None:
            return 0
        progress = getattr(b, "progress", None)
        if progress is not None and getattr(progress, "epoch", None) is not None:
            return int(progress.epoch)
        return int(getattr(b, "epoch", 0) or 0) + 1

    # ------------------------------------------------------------------ initialisation
    def _run(self, program, **kwargs):
        with paddle.static.scope_guard(self.scope):
            return self.exe.run(program, **kwargs)

    def run_startup(self, startup_program):
        """Initialise the variables: ``paddle.seed(random_seed)`` then the startup program."""
        paddle.seed(self.config.random_seed)
        self._run(startup_program)

    def load_pretraining_params(self, directory):
        """Parameters only (``--init_pretraining_params``): step, schedule and data start fresh."""
        return init_pretraining_params(directory, self.program, scope=self.scope, place=self.place,
                                       config=self.checkpointing.model_config)

    def load_checkpoint(self, directory):
        """Full resume from ``directory`` (``--init_checkpoint``); returns the saved state."""
        state = init_checkpoint(directory, self.program, scope=self.scope, place=self.place,
                                config=self.checkpointing.model_config)
        self._resumed_from = directory
        where = os.path.join(directory, STATE_FILE)
        for key in ("step", "scheduler"):
            if key not in state:
                raise ValueError("%s: no %r entry (not written by ernie.trainer?)" % (where, key))
        self.step = int(state["step"])
        self.scheduler.set_state_dict(state["scheduler"])
        if int(state.get("random_seed", self.config.random_seed)) != self.config.random_seed:
            logger.warning("%s was trained with random_seed %s, now %d: dropout and data order differ from "
                           "the original run", directory, state.get("random_seed"), self.config.random_seed)
        saved_nranks = int(state.get("nranks", 1))
        if saved_nranks != self.config.nranks:
            logger.warning("%s was written by %d process(es), now %d", directory, saved_nranks,
                           self.config.nranks)
        reader_state = state.get("reader")
        if self.config.rank > 0:
            path = self._rank_state_path(os.path.dirname(os.path.abspath(directory)), self.step,
                                         self.config.rank)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    reader_state = json.load(f)
            else:
                logger.warning("rank %d: no reader state %s; continuing from rank 0's data position "
                               "(exact only if every rank's epochs have the same number of batches)",
                               self.config.rank, path)
        if reader_state is None:
            logger.warning("%s holds no reader position: the data starts from the beginning", directory)
        self._pending_reader_state = reader_state
        logger.info("resuming at step %d (learning rate %g)", self.step, self.scheduler.last_lr)
        return state

    def broadcast_parameters(self):
        """Copy rank 0's variables to every rank (collective; a no-op with one process)."""
        if self.config.nranks <= 1:
            return []
        return distributed.broadcast_parameters(self.exe, self.program, self.config.nranks, scope=self.scope)

    # ------------------------------------------------------------------ checkpoints
    @staticmethod
    def _rank_state_path(root, step, rank):
        return os.path.join(root, READER_STATES_DIR, "step_%d.rank_%d.json" % (step, rank))

    def state_dict(self, reader_state):
        state = {"format": STATE_FORMAT, "step": self.step, "scheduler": self.scheduler.state_dict(),
                 "reader": reader_state, "random_seed": self.config.random_seed, "nranks": self.config.nranks,
                 "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        if self.checkpointing.extra_state_fn is not None:
            state["extra"] = self.checkpointing.extra_state_fn()
        return state

    def save(self, reader_state):
        """Checkpoint the current step (rank 0: the directory; other ranks: their reader position)."""
        if not self.checkpointing.directory:
            return None
        if self.config.rank > 0:
            path = self._rank_state_path(self.checkpointing.directory, self.step, self.config.rank)
            write_json(path, reader_state)
            self._prune_rank_states()
            self._saved_step = self.step
            return path
        directory = os.path.join(self.checkpointing.directory, "step_%d" % self.step)
        if self._nonfinite and self._nonfinite[-1] == self.step:
            logger.warning("step %d: the loss is not finite: no checkpoint is saved (and none pruned)", self.step)
            return None
        try:
            save_checkpoint(directory, self.program, self.state_dict(reader_state), scope=self.scope,
                            config=self.checkpointing.model_config)
        except NonFiniteCheckpointError as e:
            logger.warning("step %d: %s (earlier checkpoints kept)", self.step, e)
            return None
        removed = prune_checkpoints(self.checkpointing.directory, self.checkpointing.max_checkpoints,
                                    protect=[directory])
        logger.info("saved checkpoint %s%s", directory, (" (removed %s)" % ", ".join(removed)) if removed else "")
        self._saved_step = self.step
        return directory

    def _prune_rank_states(self):
        if self.checkpointing.max_checkpoints <= 0:
            return
        root = os.path.join(self.checkpointing.directory, READER_STATES_DIR)
        pattern = re.compile(r"step_(\d+)\.rank_%d\.json" % self.config.rank)
        found = sorted((int(m.group(1)), name) for name in os.listdir(root)
                       for m in [pattern.fullmatch(name)] if m)
        for _, name in found[:-self.checkpointing.max_checkpoints]:
            try:
                os.remove(os.path.join(root, name))
            except OSError:
                pass

    # ------------------------------------------------------------------ validation / logging
    def _vdl(self, prefix, scalars, step):
        if self._writer is None:
            return
        for name, value in scalars.items():
            if value is not None and np.isfinite(value):
                self._writer.add_scalar(tag="%s/%s" % (prefix, name), step=step, value=float(value))

    def validate(self):
        """Call ``eval_fn`` now (rank 0); returns its scalars (None without eval_fn / on other ranks)."""
        if self.validation.eval_fn is None or not self.is_main:
            return None
        scalars = self.validation.eval_fn(self) or {}
        self._vdl("valid", scalars, self.step)
        self.last_validation = (self.step, scalars)
        self._validated_step = self.step
        return scalars

    def _log(self, step, out, names, elapsed, steps, tokens, batch):
        values = {n: _scalar(v) for n, v in zip(names, out)}
        lr = values.pop("__lr")
        loss_scaling = values.pop("__loss_scaling", None)
        info = {"step": step, "values": values, "lr": lr, "loss_scaling": loss_scaling,
                "speed": steps / elapsed if elapsed > 0 else float("nan"),
                "tokens_per_s": (tokens / elapsed if elapsed > 0 else float("nan")) if tokens is not None else None,
                "elapsed": elapsed, "batch": batch, "epoch": self.epoch}
        logger.info(self.logging.log_fn(info))
        self.history.append((step, dict(values, lr=lr)))
        scalars = dict(values, lr=lr, speed=info["speed"])
        if info["tokens_per_s"] is not None:
            scalars["tokens_per_s"] = info["tokens_per_s"]
        if loss_scaling is not None:
            scalars["loss_scaling"] = loss_scaling
        self._vdl("train", scalars, step)
        if not all(math.isfinite(v) for v in values.values()):
            logger.warning("step %d: non-finite value among %s", step, values)

    # ------------------------------------------------------------------ the loop
    def train(self, reader):
        """Train from the current step until ``num_train_steps`` or the end of the data.

        Returns the number of steps done in this call.
        """
        if self._pending_reader_state is not None:
            reader.load_state_dict(self._pending_reader_state)
            self._pending_reader_state = None
        own_writer = False
        if self.is_main and self.logging.vdl_writer is not None:
            self._writer = self.logging.vdl_writer
        elif self.is_main and self.logging.vdl_dir:
            from visualdl import LogWriter     # an optional package: imported only with a vdl_dir
            self._writer = LogWriter(logdir=self.logging.vdl_dir)
            own_writer = True
        try:
            return self._train(reader)
        finally:
            if own_writer:
                self._writer.close()
            self._writer = None

    def _all_ranks_have(self, batch):
        """Whether every rank got a batch for the next step.

        Ranks must run the program the same number of times: one that stopped
        alone would leave the others blocked in their next gradient all-reduce.
        """
        if self.config.nranks <= 1:
            return batch is not None
        have = distributed.all_reduce_values([0.0 if batch is None else 1.0], "min", exe=self.exe)
        if batch is not None and have[0] == 0:
            logger.info("another rank's training data is exhausted: all ranks stop at step %d", self.step)
        return bool(have[0])

    def _train(self, reader):
        if self.step >= self.config.num_train_steps:
            logger.info("step %d >= num_train_steps %d: nothing to train", self.step,
                        self.config.num_train_steps)
            return 0
        lock = None
        root = self.checkpointing.directory
        if self.is_main and root and not holds_checkpoint_dir(root):
            lock = claim_checkpoint_dir(root, resume_from=self._resumed_from)
        try:
            return self._train_loop(reader)
        finally:
            if lock is not None:
                lock.release()

    def _loss_index(self, names):
        for i, name in enumerate(names):
            if name == self.config.loss_name or name.rsplit("/", 1)[-1] == self.config.loss_name:
                return i
        return None

    def _check_loss(self, step, value):
        """Count consecutive non-finite losses; NonFiniteLossError after ``max_nonfinite_steps``."""
        if math.isfinite(value):
            self._nonfinite = []
            return
        self._nonfinite.append(step)
        if self.skips_nonfinite:
            return                  # float16 dynamic loss scaling skipped this update
        logger.warning("step %d: the loss is %s", step, value)
        if self.config.max_nonfinite_steps > 0 and len(self._nonfinite) >= self.config.max_nonfinite_steps:
            raise NonFiniteLossError(
                "the training loss is not finite (%s) at steps %d to %d (%d consecutive): training stopped at step "
                "%d; no checkpoint of a non-finite step was saved. Lower --learning_rate, check the data or use "
                "--init_checkpoint with the last finite checkpoint"
                % (value, self._nonfinite[0], step, len(self._nonfinite), step))

    def _train_loop(self, reader):
        start_step = self.step
        if self.validation.at_start:
            self.validate()
        fetch_plans = {}

        def plan(route):
            # (program, names, fetch list, scheduler, feed) of a route, computed once per route
            key = id(route)
            if key not in fetch_plans:
                fetches = self.fetches if route is None else dict(route.fetches)
                optimizer = self.optimizer if route is None else route.optimizer
                state_fetches = optimizer.state_fetches()
                feed = self.feed_fn if route is None else route.feed
                loss_at = self._loss_index(list(fetches))
                fetch_plans[key] = (self.program if route is None else route.program,
                                    list(fetches) + ["__" + k for k in state_fetches],
                                    list(fetches.values()) + list(state_fetches.values()),
                                    optimizer.scheduler, feed, len(fetches), loss_at)
            return fetch_plans[key]

        reader_state = None
        t_last, steps_since, tokens_since = time.time(), 0, 0
        has_tokens = True
        source = reader.batches()
        batches = Prefetcher(source, capacity=self.config.prefetch) if self.config.prefetch > 0 else source
        exhausted = True
        batch_iter = iter(batches)
        try:
            while True:
                batch = next(batch_iter, None)
                if batch is None and self.step == start_step == 0 and self._resumed_from is None:
                    raise EmptyTrainingDataError(
                        "the training data produced no batch: nothing to train on (every file empty, every line "
                        "skipped, or every example longer than the limits?)%s"
                        % (" (%s)" % reader.filelist if getattr(reader, "filelist", None) else ""))
                if not self._all_ranks_have(batch):
                    break
                step = self.step + 1
                log_now = self.is_main and self.logging.every_steps > 0 and step % self.logging.every_steps == 0
                program, names, log_fetch, scheduler, feed_fn, n_values, loss_at = plan(
                    self.route_fn(batch) if self.route_fn is not None else None)
                paddle.seed(step_seed(self.config.random_seed, self.config.rank, step))
                # the loss is fetched every step (to stop on NaN), with the other scalars: one compiled plan
                fetch_now = log_now or self.config.fetch_every_step or loss_at is not None
                out = self._run(program, feed=feed_fn(batch), fetch_list=log_fetch if fetch_now else [])
                loss = _scalar(out[loss_at]) if loss_at is not None else None
                scheduler.step()
                self.step = step
                self.last_batch = batch
                reader_state = getattr(batch, "state", None)
                steps_since += 1
                n_tok = getattr(batch, "num_tokens", None)
                if n_tok is None:
                    has_tokens = False
                else:
                    tokens_since += int(n_tok)
                if self.step_hook is not None:
                    values = {n: _scalar(v) for n, v in zip(names[:n_values], out)} if fetch_now else None
                    self.step_hook(self, step, batch, values)
                if log_now:
                    now = time.time()
                    self._log(step, out, names, now - t_last, steps_since, tokens_since if has_tokens else None,
                              batch)
                    t_last, steps_since, tokens_since = now, 0, 0
                if loss is not None:
                    self._check_loss(step, loss)
                # validate before saving: a checkpoint of step N then always comes after step N's evaluation,
                # so a run killed in between resumes from an earlier checkpoint and evaluates N again
                if (self.validation.every_steps > 0 and step % self.validation.every_steps == 0) or \
                        (self.validation.on_epoch_end and getattr(batch, "end_of_epoch", False)):
                    self.validate()
                if self.checkpointing.save_steps > 0 and step % self.checkpointing.save_steps == 0:
                    self.save(reader_state)
                if step >= self.config.num_train_steps:
                    exhausted = False
                    break
        finally:
            if self.config.prefetch > 0:
                batches.close()
        if exhausted:
            logger.info("the training data is exhausted after step %d (num_train_steps %d)", self.step,
                        self.config.num_train_steps)
        if self.validation.at_end and self._validated_step != self.step:
            self.validate()
        if self.checkpointing.save_final and self.step > start_step and self._saved_step != self.step:
            self.save(reader_state)
        return self.step - start_step
