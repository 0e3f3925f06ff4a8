"""Reading-comprehension reader: SQuAD-format JSON -> sliding-window features -> padded numpy batches.

Input format (SQuAD v1.1 / v2.0; CMRC2018, DRCD and converted DuReader use it too)::

    {"data": [{"title": ..., "paragraphs": [
        {"context": "...",
         "qas": [{"id": "q1", "question": "...",
                  "answers": [{"text": "...", "answer_start": 17}, ...],
                  "is_impossible": false}]}]}]}

``answer_start`` is the offset of the answer in ``context`` in Unicode
characters (Python ``str`` indexing).  ``is_impossible`` (SQuAD 2.0) is
optional; a question with ``is_impossible: true`` or an empty ``answers`` list
is unanswerable.

Documents are split into "original tokens" (``MRCExample.doc_tokens``), the
units an answer is mapped back to:

* Chinese (``for_cn=True``): ``reader.tokenization.tokenize_chinese_chars``:
  every CJK character, every whitespace character and every maximal run of
  other characters (Latin words, numbers) is one token; ``"".join(doc_tokens)``
  is the context.  For training, the tokens are additionally cut at the
  answer's first and last character, so a gold answer inside a run ("18" in
  "2018") is still an exact token span.  (The original split a training
  context into just three pseudo-tokens -- before, answer, after -- which
  tokenised the context differently in training and evaluation.)
* English (``for_cn=False``): whitespace-separated words (as SQuAD);
  ``" ".join(doc_tokens)`` is the whitespace-normalised context.

Every original token is word-piece tokenised (``FullTokenizer``, lower-cased
with ``do_lower_case``); ``tok_to_orig_index`` / ``orig_to_tok_index`` map
between both.  Features (``MRCFeature``), one per sliding window:

    [CLS] query [SEP] window [SEP]     sent ids 0 ... 0 1 ... 1

* the query is cut to ``max_query_length`` word pieces;
* a window holds at most ``max_seq_len - len(query) - 3`` document pieces;
  windows start at 0 and advance by ``min(window length, doc_stride)`` until a
  window reaches the end of the document;
* ``token_to_orig_map[i]``: original token of the document piece at position i;
  ``token_is_max_context[i]``: whether this window is the one where the piece
  has the most context, i.e. maximises ``min(left, right) + 0.01 * window
  length`` (the first such window on ties);
* training labels: the answer's first / last piece (the piece span is
  narrowed to the one matching the tokenised answer text exactly, when one
  exists).  A window that does not contain the whole answer, and every window
  of an unanswerable question, is labelled start = end = 0, the ``[CLS]``
  position, and kept (as the original and SQuAD BERT);
* ``unique_id``: 1000000000, 1000000001, ... in the file's feature order.

Batches (feature order: shuffled with the reader's seeded ``RandomState`` for
training, file order otherwise; B features, L the longest of the batch)::

    src_ids, sent_ids, pos_ids, task_ids  int64 [B, L];  input_mask float32 [B, L, 1]
    start_positions, end_positions        int64 [B, 1]   (training readers only)
    unique_ids                            int64 [B, 1]

Bad input raises ``DataError`` naming the file, the JSON position
(``data[0].paragraphs[2].qas[1]``), the question id and the reason: invalid
JSON, a missing or mistyped field (``data``, ``paragraphs``, ``context``,
``qas``, ``id``, ``question``, ``answers``, ``text``, ``answer_start`` when
training), a duplicate question id, an empty file; a path that is not a regular file (a directory,
a FIFO, which would block the read forever) is refused before it is opened.  A training question whose
``answer_start`` does not point at its answer text is skipped, counted in
``skipped[path]`` and logged with the reason (as the original's "Could not
find answer", which it only logged); evaluation never needs ``answer_start``.
Training uses the first gold answer of a question (the original raised unless
there was exactly one); evaluation keeps every gold answer.
"""
import collections
import logging
import os
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from reader.files import read_json
from reader.task_reader import BaseReader, DataError
from reader.tokenization import BasicTokenizer, is_whitespace, tokenize_chinese_chars

logger = logging.getLogger(__name__)

FIRST_UNIQUE_ID = 1000000000

DocSpan = collections.namedtuple("DocSpan", ["start", "length"])


@dataclass(eq=False)
class MRCExample:
    """One question.

    qas_id: str; question_text: str; doc_tokens: list of original tokens;
    joiner: "" (Chinese) or " " (English), ``joiner.join(doc_tokens)`` gives the text back;
    answers: every gold answer text (empty for unanswerable questions);
    start_position / end_position: original-token span of the training answer (-1 when none);
    is_impossible: bool; where: JSON position for messages.
    """

    qas_id: str
    question_text: str
    doc_tokens: List[str]
    joiner: str
    answers: List[str]
    start_position: int = -1
    end_position: int = -1
    orig_answer_text: Optional[str] = None
    is_impossible: bool = False
    where: Optional[str] = None
    has_answers_field: bool = True

    def __repr__(self):
        return "MRCExample(%s, %r, answers=%r)" % (self.qas_id, self.question_text, self.answers)


class MRCFeature:
    """One window of one example (see the module doc).

    tokens: word pieces incl. [CLS]/[SEP]; token_ids / text_type_ids / position_ids: int lists of the
    same length; token_to_orig_map / token_is_max_context: {position: int / bool} for document pieces;
    start_position / end_position: label positions (0 = [CLS]; None for evaluation readers).
    """

    __slots__ = ("unique_id", "example_index", "doc_span_index", "tokens", "token_ids", "text_type_ids",
                 "position_ids", "token_to_orig_map", "token_is_max_context", "start_position", "end_position")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


def _err(path, where, qid, reason):
    if qid is not None:
        return DataError("%s: %s (question id %s): %s" % (path, where, qid, reason))
    return DataError("%s: %s: %s" % (path, where, reason))


def _field(obj, key, types, path, where, qid=None, what=None):
    if not isinstance(obj, dict):
        raise _err(path, where, qid, "expected a JSON object, got %s" % type(obj).__name__)
    if key not in obj:
        raise _err(path, where, qid, "missing field %r" % key)
    value = obj[key]
    if not isinstance(value, types) or isinstance(value, bool):
        raise _err(path, where, qid, "field %r must be %s, got %r" % (key, what, value if not isinstance(
            value, (list, dict)) else type(value).__name__))
    return value


def split_chinese(context, cuts=()):
    """``tokenize_chinese_chars(context)``, each token additionally cut at the character offsets ``cuts``.

    Returns (doc_tokens, char_to_token): char_to_token[c] = index of the token holding character c.
    """
    cuts = set(cuts)
    tokens, char_to_token, offset = [], [], 0
    for token in tokenize_chinese_chars(context):
        piece = ""
        for ch in token:
            if offset in cuts and piece:
                tokens.append(piece)
                piece = ""
            piece += ch
            char_to_token.append(len(tokens))
            offset += 1
        tokens.append(piece)
    return tokens, char_to_token


def split_words(context):
    """SQuAD's whitespace words: (doc_tokens, char_to_token); a whitespace character maps to the
    word before it (-1 before the first word)."""
    tokens, char_to_token, previous_white = [], [], True
    for ch in context:
        if is_whitespace(ch) or ch == "\u202f":
            previous_white = True
        else:
            if previous_white:
                tokens.append(ch)
            else:
                tokens[-1] += ch
            previous_white = False
        char_to_token.append(len(tokens) - 1)
    return tokens, char_to_token


def read_squad_file(path, mode="train", for_cn=True, on_skip=None):
    """Parse and check a SQuAD-format file -> list of ``MRCExample``.

    mode: "train" (answer positions located; bad ones skipped through ``on_skip(message)``),
    "eval" (gold answer texts required) or "predict" (answers optional, ignored).
    """
    dataset = read_json(path, "data file", DataError)
    if not isinstance(dataset, dict):
        raise DataError("%s: expected a JSON object {\"data\": [...]} (SQuAD format), got %s"
                        % (path, type(dataset).__name__))
    data = _field(dataset, "data", list, path, "top level", what="a list of articles")
    examples, seen = [], {}
    for ai, article in enumerate(data):
        paragraphs = _field(article, "paragraphs", list, path, "data[%d]" % ai, what="a list")
        for pi, para in enumerate(paragraphs):
            pwhere = "data[%d].paragraphs[%d]" % (ai, pi)
            context = _field(para, "context", str, path, pwhere, what="a string")
            qas = _field(para, "qas", list, path, pwhere, what="a list of questions")
            base_tokens = words = None
            for qi, qa in enumerate(qas):
                where = "%s.qas[%d]" % (pwhere, qi)
                qid = _field(qa, "id", (str, int), path, where, what="a string")
                qid = str(qid).strip()
                if not qid:
                    raise _err(path, where, None, "empty question id")
                if qid in seen:
                    raise _err(path, where, qid, "duplicate question id (first at %s); predictions are keyed by id"
                               % seen[qid])
                seen[qid] = where
                question = _field(qa, "question", str, path, where, qid, "a string")
                if not question.strip():
                    raise _err(path, where, qid, "empty question")
                impossible = qa.get("is_impossible", False)
                if not isinstance(impossible, bool):
                    raise _err(path, where, qid, "is_impossible must be true or false, got %r" % (impossible,))
                has_answers = "answers" in qa
                if has_answers or mode != "predict":
                    if not has_answers and impossible:
                        answers = []
                    else:
                        answers = _field(qa, "answers", list, path, where, qid, "a list")
                    for k, ans in enumerate(answers):
                        _field(ans, "text", str, path, "%s.answers[%d]" % (where, k), qid, "a string")
                    texts = [a["text"] for a in answers]
                else:
                    answers, texts = [], []
                if impossible:
                    texts = []
                if not (mode == "train" and texts):
                    if base_tokens is None:
                        base_tokens = split_chinese(context)[0] if for_cn else split_words(context)[0]
                    examples.append(MRCExample(qid, question, base_tokens, "" if for_cn else " ", texts,
                                               is_impossible=not texts, where=where,
                                               has_answers_field=has_answers or impossible))
                    continue
                # training on an answerable question: locate the first gold answer
                ans = answers[0]
                start = _field(ans, "answer_start", int, path, "%s.answers[0]" % where, qid, "an integer")
                text = ans["text"]
                problem = None
                if not text.strip():
                    problem = "the answer text is empty"
                elif not 0 <= start <= len(context) - len(text):
                    problem = "answer_start %d (+ %d characters) lies outside the context of %d characters" % (
                        start, len(text), len(context))
                elif context[start:start + len(text)] != text:
                    problem = "answer_start %d does not point at the answer text %r (the context has %r there)" % (
                        start, text, context[start:start + len(text)])
                if problem:
                    if on_skip:
                        on_skip("%s: %s (question id %s): %s; question skipped" % (path, where, qid, problem))
                    continue
                lead = len(text) - len(text.lstrip())
                start += lead
                end = start + len(text.strip()) - 1            # last character of the answer
                if for_cn:
                    tokens, c2t = split_chinese(context, (start, end + 1))
                else:
                    if words is None:
                        words = split_words(context)
                    tokens, c2t = words
                examples.append(MRCExample(qid, question, tokens, "" if for_cn else " ", texts, c2t[start],
                                           c2t[end], text.strip(), False, where, True))
    return examples


def improve_answer_span(doc_pieces, start, end, tokenizer, answer_text):
    """Narrow the piece span [start, end] to the first sub-span whose pieces equal the tokenised answer
    ("1895" inside "(1895-1943)"); the span unchanged when none does."""
    target = " ".join(tokenizer.tokenize(answer_text))
    for s in range(start, end + 1):
        for e in range(end, s - 1, -1):
            if " ".join(doc_pieces[s:e + 1]) == target:
                return s, e
    return start, end


def doc_spans(num_pieces, max_tokens_for_doc, doc_stride):
    """Sliding windows over ``num_pieces`` document pieces (at least one, possibly empty)."""
    spans, start = [], 0
    while True:
        length = min(num_pieces - start, max_tokens_for_doc)
        spans.append(DocSpan(start, length))
        if start + length >= num_pieces:
            return spans
        start += min(length, doc_stride)


def is_max_context(spans, span_index, position):
    """Whether window ``span_index`` gives piece ``position`` the most context: the largest
    ``min(left, right) + 0.01 * length`` over the windows holding it (first on ties)."""
    best, best_score = None, None
    for i, span in enumerate(spans):
        if not span.start <= position < span.start + span.length:
            continue
        left, right = position - span.start, span.start + span.length - 1 - position
        score = min(left, right) + 0.01 * span.length
        if best_score is None or score > best_score:
            best, best_score = i, score
    return best == span_index


class MRCReader(BaseReader):
    """SQuAD-format reader (see the module doc).

    Args (besides ``BaseReader``'s vocab_path, max_seq_len, do_lower_case, in_tokens, random_seed,
    task_id, tokenizer):
        for_cn: Chinese document tokens (True) or English whitespace words (False).
        doc_stride: window advance in pieces (> 0).
        max_query_length: query pieces kept (> 0).
        mode: "train" (labels), "eval" (gold answers required) or "predict".
    """

    def __init__(self, vocab_path, max_seq_len=512, do_lower_case=True, in_tokens=False, random_seed=None,
                 task_id=0, tokenizer="FullTokenizer", for_cn=True, doc_stride=128, max_query_length=64,
                 mode="train"):
        super().__init__(vocab_path, None, max_seq_len, do_lower_case, in_tokens, mode != "train",
                         random_seed, task_id, tokenizer)
        if mode not in ("train", "eval", "predict"):
            raise ValueError("mode must be train, eval or predict, got %r" % (mode,))
        if doc_stride <= 0 or max_query_length <= 0:
            raise ValueError("doc_stride and max_query_length must be positive (got %d, %d)"
                             % (doc_stride, max_query_length))
        if max_seq_len - max_query_length - 3 < 1:
            raise ValueError("max_seq_len %d leaves no room for the document after a query of up to %d pieces "
                             "and [CLS]/[SEP]/[SEP]" % (max_seq_len, max_query_length))
        self.for_cn = for_cn
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length
        self.mode = mode
        self.is_training = mode == "train"
        self.skipped = {}
        self._files = {}

    # reading ------------------------------------------------------------------
    def _key(self, path):
        try:
            st = os.stat(path)
            return os.path.abspath(path), st.st_size, st.st_mtime_ns
        except OSError:
            return None

    def read_file(self, path):
        """(examples, features) of ``path``, read, checked and converted once (cached per file)."""
        key = self._key(path)
        if key is not None and key in self._files:
            return self._files[key]
        skips = []
        examples = read_squad_file(path, self.mode, self.for_cn, on_skip=skips.append)
        for message in skips[:20]:
            logger.warning(message)
        if skips:
            logger.warning("%s: skipped %d training question(s) whose answer_start does not point at the "
                           "answer text%s", path, len(skips), " (first 20 shown)" if len(skips) > 20 else "")
        self.skipped[path] = len(skips)
        if not examples:
            raise DataError("%s: no usable question (%d skipped)" % (path, len(skips)))
        features = self.convert_examples(examples)
        logger.info("Read %d questions (%d features) from %s", len(examples), len(features), path)
        value = (examples, features)
        if key is not None:
            self._files = {key: value}
        return value

    def get_examples(self, path):
        return self.read_file(path)[0]

    def get_features(self, path):
        return self.read_file(path)[1]

    def read_examples(self, input_file):
        """The batching units of ``BaseReader.data_generator``: the *features* of ``input_file``."""
        return self.get_features(input_file)

    def get_num_examples(self, input_file):
        """Number of features (the original's step count unit)."""
        return len(self.get_features(input_file))

    # features -----------------------------------------------------------------
    def convert_examples(self, examples):
        features, unique_id = [], FIRST_UNIQUE_ID
        for index, example in enumerate(examples):
            for feature in self.example_features(example, index):
                feature.unique_id = unique_id
                unique_id += 1
                features.append(feature)
        return features

    def example_features(self, example, example_index=0):
        """The window features of one example (``unique_id`` left None)."""
        tok = self.tokenizer
        query = tok.tokenize(example.question_text)[:self.max_query_length]
        tok_to_orig, orig_to_tok, pieces = [], [], []
        for i, token in enumerate(example.doc_tokens):
            orig_to_tok.append(len(pieces))
            for piece in tok.tokenize(token):
                tok_to_orig.append(i)
                pieces.append(piece)
        tok_start = tok_end = None
        if self.is_training and not example.is_impossible:
            tok_start = orig_to_tok[example.start_position]
            if example.end_position < len(example.doc_tokens) - 1:
                tok_end = orig_to_tok[example.end_position + 1] - 1
            else:
                tok_end = len(pieces) - 1
            tok_start, tok_end = improve_answer_span(pieces, tok_start, tok_end, tok, example.orig_answer_text)
        max_doc = self.max_seq_len - len(query) - 3
        spans = doc_spans(len(pieces), max_doc, self.doc_stride)
        features = []
        for si, span in enumerate(spans):
            tokens = ["[CLS]"] + query + ["[SEP]"]
            types = [0] * len(tokens)
            to_orig, max_ctx = {}, {}
            for k in range(span.length):
                position = span.start + k
                to_orig[len(tokens)] = tok_to_orig[position]
                max_ctx[len(tokens)] = is_max_context(spans, si, position)
                tokens.append(pieces[position])
            tokens.append("[SEP]")
            types += [1] * (span.length + 1)
            start = end = None
            if self.is_training:
                start = end = 0
                inside = (tok_start is not None and span.start <= tok_start
                          and tok_end < span.start + span.length)
                if inside:
                    offset = len(query) + 2 - span.start
                    start, end = tok_start + offset, tok_end + offset
            features.append(MRCFeature(
                example_index=example_index, doc_span_index=si, tokens=tokens,
                token_ids=tok.convert_tokens_to_ids(tokens), text_type_ids=types,
                position_ids=list(range(len(tokens))), token_to_orig_map=to_orig, token_is_max_context=max_ctx,
                start_position=start, end_position=end))
        return features

    # batches ------------------------------------------------------------------
    def _convert_example_to_record(self, feature):
        return feature

    def _pad_batch_records(self, features):
        batch = self._pad_common(features)
        if self.is_training:
            batch["start_positions"] = np.array([f.start_position for f in features], "int64").reshape(-1, 1)
            batch["end_positions"] = np.array([f.end_position for f in features], "int64").reshape(-1, 1)
        batch["unique_ids"] = np.array([f.unique_id for f in features], "int64").reshape(-1, 1)
        return batch


def final_text_alignment(pred_text, orig_text, do_lower_case):
    """The part of ``orig_text`` (original characters) that the de-tokenised prediction
    ``pred_text`` corresponds to (SQuAD's heuristic).

    ``orig_text`` is tokenised with ``BasicTokenizer(do_lower_case)`` and re-joined with spaces;
    ``pred_text`` is searched in it; the match is mapped back character by character ignoring spaces.
    When the prediction is not found, or the tokenisation changed the number of non-space characters
    (accent stripping of composed characters, dropped control characters), the whole ``orig_text``
    is returned.
    """
    def strip_spaces(text):
        chars, index = [], []
        for i, ch in enumerate(text):
            if ch == " ":
                continue
            chars.append(ch)
            index.append(i)
        return "".join(chars), index

    tok_text = " ".join(BasicTokenizer(do_lower_case=do_lower_case).tokenize(orig_text))
    start = tok_text.find(pred_text)
    if start == -1 or not pred_text:
        return orig_text
    end = start + len(pred_text) - 1
    orig_ns, orig_index = strip_spaces(orig_text)
    tok_ns, tok_index = strip_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        return orig_text
    tok_to_ns = {s: n for n, s in enumerate(tok_index)}
    if start not in tok_to_ns or end not in tok_to_ns:
        return orig_text
    return orig_text[orig_index[tok_to_ns[start]]:orig_index[tok_to_ns[end]] + 1]
