"""The ERNIE 2.0 task line format (version 2): writer, parser and the task-aware reader.

Version 1 is the ERNIE 1.0 pre-training line of ``reader.pretraining``::

    token_ids;sentence_type_ids;position_ids;seg_labels;next_sentence_label

Version 2 keeps those five fields, unchanged in meaning and checks, and adds
a version tag and named fields::

    token_ids;sentence_type_ids;position_ids;seg_labels;next_sentence_label;v2;task=NAME;task_id=ID[;label=C][;TOKEN_TASK=l1 l2 ...]...

* field 6 is the literal ``v2`` (a later version writes ``v3`` ...; a parser
  rejects versions it does not know, with the reason ``bad_version``);
* the fields after it are ``key=value`` pairs, in any order, each key once:

  ``task`` (required)
      name of the line's *primary* task (a registered task name, see
      ``ernie.tasks.list_tasks()``): the task the line was built for and whose
      sentence-level label it carries;
  ``task_id`` (required)
      the task id (>= 0) the builder's task configuration gave that task.  The
      reader feeds the id of the *training* configuration (see
      ``ernie.tasks.TaskSet``); this one documents how the file was made;
  ``label``
      the class of a sentence-level primary task, an integer in
      ``[0, num_classes)``; required exactly when the primary task is
      sentence-level;
  ``<token-level task name>``
      per-token labels of a token-level task (e.g. ``capitalization``,
      ``token_document_relation``), one integer per token, single spaces,
      as many as ``token_ids``; ``-1`` means "no label here" and is required
      at [CLS]/[SEP] (where ``seg_labels`` is -1).  A line may carry the
      labels of several token-level tasks, so one batch can train one
      sentence-level task together with several token-level ones;

* ``next_sentence_label`` (field 5) stays 0 or 1 for layout compatibility; it
  is a label only on version-1 lines and on lines whose primary task is
  ``next_sent`` (where it equals ``label``); other builders write 0.
* Knowledge masking needs no field: it masks ``seg_labels`` units of any line.

Example (capitalization line that also carries token-document-relation labels)::

    1 51 9 2;0 0 0 0;0 1 2 3;-1 0 0 -1;0;v2;task=capitalization;task_id=1;capitalization=-1 1 0 -1;token_document_relation=-1 0 1 -1

A five-field line is parsed by ``reader.pretraining.LineParser`` exactly as
before (same checks, ``Sample.extra == {}``), so the ERNIE 1.0 data keeps
working; it serves the tasks ``knowledge_masking`` and ``next_sent``.  The
full description, with the label conventions of every built-in task, is in
``docs/task_format.md``.

Parsed version-2 lines are ``reader.pretraining.Sample`` objects whose
``extra`` is ``{"version": 2, "task": str, "task_id": int, "label": int or
None, "token_labels": {task: [int]}}``.
"""
import collections
import logging
import re

from reader.pretraining import (BAD_LABEL, FIELD_COUNT, LENGTH_MISMATCH, NOT_INTEGER, BadLine, LineParser,
                                PretrainingReader)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
VERSION_TAG = "v2"
NUM_BASE_FIELDS = 5

# Keys with a fixed meaning; no task may be called like one of them.
RESERVED_KEYS = frozenset(["task", "task_id", "label"])
TASK_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

# Bad-line reasons added by this format (the reader counts them like its own).
BAD_VERSION = "bad_version"
BAD_FIELD = "bad_field"
UNKNOWN_TASK = "unknown_task"
MISSING_LABELS = "missing_labels"

TaskSpec = collections.namedtuple("TaskSpec", "level num_classes in_line v1_label", defaults=(False,))
TaskSpec.__doc__ = """What the parser checks about one task.

    level: 'token' or 'sentence';
    num_classes: labels must be in [0, num_classes) (None: only >= 0 is checked);
    in_line: whether the task's labels are written in the line (False for the
    masked LM, whose targets come from masking: every line serves it);
    v1_label: a five-field (version 1) line carries its label in field 5
    (next_sentence_label; ERNIE 1.0's next-sentence task): five-field lines serve it.
"""


class FormatError(ValueError):
    """A task line cannot be written (bad task name, label out of range, lengths differ)."""


def _int_list(values, name):
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            try:
                iv = int(v)
            except (TypeError, ValueError):
                raise FormatError("%s: %r is not an integer" % (name, v)) from None
            if iv != v:
                raise FormatError("%s: %r is not an integer" % (name, v))
            v = iv
        out.append(int(v))
    return out


def check_task_name(name):
    """Raise FormatError unless ``name`` can be a task name in a line."""
    if not isinstance(name, str) or not TASK_NAME_RE.match(name) or name in RESERVED_KEYS or name == VERSION_TAG:
        raise FormatError("task name %r must match %s and not be one of %s"
                          % (name, TASK_NAME_RE.pattern, ", ".join(sorted(RESERVED_KEYS | {VERSION_TAG}))))
    return name


def format_task_line(token_ids, sent_ids, pos_ids, seg_labels, task, task_id, label=None, token_labels=None,
                     next_sentence_label=0, specs=None):
    """One version-2 line (without newline).

    ``token_labels``: {token-level task name: list of int, one per token}.
    ``specs``: optional {task name: TaskSpec}: when given, ``task`` and the
    token-label tasks must be in it, ``label`` must be given exactly for a
    sentence-level primary task and every label must be in range.
    Raises :class:`FormatError` (never writes a label it cannot vouch for).
    """
    n = len(token_ids)
    lists = [_int_list(x, name) for x, name in ((token_ids, "token_ids"), (sent_ids, "sentence_type_ids"),
                                                (pos_ids, "position_ids"), (seg_labels, "seg_labels"))]
    if n == 0 or any(len(x) != n for x in lists):
        raise FormatError("field lengths differ or are empty: %s" % [len(x) for x in lists])
    check_task_name(task)
    if isinstance(task_id, bool) or not isinstance(task_id, int) or task_id < 0:
        raise FormatError("task_id of %s must be an integer >= 0, got %r" % (task, task_id))
    if next_sentence_label not in (0, 1):
        raise FormatError("next_sentence_label must be 0 or 1, got %r" % (next_sentence_label,))
    token_labels = dict(token_labels or {})
    spec = None
    if specs is not None:
        if task not in specs:
            raise FormatError("unknown task %r (known: %s)" % (task, ", ".join(sorted(specs))))
        spec = specs[task]
        if spec.level == "sentence" and label is None:
            raise FormatError("task %s is sentence-level: a label is required" % task)
        if spec.level != "sentence" and label is not None:
            raise FormatError("task %s is token-level: it has no sentence label (got %r)" % (task, label))
    parts = [";".join(" ".join(map(str, x)) for x in lists), str(int(next_sentence_label)), VERSION_TAG,
             "task=%s" % task, "task_id=%d" % task_id]
    if label is not None:
        label = _int_list([label], "label of %s" % task)[0]
        hi = spec.num_classes if spec is not None else None
        if label < 0 or (hi is not None and label >= hi):
            raise FormatError("label %d of task %s outside [0, %s)" % (label, task, hi if hi else "inf"))
        parts.append("label=%d" % label)
    seg = lists[3]
    for name in sorted(token_labels):
        check_task_name(name)
        labels = _int_list(token_labels[name], "token labels of %s" % name)
        if len(labels) != n:
            raise FormatError("token labels of %s: %d values for %d tokens" % (name, len(labels), n))
        hi = None
        if specs is not None:
            if name not in specs or specs[name].level != "token":
                raise FormatError("token labels given for %r, which is not a known token-level task" % name)
            hi = specs[name].num_classes
        for i, (lab, s) in enumerate(zip(labels, seg)):
            if lab < -1 or (hi is not None and lab >= hi):
                raise FormatError("token label %d of %s at position %d outside {-1} u [0, %s)" % (lab, name, i, hi))
            if s == -1 and lab != -1:
                raise FormatError("token label of %s at special token position %d must be -1, got %d"
                                  % (name, i, lab))
        parts.append("%s=%s" % (name, " ".join(map(str, labels))))
    return ";".join(parts)


def format_v1_line(token_ids, sent_ids, pos_ids, seg_labels, next_sentence_label):
    """A version-1 (ERNIE 1.0, five-field) line, without newline."""
    if next_sentence_label not in (0, 1):
        raise FormatError("next_sentence_label must be 0 or 1, got %r" % (next_sentence_label,))
    return "%s;%s;%s;%s;%d" % (" ".join(map(str, token_ids)), " ".join(map(str, sent_ids)),
                               " ".join(map(str, pos_ids)), " ".join(map(str, seg_labels)), next_sentence_label)


def _ints(text, name):
    try:
        return [int(x) for x in text.split(" ")]
    except ValueError:
        raise BadLine(NOT_INTEGER, "%s %r is not a list of integers separated by single spaces"
                      % (name, text[:60])) from None


class TaskLineParser(LineParser):
    """Parses version-1 and version-2 lines (see the module docstring); raises ``BadLine``.

    tasks: {name: TaskSpec} of the known tasks (None: any well-formed name,
    labels only checked to be >= 0 / >= -1).
    required: names of the tasks every line must serve (the active tasks of a
    training stream; needs ``tasks``).  Every line serves the tasks whose
    labels are not in the line (``in_line`` False: knowledge masking); a
    version-2 line also serves its primary task and every token-level task whose
    labels it carries, a five-field line the tasks whose label is its field 5
    (``v1_label``: next sentence).  A line that does not serve a required task
    is bad (``missing_labels``): a model never sees a made-up label.
    """

    def __init__(self, max_seq_len=512, voc_size=0, tasks=None, required=()):
        super().__init__(max_seq_len, voc_size)
        self.tasks = dict(tasks) if tasks is not None else None
        self.required = tuple(required)
        if self.required and self.tasks is None:
            raise ValueError("required tasks need the specs of the known tasks (tasks=...)")
        specs = self.tasks or {}
        self.every_line = {name for name, s in specs.items() if not s.in_line}
        self.v1_served = self.every_line | {name for name, s in specs.items() if s.v1_label}
        if self.tasks is not None:
            unknown = [t for t in self.required if t not in self.tasks]
            if unknown:
                raise ValueError("required task(s) %s not among the known tasks %s"
                                 % (", ".join(unknown), ", ".join(sorted(self.tasks))))

    def _spec(self, name):
        if self.tasks is None:
            return None
        return self.tasks.get(name)

    def parse(self, line):
        fields = line.strip().split(";")
        if len(fields) == NUM_BASE_FIELDS:
            sample = LineParser.parse(self, line)   # exactly the version-1 parser
            self._check_served(self.v1_served, "a five-field (version 1) line")
            return sample
        if len(fields) < NUM_BASE_FIELDS + 3:
            raise BadLine(FIELD_COUNT, "expected 5 ';'-separated fields (version 1) or at least 8 (version 2), "
                          "got %d" % len(fields))
        tag = fields[NUM_BASE_FIELDS]
        if tag != VERSION_TAG:
            raise BadLine(BAD_VERSION, "field 6 must be the format version %r, got %r (versions known: v1 = "
                          "five fields, v2)" % (VERSION_TAG, tag[:20]))
        sample = LineParser.parse(self, ";".join(fields[:NUM_BASE_FIELDS]))
        n = len(sample.token_ids)
        values = {}
        for text in fields[NUM_BASE_FIELDS + 1:]:
            key, eq, value = text.partition("=")
            if not eq or not key:
                raise BadLine(BAD_FIELD, "field %r is not key=value" % text[:40])
            if key in values:
                raise BadLine(BAD_FIELD, "field %r given twice" % key)
            values[key] = value
        for key in ("task", "task_id"):
            if key not in values:
                raise BadLine(BAD_FIELD, "version-2 line without the %r field" % key)
        task = values.pop("task")
        if self.tasks is not None and task not in self.tasks:
            raise BadLine(UNKNOWN_TASK, "unknown task %r (known: %s)" % (task[:40], ", ".join(sorted(self.tasks))))
        try:
            task_id = int(values.pop("task_id"))
        except ValueError:
            raise BadLine(NOT_INTEGER, "task_id is not an integer") from None
        if task_id < 0:
            raise BadLine(BAD_FIELD, "task_id %d is negative" % task_id)
        spec = self._spec(task)
        label = None
        if "label" in values:
            try:
                label = int(values.pop("label"))
            except ValueError:
                raise BadLine(NOT_INTEGER, "label is not an integer") from None
            if spec is not None and spec.level != "sentence":
                raise BadLine(BAD_FIELD, "task %s is token-level but the line has a sentence label" % task)
            hi = spec.num_classes if spec is not None else None
            if label < 0 or (hi is not None and label >= hi):
                raise BadLine(BAD_LABEL, "label %d of task %s outside [0, %s)" % (label, task, hi or "inf"))
        elif spec is not None and spec.level == "sentence":
            raise BadLine(BAD_FIELD, "task %s is sentence-level but the line has no label field" % task)
        token_labels = {}
        seg = sample.seg_labels
        for name, text in values.items():
            tspec = self._spec(name)
            if self.tasks is not None and (tspec is None or tspec.level != "token"):
                raise BadLine(UNKNOWN_TASK, "field %r is not a known token-level task (known: %s)"
                              % (name[:40], ", ".join(sorted(k for k, s in self.tasks.items() if s.level == "token"))))
            if tspec is not None and not tspec.in_line:
                raise BadLine(BAD_FIELD, "task %s takes no labels from the line (field %r)" % (name, name))
            labels = _ints(text, name)
            if len(labels) != n:
                raise BadLine(LENGTH_MISMATCH, "%s has %d labels for %d tokens" % (name, len(labels), n))
            hi = tspec.num_classes if tspec is not None else None
            lo_v, hi_v = min(labels), max(labels)
            if lo_v < -1 or (hi is not None and hi_v >= hi):
                bad = lo_v if lo_v < -1 else hi_v
                raise BadLine(BAD_LABEL, "token label %d of %s outside {-1} u [0, %s)" % (bad, name, hi))
            if any(s == -1 and lab != -1 for s, lab in zip(seg, labels)):
                raise BadLine(BAD_LABEL, "%s has a label at a [CLS]/[SEP] position (must be -1)" % name)
            token_labels[name] = labels
        served = {task} | self.every_line | set(token_labels)
        self._check_served(served, "the line (primary task %s)" % task)
        sample.extra = {"version": FORMAT_VERSION, "task": task, "task_id": task_id, "label": label,
                        "token_labels": token_labels}
        return sample

    def _check_served(self, served, what):
        missing = [t for t in self.required if t not in served]
        if missing:
            raise BadLine(MISSING_LABELS, "%s carries no labels for the active task(s) %s; it serves %s"
                          % (what, ", ".join(missing), ", ".join(sorted(served))))


class TaskPretrainingReader(PretrainingReader):
    """``PretrainingReader`` for task lines: same files, seeding, masking, batching and state.

    parser_factory: ``f(max_seq_len, voc_size) -> LineParser`` (called once
    the vocabulary is known; default: ``TaskLineParser`` without task checks).
    batch_hook: ``f(samples, batch)`` called on every batch right after it is
    made (padded and masked), to add the task feeds to the batch dict (see
    ``ernie.tasks.TaskSet.add_feeds``).  Everything else is the base reader's.
    """

    def __init__(self, filelist, vocab_path, parser_factory=None, batch_hook=None, **kwargs):
        if "line_parser" in kwargs:
            raise TypeError("TaskPretrainingReader takes parser_factory, not line_parser")
        super().__init__(filelist, vocab_path, **kwargs)
        factory = parser_factory or (lambda max_seq_len, voc_size: TaskLineParser(max_seq_len, voc_size))
        self.parser = self._bounded(factory(self.max_seq_len, self.voc_size))
        self.batch_hook = batch_hook

    def make_batch(self, samples, epoch, index):
        batch = super().make_batch(samples, epoch, index)
        if self.batch_hook is not None:
            self.batch_hook(samples, batch)
        return batch
