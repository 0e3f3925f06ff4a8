"""The training loop shared by every job (pre-training, multi-task pre-training, fine-tuning).

A :class:`Trainer` runs a built static training program step by step:

* feeds batches from a reader through ``reader.batching.Prefetcher``;
* fetches the named metrics every step (the loss is checked for NaN; without
  a loss among them, only on logging steps), on logging steps (``skip_steps``)
  formats one log line (``log_fn``) and writes the same scalars to VisualDL
  (``vdl_dir``; tags ``train/<name>`` and ``valid/<name>``);
* steps the learning-rate scheduler after every run;
* validates every ``validation_steps`` by calling ``eval_fn(trainer)`` (see
  :func:`run_evaluation` for the helper that runs an eval program over a set);
* saves a checkpoint every ``save_steps`` under ``<checkpoints>/step_<N>``,
  keeps the newest ``max_checkpoints``, and saves a final one at the end;
* stops after ``num_train_steps`` optimizer updates (one step = one run of the
  program = one update of every rank; updates skipped for float16 overflow
  still count, as the learning-rate position advances).

Reader protocol: ``reader.batches()`` yields dicts of feeds (or objects with
``.feed()``), optionally with ``.state`` (the reader position right after the
batch), ``.num_tokens``, ``.progress`` (a ``reader.pretraining.Progress``),
``.epoch`` and ``.end_of_epoch`` (see ``validate_on_epoch_end``);
``reader.load_state_dict(state)`` restores a position.  With prefetching the
reader runs ahead, so the position saved is ``batch.state`` of the last batch
actually trained on.

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
one scope by name; ``route_fn(batch)`` returns the route of a batch, an object
with ``program``, ``fetches`` ({name: Value} of that program), ``optimizer``
(its ``TrainOptimizer``: the scheduler stepped after the run and the lr
fetched) and optionally ``feed(batch)``.  ``program`` (the constructor
argument) is then only used to list the variables to checkpoint, load and
broadcast: any object with ``list_vars()`` (e.g. ``ernie.scheduler.ProgramUnion``
of the routed programs), and ``optimizer.scheduler`` is what is saved in
``train_state.json`` (an object with ``state_dict``/``set_state_dict``/``last_lr``).
"""
import json
import logging
import math
import os
import re
import time

import numpy as np
import paddle

from ernie.atomic_write import write_json
from ernie.checkpoint import (STATE_FILE, NonFiniteCheckpointError, claim_checkpoint_dir, holds_checkpoint_dir,
                              init_checkpoint, init_pretraining_params, prune_checkpoints, save_checkpoint)
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


class Trainer:
    """Runs a training program; see the module docstring.

    Args:
        exe: a ``paddle.static.Executor``.
        program: the training program (built with ``ernie.optimization.build_optimizer``).
        optimizer: the ``ernie.optimization.TrainOptimizer`` of that program.
        fetches: {name: Value} of scalars to log (e.g. loss, ppl inputs, accuracy);
            fetched every step when one is the loss (``loss_name``), else only on
            logging steps.
        num_train_steps: stop after this many optimizer updates (counted from 0,
            including those done before a resume).
        scope: the scope holding the variables (default: a fresh one).
        place: the executor's place (used when loading checkpoints).
        skip_steps: log every this many steps (0: never).
        save_steps: checkpoint every this many steps (0: only the final one).
        checkpoints: root directory of the checkpoints (None / "": no saving).
        max_checkpoints: how many ``step_<N>`` checkpoints to keep (<= 0: all).
        validation_steps: call ``eval_fn`` every this many steps (0: never).
        eval_fn: ``f(trainer) -> {name: float}`` (rank 0 only); logs its own
            line; the returned scalars go to VisualDL under ``valid/``.
        validate_at_start: also validate before the first step.
        validate_at_end: also validate after the last step (unless just done).
        validate_on_epoch_end: also validate after a step whose batch has a true
            ``end_of_epoch`` attribute (the reader marks the last batch of each epoch).
        log_fn: ``f(info) -> str`` formatting a logging step; ``info`` has
            step, values ({name: float} of ``fetches``), lr, loss_scaling
            (None without float16), speed (steps/s since the last log),
            tokens_per_s (None when batches have no ``num_tokens``; this
            process's tokens), elapsed, batch (the last batch), epoch.
        vdl_dir: VisualDL log directory (rank 0; None: no VisualDL).
        rank, nranks: this process and the number of processes.
        random_seed: seed of the initial parameters and of each step's dropout.
        prefetch: batches prepared ahead on a background thread (0: no thread).
        feed_fn: ``f(batch) -> feed dict`` (default ``batch.feed()`` / ``dict(batch)``).
        save_final: save a checkpoint after the last step (if not just saved).
        route_fn: ``f(batch) -> route`` selecting the program of each step (see the
            module docstring); None: always ``program`` / ``fetches`` / ``optimizer``.
        fetch_every_step: fetch ``fetches`` on every step (not only logging steps),
            for ``step_hook`` (a scalar fetch per step; costs a device sync on GPU).
        step_hook: ``f(trainer, step, batch, values)`` called after every step
            (rank 0 and the others); values: {name: float} of the fetches when
            they were fetched this step, else None.
        extra_state_fn: ``f() -> JSON-able``, saved as ``"extra"`` in
            ``train_state.json`` (``load_checkpoint`` returns the whole state).
        vdl_writer: an open VisualDL ``LogWriter`` to use instead of opening one in
            ``vdl_dir`` (several trainers of one run write one file; the caller closes it).
        model_config: the ErnieConfig of the program: saved in every checkpoint
            (``ernie_config.json``) and checked against the saved one when loading.
        max_nonfinite_steps: stop with NonFiniteLossError after this many consecutive
            steps whose loss (the fetch named ``loss_name``, or ``<task>/<loss_name>``
            of a route) is NaN or infinite; such a step is never checkpointed.
            With float16 dynamic loss scaling non-finite steps are skipped updates
            (the parameters stay finite) and training goes on.

    Rank 0 holds the ``checkpoints`` directory while training
    (``ernie.checkpoint.claim_checkpoint_dir``) unless its caller already claimed it.
    """

    def __init__(self, exe, program, optimizer, fetches, num_train_steps, scope=None, place=None,
                 skip_steps=10, save_steps=0, checkpoints=None, max_checkpoints=3, validation_steps=0,
                 eval_fn=None, validate_at_start=False, validate_at_end=True, log_fn=None, vdl_dir=None,
                 rank=0, nranks=1, random_seed=0, prefetch=4, feed_fn=None, save_final=True,
                 validate_on_epoch_end=False, route_fn=None, fetch_every_step=False, step_hook=None,
                 extra_state_fn=None, vdl_writer=None, model_config=None, max_nonfinite_steps=3,
                 loss_name="loss"):
        if num_train_steps < 0:
            raise ValueError("num_train_steps must be >= 0, got %d" % num_train_steps)
        self.exe = exe
        self.program = program
        self.optimizer = optimizer
        self.scheduler = optimizer.scheduler
        self.fetches = dict(fetches)
        self.num_train_steps = int(num_train_steps)
        self.scope = scope if scope is not None else paddle.static.Scope()
        self.place = place or paddle.CPUPlace()
        self.skip_steps = int(skip_steps)
        self.save_steps = int(save_steps)
        self.checkpoints = checkpoints or None
        self.max_checkpoints = int(max_checkpoints)
        self.validation_steps = int(validation_steps)
        self.eval_fn = eval_fn
        self.validate_at_start = bool(validate_at_start)
        self.validate_at_end = bool(validate_at_end)
        self.log_fn = log_fn or default_log_format
        self.vdl_dir = vdl_dir or None
        self.rank = int(rank)
        self.nranks = int(nranks)
        self.random_seed = int(random_seed)
        self.prefetch = int(prefetch)
        self.feed_fn = feed_fn or default_feed
        self.save_final = bool(save_final)
        self.validate_on_epoch_end = bool(validate_on_epoch_end)
        self.route_fn = route_fn
        self.fetch_every_step = bool(fetch_every_step)
        self.step_hook = step_hook
        self.extra_state_fn = extra_state_fn
        self.vdl_writer = vdl_writer
        self.model_config = model_config
        self.max_nonfinite_steps = int(max_nonfinite_steps)
        self.loss_name = loss_name
        amp = getattr(optimizer, "amp", None)
        self.skips_nonfinite = bool(amp is not None and getattr(amp, "dtype", None) == "float16"
                                    and getattr(amp, "use_dynamic_loss_scaling", False))

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
        paddle.seed(self.random_seed)
        self._run(startup_program)

    def load_pretraining_params(self, directory):
        """Parameters only (``--init_pretraining_params``): step, schedule and data start fresh."""
        return init_pretraining_params(directory, self.program, scope=self.scope, place=self.place,
                                       config=self.model_config)

    def load_checkpoint(self, directory):
        """Full resume from ``directory`` (``--init_checkpoint``); returns the saved state."""
        state = init_checkpoint(directory, self.program, scope=self.scope, place=self.place,
                                config=self.model_config)
        self._resumed_from = directory
        where = os.path.join(directory, STATE_FILE)
        for key in ("step", "scheduler"):
            if key not in state:
                raise ValueError("%s: no %r entry (not written by ernie.trainer?)" % (where, key))
        self.step = int(state["step"])
        self.scheduler.set_state_dict(state["scheduler"])
        if int(state.get("random_seed", self.random_seed)) != self.random_seed:
            logger.warning("%s was trained with random_seed %s, now %d: dropout and data order differ from "
                           "the original run", directory, state.get("random_seed"), self.random_seed)
        saved_nranks = int(state.get("nranks", 1))
        if saved_nranks != self.nranks:
            logger.warning("%s was written by %d process(es), now %d", directory, saved_nranks, self.nranks)
        reader_state = state.get("reader")
        if self.rank > 0:
            path = self._rank_state_path(os.path.dirname(os.path.abspath(directory)), self.step, self.rank)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    reader_state = json.load(f)
            else:
                logger.warning("rank %d: no reader state %s; continuing from rank 0's data position "
                               "(exact only if every rank's epochs have the same number of batches)",
                               self.rank, path)
        if reader_state is None:
            logger.warning("%s holds no reader position: the data starts from the beginning", directory)
        self._pending_reader_state = reader_state
        logger.info("resuming at step %d (learning rate %g)", self.step, self.scheduler.last_lr)
        return state

    def broadcast_parameters(self):
        """Copy rank 0's variables to every rank (collective; a no-op with one process)."""
        if self.nranks <= 1:
            return []
        from ernie.distributed import broadcast_parameters
        return broadcast_parameters(self.exe, self.program, self.nranks, scope=self.scope)

    # ------------------------------------------------------------------ checkpoints
    @staticmethod
    def _rank_state_path(root, step, rank):
        return os.path.join(root, READER_STATES_DIR, "step_%d.rank_%d.json" % (step, rank))

    def state_dict(self, reader_state):
        state = {"format": STATE_FORMAT, "step": self.step, "scheduler": self.scheduler.state_dict(),
                 "reader": reader_state, "random_seed": self.random_seed, "nranks": self.nranks,
                 "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        if self.extra_state_fn is not None:
            state["extra"] = self.extra_state_fn()
        return state

    def save(self, reader_state):
        """Checkpoint the current step (rank 0: the directory; other ranks: their reader position)."""
        if not self.checkpoints:
            return None
        if self.rank > 0:
            path = self._rank_state_path(self.checkpoints, self.step, self.rank)
            write_json(path, reader_state)
            self._prune_rank_states()
            self._saved_step = self.step
            return path
        directory = os.path.join(self.checkpoints, "step_%d" % self.step)
        if self._nonfinite and self._nonfinite[-1] == self.step:
            logger.warning("step %d: the loss is not finite: no checkpoint is saved (and none pruned)", self.step)
            return None
        try:
            save_checkpoint(directory, self.program, self.state_dict(reader_state), scope=self.scope,
                            config=self.model_config)
        except NonFiniteCheckpointError as e:
            logger.warning("step %d: %s (earlier checkpoints kept)", self.step, e)
            return None
        removed = prune_checkpoints(self.checkpoints, self.max_checkpoints, protect=[directory])
        logger.info("saved checkpoint %s%s", directory, (" (removed %s)" % ", ".join(removed)) if removed else "")
        self._saved_step = self.step
        return directory

    def _prune_rank_states(self):
        if self.max_checkpoints <= 0:
            return
        root = os.path.join(self.checkpoints, READER_STATES_DIR)
        pattern = re.compile(r"step_(\d+)\.rank_%d\.json" % self.rank)
        found = sorted((int(m.group(1)), name) for name in os.listdir(root)
                       for m in [pattern.fullmatch(name)] if m)
        for _, name in found[:-self.max_checkpoints]:
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
        if self.eval_fn is None or not self.is_main:
            return None
        scalars = self.eval_fn(self) or {}
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
        logger.info(self.log_fn(info))
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
        if self.is_main and self.vdl_writer is not None:
            self._writer = self.vdl_writer
        elif self.is_main and self.vdl_dir:
            from visualdl import LogWriter
            self._writer = LogWriter(logdir=self.vdl_dir)
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
        if self.nranks <= 1:
            return batch is not None
        from ernie.distributed import all_reduce_values
        have = all_reduce_values([0.0 if batch is None else 1.0], "min", exe=self.exe)
        if batch is not None and have[0] == 0:
            logger.info("another rank's training data is exhausted: all ranks stop at step %d", self.step)
        return bool(have[0])

    def _train(self, reader):
        if self.step >= self.num_train_steps:
            logger.info("step %d >= num_train_steps %d: nothing to train", self.step, self.num_train_steps)
            return 0
        lock = None
        if self.is_main and self.checkpoints and not holds_checkpoint_dir(self.checkpoints):
            lock = claim_checkpoint_dir(self.checkpoints, resume_from=self._resumed_from)
        try:
            return self._train_loop(reader)
        finally:
            if lock is not None:
                lock.release()

    def _loss_index(self, names):
        for i, name in enumerate(names):
            if name == self.loss_name or name.rsplit("/", 1)[-1] == self.loss_name:
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
        if self.max_nonfinite_steps > 0 and len(self._nonfinite) >= self.max_nonfinite_steps:
            raise NonFiniteLossError(
                "the training loss is not finite (%s) at steps %d to %d (%d consecutive): training stopped at step "
                "%d; no checkpoint of a non-finite step was saved. Lower --learning_rate, check the data or use "
                "--init_checkpoint with the last finite checkpoint"
                % (value, self._nonfinite[0], step, len(self._nonfinite), step))

    def _train_loop(self, reader):
        start_step = self.step
        if self.validate_at_start:
            self.validate()
        fetch_plans = {}

        def plan(route):
            # (program, names, fetch list, scheduler, feed) of a route, computed once per route
            key = id(route)
            if key not in fetch_plans:
                fetches = self.fetches if route is None else dict(route.fetches)
                optimizer = self.optimizer if route is None else route.optimizer
                state_fetches = optimizer.state_fetches()
                feed = getattr(route, "feed", None) or self.feed_fn
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
        batches = Prefetcher(source, capacity=self.prefetch) if self.prefetch > 0 else source
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
                log_now = self.is_main and self.skip_steps > 0 and step % self.skip_steps == 0
                program, names, log_fetch, scheduler, feed_fn, n_values, loss_at = plan(
                    self.route_fn(batch) if self.route_fn is not None else None)
                paddle.seed(step_seed(self.random_seed, self.rank, step))
                # the loss is fetched every step (to stop on NaN), with the other scalars: one compiled plan
                fetch_now = log_now or self.fetch_every_step or loss_at is not None
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
                if self.save_steps > 0 and step % self.save_steps == 0:
                    self.save(reader_state)
                if (self.validation_steps > 0 and step % self.validation_steps == 0) or \
                        (self.validate_on_epoch_end and getattr(batch, "end_of_epoch", False)):
                    self.validate()
                if step >= self.num_train_steps:
                    exhausted = False
                    break
        finally:
            if self.prefetch > 0:
                batches.close()
        if exhausted:
            logger.info("the training data is exhausted after step %d (num_train_steps %d)", self.step,
                        self.num_train_steps)
        if self.save_final and self.step > start_step and self._saved_step != self.step:
            self.save(reader_state)
        if self.validate_at_end and self._validated_step != self.step:
            self.validate()
        return self.step - start_step
