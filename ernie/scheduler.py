"""ERNIE 2.0 continual multi-task pre-training: task configuration, stage schedule, interleaving, reader.

The pieces (the training driver that uses them is ``ernie.cli.pretrain.run``;
the configuration format is documented key by key in ``docs/continual_pretraining.md``):

* :class:`TaskConfig` -- a pre-training configuration file (JSON): the task
  streams (task, id, budget of iterations, train/valid file lists, options,
  extra heads), the stages in which they are introduced, the strategy and the
  learning-rate schedule.  Every check (unknown task or key, budgets, data
  files, ids) runs when the file is read, before any program is built.
* :func:`allocate` -- the automatic spreading of each task's budget over the
  stages (the rule is below); :func:`build_schedule` applies one of the three
  strategies of the paper's Figure 2 to a configuration -> :class:`Schedule`.
* :func:`interleave` -- the order of the steps inside a stage: exactly the
  allocated number of steps per task, evenly spread, seeded.
* :class:`ScheduledReader` -- one ``reader.pretraining_tasks.TaskPretrainingReader``
  per task stream; each step draws the next batch of the scheduled task's
  stream; ``state_dict()`` holds the schedule position (stage, steps done in
  it) and every stream's reader position, so a run resumes mid-stage exactly.
* :class:`ProgramUnion`, :class:`LRSchedules` -- what ``ernie.trainer.Trainer``
  needs when every task has its own program (see ``ernie.cli.pretrain``).

Allocation rule (strategy ``continual_multitask``)
--------------------------------------------------
S stages; task t has a budget of N_t iterations and is introduced in stage
s_t (1-based).  It takes part in every stage from s_t to S.  In each *later*
stage it gets the fixed share ``r_t = floor(N_t / (S + 1))``; the stage where it
is introduced gets the rest ``N_t - r_t * (S - s_t)``.  So every task trains
exactly N_t iterations in all.  With Table 7's four tasks (one introduced per
stage, N = 50k): r = 10k and

    ==========================  =======  =======  =======  =======
    task                        stage 1  stage 2  stage 3  stage 4
    ==========================  =======  =======  =======  =======
    knowledge_masking           20k      10k      10k      10k
    capitalization              --       30k      10k      10k
    token_document_relation     --       --       40k      10k
    sentence_reordering         --       --       --       50k
    ==========================  =======  =======  =======  =======

It generalises per task (each task's own N_t; tasks introduced together each
follow the rule; one stage = plain multi-task learning).  A task must have
N_t >= S + 1 when it has later stages (else its share would be 0).  A task's
``stage_iterations`` list in the file overrides the rule for that task.

Strategies (one switch, same configuration, same total number of updates Σ N_t)
---------------------------------------------------------------------------------
* ``continual``: the configured stages; stage s trains only the tasks introduced
  in it, each with its whole budget (Figure 2's sequential learning).
* ``multitask``: one stage, every task from the start with its whole budget.
* ``continual_multitask`` (ERNIE 2.0): the configured stages, each task from its
  stage on, budgets spread by the rule above (or ``stage_iterations``).
"""
import collections
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from ernie.optimization import lr_scheduler
from ernie.tasks import TaskError, TaskSet, get_task, get_task_class, list_tasks
from ernie.typed_fields import FieldError, option, read_dataclass
from reader.files import read_json
from reader.pretraining import DataFileError, read_filelist
from reader.pretraining_tasks import TaskPretrainingReader

logger = logging.getLogger(__name__)

STRATEGIES = ("continual", "multitask", "continual_multitask")
DEFAULT_STRATEGY = "continual_multitask"
LR_SCHEDULES = ("per_task", "global")
DEFAULT_LR_SCHEDULE = "per_task"
STATE_VERSION = 1

COMMENTS = "; keys starting with '_' are comments"


def is_comment(key):
    """Keys starting with '_' are comments in a configuration file."""
    return isinstance(key, str) and key.startswith("_")


@dataclass
class StreamFields:
    """One object of a configuration's ``tasks`` list, as written (``docs/continual_pretraining.md``)."""
    name: str = option(help="a registered task (ernie.tasks.list_tasks())")
    train_filelist: str = option(help="every task needs training data")
    iterations: Optional[int] = option(None, "the task's budget N of training iterations", min=1)
    id: Optional[int] = option(None, "task id fed with its batches (default: the task's default_id)", min=0)
    stage_iterations: Optional[List[Any]] = option(None, "explicit allocation, one integer per stage")
    valid_filelist: Optional[str] = option(None, "validation data")
    options: Dict[str, Any] = option(help="the task's options (its Options dataclass)", default_factory=dict)
    heads: List[str] = option(help="other tasks whose heads train on this stream's batches",
                              default_factory=list)


@dataclass
class ConfigFields:
    """The top level of a pre-training configuration file, as written."""
    tasks: List[Any] = option(help="the task streams", default_factory=list)
    description: str = option("", "free text")
    strategy: str = option(DEFAULT_STRATEGY, "how the stages are used", choices=STRATEGIES)
    lr_schedule: str = option(DEFAULT_LR_SCHEDULE, "one schedule per task or one for the run", choices=LR_SCHEDULES)
    stages: Optional[List[List[str]]] = option(None, "the tasks introduced in each stage (default: one task per "
                                                     "stage, in file order)")
    vocab_path: Optional[str] = option(None, "vocabulary of the data")


class ScheduleError(ValueError):
    """A pre-training configuration is invalid, or a schedule / state does not fit it."""


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def resolve_path(path, base_dir):
    """``path`` as given when it exists (absolute or relative to the CWD), else relative to ``base_dir``
    (the configuration file's directory), else to its parent (the repository root for ``config/``).
    Returns the normalised existing path, or None."""
    candidates = [path]
    if not os.path.isabs(path):
        candidates += [os.path.join(base_dir, path), os.path.join(os.path.dirname(base_dir), path)]
    for c in candidates:
        if os.path.isfile(c):
            return os.path.normpath(c)
    return None


# --------------------------------------------------------------------------- configuration

@dataclass(eq=False)
class TaskEntry:
    """One task stream of a configuration (see ``docs/continual_pretraining.md``).

    name: registered task (its head, feeds and loss); id: task id fed with its
    batches; iterations: budget N (after ``iterations_scale``); stage: 1-based
    stage of introduction; stage_iterations: explicit per-stage allocation or
    None; train_filelist / valid_filelist: resolved paths (valid may be None);
    options: task options; heads: other tasks whose heads also train on this
    stream's batches (one sentence-level loss + token-level ones, or ERNIE 1.0's
    masked LM + next sentence).
    """

    name: str
    id: int
    iterations: int
    stage: int
    stage_iterations: Optional[List[int]]
    train_filelist: str
    valid_filelist: Optional[str]
    options: Dict[str, Any]
    heads: List[str]
    index: int

    def __repr__(self):
        return "TaskEntry(%s, id=%d, iterations=%d, stage=%d)" % (self.name, self.id, self.iterations, self.stage)


class TaskConfig:
    """A validated pre-training configuration.

    Use :meth:`from_json` (or :meth:`from_dict`).  Attributes: source (file
    name for messages), tasks (list of :class:`TaskEntry`, file order), stages
    (list of lists of task names: the tasks introduced in each stage), strategy,
    lr_schedule, vocab_path (resolved, or None), description.

    ``iterations_scale`` multiplies every budget and explicit allocation
    (rounded, at least 1): one file serves a paper-scale run and a short demo.
    """

    def __init__(self, data, source="<dict>", base_dir=".", iterations_scale=1.0, check_data=True):
        self.source = source
        self.base_dir = os.path.abspath(base_dir)
        self.iterations_scale = float(iterations_scale)
        if not self.iterations_scale > 0 or not math.isfinite(self.iterations_scale):
            raise ScheduleError("iterations_scale must be a positive number, got %r" % iterations_scale)
        self._parse(data, check_data)

    @classmethod
    def from_json(cls, path, iterations_scale=1.0, check_data=True):
        data = read_json(path, "pre-training configuration", ScheduleError)
        return cls(data, source=path, base_dir=os.path.dirname(os.path.abspath(path)),
                   iterations_scale=iterations_scale, check_data=check_data)

    @classmethod
    def from_dict(cls, data, base_dir=".", iterations_scale=1.0, check_data=True, source="<dict>"):
        return cls(data, source=source, base_dir=base_dir, iterations_scale=iterations_scale, check_data=check_data)

    # ------------------------------------------------------------------ parsing
    def _err(self, where, msg):
        return ScheduleError("%s: %s: %s" % (self.source, where, msg) if where else "%s: %s" % (self.source, msg))

    def _scale(self, n):
        return n if self.iterations_scale == 1.0 else max(1, int(round(n * self.iterations_scale)))

    def _parse(self, data, check_data):
        if not isinstance(data, dict):
            raise self._err(None, "the configuration must be a JSON object")
        try:
            top = read_dataclass(ConfigFields, data, ignore=is_comment, ignore_note=COMMENTS)
        except FieldError as e:
            raise self._err(None, e) from None
        self.description, self.strategy, self.lr_schedule = top.description, top.strategy, top.lr_schedule
        self.vocab_path = None
        if top.vocab_path:
            self.vocab_path = resolve_path(top.vocab_path, self.base_dir)
            if self.vocab_path is None:
                raise self._err("vocab_path", "%s does not exist (tried relative to the CWD, to the "
                                              "configuration's directory and to its parent)" % top.vocab_path)
        if not top.tasks:
            raise self._err("tasks", "a non-empty list of task objects is required (known tasks: %s)"
                            % ", ".join(list_tasks()))
        streams, names = [], []
        for i, raw in enumerate(top.tasks):
            name = raw.get("name") if isinstance(raw, dict) else None
            where = "tasks[%d] (%s)" % (i, name) if isinstance(name, str) else "tasks[%d]" % i
            try:
                t = read_dataclass(StreamFields, raw, ignore=is_comment, ignore_note=COMMENTS)
            except FieldError as e:
                raise self._err(where, e) from None
            try:
                get_task(t.name, **t.options)      # unknown task, bad options
            except TaskError as e:
                raise self._err(where, e) from None
            if t.name in names:
                raise self._err("tasks[%d]" % i, "task %s is listed twice" % t.name)
            names.append(t.name)
            streams.append(t)

        stages = top.stages if top.stages is not None else [[n] for n in names]   # default: one task per stage
        if not stages:
            raise self._err("stages", "must be a non-empty list of lists of task names")
        intro = {}
        for s, group in enumerate(stages):
            if not group:
                raise self._err("stages[%d]" % s, "must be a non-empty list of task names, got %r" % (group,))
            for name in group:
                if name not in names:
                    raise self._err("stages[%d]" % s, "task %r is not in 'tasks' (configured: %s)"
                                    % (name, ", ".join(names)))
                if name in intro:
                    raise self._err("stages[%d]" % s, "task %s is already introduced in stage %d"
                                    % (name, intro[name]))
                intro[name] = s + 1
        missing = [n for n in names if n not in intro]
        if missing:
            raise self._err("stages", "task(s) %s appear in no stage" % ", ".join(missing))
        self.stages = [list(g) for g in stages]

        self.tasks = [self._entry(i, t, intro) for i, t in enumerate(streams)]
        seen = {}
        for e in self.tasks:
            if e.id in seen:
                raise self._err("tasks", "tasks %s and %s have the same id %d" % (seen[e.id], e.name, e.id))
            seen[e.id] = e.name
        # the stream task sets are built now so a bad combination of heads fails before training
        for e in self.tasks:
            self.stream_taskset(e)
        self._resolve_data(check_data)

    def _entry(self, index, t, intro):
        """The :class:`TaskEntry` of the checked fields ``t`` of task object ``index``: its id, budget
        (scaled) and per-stage allocation checked against the stages."""
        where = "tasks[%d] (%s)" % (index, t.name)
        S = len(self.stages)
        first = intro[t.name]
        tid = t.id if t.id is not None else get_task_class(t.name).default_id
        if tid is None:
            raise self._err(where, "task %s has no default id: give 'id'" % t.name)
        explicit = t.stage_iterations
        if explicit is not None:
            if len(explicit) != S:
                raise self._err(where, "'stage_iterations' must be a list of %d integers (one per stage), "
                                       "got %r" % (S, explicit))
            explicit = [0 if v is None else v for v in explicit]
            for s, v in enumerate(explicit):
                if not _is_int(v) or v < 0:
                    raise self._err(where, "stage_iterations[%d] must be an integer >= 0, got %r" % (s, v))
                if v > 0 and s + 1 < first:
                    raise self._err(where, "stage_iterations[%d] = %d, but the task is introduced in stage %d"
                                    % (s, v, first))
            if explicit[first - 1] <= 0:
                raise self._err(where, "stage_iterations must be > 0 in the stage that introduces the task "
                                       "(stage %d)" % first)
            if t.iterations is not None and t.iterations != sum(explicit):
                raise self._err(where, "'iterations' %r differs from the sum %d of 'stage_iterations'"
                                % (t.iterations, sum(explicit)))
            explicit = [self._scale(int(v)) if v else 0 for v in explicit]
            iterations = sum(explicit)
        elif t.iterations is None:
            raise self._err(where, "'iterations' (the task's budget of training iterations) is required")
        else:
            iterations = self._scale(t.iterations)
        for h in t.heads:
            try:
                get_task_class(h)
            except TaskError as e:
                raise self._err(where, "heads: %s" % e) from None
            if h == t.name or t.heads.count(h) > 1:
                raise self._err(where, "heads: %s listed twice (or the task itself)" % h)
        if not t.train_filelist:
            raise self._err(where, "no 'train_filelist': every task needs training data")
        return TaskEntry(t.name, int(tid), int(iterations), first, explicit, t.train_filelist,
                         t.valid_filelist or None, dict(t.options), list(t.heads), index)

    def _resolve_data(self, check_data):
        for e in self.tasks:
            where = "tasks[%d] (%s)" % (e.index, e.name)
            for key in ("train_filelist", "valid_filelist"):
                given = getattr(e, key)
                if given is None:
                    continue
                path = resolve_path(given, self.base_dir)
                if path is None:
                    raise self._err(where, "%s %s does not exist (tried relative to the CWD %s, to the "
                                           "configuration's directory and to its parent)"
                                    % (key, given, os.getcwd()))
                if check_data:
                    try:
                        read_filelist(path)       # every listed data file exists and is gzip
                    except DataFileError as err:
                        raise self._err(where, "%s: %s" % (key, err)) from None
                setattr(e, key, path)

    # ------------------------------------------------------------------ access
    def __getitem__(self, name):
        for e in self.tasks:
            if e.name == name:
                return e
        raise KeyError(name)

    @property
    def names(self):
        return [e.name for e in self.tasks]

    @property
    def ids(self):
        return {e.name: e.id for e in self.tasks}

    def head_ids(self, entry):
        """Task ids of a stream's TaskSet: the stream's own id; a head configured as a stream keeps that
        stream's id, another head gets the smallest id no stream uses (these are never fed: every row of a
        stream's batch carries the stream's id; they only keep the TaskSet's ids distinct)."""
        ids = {entry.name: entry.id}
        used = set(self.ids.values())
        for h in entry.heads:
            if h in self.ids:
                ids[h] = self.ids[h]
                continue
            cand = 0
            while cand in used or cand in ids.values():
                cand += 1
            ids[h] = cand
            used.add(cand)
        return ids

    def stream_taskset(self, entry):
        """The ``ernie.tasks.TaskSet`` of a stream: its task (with its options) first, then its heads.

        require_labels: every line read must carry the labels of every head.
        """
        specs = [dict(entry.options, name=entry.name)] + [{"name": h} for h in entry.heads]
        try:
            return TaskSet(specs, task_ids=self.head_ids(entry), require_labels=True)
        except TaskError as e:
            raise self._err("tasks[%d] (%s)" % (entry.index, entry.name), e) from None

    def check_model_config(self, config):
        """Raise ScheduleError unless the model config can take these task ids.

        Several streams need the task embedding (``use_task_id``: true) with
        ``task_type_vocab_size`` above every id; a single stream (e.g. ERNIE 1.0's
        masked LM + next sentence) may run without it.
        """
        top = max(self.ids.values())
        if not config.use_task_id:
            if len(self.tasks) > 1:
                raise ScheduleError("%s: %d task streams need the task embedding, but the model config %s has no "
                                    "'use_task_id': true (set it and 'task_type_vocab_size' > %d)"
                                    % (self.source, len(self.tasks), config.source, top))
            return
        if top >= config.task_type_vocab_size:
            worst = [e.name for e in self.tasks if e.id >= config.task_type_vocab_size]
            raise ScheduleError("%s: task id(s) of %s are >= task_type_vocab_size %d of the model config %s"
                                % (self.source, ", ".join(worst), config.task_type_vocab_size, config.source))
        for e in self.tasks:
            self.stream_taskset(e).check_model_config(config)


# --------------------------------------------------------------------------- allocation and strategies

def allocate(budgets, intro, num_stages, explicit=None):
    """Per-stage allocations of the ``continual_multitask`` strategy (see the module docstring).

    budgets: {task: N}; intro: {task: 1-based stage of introduction};
    explicit: {task: [n per stage]} overriding the rule for those tasks.
    Returns a list of ``num_stages`` OrderedDicts {task: iterations > 0}
    (tasks in the order of ``budgets``).
    """
    explicit = explicit or {}
    S = int(num_stages)
    out = [collections.OrderedDict() for _ in range(S)]
    for task, n in budgets.items():
        s0 = intro[task]
        if not 1 <= s0 <= S:
            raise ScheduleError("task %s is introduced in stage %d of %d" % (task, s0, S))
        if task in explicit:
            per = list(explicit[task])
            if len(per) != S or sum(per) != n:
                raise ScheduleError("explicit allocation %s of task %s does not cover its %d iterations in %d "
                                    "stages" % (per, task, n, S))
        else:
            later = S - s0
            share = n // (S + 1)
            if later and share < 1:
                raise ScheduleError("task %s: a budget of %d iterations cannot be spread over %d stages (the rule "
                                    "gives each later stage floor(N / (S + 1)) = 0); give at least %d iterations "
                                    "or explicit stage_iterations" % (task, n, S - s0 + 1, S + 1))
            per = [0] * (s0 - 1) + [n - share * later] + [share] * later
        for s, k in enumerate(per):
            if k:
                out[s][task] = int(k)
    return out


class StagePlan:
    """One stage: index (0-based), allocations {task: iterations} (config order), start (updates
    before it), introduced (tasks new in it)."""

    def __init__(self, index, allocations, start, introduced):
        self.index = index
        self.allocations = collections.OrderedDict(allocations)
        self.start = start
        self.introduced = list(introduced)

    @property
    def steps(self):
        return sum(self.allocations.values())

    @property
    def end(self):
        return self.start + self.steps

    @property
    def tasks(self):
        return list(self.allocations)

    def __repr__(self):
        return "StagePlan(%d, %s)" % (self.index + 1, dict(self.allocations))


class Schedule:
    """The stages of one strategy applied to a :class:`TaskConfig` (see :func:`build_schedule`)."""

    def __init__(self, strategy, stages, budgets, seed=0):
        self.strategy = strategy
        self.stages = stages
        self.budgets = collections.OrderedDict(budgets)
        self.seed = int(seed)
        self._sequences = {}
        for t, n in self.budgets.items():
            got = sum(st.allocations.get(t, 0) for st in stages)
            if got != n:
                raise ScheduleError("internal: task %s allocated %d of its %d iterations" % (t, got, n))

    @property
    def total(self):
        return sum(st.steps for st in self.stages)

    @property
    def num_stages(self):
        return len(self.stages)

    def sequence(self, stage):
        """Task names of the steps of ``stage`` (0-based), in order (see :func:`interleave`)."""
        if stage not in self._sequences:
            self._sequences[stage] = interleave(self.stages[stage].allocations, self.seed, stage)
        return self._sequences[stage]

    def task_steps_before(self, stage):
        """{task: iterations done in the stages before ``stage``}."""
        done = collections.OrderedDict((t, 0) for t in self.budgets)
        for st in self.stages[:stage]:
            for t, n in st.allocations.items():
                done[t] += n
        return done

    def to_dict(self):
        return {"strategy": self.strategy, "seed": self.seed, "budgets": dict(self.budgets),
                "stages": [dict(st.allocations) for st in self.stages]}

    def digest(self):
        """Short hash of the schedule (strategy, allocations, seed): a checkpoint fits only its schedule."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def table(self):
        """The allocation as a text table (rows: tasks, columns: stages), like the paper's Table 7."""
        head = ["task"] + ["stage %d" % (i + 1) for i in range(self.num_stages)] + ["total"]
        rows = []
        for t, n in self.budgets.items():
            rows.append([t] + [str(st.allocations[t]) if t in st.allocations else "-" for st in self.stages]
                        + [str(n)])
        rows.append(["(updates)"] + [str(st.steps) for st in self.stages] + [str(self.total)])
        return format_table(head, rows)


def build_schedule(task_config, strategy=None, seed=0):
    """The :class:`Schedule` of ``strategy`` (default: the file's) for a :class:`TaskConfig`."""
    strategy = strategy or task_config.strategy
    if strategy not in STRATEGIES:
        raise ScheduleError("unknown strategy %r: choose one of %s" % (strategy, ", ".join(STRATEGIES)))
    budgets = collections.OrderedDict((e.name, e.iterations) for e in task_config.tasks)
    intro = {e.name: e.stage for e in task_config.tasks}
    S = len(task_config.stages)
    if strategy == "multitask":
        allocs = [collections.OrderedDict(budgets)]
        introduced = [list(budgets)]
    elif strategy == "continual":
        allocs = [collections.OrderedDict((t, n) for t, n in budgets.items() if intro[t] == s + 1)
                  for s in range(S)]
        introduced = [list(a) for a in allocs]
    else:
        explicit = {e.name: e.stage_iterations for e in task_config.tasks if e.stage_iterations is not None}
        allocs = allocate(budgets, intro, S, explicit)
        introduced = [[t for t in budgets if intro[t] == s + 1] for s in range(S)]
    if strategy != "continual_multitask":
        overridden = [e.name for e in task_config.tasks if e.stage_iterations is not None]
        if overridden:
            logger.info("strategy %s: the stage_iterations of %s apply to continual_multitask only; each task "
                        "trains its whole budget", strategy, ", ".join(overridden))
    stages, start = [], 0
    for i, (a, new) in enumerate(zip(allocs, introduced)):
        if not a:
            raise ScheduleError("stage %d of strategy %s has no iterations" % (i + 1, strategy))
        stages.append(StagePlan(i, a, start, new))
        start += sum(a.values())
    return Schedule(strategy, stages, budgets, seed)


def interleave(allocations, seed, stage=0):
    """The task of every step of a stage: a list with exactly ``allocations[t]`` entries of each task t.

    Evenly spread (stride scheduling): the j-th step of task t (0-based) has the
    key ``(j + u_t) / n_t`` with a seeded offset u_t in (0, 1); steps run in key
    order, ties broken by a seeded priority.  In every prefix of m steps a task
    has within about 1 of its proportional share ``m * n_t / T``.  The offsets
    and priorities come from ``(seed, stage)`` only: another seed changes the
    order, never the counts.
    """
    names = [t for t, n in allocations.items() if n > 0]
    for t, n in allocations.items():
        if not _is_int(n) or n < 0:
            raise ScheduleError("allocation of task %s must be an integer >= 0, got %r" % (t, n))
    if not names:
        return []
    rng = np.random.RandomState(np.random.MT19937(np.random.SeedSequence([int(seed), 0x5C4ED, int(stage)])))
    offsets = rng.uniform(0.0, 1.0, len(names))
    offsets = np.where(offsets <= 0.0, 0.5, offsets)
    priority = rng.permutation(len(names))
    keys, which, prio = [], [], []
    for i, t in enumerate(names):
        n = int(allocations[t])
        keys.append((np.arange(n, dtype=np.float64) + offsets[i]) / n)
        which.append(np.full(n, i, np.int64))
        prio.append(np.full(n, priority[i], np.int64))
    keys, which, prio = np.concatenate(keys), np.concatenate(which), np.concatenate(prio)
    order = np.lexsort((prio, keys))
    return [names[i] for i in which[order]]


def format_table(head, rows):
    """A Markdown table (one string, lines joined by newlines)."""
    cells = [list(map(str, head))] + [list(map(str, r)) for r in rows]
    width = [max(len(r[i]) for r in cells) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, width)) + " |"   # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in width) + "|"]
                     + [line(r) for r in cells[1:]])


# --------------------------------------------------------------------------- the multi-stream reader

class ScheduledReader:
    """Batches of a :class:`Schedule`: each step the next batch of the scheduled task's stream.

    readers: {task: ``reader.pretraining_tasks.TaskPretrainingReader``} (one per stream,
    built by :func:`make_stream_reader`).  A stream's data are read again as
    often as its budget needs (a pass that yields no batch is an error).

    Every batch gets the attributes ``task``, ``task_id``, ``stage`` (0-based),
    ``stage_step`` (1-based position in the stage), ``stage_steps``,
    ``task_step`` (the task's updates so far, this one included),
    ``task_budget``, and ``state`` (this reader's state right after the batch;
    the task reader's own is inside).  Its ``task_ids`` feed is the stream's id.

    :meth:`batches` yields the rest of the current stage; :meth:`next_stage`
    moves on once it is complete.  ``epochs``: at most this many passes over
    each stream's data (None: as many as its budget needs); a stream whose
    passes are used up ends :meth:`batches` early (train.py's ``--epoch``).

    A single stream (one stage, one task: ERNIE 1.0 pre-training) is at the
    position of its reader whatever its budget, so it also resumes from a state
    written under another budget (``--num_train_steps`` changed), and, after
    :meth:`accept_stream_state`, from its reader's own state (what train.py
    saved for ERNIE 1.0 before it ran as a task configuration).  State::

        {"version": 1, "schedule": <digest>, "strategy": ..., "stage": k (0-based),
         "position": steps of stage k done, "task_steps": {task: updates done},
         "readers": {task: reader state}}
    """

    def __init__(self, schedule, readers, task_ids, epochs=None):
        missing = [t for t in schedule.budgets if t not in readers]
        if missing:
            raise ScheduleError("no reader for task(s) %s" % ", ".join(missing))
        if epochs is not None and int(epochs) < 1:
            raise ScheduleError("epochs must be >= 1 (or None), got %r" % (epochs,))
        self.schedule = schedule
        self.readers = dict(readers)
        self.task_ids = dict(task_ids)
        self.epochs = None if epochs is None else int(epochs)
        self._stream_state_step = None
        self._stage = 0
        self._position = 0
        self._reader_states = {t: r.state_dict() for t, r in self.readers.items()}

    @property
    def stage(self):
        return self._stage

    @property
    def position(self):
        return self._position

    @property
    def stage_plan(self):
        return self.schedule.stages[self._stage]

    @property
    def stage_complete(self):
        return self._position >= self.stage_plan.steps

    def task_steps(self, stage=None, position=None):
        """{task: updates done} at (stage, position) (default: the current one)."""
        stage = self._stage if stage is None else stage
        position = self._position if position is None else position
        done = self.schedule.task_steps_before(stage)
        for t in self.schedule.sequence(stage)[:position]:
            done[t] += 1
        return done

    def _state(self, stage, position, reader_states, task_steps):
        return {"version": STATE_VERSION, "schedule": self.schedule.digest(), "strategy": self.schedule.strategy,
                "stage": stage, "position": position, "task_steps": dict(task_steps),
                "readers": {t: reader_states[t] for t in self.readers}}

    def state_dict(self):
        return self._state(self._stage, self._position, self._reader_states, self.task_steps())

    @property
    def single_stream(self):
        """The task of a schedule of one stage and one task, else None."""
        if self.schedule.num_stages == 1 and len(self.readers) == 1:
            return next(iter(self.readers))
        return None

    def _same_stream(self, state):
        """Whether ``state`` is a state of the single stream of this reader under another budget."""
        task = self.single_stream
        return (task is not None and state.get("stage") == 0 and set(state.get("readers") or ()) == {task}
                and set(state.get("task_steps") or ()) == {task})

    def accept_stream_state(self, step):
        """Let :meth:`load_state_dict` take the single stream's reader state alone, as the position after
        ``step`` updates (a checkpoint of train.py from before ERNIE 1.0 pre-training ran as a task
        configuration holds that)."""
        if self.single_stream is None:
            raise ScheduleError("a reader state alone fits only a schedule of one stage and one task")
        self._stream_state_step = int(step)

    def _from_stream_state(self, state):
        """``state`` as a state of this schedule when it is the single stream's reader state alone."""
        if self._stream_state_step is None or not isinstance(state, dict) or "batch_index" not in state:
            return state
        task = self.single_stream
        position = min(self._stream_state_step, self.schedule.stages[0].steps)
        return self._state(0, position, {task: state}, self.task_steps(0, position))

    def check_state(self, state):
        """Raise ScheduleError unless ``state`` is a state of this reader's schedule."""
        state = self._from_stream_state(state)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION or "readers" not in state:
            raise ScheduleError("the checkpoint's reader state is not a schedule state (a checkpoint of train.py "
                                "from before ERNIE 1.0 pre-training ran as a task configuration?): %r"
                                % (str(state)[:200],))
        if state.get("schedule") != self.schedule.digest() and not self._same_stream(state):
            raise ScheduleError("the checkpoint was written by another schedule (strategy %s, digest %s; now %s, %s):"
                                " the configuration, --strategy, --iterations_scale or --random_seed changed"
                                % (state.get("strategy"), state.get("schedule"), self.schedule.strategy,
                                   self.schedule.digest()))

    def load_state_dict(self, state):
        """Continue from ``state`` (same schedule; else ScheduleError)."""
        state = self._from_stream_state(state)
        self.check_state(state)
        stage, position = int(state["stage"]), int(state["position"])
        if state.get("schedule") != self.schedule.digest():       # the single stream, another budget
            position = min(position, self.schedule.stages[0].steps)
            state = dict(state, task_steps=self.task_steps(0, position))
        if not 0 <= stage < self.schedule.num_stages or not 0 <= position <= self.schedule.stages[stage].steps:
            raise ScheduleError("schedule position stage %d, step %d is outside the schedule" % (stage, position))
        expected = self.task_steps(stage, position)
        if dict(expected) != {t: int(n) for t, n in state["task_steps"].items()}:
            raise ScheduleError("schedule state: task steps %s do not match the schedule's %s at stage %d, step %d"
                                % (state["task_steps"], dict(expected), stage + 1, position))
        for t, r in self.readers.items():
            r.load_state_dict(state["readers"][t])     # checks the reader configuration
        self._stage, self._position = stage, position
        self._reader_states = {t: state["readers"][t] for t in self.readers}

    def next_stage(self):
        """Start the next stage (the current one must be complete)."""
        if not self.stage_complete:
            raise ScheduleError("stage %d is not complete (%d of %d steps)" % (self._stage + 1, self._position,
                                                                              self.stage_plan.steps))
        if self._stage + 1 >= self.schedule.num_stages:
            raise ScheduleError("stage %d is the last one" % (self._stage + 1))
        self._stage += 1
        self._position = 0

    def _stream(self, task, state):
        reader = self.readers[task]
        reader.load_state_dict(state)
        while True:
            start = reader.state_dict()
            if self.epochs is not None and start["epoch"] >= self.epochs:
                return
            reader.epochs = start["epoch"] + 1        # one pass at a time: an empty pass is caught
            produced = 0
            for batch in reader.batches():
                produced += 1
                yield batch
            if produced == 0 and start["batch_index"] == 0:
                raise ScheduleError("task %s: a whole pass over %s produced no batch (no usable line)"
                                    % (task, reader.filelist))

    def batches(self):
        stage = self._stage
        seq = self.schedule.sequence(stage)
        states = dict(self._reader_states)
        done = self.task_steps()
        streams = {}
        try:
            for p in range(self._position, len(seq)):
                task = seq[p]
                if task not in streams:
                    streams[task] = self._stream(task, states[task])
                batch = next(streams[task], None)
                if batch is None:
                    return                            # the stream's passes (epochs) are used up
                states[task] = batch.state
                done[task] += 1
                if "task_ids" in batch:
                    batch["task_ids"] = np.full_like(batch["task_ids"], self.task_ids[task])
                batch.task, batch.task_id, batch.stage = task, self.task_ids[task], stage
                batch.stage_step, batch.stage_steps = p + 1, len(seq)
                batch.task_step, batch.task_budget = done[task], self.schedule.budgets[task]
                batch.state = self._state(stage, p + 1, states, done)
                yield batch
        finally:
            for s in streams.values():
                s.close()

    def __iter__(self):
        return self.batches()


def make_stream_reader(taskset, filelist, vocab_path, task_id, **kwargs):
    """The stream's ``TaskPretrainingReader`` (the one reader of every task): ``taskset``'s parser and feeds,
    and every row's ``task_ids`` set to ``task_id``.  kwargs: the reader's (batch_size, in_tokens, ...)."""
    def hook(samples, batch):
        taskset.add_feeds(samples, batch)
        batch["task_ids"] = np.full_like(batch["src_ids"], task_id)
        return batch

    return TaskPretrainingReader(filelist, vocab_path, parser_factory=taskset.line_parser, batch_hook=hook,
                                 **kwargs)


# --------------------------------------------------------------------------- trainer helpers

class ProgramUnion:
    """The persistable variables of several programs, deduplicated by name, as one "program" for
    ``ernie.checkpoint`` / ``ernie.distributed`` (they only call ``list_vars()``)."""

    def __init__(self, programs):
        self.programs = list(programs)

    def list_vars(self):
        seen, out = set(), []
        for program in self.programs:
            for v in program.list_vars():
                if not (v.persistable or v.is_parameter):
                    continue
                if v.name in seen:
                    continue
                seen.add(v.name)
                out.append(v)
        return out


class LRSchedules:
    """The learning-rate schedulers of a run: one per task (``per_task``) or one for all (``global``).

    per_task: task t's updates follow the schedule over its own update count
    (the paper's "noam warm-up over the first 4,000 steps for every
    pre-training task"; linear decay over its budget N_t).  global: one
    schedule over all updates of the run (as ERNIE 1.0).  ``state_dict`` /
    ``set_state_dict`` / ``last_lr`` for ``train_state.json``.
    """

    def __init__(self, mode, name, learning_rate, warmup_steps, budgets, total_steps):
        if mode not in LR_SCHEDULES:
            raise ScheduleError("unknown lr_schedule %r: choose one of %s" % (mode, ", ".join(LR_SCHEDULES)))
        self.mode = mode
        if mode == "global":
            shared = lr_scheduler(name, learning_rate, warmup_steps, total_steps)
            self.schedulers = collections.OrderedDict((t, shared) for t in budgets)
        else:
            self.schedulers = collections.OrderedDict(
                (t, lr_scheduler(name, learning_rate, warmup_steps, n)) for t, n in budgets.items())
        self._last = next(iter(self.schedulers.values()))

    def __getitem__(self, task):
        return self.schedulers[task]

    @property
    def last_lr(self):
        return self._last.last_lr

    def state_dict(self):
        if self.mode == "global":
            return {"lr_schedule": "global", "global": self._last.state_dict()}
        return {"lr_schedule": "per_task", "tasks": {t: s.state_dict() for t, s in self.schedulers.items()}}

    def set_state_dict(self, state):
        if self.mode == "global" and "lr_schedule" not in state and "last_epoch" in state:
            self._last.set_state_dict(state)     # one scheduler's state: train.py's ERNIE 1.0 checkpoints before
            return                               # they were task-path checkpoints
        if state.get("lr_schedule") != self.mode:
            raise ScheduleError("the checkpoint used lr_schedule %r, the configuration says %r"
                                % (state.get("lr_schedule"), self.mode))
        if self.mode == "global":
            self._last.set_state_dict(state["global"])
        else:
            for t, s in self.schedulers.items():
                s.set_state_dict(state["tasks"][t])

    def step(self):
        raise RuntimeError("LRSchedules is stepped per task: step the routed program's scheduler")
