"""Fine-tuning readers: TSV files with a header line -> padded numpy batches.

Input format (as the original toolkit): UTF-8 text, one example per line,
fields separated by TAB, no quoting.  The first line is a header naming the
columns; columns are addressed by name and may come in any order:

    text_a   required, non-empty
    text_b   optional second sentence (an empty value means single sentence)
    label    required by ``ClassifyReader`` unless ``is_inference``; ignored otherwise
    qid      optional integer query id (ranking metrics)

Other columns are allowed and ignored.  A trailing ``\\r`` (CRLF files) is
removed from every line, as the original's universal-newline reading removed
it.  A carriage return inside a field stays in the text, where the tokenizer
treats it as whitespace, i.e. as a space; the original took it for a line end
and failed on the split row.

Every line is checked when the file is read, i.e. before training starts; a
bad line raises ``DataError`` naming the file, the line number and the
reason (wrong number of fields, blank line, empty text_a, unknown or
non-numeric label, bad qid, missing header or text_a column).  The original
either crashed with an unhelpful error or silently ended the data stream.

Batches are dicts of numpy arrays named like the model feeds
(``ernie.modeling.ENCODER_INPUTS``), B examples, L = longest record of the batch:

    src_ids, sent_ids, pos_ids, task_ids   int64 [B, L]   (padding: [PAD] id, 0, 0, task_id)
    input_mask                             float32 [B, L, 1]  (1.0 real token, 0.0 padding)
    labels   ClassifyReader, not inference: int64 [B, 1] (classification) / float32 [B, 1] (regression)
    qids     ClassifyReader, file has a qid column: int64 [B, 1]
    seq_lens ExtractEmbeddingReader, SequenceLabelReader: int64 [B], un-padded lengths incl. [CLS]/[SEP]
    label_ids SequenceLabelReader, not inference: int64 [B, L] tag ids (padding: the O id)

``SequenceLabelReader`` (NER) reads ``text_a`` / ``label`` columns of tokens /
tags joined by ``\\x02``; see its docstring for the word-piece tag rule.

A consumer feeds only the keys its program declares (e.g.
``ernie.modeling.encoder_input_names(config)``).  Shuffling uses a
``numpy.random.RandomState`` owned by the reader (seeded with ``random_seed``),
never the global numpy RNG.

Extending: ``BaseReader`` holds TSV reading, record building, batching and
the epoch/shuffle generator; a reader for another task overrides
``_make_example`` (row -> Example), ``_convert_example_to_record`` and
``_pad_batch_records`` (and, for non-TSV inputs, ``read_examples``).
"""
import collections
import logging
import os

import numpy as np

from reader.files import check_input_file, read_json
from reader.tokenization import FullTokenizer
from reader.vocab import special_ids

logger = logging.getLogger(__name__)

Record = collections.namedtuple("Record", ["token_ids", "text_type_ids", "position_ids", "label_id", "qid"])


class DataError(ValueError):
    """An input data file (or label map) is malformed; the message names file, line and reason."""


def data_error(path, lineno, reason):
    if lineno is None:
        return DataError("%s: %s" % (path, reason))
    return DataError("%s:%d: %s" % (path, lineno, reason))


class Example:
    """One input row.  ``columns`` holds every field by header name; ``lineno`` is 1-based."""

    __slots__ = ("text_a", "text_b", "label", "qid", "source", "lineno", "columns")

    def __init__(self, text_a, text_b=None, label=None, qid=None, source=None, lineno=None, columns=None):
        self.text_a = text_a
        self.text_b = text_b
        self.label = label
        self.qid = qid
        self.source = source
        self.lineno = lineno
        self.columns = columns or {}

    def __repr__(self):
        return "Example(%s:%s, text_a=%r, text_b=%r, label=%r, qid=%r)" % (
            self.source, self.lineno, self.text_a, self.text_b, self.label, self.qid)


def read_tsv(path, required=("text_a",)):
    """Read a headed TSV file.

    Returns ``(header, rows)``: header is the list of column names, rows a
    list of ``(lineno, {name: value})`` (lineno 1-based; the header is line 1).
    Raises ``DataError`` for a missing/unreadable file, a bad header, a
    blank line or a line whose field count differs from the header's.
    """
    if os.path.exists(path):
        check_input_file(path, "data file", DataError)
    try:
        f = open(path, encoding="utf-8", newline="")
    except OSError as e:
        raise DataError("cannot open data file %s: %s" % (path, e.strerror or e)) from None
    rows = []
    with f:
        try:
            lines = f.read().split("\n")
        except UnicodeDecodeError as e:
            raise DataError("%s: not UTF-8 text (%s)" % (path, e)) from None
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start another row
    lines = [l[:-1] if l.endswith("\r") else l for l in lines]
    if not lines:
        raise data_error(path, None, "file is empty; expected a header line naming the columns "
                                     "(e.g. 'text_a<TAB>label')")
    header = lines[0].split("\t")
    missing = [c for c in required if c not in header]
    if missing:
        raise data_error(path, 1, "the first line must be a header naming the columns (%s required), "
                                  "got %r; missing column(s): %s" % (", ".join(required), lines[0][:200],
                                                                     ", ".join(missing)))
    empty = [i + 1 for i, name in enumerate(header) if not name.strip()]
    if empty:
        raise data_error(path, 1, "header has an empty column name at field(s) %s" % empty)
    dup = sorted({name for name in header if header.count(name) > 1})
    if dup:
        raise data_error(path, 1, "header names column(s) %s more than once" % ", ".join(dup))
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip() and "\t" not in line:
            raise data_error(path, i, "blank line (every line after the header must be an example)")
        fields = line.split("\t")
        if len(fields) != len(header):
            raise data_error(path, i, "%d TAB-separated fields but the header has %d (%s)"
                             % (len(fields), len(header), ", ".join(header)))
        rows.append((i, dict(zip(header, fields))))
    return header, rows


def load_label_map(path):
    """JSON object {label string: integer id} -> dict; errors name the file.  Two labels with one id are
    an error (they would be trained as one class)."""
    label_map = read_json(path, "label map", DataError)
    if not isinstance(label_map, dict) or not label_map:
        raise DataError("label map %s must be a non-empty JSON object {label: id}" % path)
    for key, value in label_map.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DataError("label map %s: label %r maps to %r; ids must be non-negative integers"
                            % (path, key, value))
    by_id = {}
    for key, value in label_map.items():
        by_id.setdefault(value, []).append(key)
    shared = ["%s -> %d" % (", ".join(repr(k) for k in keys), i) for i, keys in sorted(by_id.items()) if len(keys) > 1]
    if shared:
        raise DataError("label map %s gives several labels one id (%s): each label needs an id of its own"
                        % (path, "; ".join(shared)))
    return label_map


def pad_batch_data(seqs, pad_value=0, dtype="int64"):
    """List of B sequences -> array [B, L] (L = longest), right-padded with ``pad_value``."""
    max_len = max(len(s) for s in seqs)
    out = np.full((len(seqs), max_len), pad_value, dtype=dtype)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def make_input_mask(lengths, max_len):
    """float32 [B, max_len, 1]: 1.0 at positions < length, else 0.0."""
    lengths = np.asarray(lengths, dtype="int64")
    return (np.arange(max_len)[None, :] < lengths[:, None]).astype("float32")[:, :, None]


class BaseReader:
    """TSV reading, record building, batching and epochs; subclasses define labels and batch layout.

    Args:
        vocab_path: vocabulary file (either layout of ``reader.vocab``).
        label_map_config: JSON file {label: id}, or None.
        max_seq_len: longest record in tokens, [CLS]/[SEP] included (>= 3).
        do_lower_case: lower-case and strip accents before WordPiece.
        in_tokens: ``batch_size`` counts tokens (padded B*L) instead of examples.
        is_inference: records carry no label (the label column is not required).
        random_seed: seed of the reader's own RandomState for shuffling
            (None: fresh OS entropy, as the original's ``np.random.seed(None)``).
        task_id: value written into every position of ``task_ids``.
        tokenizer: only "FullTokenizer" exists (the original silently ignored other values).
    """

    def __init__(self, vocab_path, label_map_config=None, max_seq_len=512, do_lower_case=True,
                 in_tokens=False, is_inference=False, random_seed=None, task_id=0,
                 tokenizer="FullTokenizer"):
        if tokenizer not in (None, "FullTokenizer"):
            raise ValueError("unknown tokenizer %r: only FullTokenizer is supported" % tokenizer)
        if max_seq_len < 3:
            raise ValueError("max_seq_len must be at least 3 ([CLS], [SEP] and one token), got %d" % max_seq_len)
        self.vocab_path = vocab_path
        self.tokenizer = FullTokenizer(vocab_path, do_lower_case=do_lower_case)
        self.vocab = self.tokenizer.vocab
        ids = special_ids(self.vocab, vocab_path, required=("[PAD]", "[CLS]", "[SEP]"))
        self.pad_id, self.cls_id, self.sep_id = ids["[PAD]"], ids["[CLS]"], ids["[SEP]"]
        self.max_seq_len = max_seq_len
        self.in_tokens = in_tokens
        self.is_inference = is_inference
        self.task_id = int(task_id)
        self.random_seed = random_seed
        self.rng = np.random.RandomState(random_seed)
        self.label_map_config = label_map_config
        self.label_map = load_label_map(label_map_config) if label_map_config else None
        # Progress of the training generator (phase "train"), read by the training loop;
        # see data_generator.
        self.current_example = 0
        self.current_epoch = 0
        self.num_examples = {}
        self._cache = {}

    # reading -------------------------------------------------------------
    def required_columns(self):
        return ("text_a",)

    def read_examples(self, input_file):
        """Read and check every line of ``input_file``; returns a list of ``Example``.

        Results are cached per file (path, size, mtime), so counting examples
        and then creating the generator reads the file once.
        """
        try:
            st = os.stat(input_file)
            key = (os.path.abspath(input_file), st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        if key is not None and key in self._cache:
            return self._cache[key]
        header, rows = read_tsv(input_file, self.required_columns())
        examples = [self._make_example(fields, input_file, lineno) for lineno, fields in rows]
        logger.info("Read %d examples from %s", len(examples), input_file)
        if key is not None:
            self._cache = {key: examples}
        return examples

    def get_num_examples(self, input_file):
        return len(self.read_examples(input_file))

    def _make_example(self, fields, path, lineno):
        """Row dict -> Example; raise ``data_error(path, lineno, reason)`` on bad values."""
        text_a = fields["text_a"]
        if not text_a.strip():
            raise data_error(path, lineno, "text_a is empty")
        return Example(text_a, fields.get("text_b"), None, None, path, lineno, fields)

    # records ---------------------------------------------------------------
    def _truncate_pair(self, tokens_a, tokens_b, max_tokens):
        """Drop the last token of the longer list (of b on a tie) until both fit in ``max_tokens``."""
        while len(tokens_a) + len(tokens_b) > max_tokens:
            if len(tokens_a) > len(tokens_b):
                tokens_a.pop()
            else:
                tokens_b.pop()

    def _build_ids(self, example):
        """-> (token_ids, text_type_ids, position_ids) of ``[CLS] a [SEP] (b [SEP])``."""
        tokens_a = self.tokenizer.tokenize(example.text_a)
        tokens_b = self.tokenizer.tokenize(example.text_b) if example.text_b else []
        if tokens_b:
            self._truncate_pair(tokens_a, tokens_b, self.max_seq_len - 3)
        else:
            tokens_a = tokens_a[:self.max_seq_len - 2]
        tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
        types = [0] * len(tokens)
        if tokens_b:
            tokens += tokens_b + ["[SEP]"]
            types += [1] * (len(tokens_b) + 1)
        token_ids = self.tokenizer.convert_tokens_to_ids(tokens)
        return token_ids, types, list(range(len(token_ids)))

    def _convert_example_to_record(self, example):
        token_ids, types, positions = self._build_ids(example)
        return Record(token_ids, types, positions, example.label, example.qid)

    @staticmethod
    def _record_length(record):
        return len(record.token_ids)

    # batches ----------------------------------------------------------------
    def _pad_common(self, records):
        """The encoder feeds of a list of records (see module doc)."""
        lengths = [len(r.token_ids) for r in records]
        src = pad_batch_data([r.token_ids for r in records], self.pad_id)
        return {
            "src_ids": src,
            "sent_ids": pad_batch_data([r.text_type_ids for r in records], 0),
            "pos_ids": pad_batch_data([r.position_ids for r in records], 0),
            "task_ids": np.full(src.shape, self.task_id, dtype="int64"),
            "input_mask": make_input_mask(lengths, src.shape[1]),
        }

    def _pad_batch_records(self, records):
        raise NotImplementedError

    def _group_records(self, records, batch_size):
        """Yield lists of records: ``batch_size`` examples, or (``in_tokens``) a padded
        token budget B*L <= batch_size.  A record longer than the budget forms its own batch."""
        batch, max_len = [], 0
        for record in records:
            length = self._record_length(record)
            if self.in_tokens:
                fits = (len(batch) + 1) * max(max_len, length) <= batch_size
            else:
                fits = len(batch) < batch_size
            if fits or not batch:
                batch.append(record)
                max_len = max(max_len, length)
            else:
                yield batch
                batch, max_len = [record], length
        if batch:
            yield batch

    def data_generator(self, input_file, batch_size, epoch=1, dev_count=1, shuffle=True, phase=None):
        """Read (and check) ``input_file`` now; return a zero-argument callable yielding batch dicts.

        Each epoch shuffles the example order in place when ``shuffle`` (so
        epoch k permutes epoch k-1's order, as the original).  Batches are
        released in groups of ``dev_count``; the final incomplete group of
        the whole run is dropped (logged).  For ``phase == "train"``, when a
        batch is yielded the reader's ``current_epoch`` is its epoch (from 0)
        and ``current_example`` the number of examples of that epoch in the
        batches yielded so far, this one included.
        """
        if batch_size <= 0:
            raise ValueError("batch_size must be positive, got %d" % batch_size)
        examples = self.read_examples(input_file)
        self.num_examples[phase] = len(examples)
        records = [None] * len(examples)
        order = list(range(len(examples)))

        def record_stream():
            if shuffle:
                self.rng.shuffle(order)
            for i in order:
                if records[i] is None:
                    records[i] = self._convert_example_to_record(examples[i])
                yield records[i]

        def generator():
            group = []
            for epoch_index in range(epoch):
                done = 0
                for batch in self._group_records(record_stream(), batch_size):
                    done += len(batch)
                    group.append((self._pad_batch_records(batch), epoch_index, done))
                    if len(group) == dev_count:
                        for padded, epoch_of_batch, done_at_batch in group:
                            if phase == "train":
                                self.current_epoch, self.current_example = epoch_of_batch, done_at_batch
                            yield padded
                        group = []
            if group:
                logger.info("Dropped the last %d batch(es) of %s: fewer than dev_count=%d",
                            len(group), input_file, dev_count)

        return generator


class ClassifyReader(BaseReader):
    """Sentence(-pair) classification or regression.

    Args (besides ``BaseReader``'s):
        is_classify: integer class labels -> ``labels`` int64 [B, 1].  Without a
            label map the label column must hold integers.
        is_regression: real-valued labels -> ``labels`` float32 [B, 1]
            (exactly one of is_classify / is_regression must be true).
        for_cn: remove every ASCII space from all non-label columns, as the
            original did for Chinese data.  The original's default (True) is
            kept for its Chinese scripts; English data MUST pass
            ``for_cn=False`` (``--for_cn false``), including at prediction
            time, where the original's prediction tools silently glued
            English words together.
        num_labels: if given, class ids must lie in [0, num_labels).
    """

    def __init__(self, vocab_path, label_map_config=None, max_seq_len=512, do_lower_case=True,
                 in_tokens=False, is_inference=False, random_seed=None, task_id=0,
                 tokenizer="FullTokenizer", is_classify=True, is_regression=False, for_cn=True,
                 num_labels=None):
        if bool(is_classify) == bool(is_regression):
            raise ValueError("exactly one of is_classify and is_regression must be true "
                             "(got is_classify=%s, is_regression=%s)" % (is_classify, is_regression))
        super().__init__(vocab_path, label_map_config, max_seq_len, do_lower_case, in_tokens,
                         is_inference, random_seed, task_id, tokenizer)
        self.is_classify = bool(is_classify)
        self.is_regression = bool(is_regression)
        self.for_cn = for_cn
        self.num_labels = num_labels

    def required_columns(self):
        return ("text_a",) if self.is_inference else ("text_a", "label")

    def _make_example(self, fields, path, lineno):
        if self.for_cn:
            fields = {k: (v if k == "label" else v.replace(" ", "")) for k, v in fields.items()}
        example = super()._make_example(fields, path, lineno)
        if "qid" in fields:
            example.qid = self._parse_qid(fields["qid"], path, lineno)
        if not self.is_inference:
            example.label = self._parse_label(fields["label"], path, lineno)
        return example

    @staticmethod
    def _parse_qid(raw, path, lineno):
        try:
            return int(raw)
        except ValueError:
            raise data_error(path, lineno, "qid %r is not an integer" % raw) from None

    def _parse_label(self, raw, path, lineno):
        if self.is_regression:
            try:
                value = float(raw)
            except ValueError:
                raise data_error(path, lineno, "regression label %r is not a number" % raw) from None
            if not np.isfinite(value):
                raise data_error(path, lineno, "regression label %r is not finite" % raw)
            return value
        if self.label_map is not None:
            if raw not in self.label_map:
                known = ", ".join(repr(k) for k in list(self.label_map)[:20])
                raise data_error(path, lineno, "label %r is not in the label map %s (known: %s)"
                                 % (raw, self.label_map_config, known))
            label = self.label_map[raw]
        else:
            try:
                label = int(raw)
            except ValueError:
                raise data_error(path, lineno, "label %r is not an integer class id (give a "
                                               "label_map_config for string labels)" % raw) from None
        if self.num_labels is not None and not 0 <= label < self.num_labels:
            raise data_error(path, lineno, "label %r (id %d) is outside [0, num_labels=%d)"
                             % (raw, label, self.num_labels))
        return label

    def _pad_batch_records(self, records):
        batch = self._pad_common(records)
        if not self.is_inference:
            dtype = "int64" if self.is_classify else "float32"
            batch["labels"] = np.array([r.label_id for r in records], dtype=dtype).reshape(-1, 1)
        if records[0].qid is not None:
            batch["qids"] = np.array([r.qid for r in records], dtype="int64").reshape(-1, 1)
        return batch


class ExtractEmbeddingReader(BaseReader):
    """Input of ``ernie_encoder.py``: only ``text_a`` (and optional ``text_b``) are read.

    Unlike the original, no ``label`` column is required.  No space removal.
    Batches add ``seq_lens`` int64 [B] (un-padded lengths incl. [CLS]/[SEP]).
    """

    def __init__(self, vocab_path, max_seq_len=512, do_lower_case=True, in_tokens=False,
                 random_seed=None, task_id=0, tokenizer="FullTokenizer"):
        super().__init__(vocab_path, None, max_seq_len, do_lower_case, in_tokens,
                         True, random_seed, task_id, tokenizer)

    def _pad_batch_records(self, records):
        batch = self._pad_common(records)
        batch["seq_lens"] = np.array([len(r.token_ids) for r in records], dtype="int64")
        return batch


# ----------------------------------------------------------------------------- sequence labelling
TOKEN_SEP = "\x02"
SeqLabelRecord = collections.namedtuple("SeqLabelRecord",
                                        ["token_ids", "text_type_ids", "position_ids", "label_ids"])


def subtoken_tags(tag, n):
    """Tags of the ``n`` word pieces of one input token tagged ``tag`` (the rule of the original's
    repro-branch sequence-labelling reader).

    n == 0 -> [] (the token and its tag are dropped); n == 1 -> [tag];
    n > 1: ``B-X`` -> B-X, I-X, ..., I-X; ``S-X`` -> B-X, I-X, ..., I-X, E-X;
    ``E-X`` -> I-X, ..., I-X, E-X; ``I-X``, ``O`` and any other tag are repeated
    n times.  So a multi-piece word stays one chunk of the same type in every
    scheme (IOB, IOE, IOBES, IO).  The original failed an assertion for tags
    without a B/I/E/S prefix other than ``O`` (the IO scheme's plain types);
    here they are repeated.  (The v2.0 release kept the first piece's tag and
    rewrote B- to I- for the rest, which broke S-/E- tags of IOBES / IOE.)
    """
    if n <= 0:
        return []
    if n == 1:
        return [tag]
    prefix, body = tag[:2], tag[2:]
    if prefix == "B-":
        return [tag] + ["I-" + body] * (n - 1)
    if prefix == "S-":
        return ["B-" + body] + ["I-" + body] * (n - 2) + ["E-" + body]
    if prefix == "E-":
        return ["I-" + body] * (n - 1) + [tag]
    return [tag] * n


class SeqLabelExample(Example):
    """A sequence-labelling row: ``words`` (text_a split on ``\\x02``) and ``tags`` (None for inference)."""

    __slots__ = ("words", "tags")

    def __init__(self, words, tags, text_a, source=None, lineno=None, columns=None):
        super().__init__(text_a, None, tags, None, source, lineno, columns)
        self.words = words
        self.tags = tags


class SequenceLabelReader(BaseReader):
    """Sequence labelling (NER): ``text_a`` and ``label`` hold tokens and tags joined by ``\\x02``.

    Args: those of ``BaseReader``; ``label_map_config`` is required (JSON
    {tag: id}); its ids must be exactly 0..n-1 and the last id (n-1) is the
    "outside" tag (``O``), which [CLS], [SEP] and padding get (as the
    original; the chunk metric needs that layout, see ``ernie.metrics.get_chunks``).

    Each input token is WordPiece-tokenised on its own (lower-cased when
    ``do_lower_case``; no space removal, as the original) and its tag spread
    over the pieces by :func:`subtoken_tags`; a token with no piece (a space)
    is dropped with its tag.  The pieces are cut to ``max_seq_len - 2`` and
    framed as ``[CLS] pieces [SEP]``, type ids 0, positions 0..n-1.

    Errors (``DataError`` naming file, line and reason, raised when the file
    is read, i.e. before training; the original crashed mid-run or silently
    ended the data stream): missing ``text_a`` / ``label`` column (``label``
    is not needed with ``is_inference``), empty ``text_a``, a token count
    different from the tag count, a tag not in the label map, and (when the
    record is built) a piece tag of :func:`subtoken_tags` missing from the map.
    Nothing is skipped.

    Batches: the encoder feeds (module doc) plus ``label_ids`` int64 [B, L]
    (padded with the O id; not with ``is_inference``) and ``seq_lens`` int64
    [B] (un-padded lengths, [CLS]/[SEP] included).
    """

    def __init__(self, vocab_path, label_map_config=None, max_seq_len=512, do_lower_case=True,
                 in_tokens=False, is_inference=False, random_seed=None, task_id=0,
                 tokenizer="FullTokenizer"):
        if not label_map_config:
            raise DataError("sequence labelling needs a label map (--label_map_config: JSON {tag: id}, "
                            "the 'outside' tag O with the last id)")
        super().__init__(vocab_path, label_map_config, max_seq_len, do_lower_case, in_tokens,
                         is_inference, random_seed, task_id, tokenizer)
        ids = sorted(self.label_map.values())
        if ids != list(range(len(ids))):
            raise DataError("label map %s: ids must be exactly 0..%d (one per tag), got %s"
                            % (label_map_config, len(ids) - 1, ids))
        self.id_to_label = {i: t for t, i in self.label_map.items()}
        self.o_id = len(ids) - 1
        self.o_label = self.id_to_label[self.o_id]
        if self.o_label != "O":
            logger.warning("label map %s: the last id %d is %r, used as the 'outside' tag of [CLS]/[SEP], "
                           "padding and the chunk metric", label_map_config, self.o_id, self.o_label)

    def required_columns(self):
        return ("text_a",) if self.is_inference else ("text_a", "label")

    def _make_example(self, fields, path, lineno):
        text_a = fields["text_a"]
        if not text_a.strip():
            raise data_error(path, lineno, "text_a is empty")
        words = text_a.split(TOKEN_SEP)
        tags = None
        if not self.is_inference:
            tags = fields["label"].split(TOKEN_SEP)
            if len(tags) != len(words):
                raise data_error(path, lineno, "%d tokens in text_a but %d tags in label (both are joined by "
                                               "\\x02; one tag per token)" % (len(words), len(tags)))
            for i, tag in enumerate(tags):
                if tag not in self.label_map:
                    known = ", ".join(repr(k) for k in list(self.label_map)[:20])
                    raise data_error(path, lineno, "tag %r of token %d (%r) is not in the label map %s "
                                                   "(known: %s)" % (tag, i + 1, words[i], self.label_map_config,
                                                                    known))
        return SeqLabelExample(words, tags, text_a, path, lineno, fields)

    def align(self, example):
        """Word pieces of ``example``, before truncation.

        Returns ``(pieces, piece_tags, first_piece)``: the pieces (list of str),
        their tags (None for inference) and, per input token, the index of its
        first piece in ``pieces`` (-1 for a token with no piece).
        """
        pieces, piece_tags, first = [], [] if example.tags is not None else None, []
        for i, word in enumerate(example.words):
            sub = self.tokenizer.tokenize(word)
            first.append(len(pieces) if sub else -1)
            pieces.extend(sub)
            if piece_tags is not None:
                piece_tags.extend(subtoken_tags(example.tags[i], len(sub)))
        return pieces, piece_tags, first

    def _convert_example_to_record(self, example):
        pieces, piece_tags, _ = self.align(example)
        pieces = pieces[:self.max_seq_len - 2]
        tokens = ["[CLS]"] + pieces + ["[SEP]"]
        token_ids = self.tokenizer.convert_tokens_to_ids(tokens)
        label_ids = None
        if piece_tags is not None:
            label_ids = [self.o_id]
            for tag in piece_tags[:len(pieces)]:
                if tag not in self.label_map:
                    raise data_error(example.source, example.lineno,
                                     "a token split into word pieces needs the tag %r, which is not in the label "
                                     "map %s (B-X pieces continue as I-X, S-X as B-X I-X E-X, E-X as I-X E-X)"
                                     % (tag, self.label_map_config))
                label_ids.append(self.label_map[tag])
            label_ids.append(self.o_id)
        return SeqLabelRecord(token_ids, [0] * len(token_ids), list(range(len(token_ids))), label_ids)

    def _pad_batch_records(self, records):
        batch = self._pad_common(records)
        if not self.is_inference:
            batch["label_ids"] = pad_batch_data([r.label_ids for r in records], self.o_id)
        batch["seq_lens"] = np.array([len(r.token_ids) for r in records], dtype="int64")
        return batch
