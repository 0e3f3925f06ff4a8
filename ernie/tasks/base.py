"""Pre-training tasks as pluggable units: the base class, the registry and a set of active tasks.

A task (a subclass of :class:`PretrainTask`, registered with
:func:`register_task`) is everything one ERNIE 2.0 pre-training task needs:

* **data construction** -- ``build_samples(ctx, rng)`` turns tokenized
  documents (a :class:`BuildContext`) into :class:`TaskSample` objects,
  written as version-2 lines of ``reader.pretraining_tasks`` by
  ``ernie.prepare.build_task_data``;
* **feeds** -- ``label_fields`` names its feed variables (shape, dtype) and
  ``make_feed(samples, batch)`` turns the parsed samples of one reader batch
  into numpy arrays aligned with the batch's padded [B, L] grid;
* **head, loss, metric** -- ``build_head(model, feeds)`` adds its layer to an
  ``ernie.modeling.ErnieModel`` and returns ``(loss, {metric: Value})``;
* **reporting** -- ``chance_level(label_counts)``, the accuracy of the best
  trivial predictor on data with those label counts.

Conventions shared by all tasks (B batch, L padded length, H hidden):

* token-level tasks classify every position of the sequence output:
  ``<name>_labels`` int64 [B, L], -1 where there is no label (padding,
  [CLS]/[SEP], word pieces or tokens the task does not judge); logits
  [B, L, C] from ``<name>_fc.w_0`` [H, C] / ``<name>_fc.b_0`` [C];
* sentence-level tasks classify the pooled [CLS] output:
  ``<name>_label`` int64 [B, 1] (-1: this row has no label for the task);
  logits [B, C] from ``<name>_fc.w_0/.b_0`` (the original's
  ``get_task_output`` naming);
* every loss is the mean softmax cross-entropy over the *labelled* items of
  the batch (0 when there are none), every accuracy is over the same items,
  and ``<name>_count`` is their number, so metrics can be averaged with the
  right weights.  A row without a label costs nothing, which lets one
  program hold the heads of many tasks and be fed batches of any of them;
* ``knowledge_masking`` is the ERNIE 1.0 masked LM (same masking, same
  ``mask_lm_*`` parameters, feeds ``mask_label``/``mask_pos``) and
  ``next_sent`` the ERNIE 1.0 next-sentence head (``next_sent_fc``, feed
  ``labels``), so MLM + NSP is ``TaskSet(["knowledge_masking", "next_sent"])``.

:class:`TaskSet` is the configuration of the active tasks of one training
stream: their task ids, the line parser and reader for their data, the
feeds of a batch (``task_ids`` included) and the heads whose losses are summed.
"""
import collections
import dataclasses
import importlib.util
import logging
import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import paddle
import paddle.nn.functional as F

from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from ernie.typed_fields import FieldError, convert, fields_of
from reader.pretraining_tasks import (FormatError, TaskLineParser, TaskPretrainingReader, TaskSpec, check_task_name,
                                      format_task_line, format_v1_line)
from reader.text_units import UNK, tokenize_units, used_documents
from reader.tokenization import WordpieceTokenizer, is_cjk_char, is_punctuation

logger = logging.getLogger(__name__)

LEVELS = ("token", "sentence")


class TaskError(ValueError):
    """A task is unknown, misconfigured or cannot be built from the given data."""


# --------------------------------------------------------------------------- registry

_REGISTRY = collections.OrderedDict()


def register_task(cls):
    """Class decorator: make a :class:`PretrainTask` subclass available by its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, PretrainTask)):
        raise TaskError("register_task expects a PretrainTask subclass, got %r" % (cls,))
    try:
        check_task_name(cls.name)
    except FormatError as e:
        raise TaskError("%s: bad task name: %s" % (cls.__name__, e)) from None
    if cls.level not in LEVELS:
        raise TaskError("task %s: level must be one of %s, got %r" % (cls.name, LEVELS, cls.level))
    if cls.class_names is not None:
        own = vars(cls)
        if cls.num_classes is None or ("class_names" in own and "num_classes" not in own):   # not inherited
            cls.num_classes = len(cls.class_names)
        elif cls.num_classes != len(cls.class_names):
            raise TaskError("task %s: num_classes %d but %d class_names %s"
                            % (cls.name, cls.num_classes, len(cls.class_names), tuple(cls.class_names)))
    old = _REGISTRY.get(cls.name)
    if old is not None and old is not cls and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TaskError("task name %r is already registered by %s.%s" % (cls.name, old.__module__, old.__qualname__))
    _REGISTRY[cls.name] = cls
    return cls


def list_tasks():
    """Registered task names: built-ins in their default-id order, then the others by name."""
    return sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].default_id is None, _REGISTRY[n].default_id or 0, n))


def get_task_class(name):
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise TaskError("unknown task %r; known tasks: %s" % (name, ", ".join(list_tasks()))) from None


def get_task(name, **options):
    """A configured instance of the registered task ``name`` (unknown name: TaskError listing the known ones)."""
    return get_task_class(name)(**options)


def import_user_dir(path):
    """Import the task modules of ``path`` (fairseq's ``--user_dir``): a package directory (with
    ``__init__.py``, imported under its directory name, so its modules can import each other as
    ``<name>.<module>``), a directory of modules (each ``*.py`` imported) or one ``.py`` file.  Their
    :func:`register_task` classes join the registry; no file of this package changes.  Importing the same
    path again does nothing.  Returns the imported modules."""
    path = os.path.abspath(path)
    if os.path.isfile(path) and path.endswith(".py"):
        files = [(path, None)]
    elif os.path.isfile(os.path.join(path, "__init__.py")):
        files = [(os.path.join(path, "__init__.py"), path)]
    elif os.path.isdir(path):
        files = [(os.path.join(path, f), None) for f in sorted(os.listdir(path))
                 if f.endswith(".py") and not f.startswith(".")]
        if not files:
            raise TaskError("--user_dir %s holds no .py file" % path)
    else:
        raise TaskError("--user_dir %s is neither a .py file nor a directory" % path)
    modules = []
    for file, package_dir in files:
        name = os.path.basename(package_dir) if package_dir else os.path.splitext(os.path.basename(file))[0]
        if not name.isidentifier():
            raise TaskError("--user_dir: %s cannot be imported: %r is not a Python module name" % (file, name))
        loaded = sys.modules.get(name)
        if loaded is not None:
            if os.path.abspath(getattr(loaded, "__file__", "") or "") == file:
                modules.append(loaded)
                continue
            raise TaskError("--user_dir: %s cannot be imported as %r: a module of that name is already loaded "
                            "from %s" % (file, name, getattr(loaded, "__file__", None)))
        spec = importlib.util.spec_from_file_location(
            name, file, submodule_search_locations=[package_dir] if package_dir else None)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        modules.append(module)
    return modules


def task_specs(tasks=None):
    """{name: reader.pretraining_tasks.TaskSpec} of ``tasks`` (instances) or of every registered task (defaults)."""
    if tasks is None:
        tasks = [get_task(n) for n in list_tasks()]
    return {t.name: t.spec() for t in tasks}


# --------------------------------------------------------------------------- data construction

@dataclass
class Segment:
    """A run of text inside a sample (no special tokens).

    ids / segs / tokens / caps: per token (vocabulary id, knowledge-unit seg
    label 0/1, vocabulary token, 1 where the raw word was capitalised).
    doc: index of the source document in the context (None: not from a
    document, e.g. a title or a query); span: (first, end) sentence indices
    of that document the text comes from.
    """
    ids: List[int]
    segs: List[int]
    tokens: List[str]
    caps: List[int]
    doc: Optional[int] = None
    span: Optional[tuple] = None

    def __len__(self):
        return len(self.ids)

    @classmethod
    def from_sentences(cls, sents, doc=None, span=None):
        ids, segs, tokens, caps = [], [], [], []
        for s in sents:
            ids.extend(s.ids)
            segs.extend(s.segs)
            tokens.extend(s.tokens)
            caps.extend(s.caps)
        return cls(ids, segs, tokens, caps, doc, span)

    def _slice(self, a, b):
        out = Segment(self.ids[a:b], self.segs[a:b], self.tokens[a:b], self.caps[a:b], self.doc, self.span)
        if out.segs and out.segs[0] != 0:
            out.segs[0] = 0   # a hard cut inside a unit: the kept part starts a unit of its own
        return out

    def _unit_starts(self):
        return [i for i, s in enumerate(self.segs) if s != 1 or i == 0]

    def keep_front(self, n):
        """The first at most ``n`` tokens, cut back to a unit boundary when one is left."""
        if len(self) <= n:
            return self
        cut = max([i for i in self._unit_starts() if i <= n] or [0])
        return self._slice(0, cut if cut > 0 else n)

    def keep_back(self, n):
        """The last at most ``n`` tokens, starting at a unit boundary when one is left."""
        if len(self) <= n:
            return self
        lo = len(self) - n
        starts = [i for i in self._unit_starts() if i >= lo]
        return self._slice(starts[0] if starts else lo, len(self))


def truncate_pair(a, b, max_tokens):
    """Cut whole units from A's front and B's end, the longer side first, until ``len(a)+len(b) <= max_tokens``.

    The end of A and the start of B stay (what makes a pair adjacent).  Returns
    (a, b), or None when a side would become empty.
    """
    while len(a) + len(b) > max_tokens:
        if len(a) >= len(b):
            a = a.keep_back(len(a) - 1)
        else:
            b = b.keep_front(len(b) - 1)
        if not len(a) or not len(b):
            return None
    return a, b


def has_text(text):
    """Whether ``text`` holds a letter, a digit or a CJK character: a section break (``* * *``) or a
    punctuation-only sentence (``……``, a stray closing quote) does not."""
    return any(c.isalnum() or is_cjk_char(c) for c in text)


def drop_textless_sentences(tok_docs):
    """(documents without the sentences that hold no text (:func:`has_text`; paragraphs left empty are
    dropped), number of sentences dropped).  Every task builds its segments from what is left."""
    out, dropped = [], 0
    for doc in tok_docs:
        paragraphs = []
        for para in doc.paragraphs:
            kept = [s for s in para if has_text(s.text) or not s.text and any(has_text(t) for t in s.tokens)]
            dropped += len(para) - len(kept)
            if kept:
                paragraphs.append(kept)
        out.append(dataclasses.replace(doc, paragraphs=paragraphs))
    return out, dropped


def _punct_only(token):
    t = token[2:] if token.startswith("##") else token
    return bool(t) and all(is_punctuation(c) for c in t)


def word_items(tokens, segs, lang):
    """[(start, end)] of the words of a token run: a word starts at a unit start (seg 0, or any
    non-continuation) and, for English, at every token that is not a ``##`` piece (phrase units
    of several words are split into their words)."""
    starts = []
    for i, (t, s) in enumerate(zip(tokens, segs)):
        if i == 0 or s != 1 or (lang == "en" and not t.startswith("##")):
            starts.append(i)
    ends = starts[1:] + [len(tokens)]
    return list(zip(starts, ends))


@dataclass
class TaskSample:
    """One built sample: the id fields of ``[CLS] s1 [SEP] s2 [SEP] ...``, its task and labels.

    label: class of a sentence-level primary task (None for token-level);
    token_labels: {token-level task: labels per token (-1 = none)};
    v1: write as a five-field ERNIE 1.0 line (``next_sent`` data);
    meta: provenance for checks and statistics (documents, spans, permutation, marker ...).
    """
    token_ids: List[int]
    sent_ids: List[int]
    pos_ids: List[int]
    seg_labels: List[int]
    task: str
    label: Optional[int] = None
    token_labels: Dict[str, List[int]] = field(default_factory=dict)
    next_sentence_label: int = 0
    v1: bool = False
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.token_ids)

    def line(self, task_id, specs=None):
        """The sample as one line (version 2, or version 1 when ``v1``); see ``reader.pretraining_tasks``."""
        if self.v1:
            return format_v1_line(self.token_ids, self.sent_ids, self.pos_ids, self.seg_labels,
                                  self.next_sentence_label)
        return format_task_line(self.token_ids, self.sent_ids, self.pos_ids, self.seg_labels, self.task, task_id,
                                label=self.label, token_labels=self.token_labels,
                                next_sentence_label=self.next_sentence_label, specs=specs)


class BuildContext:
    """Tokenized documents of one split plus what the tasks need to build samples from them.

    tok_docs: ``reader.text_units.TokDocument`` list; lang: 'zh'/'en';
    vocab: {token: id}; max_seq_len: longest line (specials included);
    analyzer: a ``reader.text_units`` unit analyzer (needed to
    tokenize new text: discourse remainders, titles, queries);
    label_tasks: token-level tasks whose labels every sample carries (besides
    its own); num_sent_types: segment i gets sentence type ``min(i, n - 1)``;
    inputs: {name: data} of this split's task inputs that are not the corpus (read by a task's
    :meth:`PretrainTask.build_inputs` from its own builder flags, e.g. a relevance file);
    do_lower_case: whether the input text is lower-cased (capitalization needs it).
    Sentences without text (section breaks such as ``* * *``, punctuation only) are dropped from the
    documents first (``textless_sentences`` counts them): no task builds a segment of them.
    """

    def __init__(self, tok_docs, lang, vocab, max_seq_len, analyzer=None, label_tasks=(), num_sent_types=2,
                 inputs=None, do_lower_case=True, split="train"):
        if lang not in ("zh", "en"):
            raise TaskError("unknown language %r (expected zh or en)" % lang)
        if num_sent_types < 1:
            raise TaskError("num_sent_types must be >= 1, got %r" % num_sent_types)
        self.tok_docs, self.textless_sentences = drop_textless_sentences(tok_docs)
        self.lang = lang
        self.vocab = vocab
        self.max_seq_len = int(max_seq_len)
        self.analyzer = analyzer
        self.label_tasks = [t for t in label_tasks if t.level == "token" and t.in_line]
        self.num_sent_types = int(num_sent_types)
        self.inputs = dict(inputs or {})
        self.do_lower_case = do_lower_case
        self.split = split
        for tok in ("[CLS]", "[SEP]"):
            if tok not in vocab:
                raise TaskError("the vocabulary lacks %s" % tok)
        self.cls_id, self.sep_id = vocab["[CLS]"], vocab["[SEP]"]
        self.unk_id = vocab.get(UNK)
        self._wordpiece = WordpieceTokenizer(vocab, unk_token=UNK) if UNK in vocab else None
        self._sents = {}
        self._items = {}

    # documents ---------------------------------------------------------------
    def sentences(self, d):
        if d not in self._sents:
            self._sents[d] = self.tok_docs[d].sentences()
        return self._sents[d]

    def paragraph_ranges(self, d):
        """[(first, end)] sentence index ranges of the paragraphs of document ``d``."""
        out, i = [], 0
        for para in self.tok_docs[d].paragraphs:
            out.append((i, i + len(para)))
            i += len(para)
        return out

    def tokenize(self, text):
        """Raw text -> ``TokSentence`` with the corpus' analyzer and vocabulary."""
        if self.analyzer is None or self._wordpiece is None:
            raise TaskError("this task tokenizes new text: the build context needs an analyzer and a vocabulary "
                            "with [UNK]")
        return tokenize_units(self.analyzer.analyze(text), self.vocab, self._wordpiece, text)

    def item_key(self, ids, tokens):
        """Identity of a word for token-document relation (None: not judged: punctuation and other symbols
        without text such as the lacuna mark ``□``, [UNK])."""
        if all(_punct_only(t) or not has_text(t) for t in tokens) or (self.unk_id is not None and self.unk_id in ids):
            return None
        return tuple(ids)

    def doc_items(self, d):
        """(per-sentence Counters of word keys, document Counter) of document ``d`` (cached)."""
        if d not in self._items:
            per = []
            for s in self.sentences(d):
                c = collections.Counter()
                for a, b in word_items(s.tokens, s.segs, self.lang):
                    key = self.item_key(s.ids[a:b], s.tokens[a:b])
                    if key is not None:
                        c[key] += 1
                per.append(c)
            total = collections.Counter()
            for c in per:
                total.update(c)
            self._items[d] = (per, total)
        return self._items[d]

    def chunks(self, d, budget):
        """Greedy non-overlapping runs of whole sentences of document ``d`` of at most ``budget`` tokens:
        [(first, end, Segment)]; a sentence longer than the budget is a chunk of its own, cut at a unit
        boundary."""
        sents = self.sentences(d)
        out, i = [], 0
        while i < len(sents):
            j, total = i, 0
            while j < len(sents) and (j == i or total + len(sents[j]) <= budget):
                total += len(sents[j])
                j += 1
            seg = Segment.from_sentences(sents[i:j], d, (i, j)).keep_front(budget)
            out.append((i, j, seg))
            i = j
        return out

    # samples -----------------------------------------------------------------
    def assemble(self, segments, task, label=None, next_sentence_label=0, meta=None, own_labels=None):
        """``[CLS] s1 [SEP] s2 [SEP] ...`` of ``segments`` as a :class:`TaskSample`.

        Token labels of every ``label_tasks`` task (and of ``own_labels``, the
        primary token-level task) are computed per segment with the task's
        ``segment_labels`` and are -1 at the special tokens.
        """
        ids, sent, segs = [self.cls_id], [0], [-1]
        for k, seg in enumerate(segments):
            if not len(seg):
                raise TaskError("%s: empty segment %d" % (task, k))
            t = min(k, self.num_sent_types - 1)
            ids += seg.ids + [self.sep_id]
            sent += [t] * (len(seg) + 1)
            segs += seg.segs + [-1]
        if len(ids) > self.max_seq_len:
            raise TaskError("%s: sample of %d tokens exceeds max_seq_len %d" % (task, len(ids), self.max_seq_len))
        tasks = list(self.label_tasks)
        if own_labels is not None and all(t.name != own_labels.name for t in tasks):
            tasks.append(own_labels)
        token_labels = {}
        for t in tasks:
            labels = [-1]
            for seg in segments:
                lab = t.segment_labels(self, seg)
                if len(lab) != len(seg):
                    raise TaskError("%s.segment_labels returned %d labels for %d tokens" % (t.name, len(lab), len(seg)))
                labels += list(lab) + [-1]
            token_labels[t.name] = labels
        return TaskSample(ids, sent, list(range(len(ids))), segs, task, label, token_labels,
                          next_sentence_label, False, dict(meta or {}))


# --------------------------------------------------------------------------- graph helpers

def masked_classification(logits, labels):
    """Mean cross-entropy and accuracy over the rows of ``logits`` [N, C] whose label [N, 1] is >= 0.

    Returns (loss, accuracy, count) as float32 scalars; with no labelled row
    loss and accuracy are 0 (the count is clamped to 1 in the division).
    """
    labels = paddle.reshape(labels, [-1, 1])
    valid = paddle.cast(labels >= 0, "float32")
    safe = paddle.where(labels >= 0, labels, paddle.zeros_like(labels))
    ce = F.cross_entropy(logits, safe, reduction="none")
    count = paddle.sum(valid)
    denom = paddle.maximum(count, paddle.full([], 1.0, "float32"))
    loss = paddle.sum(ce * valid) / denom
    pred = paddle.argmax(logits, axis=-1, keepdim=True)
    hit = paddle.cast(paddle.equal(pred, safe), "float32") * valid
    return loss, paddle.sum(hit) / denom, count


# --------------------------------------------------------------------------- tasks

@dataclass
class NoOptions:
    """The options of a task that has none."""


class PretrainTask:
    """Base class of a pre-training task (see the module docstring).

    Class attributes a task sets:
        name: registry name, also the prefix of its parameters and feeds;
        level: 'token' or 'sentence';
        num_classes: number of classes (may depend on options, then set in ``__init__``); by default the
            number of ``class_names``;
        default_id: task id in the default configuration (built-ins 0..7);
        langs: languages it can be built for;
        in_line: whether its labels are written in the lines; False: its targets come from any line
            (knowledge masking), so every line serves it;
        v1_label: five-field (ERNIE 1.0) lines carry its label (field 5, ``next_sentence_label``): they serve
            it, it is their primary task when active, and ``generate_neg_sample`` makes negatives for it;
        in_all: built by ``ernie.prepare.build_task_data --tasks all``;
        uses_masking: the input must be masked (knowledge masking);
        class_names: optional names of the classes;
        Options: a dataclass of the options ``__init__`` accepts (``ernie.typed_fields.option`` gives a
            field its help text, bounds and choices); each option is checked and converted to its type
            (command-line strings too) and becomes an attribute of the task; ``self.options`` is the
            Options instance, ``self.config`` the same as a dict.
    """

    name = None
    level = None
    num_classes = None
    default_id = None
    langs = ("zh", "en")
    in_line = True
    v1_label = False
    in_all = True
    uses_masking = False
    class_names = None
    description = ""
    Options = NoOptions

    def __init__(self, **options):
        known = [name for name, _, _ in fields_of(self.Options)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TaskError("task %s has no option %s (options: %s)"
                            % (self.name, ", ".join(unknown), ", ".join(sorted(known)) or "none"))
        values = {}
        for key, typ, f in fields_of(self.Options):
            if key in options:
                try:
                    values[key] = convert(options[key], typ, f.metadata, strings=True)
                except ValueError as e:
                    raise TaskError("task %s: option %s must be %s, got %r"
                                    % (self.name, key, e, options[key])) from None
        try:
            self.options = self.Options(**values)
        except (FieldError, ValueError, TypeError) as e:     # an Options.__post_init__ check
            raise TaskError("task %s: %s" % (self.name, e)) from None
        self.config = dataclasses.asdict(self.options)
        for key, value in self.config.items():
            setattr(self, key, value)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in sorted(self.config.items())))

    def spec(self):
        return TaskSpec(self.level, self.num_classes, self.in_line, self.v1_label)

    # data --------------------------------------------------------------------
    @classmethod
    def add_build_args(cls, parser):
        """Flags this task adds to ``ernie.prepare.build_task_data`` (fairseq's ``add_args``), e.g. an input
        file that is not the corpus; called for every registered task before the flags are parsed."""

    @classmethod
    def build_inputs(cls, args):
        """``{split: {name: data}}`` read from the task's own flags (``add_build_args``) before any work;
        the builder gives each split's dict to its :class:`BuildContext` as ``inputs``.  Bad input: TaskError
        naming the file.  Default: nothing."""
        return {}

    def not_applicable(self, ctx):
        """Why the task cannot be built from ``ctx`` (a string), or None."""
        if ctx.lang not in self.langs:
            return "%s is built for %s only, not for --lang %s" % (self.name, "/".join(self.langs), ctx.lang)
        return None

    def build_samples(self, ctx, rng):
        """(list of :class:`TaskSample`, collections.Counter of generation statistics and counted skips)."""
        raise NotImplementedError

    def select(self, samples, limit, rng):
        """Shuffle the built samples and keep at most ``limit`` (None/0: all)."""
        rng.shuffle(samples)
        return samples[:limit] if limit else samples

    def segment_labels(self, ctx, segment):
        """Token-level tasks: labels (-1 = none) for the tokens of one :class:`Segment`."""
        raise NotImplementedError

    def check_label(self, label):
        """Raise TaskError unless ``label`` is a valid class of this task."""
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < self.num_classes:
            raise TaskError("label %r of task %s outside [0, %d)" % (label, self.name, self.num_classes))
        return int(label)

    # feeds ---------------------------------------------------------------------
    @property
    def label_fields(self):
        """{feed name: (shape, dtype)} of the task's label feeds."""
        raise NotImplementedError

    def serves(self, sample):
        """Whether a parsed ``reader.pretraining.Sample`` carries this task's labels."""
        raise NotImplementedError

    def make_feed(self, samples, batch):
        """{feed name: numpy array} for one batch (``batch``: the reader's padded, masked ``PretrainingBatch``)."""
        raise NotImplementedError

    # graph -------------------------------------------------------------------------
    def build_head(self, model, feeds):
        """Add the head to ``model`` (an ErnieModel); ``feeds``: {name: Value} of ``label_fields``.

        Returns (loss scalar Value, {metric name: scalar Value}).
        """
        raise NotImplementedError

    # reporting -------------------------------------------------------------------
    def chance_level(self, label_counts):
        """Accuracy of always predicting the most frequent class, given {label: count}."""
        total = sum(label_counts.values())
        return max(label_counts.values()) / total if total else 0.0

    def chunk_samples(self, ctx, rng, stats, need_rest=False):
        """Single-segment samples ``[CLS] chunk [SEP]`` over every document (see ``BuildContext.chunks``).

        need_rest: skip a chunk that is the whole document (counted as ``doc_single_chunk``).
        """
        samples = []
        per_document = (ctx.chunks(d, ctx.max_seq_len - 2) for d in range(len(ctx.tok_docs)))
        for d, chunks in used_documents(per_document, 1, stats, "empty_docs"):
            for first, end, seg in chunks:
                if need_rest and first == 0 and end == len(ctx.sentences(d)):
                    stats["doc_single_chunk"] += 1
                    continue
                own = self if self.in_line else None
                samples.append(ctx.assemble([seg], self.name, own_labels=own,
                                            meta={"docs": [d], "spans": [(first, end)]}))
        return samples


def _labels_of(sample):
    extra = sample.extra or {}
    return extra.get("token_labels", {})


class ClassificationTask(PretrainTask):
    """A task with one int64 label feed ``<name><label_suffix>`` of shape ``label_shape``; -1 means no label."""

    label_suffix = "_label"
    label_shape = (-1, 1)

    @property
    def feed_name(self):
        return self.name + self.label_suffix

    @property
    def label_fields(self):
        return {self.feed_name: (list(self.label_shape), "int64")}

    def checked_feed(self, labels, what):
        """{feed name: labels} once every label is -1 or a class; else TaskError naming the first bad ``what``."""
        bad = labels[(labels < -1) | (labels >= self.num_classes)]
        if bad.size:
            raise TaskError("%s: %s %d outside {-1} u [0, %d)" % (self.name, what, bad[0], self.num_classes))
        return {self.feed_name: labels}


class TokenTask(ClassificationTask):
    """A token-level classification task over the sequence output (labels in the line)."""

    level = "token"
    label_suffix = "_labels"
    label_shape = (-1, -1)

    def serves(self, sample):
        return self.name in _labels_of(sample)

    def make_feed(self, samples, batch):
        B, L = batch["src_ids"].shape
        out = np.full((B, L), -1, dtype=np.int64)
        for i, s in enumerate(samples):
            labels = _labels_of(s).get(self.name)
            if labels is not None:
                if len(labels) != len(s.token_ids):
                    raise TaskError("%s: %d labels for a sample of %d tokens" % (self.name, len(labels), len(s.token_ids)))
                out[i, :len(labels)] = labels
        return self.checked_feed(out, "token label")

    def build_head(self, model, feeds):
        """Logits [B, L, C] (kept as ``self.logits``) from ``<name>_fc`` on the sequence output."""
        seq = model.get_sequence_output()                                 # [B, L, H]
        logits = model.fc(seq, self.num_classes, self.name + "_fc")       # [B, L, C]
        flat = paddle.reshape(logits, [-1, self.num_classes])
        loss, acc, count = masked_classification(flat, paddle.reshape(feeds[self.feed_name], [-1, 1]))
        self.logits = logits
        return loss, {self.name + "_acc": acc, self.name + "_count": count}


class SentenceTask(ClassificationTask):
    """A sentence-level classification task over the pooled [CLS] output (label in the line)."""

    level = "sentence"

    def serves(self, sample):
        extra = sample.extra or {}
        return extra.get("task") == self.name and extra.get("label") is not None

    def sample_label(self, sample):
        return sample.extra["label"] if self.serves(sample) else -1

    def make_feed(self, samples, batch):
        out = np.array([self.sample_label(s) for s in samples], dtype=np.int64).reshape(-1, 1)
        return self.checked_feed(out, "label")

    def build_head(self, model, feeds):
        """Logits [B, C] (kept as ``self.logits``) from ``<name>_fc`` on the pooled output."""
        logits = model.fc(model.get_pooled_output(), self.num_classes, self.name + "_fc")   # [B, C]
        loss, acc, count = masked_classification(logits, feeds[self.feed_name])
        self.logits = logits
        return loss, {self.name + "_acc": acc, self.name + "_count": count}


# --------------------------------------------------------------------------- a set of active tasks

class TaskSet:
    """The active tasks of one training stream, with their task ids.

    tasks: list of task names, ``PretrainTask`` instances or dicts
    ``{"name": ..., "id": ..., <options>}``.  task_ids: optional {name: id}
    overriding; otherwise a dict's ``id``, else the task's ``default_id``,
    else the next id above every id in use and every registered default.  Ids must be distinct and >= 0.

    require_labels: every line read must carry labels for every active task
    (a line that does not is a bad line, ``missing_labels``); this allows at
    most one sentence-level task, as a line carries one sentence label.  With
    ``False`` (one program for the heads of many tasks, fed batches of any of
    them) rows without a task's labels are -1 there and cost nothing.

    Per-row task id fed as ``task_ids`` (int64 [B, L], the whole row, padding
    included, as the original fine-tuning readers): the configured id of the
    line's primary task; a five-field line's primary task is the active task
    whose label such lines carry (``v1_label``), else the active task every line
    serves (``in_line`` False: the masked LM), else the first active task.  A line whose written ``task_id``
    differs from the configuration is fed the configured id (counted in
    ``id_mismatches`` and logged once per task).
    """

    def __init__(self, tasks, task_ids=None, require_labels=True):
        if isinstance(tasks, (str, PretrainTask, dict)):
            tasks = [tasks]
        if not tasks:
            raise TaskError("a TaskSet needs at least one task; known tasks: %s" % ", ".join(list_tasks()))
        task_ids = dict(task_ids or {})
        self.tasks, explicit = [], {}
        for spec in tasks:
            if isinstance(spec, PretrainTask):
                task = spec
            elif isinstance(spec, str):
                task = get_task(spec)
            elif isinstance(spec, dict):
                spec = dict(spec)
                if "name" not in spec:
                    raise TaskError("task configuration %r has no 'name'" % (spec,))
                name = spec.pop("name")
                if "id" in spec:
                    explicit[name] = spec.pop("id")
                task = get_task(name, **spec)
            else:
                raise TaskError("cannot make a task of %r" % (spec,))
            if any(t.name == task.name for t in self.tasks):
                raise TaskError("task %s listed twice" % task.name)
            self.tasks.append(task)
        names = [t.name for t in self.tasks]
        unknown = sorted(set(task_ids) - set(names))
        if unknown:
            raise TaskError("task_ids given for inactive task(s) %s (active: %s)" % (", ".join(unknown), ", ".join(names)))
        explicit.update(task_ids)
        self.ids = {}
        for t in self.tasks:
            tid = explicit.get(t.name, t.default_id)
            if tid is not None:
                if isinstance(tid, bool) or not isinstance(tid, (int, np.integer)) or tid < 0:
                    raise TaskError("task id of %s must be an integer >= 0, got %r" % (t.name, tid))
                self.ids[t.name] = int(tid)
        # a task without an id gets one after every id in use and every registered default, so that it
        # keeps the same id when other tasks join in a later stage
        taken = list(self.ids.values()) + [c.default_id for c in _REGISTRY.values() if c.default_id is not None]
        for t in self.tasks:
            if t.name not in self.ids:
                self.ids[t.name] = max(taken + [-1]) + 1
                taken.append(self.ids[t.name])
        seen = {}
        for name, tid in self.ids.items():
            if tid in seen:
                raise TaskError("tasks %s and %s have the same task id %d" % (seen[tid], name, tid))
            seen[tid] = name
        self.require_labels = bool(require_labels)
        sentence = [t.name for t in self.tasks if t.level == "sentence"]
        if self.require_labels and len(sentence) > 1:
            raise TaskError("a line carries one sentence-level label, so at most one sentence-level task can be "
                            "required at a time (got %s); use require_labels=False for a program with several"
                            % ", ".join(sentence))
        self.id_mismatches = collections.Counter()

    # introspection ---------------------------------------------------------------
    @property
    def names(self):
        return [t.name for t in self.tasks]

    def __getitem__(self, name):
        for t in self.tasks:
            if t.name == name:
                return t
        raise TaskError("task %r is not active (active: %s)" % (name, ", ".join(self.names)))

    def __iter__(self):
        return iter(self.tasks)

    @property
    def uses_masking(self):
        return any(t.uses_masking for t in self.tasks)

    def describe(self):
        """JSON-able list of {name, id, level, num_classes, options}."""
        return [{"name": t.name, "id": self.ids[t.name], "level": t.level, "num_classes": t.num_classes,
                 "options": dict(t.config)} for t in self.tasks]

    def check_model_config(self, config):
        """Raise TaskError when the model config cannot embed these task ids."""
        if config.use_task_id and max(self.ids.values()) >= config.task_type_vocab_size:
            raise TaskError("task ids %s need task_type_vocab_size > %d, the model config %s has %d"
                            % (self.ids, max(self.ids.values()), config.source, config.task_type_vocab_size))

    # data ------------------------------------------------------------------------
    def line_parser(self, max_seq_len=512, voc_size=0):
        """A ``TaskLineParser`` knowing every registered task (active ones as configured)."""
        specs = task_specs([get_task(n) for n in list_tasks() if n not in self.names])
        specs.update(task_specs(self.tasks))
        required = self.names if self.require_labels else ()
        return TaskLineParser(max_seq_len, voc_size, specs, required)

    def reader(self, filelist, vocab_path, **kwargs):
        """A ``reader.pretraining_tasks.TaskPretrainingReader`` whose batches carry every feed of this set."""
        return TaskPretrainingReader(filelist, vocab_path, parser_factory=self.line_parser,
                                     batch_hook=self.add_feeds, **kwargs)

    def _primary(self, sample):
        extra = sample.extra or {}
        if extra.get("version"):
            return extra["task"]
        for wanted in (lambda t: t.v1_label, lambda t: not t.in_line):
            for t in self.tasks:
                if wanted(t):
                    return t.name
        return self.names[0]

    def row_task_id(self, sample):
        primary = self._primary(sample)
        extra = sample.extra or {}
        if primary in self.ids:
            tid = self.ids[primary]
            written = extra.get("task_id")
            if written is not None and written != tid:
                key = (primary, written, tid)
                if not self.id_mismatches[key]:
                    logger.warning("lines of task %s were written with task_id %d; feeding the configured id %d",
                                   primary, written, tid)
                self.id_mismatches[key] += 1
            return tid
        return int(extra.get("task_id", 0))

    def make_feed(self, samples, batch):
        """{feed name: numpy array}: ``task_ids`` and every active task's label feeds for one batch."""
        L = batch["src_ids"].shape[1]
        feeds = {"task_ids": np.repeat(np.array([self.row_task_id(s) for s in samples], np.int64)[:, None], L, 1)}
        for t in self.tasks:
            if self.require_labels:
                missing = [i for i, s in enumerate(samples) if not t.serves(s)]
                if missing:
                    raise TaskError("batch row %d carries no label for the active task %s" % (missing[0], t.name))
            feeds.update(t.make_feed(samples, batch))
        return feeds

    def add_feeds(self, samples, batch):
        """The reader's batch hook: add ``make_feed`` to ``batch`` (a dict); when no active task uses
        masking, the masked ``src_ids`` are restored to the original ids."""
        batch.update(self.make_feed(samples, batch))
        if not self.uses_masking and len(batch["mask_pos"]):
            src = batch["src_ids"].copy()
            src.reshape(-1)[batch["mask_pos"].reshape(-1)] = batch["mask_label"].reshape(-1)
            batch["src_ids"] = src
        return batch

    # graph ---------------------------------------------------------------------------
    def feed_specs(self):
        """{feed name: (shape, dtype)} of the task feeds (encoder inputs excluded)."""
        specs = {}
        for t in self.tasks:
            for name, spec in t.label_fields.items():
                if name in specs and specs[name] != spec:
                    raise TaskError("feed %s declared twice with different specs" % name)
                specs[name] = spec
        return specs

    def feed_names(self, config):
        """Names of every feed of the program ``create_inputs(config)`` declares."""
        return encoder_input_names(config) + [n for n in self.feed_specs() if n not in encoder_input_names(config)]

    def create_inputs(self, config):
        """Declare the encoder inputs and the task feeds in the current program: {name: Value}."""
        return create_inputs(self.feed_names(config), self.feed_specs())

    def feed(self, batch, config):
        """The feed dict of a batch for a program built with ``create_inputs(config)``."""
        return {n: batch[n] for n in self.feed_names(config)}

    def build_heads(self, model, inputs):
        """Every active task's head on ``model``; returns (total loss = sum of the task losses, metrics).

        metrics: {``<task>_loss``, ``<task>_acc``, ``<task>_count``, ...: scalar Value}.
        """
        total, metrics = None, collections.OrderedDict()
        for t in self.tasks:
            feeds = {n: inputs[n] for n in t.label_fields}
            loss, task_metrics = t.build_head(model, feeds)
            metrics[t.name + "_loss"] = loss
            metrics.update(task_metrics)
            total = loss if total is None else total + loss
        return total, metrics

    def build(self, config, is_training=True, weight_sharing=True):
        """Inputs, ErnieModel and heads in the current program: (inputs, model, total_loss, metrics)."""
        self.check_model_config(config)
        inputs = self.create_inputs(config)
        model = ErnieModel(inputs, config, is_training=is_training, weight_sharing=weight_sharing)
        total, metrics = self.build_heads(model, inputs)
        return inputs, model, total, metrics


# --------------------------------------------------------------------------- small helpers for task modules

def factorial_sum(m):
    """Σ_{n=1..m} n! (number of sentence-reordering classes)."""
    return sum(math.factorial(n) for n in range(1, m + 1))


_WS_RE = re.compile(r"\s+")
