"""Pre-training data reader: gzip id files -> masked, padded batches.

Data format (one sample per line, gzip files):

    token_ids;sentence_type_ids;position_ids;seg_labels;next_sentence_label

fields 1-4 are ids separated by single spaces, all of one length, with [CLS]
first and [SEP] after each segment; ``seg_labels`` is 0 for the first
sub-token of a word/phrase/entity, 1 for a continuation, -1 at [CLS]/[SEP];
the label is 1 if segment B follows A, else 0.  :class:`LineParser` parses a
line into a :class:`Sample` with named fields; a later format version adds
fields by subclassing it (``extra_fields`` / ``parse_extra``).

File list: one ``path<TAB>mask_word_prob`` per line (blank lines ignored).
Relative paths are resolved against the CWD as the original, then against the
file list's directory, then its parent (the original's lists live in ``data/``
and name ``./data/x.gz`` from the repository root).  Each time a file is read, ``u ~ U[0, 1) < prob`` picks
word (knowledge) masking for the whole file, else char masking.

Randomness is derived only from ``random_seed``:

* file order of epoch e: (seed, e) -- identical on every trainer;
* sample shuffle, mask mode, negative pairing of epoch e: (seed, e, rank);
* masking of batch i of epoch e: (seed, e, rank, i) -- so resuming needs no
  masking of the skipped batches.

rank is the trainer id when the reader shards, else 0.

Differences from the original reader (on purpose):

* ``PADDLE_TRAINERS_NUM`` is read even without ``PADDLE_NODES_NUM``; with fewer
  files than trainers the files are shared line by line (trainer k keeps the
  lines i with i % trainer_num == k, counted over the epoch) instead of failing;
* with at least as many files as trainers, each epoch uses the first
  ``(N // T) * T`` files of that epoch's order, trainer k every T-th from k
  (as the original; the left-out files change from epoch to epoch);
* batches do not span epochs (each epoch ends with its partial batch);
* bad lines are skipped, counted and reported instead of killing the reader;
  over-long lines (``> max_seq_len``) are counted too, but as a filter they do
  not count towards ``max_bad_line_ratio``;
* random replacement ids are real vocabulary ids without special tokens, and
  an empty mask never reaches the model (see ``reader.batching``);
* negative-sample generation builds position lists (the Python 3 crash) and
  does not divide by zero on an empty file.
"""
import collections
import dataclasses
import gzip
import json
import logging
import os
import zlib
from dataclasses import dataclass
from typing import Optional

import numpy as np

from reader.files import check_input_file
from reader.batching import batch_samples, prepare_batch
from reader.vocab import SPECIAL_TOKENS, load_vocab, special_ids

logger = logging.getLogger(__name__)

STATE_VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"

# RNG stream tags (first key after the seed).
_FILE_ORDER, _DATA, _MASK = 0, 1, 2

# Bad-line reasons.
FIELD_COUNT = "field_count"
NOT_INTEGER = "not_integer"
LENGTH_MISMATCH = "length_mismatch"
ID_OUT_OF_VOCAB = "id_out_of_vocab"
NEGATIVE_ID = "negative_id"
BAD_LABEL = "bad_label"
TOO_LONG = "too_long"
NOT_UTF8 = "not_utf8"
ID_OUT_OF_TABLE = "id_out_of_table"      # a position / sentence id beyond its embedding table
BAD_SEG_LABEL = "bad_seg_label"
# skips that are filters, not corruption: reported, but not in the bad-line ratio
FILTER_REASONS = frozenset([TOO_LONG])


class DataFileError(ValueError):
    """A file list or data file is missing, unreadable or not in the expected format."""


class BadDataError(DataFileError):
    """Too many malformed lines (more than ``max_bad_line_ratio``)."""


class BadLine(ValueError):
    """One malformed line; ``reason`` is one of the reason constants above."""

    def __init__(self, reason, detail):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Sample:
    """One pre-training sample (all id lists have one length).

    token_ids, sent_ids, pos_ids, seg_labels: list of int;  label: int (next sentence);
    extra: dict of further named fields (later format versions, e.g. task labels);
    mask_word: bool, set by the reader (masking mode of the sample's file).
    """

    __slots__ = ("token_ids", "sent_ids", "pos_ids", "seg_labels", "label", "extra", "mask_word")

    def __init__(self, token_ids, sent_ids, pos_ids, seg_labels, label, extra=None, mask_word=False):
        self.token_ids = token_ids
        self.sent_ids = sent_ids
        self.pos_ids = pos_ids
        self.seg_labels = seg_labels
        self.label = label
        self.extra = extra if extra is not None else {}
        self.mask_word = mask_word

    def __len__(self):
        return len(self.token_ids)

    def __repr__(self):
        return "Sample(len=%d, label=%d, extra=%r)" % (len(self.token_ids), self.label, self.extra)


def _ints(text, name):
    try:
        return list(map(int, text.split(" ")))
    except ValueError:
        raise BadLine(NOT_INTEGER, "%s %r is not a list of integers separated by single spaces"
                      % (name, text[:60])) from None


class LineParser:
    """Parses the ``;``-separated id format; raises :class:`BadLine` on malformed input.

    ``voc_size`` > 0 bounds token ids to ``[0, voc_size)``.  Lines longer than
    ``max_seq_len`` raise ``BadLine(TOO_LONG)`` (the reader counts them as a filter).
    A later format version subclasses this: set ``extra_fields`` to the names of
    the fields after the fifth and override :meth:`parse_extra`.
    """

    base_fields = ("token_ids", "sentence_type_ids", "position_ids", "seg_labels", "next_sentence_label")
    extra_fields = ()
    # Rows of the position / sentence embedding tables (0: unbounded); the reader sets them from the model
    # config, so a line with an id beyond a table is a counted skip, not an error inside the model.
    max_position = 0
    sent_vocab_size = 0

    def __init__(self, max_seq_len=512, voc_size=0):
        self.max_seq_len = max_seq_len
        self.voc_size = voc_size

    @property
    def num_fields(self):
        return len(self.base_fields) + len(self.extra_fields)

    def parse(self, line):
        """``line``: str (one stripped or unstripped line) -> :class:`Sample`."""
        fields = line.strip().split(";")
        if len(fields) != self.num_fields:
            raise BadLine(FIELD_COUNT, "expected %d ';'-separated fields, got %d"
                          % (self.num_fields, len(fields)))
        tokens = _ints(fields[0], "token_ids")
        sent = _ints(fields[1], "sentence_type_ids")
        pos = _ints(fields[2], "position_ids")
        seg = _ints(fields[3], "seg_labels")
        try:
            label = int(fields[4])
        except ValueError:
            raise BadLine(NOT_INTEGER, "next_sentence_label %r is not an integer" % fields[4][:20]) from None
        n = len(tokens)
        if not len(sent) == len(pos) == len(seg) == n:
            raise BadLine(LENGTH_MISMATCH, "field lengths differ: token_ids %d, sentence_type_ids %d, "
                          "position_ids %d, seg_labels %d" % (n, len(sent), len(pos), len(seg)))
        if label not in (0, 1):
            raise BadLine(BAD_LABEL, "next_sentence_label must be 0 or 1, got %d" % label)
        lo, hi = min(tokens), max(tokens)
        if lo < 0 or (self.voc_size and hi >= self.voc_size):
            bad = lo if lo < 0 else hi
            raise BadLine(ID_OUT_OF_VOCAB, "token id %d outside the vocabulary [0, %s)"
                          % (bad, self.voc_size or "inf"))
        if min(sent) < 0 or min(pos) < 0:
            raise BadLine(NEGATIVE_ID, "negative sentence_type or position id")
        if self.max_position and max(pos) >= self.max_position:
            raise BadLine(ID_OUT_OF_TABLE, "position id %d >= max_position_embeddings %d"
                          % (max(pos), self.max_position))
        if self.sent_vocab_size and max(sent) >= self.sent_vocab_size:
            raise BadLine(ID_OUT_OF_TABLE, "sentence_type id %d >= the %d rows of the sentence embedding"
                          % (max(sent), self.sent_vocab_size))
        bad_seg = [s for s in seg if s not in (-1, 0, 1)]
        if bad_seg:
            raise BadLine(BAD_SEG_LABEL, "seg_label %d is not -1, 0 or 1" % bad_seg[0])
        if n > self.max_seq_len:
            raise BadLine(TOO_LONG, "%d tokens > max_seq_len %d" % (n, self.max_seq_len))
        sample = Sample(tokens, sent, pos, seg, label)
        if self.extra_fields:
            self.parse_extra(fields[len(self.base_fields):], sample)
        return sample

    def parse_extra(self, fields, sample):
        """Hook for later format versions: parse ``fields`` into ``sample.extra``."""
        raise NotImplementedError


def parse_line(line, max_seq_len=512, voc_size=0):
    """Parse one 5-field line into a :class:`Sample` (raises :class:`BadLine`)."""
    return LineParser(max_seq_len, voc_size).parse(line)


def read_filelist(path):
    """``[(resolved_path, listed_path, mask_word_prob)]`` of a file list; checks every file.

    A relative path is tried against the CWD, the list's directory and its parent.

    Errors (``DataFileError``, naming the list and line): missing list, a line
    without a tab, a probability that is not a number, an empty list, a data file
    that does not exist or is not gzip.
    """
    check_input_file(path, "file list", DataFileError)
    base = os.path.dirname(os.path.abspath(path))
    entries = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            where = "%s:%d" % (path, lineno)
            if "\t" not in line:
                raise DataFileError("%s: expected 'path<TAB>mask_word_prob', found no tab in %r" % (where, line))
            listed, prob = line.split("\t", 1)
            listed = listed.strip()
            try:
                prob = float(prob)
            except ValueError:
                raise DataFileError("%s: mask_word_prob %r is not a number" % (where, prob)) from None
            if not 0.0 <= prob < float("inf"):      # NaN fails too; >= 1 (the original's 1.1) always masks words
                raise DataFileError("%s: mask_word_prob %r must be a finite number >= 0 (the probability of "
                                    "word masking; 1 or more: always)" % (where, prob))
            tried = [listed]
            if not os.path.isabs(listed):
                # the original's lists sit in data/ and name paths from the repo root ("./data/x.gz")
                tried += [os.path.join(base, listed), os.path.join(os.path.dirname(base), listed)]
            resolved = next((os.path.normpath(c) for c in tried if os.path.exists(c)), None)
            if resolved is None:
                raise DataFileError("%s: data file %s does not exist (tried relative to the CWD %s, to the list's "
                                    "directory and to its parent)" % (where, listed, os.getcwd()))
            check_input_file(resolved, "%s: data file" % where, DataFileError)
            with open(resolved, "rb") as df:
                if df.read(2) != GZIP_MAGIC:
                    raise DataFileError("%s: data file %s is not a gzip file" % (where, resolved))
            entries.append((resolved, listed, prob))
    if not entries:
        raise DataFileError("file list %s lists no data file" % path)
    return entries


def split_sent(sample, max_len, sep_id):
    """(tokens, seg_labels) of one segment, without [CLS]/[SEP]: the first segment if
    it has at most ``max_len`` tokens, else the second.  No [SEP]: all after [CLS]."""
    tokens = sample.token_ids
    try:
        sep = tokens.index(sep_id)
    except ValueError:
        sep = len(tokens)
    if sep - 1 <= max_len:
        return tokens[1:sep], sample.seg_labels[1:sep]
    return tokens[sep + 1:-1], sample.seg_labels[sep + 1:-1]


def generate_neg_samples(positives, rng, max_seq_len, cls_id, sep_id):
    """Pair shuffled positives i and i+1 (mod n) into negatives (label 0), as the original.

    ``positives``: list of label-1 samples (shuffled in place by ``rng``).
    Returns (positives + negatives shuffled together, number of negatives dropped
    for being longer than ``max_seq_len``).  A single positive is returned as is.
    """
    n = len(positives)
    if n <= 1:
        return list(positives), 0
    rng.shuffle(positives)
    out, misses = list(positives), 0
    for i in range(n):
        left, left_seg = split_sent(positives[i], (max_seq_len - 3) // 2, sep_id)
        right, right_seg = split_sent(positives[(i + 1) % n], max_seq_len - 3 - len(left), sep_id)
        tokens = [cls_id] + left + [sep_id] + right + [sep_id]
        if len(tokens) > max_seq_len:
            misses += 1
            continue
        sent = [0] * (len(left) + 2) + [1] * (len(right) + 1)
        seg = [-1] + left_seg + [-1] + right_seg + [-1]
        # list(range()): the original's bare range() crashed in padding on Python 3
        out.append(Sample(tokens, sent, list(range(len(tokens))), seg, 0, mask_word=positives[i].mask_word))
    rng.shuffle(out)
    return out, misses


def _rng(*keys):
    return np.random.RandomState(np.random.MT19937(np.random.SeedSequence([int(k) for k in keys])))


Progress = collections.namedtuple("Progress", "epoch file_index total_files current_file mask_type")
Progress.__doc__ = ("Reader position: epoch (1-based), file_index (1-based position of the current file in "
                    "the epoch's order), total_files (files used per epoch), current_file, mask_type "
                    "('mask_word' or 'mask_char').")


class _PassStats:
    def __init__(self, epoch):
        self.epoch = epoch
        self.lines = 0
        self.by_reason = collections.Counter()
        self.warned = collections.Counter()   # per file
        self.dropped_batches = 0               # batches without any maskable token

    @property
    def bad(self):
        return sum(v for k, v in self.by_reason.items() if k not in FILTER_REASONS)

    def report(self):
        return {"epoch": self.epoch + 1, "lines_read": self.lines, "bad_lines": self.bad,
                "skipped_lines": sum(self.by_reason.values()), "by_reason": dict(self.by_reason),
                "dropped_batches": self.dropped_batches}


@dataclass
class PretrainingReaderConfig:
    """The settings of a :class:`PretrainingReader`.

    batch_size: token budget of the padded batch (in_tokens) or samples per batch.
    max_seq_len: longest sample (longer lines are counted and skipped).
    shuffle_files: shuffle the file order of each epoch (never with is_test).
    random_seed: the only source of randomness (None: drawn and logged).
    epoch: passes over the data (1 with is_test).
    voc_size: embedding rows (``vocab_size`` of the model config); 0 = largest vocabulary id + 1.  Token
        ids must be in ``[0, voc_size)``.
    is_test: one epoch, files as listed, no shuffling, no negative generation; the masks are still seeded,
        so validation loss is reproducible.
    generate_neg_sample: add next-sentence negatives made from the positives.
    trainer_id / trainer_num: default from PADDLE_TRAINER_ID / PADDLE_TRAINERS_NUM.
    max_bad_line_ratio: raise :class:`BadDataError` once more than this fraction of the lines read in a
        pass (checked from ``min_lines_for_ratio`` lines on) is bad.
    shard: split the data across trainers (default: ``not is_test``; with ``False`` every trainer reads
        everything with the same masks).
    shuffle_buffer: training samples are shuffled through a buffer of this size per file (as the
        original's later repro branch did; its v2.0 release read every file in order).
    max_warnings_per_file: bad lines of one file reported one by one before only counting.
    shuffle_samples: False reads the samples of each file in file order, as the v2.0 release did (file
        order is still shuffled per epoch; ``generate_neg_sample`` still pairs within shuffled buffers, as
        both originals did).
    max_position, sent_vocab_size: the model's embedding-table sizes the parsed ids must fit (0: unchecked).
    """

    batch_size: int = 8192
    in_tokens: bool = True
    max_seq_len: int = 512
    shuffle_files: bool = True
    random_seed: Optional[int] = 1
    epoch: int = 100
    voc_size: int = 0
    is_test: bool = False
    generate_neg_sample: bool = False
    trainer_id: Optional[int] = None
    trainer_num: Optional[int] = None
    max_bad_line_ratio: float = 0.01
    shard: Optional[bool] = None
    shuffle_buffer: int = 1000
    min_lines_for_ratio: int = 100
    max_warnings_per_file: int = 5
    shuffle_samples: bool = True
    max_position: int = 0
    sent_vocab_size: int = 0


class PretrainingReader:
    """Batches of the pre-training data; see the module docstring for the rules.

    filelist: path of a file list; vocab_path: vocabulary (``reader.vocab``) or
    None (then voc_size is required, special ids default to PAD 0, CLS 1, SEP 2,
    MASK 3 and replacement ids come from ``[1, voc_size)`` as the original).
    config: a :class:`PretrainingReaderConfig`; keyword arguments named as its
    fields override single settings (``PretrainingReader(f, v, batch_size=256)``).
    line_parser: the :class:`LineParser` of the lines (default: the five-field format).

    Use :meth:`batches` (a generator of :class:`reader.batching.PretrainingBatch`); each batch
    carries ``.state`` (the reader state right after it: save that one when
    batches are prefetched), ``.progress``, ``.epoch``, ``.index``, ``.num_tokens``.
    """

    def __init__(self, filelist, vocab_path, config=None, line_parser=None, **settings):
        config = dataclasses.replace(config or PretrainingReaderConfig(), **settings)
        self.config = config
        (batch_size, in_tokens, max_seq_len, random_seed, voc_size, trainer_id, trainer_num) = (
            config.batch_size, config.in_tokens, config.max_seq_len, config.random_seed, config.voc_size,
            config.trainer_id, config.trainer_num)
        if trainer_id is None:
            trainer_id = int(os.environ.get("PADDLE_TRAINER_ID", "0"))
        if trainer_num is None:
            trainer_num = int(os.environ.get("PADDLE_TRAINERS_NUM", "1"))
        if trainer_num < 1 or not 0 <= trainer_id < trainer_num:
            raise ValueError("trainer_id %d / trainer_num %d: need 0 <= trainer_id < trainer_num"
                             % (trainer_id, trainer_num))
        if random_seed is None:
            random_seed = int(np.random.SeedSequence().entropy % (2 ** 31))
            logger.info("pretraining reader: no random_seed given, using %d", random_seed)
        if int(random_seed) < 0:
            raise ValueError("random_seed must be >= 0, got %r" % random_seed)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1, got %r" % batch_size)
        if in_tokens and batch_size < max_seq_len:
            raise ValueError("in_tokens: batch_size %d is a token budget and must be >= max_seq_len %d, "
                             "or a full-length sample would not fit" % (batch_size, max_seq_len))

        self.filelist = filelist
        self.files = read_filelist(filelist)
        self.batch_size = int(batch_size)
        self.in_tokens = bool(in_tokens)
        self.max_seq_len = int(max_seq_len)
        self.is_test = bool(config.is_test)
        self.shuffle_files = bool(config.shuffle_files) and not self.is_test
        self.random_seed = int(random_seed)
        self.epochs = 1 if self.is_test else int(config.epoch)
        self.generate_neg_sample = bool(config.generate_neg_sample) and not self.is_test
        self.trainer_id, self.trainer_num = int(trainer_id), int(trainer_num)
        self.shard = (not self.is_test if config.shard is None else bool(config.shard)) and self.trainer_num > 1
        self.rank = self.trainer_id if self.shard else 0
        self.max_bad_line_ratio = float(config.max_bad_line_ratio)
        self.shuffle_buffer = int(config.shuffle_buffer)
        self.shuffle_samples = bool(config.shuffle_samples)
        self.min_lines_for_ratio = int(config.min_lines_for_ratio)
        self.max_warnings_per_file = int(config.max_warnings_per_file)

        if vocab_path is not None:
            vocab = load_vocab(vocab_path)
            sp = special_ids(vocab, vocab_path)
            self.voc_size = int(voc_size) or max(vocab.values()) + 1
            special = set(vocab[t] for t in SPECIAL_TOKENS if t in vocab)
            self.replace_pool = np.array(sorted(i for i in set(vocab.values())
                                                if i not in special and 0 <= i < self.voc_size), np.int64)
            if not self.replace_pool.size:
                raise ValueError("vocabulary %s has no ordinary token below voc_size %d" % (vocab_path, self.voc_size))
        else:
            if not voc_size:
                raise ValueError("without vocab_path, voc_size must be given")
            sp = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[MASK]": 3}
            self.voc_size = int(voc_size)
            self.replace_pool = None
        self.pad_id, self.cls_id, self.sep_id, self.mask_id = (sp["[PAD]"], sp["[CLS]"], sp["[SEP]"], sp["[MASK]"])
        for name in ("[PAD]", "[CLS]", "[SEP]", "[MASK]"):
            if not 0 <= sp[name] < self.voc_size:
                raise ValueError("special token %s has id %d outside voc_size %d" % (name, sp[name], self.voc_size))
        self.max_position, self.sent_vocab_size = int(config.max_position), int(config.sent_vocab_size)
        self.parser = self._bounded(line_parser or LineParser(self.max_seq_len, self.voc_size))

        n, t = len(self.files), self.trainer_num
        self.share_lines = self.shard and n < t
        if self.shard and n >= t and n % t:
            logger.info("pretraining reader: %d files, %d trainers: %d file(s) left out of each epoch "
                        "(different ones each epoch)", n, t, n % t)
        if self.share_lines:
            logger.info("pretraining reader: %d file(s) for %d trainers: sharing them line by line", n, t)

        self._epoch = 0          # next / current epoch (0-based)
        self._batch_index = 0    # batches of the current epoch already produced (incl. dropped ones)
        self._progress = None
        self._stats = None
        self._last_report = None

    # ----------------------------------------------------------------- config / state
    def _bounded(self, parser):
        """``parser`` told the embedding-table sizes (``max_position`` / ``sent_vocab_size``)."""
        parser.max_position, parser.sent_vocab_size = self.max_position, self.sent_vocab_size
        return parser

    def _config(self):
        config = {"files": [[listed, prob] for _, listed, prob in self.files], "random_seed": self.random_seed,
                "batch_size": self.batch_size, "in_tokens": self.in_tokens, "max_seq_len": self.max_seq_len,
                "shuffle_files": self.shuffle_files, "is_test": self.is_test,
                "generate_neg_sample": self.generate_neg_sample, "trainer_id": self.trainer_id,
                "trainer_num": self.trainer_num, "shard": self.shard, "shuffle_buffer": self.shuffle_buffer,
                "voc_size": self.voc_size}
        if not self.shuffle_samples:   # only when off, so that states saved before the option still load
            config["shuffle_samples"] = False
        return config

    def state_dict(self):
        """JSON-serialisable position: (epoch, batches produced in it) plus the config it is valid for."""
        return {"version": STATE_VERSION, "epoch": self._epoch, "batch_index": self._batch_index,
                "config": self._config()}

    def load_state_dict(self, state):
        """Continue from ``state`` (of a reader with the same configuration; else ValueError)."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError("reader state: unsupported or missing version in %r" % (state,))
        # round-trip through JSON so a state read from disk compares equal (tuples vs lists)
        mine = json.loads(json.dumps(self._config()))
        theirs = state.get("config", {})
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if diff == ["trainer_id"]:
            # allowed (e.g. only rank 0 saved), but exact only if the ranks' epochs have equal batch counts
            logger.warning("reader state of trainer %s loaded by trainer %d: continuing its own stream at "
                           "epoch %d, batch %d", theirs.get("trainer_id"), self.trainer_id,
                           state["epoch"] + 1, state["batch_index"])
            diff = []
        if diff:
            raise ValueError("reader state was saved with a different configuration (%s): %s"
                             % (", ".join(diff), "; ".join("%s: saved %r, now %r" % (k, theirs.get(k), mine.get(k))
                                                          for k in diff)))
        self._epoch, self._batch_index = int(state["epoch"]), int(state["batch_index"])

    def get_progress(self):
        """:class:`Progress` of the producer (the file being read)."""
        return self._progress

    def bad_line_report(self):
        """Counts of the current pass (or the last finished one): dict with epoch (1-based),
        lines_read, bad_lines (counted in the ratio), skipped_lines, by_reason."""
        stats = self._stats if self._stats is not None else self._last_report
        if stats is None:
            return None
        return stats.report() if isinstance(stats, _PassStats) else stats

    # ----------------------------------------------------------------- sample stream
    def _epoch_plan(self, epoch):
        """[(position in the epoch order, file index)] this trainer reads in ``epoch``."""
        order = list(range(len(self.files)))
        if self.shuffle_files:
            _rng(self.random_seed, _FILE_ORDER, epoch).shuffle(order)
        if not self.shard or self.share_lines:
            return list(enumerate(order))
        total = len(order) // self.trainer_num * self.trainer_num
        return [(p, order[p]) for p in range(self.trainer_id, total, self.trainer_num)]

    def total_files(self):
        if not self.shard or self.share_lines:
            return len(self.files)
        return len(self.files) // self.trainer_num * self.trainer_num

    def _bad(self, path, lineno, err):
        st = self._stats
        st.by_reason[err.reason] += 1
        st.warned[path] += 1
        k = st.warned[path]
        if k <= self.max_warnings_per_file:
            logger.warning("%s:%d: skipped line (%s): %s", path, lineno, err.reason, err.detail)
            if k == self.max_warnings_per_file:
                logger.warning("%s: further skipped lines of this file are only counted in this pass", path)
        if err.reason not in FILTER_REASONS:
            self._check_ratio(path, lineno)

    def _check_ratio(self, path, lineno):
        st = self._stats
        if st.lines >= self.min_lines_for_ratio and st.bad > self.max_bad_line_ratio * st.lines:
            raise BadDataError("too many malformed lines: %d of %d read (> max_bad_line_ratio %g), last at %s:%d; "
                               "by reason: %s" % (st.bad, st.lines, self.max_bad_line_ratio, path, lineno,
                                                  dict(st.by_reason)))

    def _read_file(self, path, mask_word, line_counter):
        """Samples of one file (this trainer's lines only when sharing lines)."""
        parse, stats = self.parser.parse, self._stats
        lineno = 0
        try:
            with gzip.open(path, "rb") as f:
                for lineno, raw in enumerate(f, 1):
                    if self.share_lines:
                        mine = line_counter[0] % self.trainer_num == self.trainer_id
                        line_counter[0] += 1
                        if not mine:
                            continue
                    stats.lines += 1
                    try:
                        try:
                            text = raw.decode("utf-8")
                        except UnicodeDecodeError as e:
                            raise BadLine(NOT_UTF8, "not UTF-8: %s" % e) from None
                        sample = parse(text)
                    except BadLine as e:
                        self._bad(path, lineno, e)
                        continue
                    finally:
                        if stats.lines == self.min_lines_for_ratio:
                            self._check_ratio(path, lineno)
                    sample.mask_word = mask_word
                    yield sample
        except (OSError, EOFError, zlib.error) as e:
            raise DataFileError("%s: unreadable or corrupt gzip data after line %d: %s" % (path, lineno, e)) from e

    def _shuffled(self, samples, rng):
        buf = []
        for s in samples:
            buf.append(s)
            if len(buf) >= self.shuffle_buffer:
                rng.shuffle(buf)
                yield from buf
                buf = []
        rng.shuffle(buf)
        yield from buf

    def _with_negatives(self, samples, rng, path):
        buf, misses, made = [], 0, 0

        def flush():
            nonlocal misses, made
            out, miss = generate_neg_samples(buf, rng, self.max_seq_len, self.cls_id, self.sep_id)
            misses += miss
            made += len(out) - len(buf)
            return out

        for s in samples:
            if s.label != 1:
                raise DataFileError("%s: generate_neg_sample needs next_sentence_label 1 on every line, found %d "
                                    "(the data already holds negatives: set generate_neg_sample=False)"
                                    % (path, s.label))
            buf.append(s)
            if len(buf) >= self.shuffle_buffer:
                yield from flush()
                buf = []
        if buf:
            yield from flush()
        logger.debug("%s: %d negative samples made, %d dropped as too long", path, made, misses)

    def samples(self, epoch):
        """Sample stream of ``epoch`` for this trainer (updates progress and the pass counts)."""
        rng = _rng(self.random_seed, _DATA, epoch, self.rank)
        self._stats = _PassStats(epoch)
        plan = self._epoch_plan(epoch)
        line_counter = [0]
        for pos, idx in plan:
            path = self.files[idx][0]
            mask_word = rng.random_sample() < self.files[idx][2]
            self._progress = Progress(epoch + 1, pos + 1, self.total_files(), path,
                                      "mask_word" if mask_word else "mask_char")
            stream = self._read_file(path, mask_word, line_counter)
            if self.is_test:
                yield from stream
            elif self.generate_neg_sample:
                yield from self._with_negatives(stream, rng, path)
            elif not self.shuffle_samples:
                yield from stream
            else:
                yield from self._shuffled(stream, rng)

    # ----------------------------------------------------------------- batches
    def make_batch(self, samples, epoch, index):
        rng = _rng(self.random_seed, _MASK, epoch, self.rank, index)
        return prepare_batch(samples, rng, self.cls_id, self.sep_id, self.mask_id, pad_id=self.pad_id,
                             vocab_size=self.voc_size, replace_pool=self.replace_pool)

    def _end_pass(self):
        st = self._stats
        self._last_report = st.report()
        self._stats = None
        skipped = sum(st.by_reason.values())
        log = logger.warning if skipped else logger.info
        log("pretraining reader pass %d (trainer %d): %d lines read, %d skipped (%d malformed)%s",
            st.epoch + 1, self.trainer_id, st.lines, skipped, st.bad,
            (": " + ", ".join("%s %d" % kv for kv in sorted(st.by_reason.items()))) if skipped else "")

    def batches(self):
        """Generator of :class:`reader.batching.PretrainingBatch` from the current position to the last epoch."""
        while self._epoch < self.epochs:
            epoch, skip = self._epoch, self._batch_index
            for index, samples in enumerate(batch_samples(self.samples(epoch), self.batch_size, self.in_tokens)):
                if index < skip:
                    continue   # resuming: already produced before the state was saved
                batch = self.make_batch(samples, epoch, index)
                self._batch_index = index + 1
                if not batch.num_seqs or not len(batch["mask_pos"]):
                    logger.warning("epoch %d batch %d: no token that may be masked (only [CLS]/[SEP]); dropped",
                                   epoch + 1, index)
                    self._stats.dropped_batches += 1
                    continue
                batch.epoch, batch.index, batch.progress = epoch, index, self._progress
                batch.state = self.state_dict()
                yield batch
            self._end_pass()
            self._epoch, self._batch_index = epoch + 1, 0

    def __iter__(self):
        return self.batches()
