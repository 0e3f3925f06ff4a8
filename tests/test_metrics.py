"""ernie.metrics: hand-computed cases, cross-checks against scipy/sklearn (when installed)
and paddlenlp, and the documented quirks of the original and of paddlenlp."""
import math

import numpy as np
import pytest

from ernie import metrics as M


# ----------------------------------------------------------------------------- classification
def test_accuracy_and_input_checks():
    assert M.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    # float argmaxes against int labels, [N, 1] shapes, as the original fed them
    assert M.accuracy(np.array([[1.0], [0.0]]), np.array([[1], [0]])) == 1.0
    with pytest.raises(ValueError, match="has 3 values but labels has 2"):
        M.accuracy([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="empty"):
        M.accuracy([], [])


def test_precision_recall_f1_by_hand():
    # tp=2 (idx 0, 4), fp=1 (idx 1), fn=1 (idx 2), tn=1 (idx 3)
    preds, labels = [1, 1, 0, 0, 1], [1, 0, 1, 0, 1]
    assert M.binary_counts(preds, labels) == (2, 1, 1, 1)
    r = M.precision_recall_f1(preds, labels)
    assert r["precision"] == pytest.approx(2 / 3) and r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    # precision 1/1, recall 1/3 -> f1 = 2*(1/3)/(4/3) = 0.5
    assert M.precision_recall_f1([1, 0, 0, 0], [1, 1, 1, 0])["f1"] == pytest.approx(0.5)
    # 0/0 cases are defined as 0 (the original printed nan)
    assert M.precision_recall_f1([0, 0], [1, 0]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert M.precision_recall_f1([1, 1], [0, 0]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_matthews_by_hand_and_degenerate():
    # tp=2, tn=1, fp=1, fn=1 -> (2 - 1) / sqrt(3*3*2*2) = 1/6
    assert M.matthews_corrcoef([1, 1, 0, 0, 1], [1, 0, 1, 0, 1]) == pytest.approx(1 / 6)
    assert M.matthews_corrcoef([1, 0, 1, 0], [1, 0, 1, 0]) == 1.0
    assert M.matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0
    assert M.matthews_corrcoef([1, 1, 1], [1, 0, 1]) == 0.0       # all predictions one class
    assert M.matthews_corrcoef([1, 0, 1], [1, 1, 1]) == 0.0       # all labels one class
    with pytest.raises(ValueError, match="binary: labels contains \\[2\\]"):
        M.matthews_corrcoef([1, 0, 1], [1, 2, 1])


def test_paddlenlp_mcc_quirk_perfect_prediction_is_zero():
    glue = pytest.importorskip("paddlenlp.metrics.glue", reason="paddlenlp not installed")
    preds = np.array([[1], [0], [1], [0]])
    mcc = glue.Mcc()
    mcc.update((preds, preds))
    assert mcc.accumulate()[0] == 0.0                 # paddlenlp: any of tp/fp/tn/fn zero -> 0
    assert M.matthews_corrcoef(preds, preds) == 1.0    # ours: perfect is 1
    # where all four counts are non-zero the two agree
    p, l = np.array([1, 1, 0, 0, 1, 0]), np.array([1, 0, 1, 0, 1, 0])
    mcc = glue.Mcc()
    mcc.update((p.reshape(-1, 1), l.reshape(-1, 1)))
    assert mcc.accumulate()[0] == pytest.approx(M.matthews_corrcoef(p, l))


def test_binary_metrics_against_sklearn():
    skm = pytest.importorskip("sklearn.metrics", reason="sklearn not installed (optional cross-check)")
    rng = np.random.RandomState(0)
    for _ in range(20):
        n = rng.randint(1, 40)
        p, l = rng.randint(0, 2, n), rng.randint(0, 2, n)
        r = M.precision_recall_f1(p, l)
        assert r["precision"] == pytest.approx(skm.precision_score(l, p, zero_division=0))
        assert r["recall"] == pytest.approx(skm.recall_score(l, p, zero_division=0))
        assert r["f1"] == pytest.approx(skm.f1_score(l, p, zero_division=0))
        assert M.matthews_corrcoef(p, l) == pytest.approx(skm.matthews_corrcoef(l, p), abs=1e-12)
        assert M.accuracy(p, l) == pytest.approx(skm.accuracy_score(l, p))


# ----------------------------------------------------------------------------- regression
def test_rankdata_average_ties():
    assert M.rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert M.rankdata([3, 3, 3]).tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="NaN"):
        M.rankdata([1.0, float("nan")])


def test_pearson_spearman_by_hand():
    # x dev [-1,0,1], y = [2,4,7] dev [-7/3,-1/3,8/3]: cov 5, sxx 2, syy 114/9
    assert M.pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / math.sqrt(2 * 114 / 9))
    # ranks x [1,2.5,2.5,4], y [1,3,2,4]: cov 4.5, sxx 4.5, syy 5
    assert M.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert M.spearman([1, 2, 3], [10, 100, 1000]) == pytest.approx(1.0)
    assert math.isnan(M.pearson([1, 1, 1], [1, 2, 3]))
    r = M.evaluate_regression([1, 2, 3], [2, 4, 7])
    assert r["corr"] == pytest.approx((r["pearson"] + r["spearman"]) / 2)


def test_correlations_against_scipy():
    stats = pytest.importorskip("scipy.stats", reason="scipy not installed (optional cross-check)")
    rng = np.random.RandomState(1)
    for _ in range(10):
        x = rng.randint(0, 6, 30).astype(float)    # many ties
        y = x + rng.randn(30)
        assert M.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
        assert M.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
        assert M.rankdata(x).tolist() == stats.rankdata(x).tolist()


def test_paddlenlp_spearman_quirk_with_ties():
    glue = pytest.importorskip("paddlenlp.metrics.glue", reason="paddlenlp not installed")
    x, y = np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0, 4.0])
    ps = glue.PearsonAndSpearman()
    ps.update((x, y))
    pear, spear, _ = ps.accumulate()
    assert pear == pytest.approx(M.pearson(x, y))
    # ordinal ranks + the no-ties formula: not the average-rank Spearman
    assert abs(spear - M.spearman(x, y)) > 1e-3
    z = np.array([4.0, 1.0, 3.0, 2.0])   # without ties they agree
    ps = glue.PearsonAndSpearman()
    ps.update((z, y))
    assert ps.accumulate()[1] == pytest.approx(M.spearman(z, y))


# ----------------------------------------------------------------------------- MRR (DBQA)
def test_mrr_by_hand():
    # q1 sorted: .9(0) .5(1) .1(0) -> 1/2; q2: .8(0) .3(1) -> 1/2
    assert M.mrr([1, 1, 1, 2, 2], [0.1, 0.9, 0.5, 0.3, 0.8], [0, 0, 1, 1, 0]) == pytest.approx(0.5)
    # the first positive only: q1 has positives at ranks 1 and 2 -> 1
    assert M.mrr([1, 1], [0.9, 0.8], [1, 1]) == 1.0
    # a group without a positive still counts in the denominator
    assert M.mrr([1, 2], [0.9, 0.8], [1, 0]) == 0.5
    # rows of one qid need not be contiguous; groups are sorted by qid
    assert M.mrr([2, 1, 2, 1], [0.2, 0.9, 0.7, 0.3], [1, 0, 0, 1]) == pytest.approx((1 / 2 + 1 / 2) / 2)


def test_mrr_quirks_ties_and_nonzero_labels():
    # tied scores keep the input order (stable sort): the positive's rank depends on the file order
    assert M.mrr([7, 7], [0.5, 0.5], [0, 1]) == 0.5
    assert M.mrr([7, 7], [0.5, 0.5], [1, 0]) == 1.0
    # any non-zero label counts as relevant, e.g. a -1 test dummy
    assert M.mrr([3, 3], [0.9, 0.1], [-1, 0]) == 1.0


def test_mrr_against_independent_loop():
    rng = np.random.RandomState(2)
    qids = rng.randint(0, 8, 60)
    scores = rng.randint(0, 4, 60) / 4.0          # many ties
    labels = rng.randint(0, 2, 60)
    expected = []
    for q in np.unique(qids):
        idx = np.flatnonzero(qids == q)                          # input order
        order = idx[np.argsort(-scores[idx], kind="stable")]     # stable: ties keep input order
        pos = np.flatnonzero(labels[order] != 0)
        expected.append(1.0 / (pos[0] + 1) if pos.size else 0.0)
    assert M.mrr(qids, scores, labels) == pytest.approx(np.mean(expected))


def test_evaluate_classification_dispatch():
    probs = np.array([[0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    labels = np.array([[1], [1], [0], [0]])
    assert M.evaluate_classification("simple_accuracy", labels, probs) == {"acc": 0.5}
    r = M.evaluate_classification("acc_and_f1", labels, probs)
    assert r["acc"] == 0.5 and r["f1"] == pytest.approx(0.5)
    assert M.evaluate_classification("matthews_corrcoef", labels, probs) == {"mcc": 0.0}
    r = M.evaluate_classification("acc_and_f1_and_mrr", labels, probs, qids=[1, 1, 2, 2])
    # q1: .8(1) -> 1; q2: .7(0) .1(0) -> 0
    assert r["mrr"] == 0.5
    r = M.evaluate_classification("pearson_and_spearman", labels, probs)
    assert r["pearson"] == pytest.approx(M.pearson(probs[:, 1], labels))
    with pytest.raises(ValueError, match="needs qids"):
        M.evaluate_classification("acc_and_f1_and_mrr", labels, probs)
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        M.evaluate_classification("auc", labels, probs)


def test_eval_lines():
    line = M.classify_eval_line("simple_accuracy", {"acc": 0.943333}, 0.303819, 1200, 16.280898)
    assert line == "ave loss: 0.303819, acc:0.943333, data_num: 1200, elapsed time: 16.280898 s"
    line = M.classify_eval_line("acc_and_f1_and_mrr", {"acc": 1, "f1": 0.5, "mrr": 0.25}, 0.1, 4, 1.0)
    assert line == ("ave loss: 0.100000, acc: 1.000000, f1: 0.500000, mrr: 0.250000, data_num: 4, "
                    "elapsed time: 1.000000 s")
    assert M.chunk_eval_line(0.5, 0.25, 1 / 3, 2.0) == \
        "f1: 0.333333, precision: 0.500000, recall: 0.250000, elapsed time: 2.000000 s"
    assert M.mrc_eval_line({"em": 50.0, "f1": 75.0, "avg": 62.5, "total": 2}, 1.5) == \
        "em: 50.000000, f1: 75.000000, avg: 62.500000, questions: 2, elapsed time: 1.500000"


# ----------------------------------------------------------------------------- chunks
# MSRA-NER label map: B-PER 0, I-PER 1, B-ORG 2, I-ORG 3, B-LOC 4, I-LOC 5, O 6
MSRA = ["B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "O"]


def test_get_chunks_iob_by_hand():
    assert M.num_chunk_types(7, "IOB") == 3
    seq = [6, 0, 1, 6, 4, 5, 5, 2, 3, 6]
    assert M.get_chunks(seq, "IOB", 3) == [(1, 2, 0), (4, 6, 2), (7, 8, 1)]
    assert M.get_chunks([6, 1, 1], "IOB", 3) == [(1, 2, 0)]          # I after O opens a chunk
    assert M.get_chunks([0, 3], "IOB", 3) == [(0, 0, 0), (1, 1, 1)]   # type change closes and opens
    assert M.get_chunks([0, 0, 1], "IOB", 3) == [(0, 0, 0), (1, 2, 0)]  # B after B
    assert M.get_chunks([4, 5], "IOB", 3) == [(0, 1, 2)]              # open chunk closes at the end
    assert M.get_chunks([6, 6], "IOB", 3) == []
    with pytest.raises(ValueError, match="tag id 7 at position 1 is outside 0..6"):
        M.get_chunks([6, 7], "IOB", 3)
    with pytest.raises(ValueError, match="unknown chunk scheme 'BIO'"):
        M.get_chunks([6], "BIO", 3)


def test_get_chunks_other_schemes_by_hand():
    # IOE: I-X = 2k, E-X = 2k+1, O = 4 (2 types)
    assert M.get_chunks([0, 0, 1, 0, 1, 4], "IOE", 2) == [(0, 2, 0), (3, 4, 0)]
    assert M.get_chunks([1, 1], "IOE", 2) == [(0, 0, 0), (1, 1, 0)]       # E E: two chunks
    assert M.get_chunks([0, 2, 3], "IOE", 2) == [(0, 0, 0), (1, 2, 1)]
    # IOBES: B I E S = 4k..4k+3, O = 8 (2 types)
    assert M.get_chunks([0, 1, 2, 3, 7, 8], "IOBES", 2) == [(0, 2, 0), (3, 3, 0), (4, 4, 1)]
    assert M.get_chunks([3, 1, 2], "IOBES", 2) == [(0, 0, 0), (1, 2, 0)]  # I right after S opens
    # IO ("plain"): runs of one type, O = 2 (2 types)
    assert M.get_chunks([0, 0, 1, 2, 0], "IO", 2) == [(0, 1, 0), (2, 2, 1), (4, 4, 0)]
    assert M.get_chunks([0, 0, 1, 2, 0], "plain", 2) == M.get_chunks([0, 0, 1, 2, 0], "IO", 2)


def test_chunk_counts_cls_sep_and_f1():
    # gold: [CLS] 张 三 在 北 京 [SEP] -> O B-PER I-PER O B-LOC I-LOC O ; two padding positions
    gold = np.array([[6, 0, 1, 6, 4, 5, 6, 6, 6]])
    pred = np.array([[0, 0, 1, 6, 4, 6, 6, 6, 6]])   # B-PER predicted on [CLS]; LOC too short
    assert M.chunk_counts(pred, gold, [7], "IOB", 3) == (3, 2, 1)
    assert M.chunk_counts(pred, gold, [7], "IOB", 3, exclude_cls_sep=True) == (2, 2, 1)
    p, r, f = M.chunk_f1(3, 2, 1)
    assert (p, r) == (pytest.approx(1 / 3), 0.5) and f == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert M.chunk_f1(0, 0, 0) == (0.0, 0.0, 0.0)
    # padding beyond seq_lens is ignored, and chunks never cross sequences
    two = M.chunk_counts([[0, 1, 0, 0], [1, 6, 2, 3]], [[0, 1, 6, 9], [1, 6, 2, 3]], [2, 4], "IOB", 3)
    assert two == (3, 3, 3)
    with pytest.raises(ValueError, match="needs num_types"):
        M.chunk_counts(pred, gold, [7], "IOB")
    with pytest.raises(ValueError, match="seq_len 12 exceeds"):
        M.chunk_counts(pred, gold, [12], "IOB", 3)


@pytest.mark.parametrize("scheme", ["IOB", "IOE", "IOBES", "plain"])
def test_chunks_agree_with_paddle_chunk_eval_op(scheme):
    """The original's metric was Paddle's chunk_eval op; Paddle 3 still has its kernel in _C_ops."""
    paddle = pytest.importorskip("paddle")
    if not hasattr(paddle._C_ops, "chunk_eval"):
        pytest.skip("this Paddle build has no chunk_eval kernel")
    ntypes, ntags = 3, M.CHUNK_SCHEMES[scheme].num_tag_types
    rng = np.random.RandomState(4)
    for trial in range(5):
        batch, length = 16, 14
        lens = rng.randint(1, length + 1, batch)
        o = ntypes * ntags
        gold = np.where(rng.rand(batch, length) < 0.35, o, rng.randint(0, o + 1, (batch, length)))
        pred = gold.copy()
        flip = rng.rand(batch, length) < 0.3
        pred[flip] = rng.randint(0, o + 1, flip.sum())
        out = paddle._C_ops.chunk_eval(paddle.to_tensor(pred.astype("int64")), paddle.to_tensor(gold.astype("int64")),
                                       paddle.to_tensor(lens.astype("int64")), ntypes, scheme, [])
        p, r, f, n_infer, n_label, n_correct = [o_.numpy().reshape(-1)[0] for o_ in out]
        ours = M.chunk_counts(pred, gold, lens, scheme, ntypes)
        assert ours == (int(n_infer), int(n_label), int(n_correct))
        assert M.chunk_f1(*ours) == pytest.approx((p, r, f), rel=1e-6)


def _label_list(scheme, types=("PER", "ORG", "LOC")):
    tags = {"IOB": "BI", "IOE": "IE", "IOBES": "BIES", "IO": "I"}[scheme]
    return ["%s-%s" % (t, ty) for ty in types for t in tags] + ["O"]


@pytest.mark.parametrize("scheme", ["IOB", "IOE", "IOBES", "IO"])
def test_chunks_agree_with_paddlenlp_chunk_evaluator(scheme):
    chunk = pytest.importorskip("paddlenlp.metrics.chunk", reason="paddlenlp not installed")
    import paddle
    labels_list = _label_list(scheme)
    n = len(labels_list)
    ntypes = M.num_chunk_types(n, scheme)
    rng = np.random.RandomState(3)
    batch, length = 40, 12
    lens = rng.randint(1, length + 1, batch)
    gold = np.where(rng.rand(batch, length) < 0.4, n - 1, rng.randint(0, n, (batch, length)))
    pred = gold.copy()
    flip = rng.rand(batch, length) < 0.25
    pred[flip] = rng.randint(0, n, flip.sum())
    ours = M.chunk_counts(pred, gold, lens, scheme, ntypes)
    ev = chunk.ChunkEvaluator(labels_list)
    infer, label, correct = ev.compute(lens, paddle.to_tensor(pred), paddle.to_tensor(gold))
    theirs = (int(infer.numpy().sum()), int(label.numpy().sum()), int(correct.numpy().sum()))
    assert ours == theirs
    assert ours[2] < ours[0]      # the random flips make the case non-trivial
    ev.update(*theirs)
    assert ev.accumulate() == pytest.approx(M.chunk_f1(*ours))


def test_chunks_where_paddlenlp_disagrees():
    chunk = pytest.importorskip("paddlenlp.metrics.chunk", reason="paddlenlp not installed")
    import paddle
    # 1) an id beyond the label list: paddlenlp reads it as O, the op (and we) reject it
    ev = chunk.ChunkEvaluator(MSRA)
    pred, gold = np.array([[6, 0, 9, 6]]), np.array([[6, 0, 1, 6]])
    infer, _, correct = ev.compute([4], paddle.to_tensor(pred), paddle.to_tensor(gold))
    assert int(infer.numpy().sum()) == 1 and int(correct.numpy().sum()) == 0
    with pytest.raises(ValueError, match="tag id 9"):
        M.chunk_counts(pred, gold, [4], "IOB", 3)
    # 2) a label map not laid out B=2k, I=2k+1, O last: paddlenlp goes by names, the op by arithmetic
    names = ["O", "B-PER", "I-PER"]
    seq = np.array([[1, 2, 0]])
    ev = chunk.ChunkEvaluator(names)
    infer, _, _ = ev.compute([3], paddle.to_tensor(seq), paddle.to_tensor(seq))
    assert int(infer.numpy().sum()) == 1                        # one PER chunk by name
    # by arithmetic: 1 = I-type0 (opens after O), 2 = O, 0 = B-type0 -> two chunks
    assert M.get_chunks(seq[0], "IOB", 1) == [(0, 0, 0), (2, 2, 0)]


# ----------------------------------------------------------------------------- English tokenizer
def test_english_word_tokenize_treebank_rules():
    t = M.english_word_tokenize
    assert t("ernie 2.0 has 1,000 layers.") == ["ernie", "2.0", "has", "1,000", "layers", "."]
    assert t("don't stop, it's fine") == ["do", "n't", "stop", ",", "it", "'s", "fine"]
    assert t('he said "hi" (twice)') == ["he", "said", "``", "hi", "''", "(", "twice", ")"]
    assert t("cost $5 & 10%?") == ["cost", "$", "5", "&", "10", "%", "?"]
    assert t("end. next one") == ["end", ".", "next", "one"]      # sentence-final period of each sentence
    assert t("cannot") == ["can", "not"]


# What nltk.word_tokenize gives (punkt's English model, then the Treebank rules) for the token
# classes a regular-expression stand-in got wrong; each value follows from punkt's rules: a known
# abbreviation (dr, u.s) keeps its period when the next word is lower case, a number or an initial
# before a lower-case word punkt has seen capitalised keeps it too, e.g is not a known abbreviation,
# a sentence break is also taken before punctuation, and the unicode quotes are split off.
NLTK_WORD_TOKENIZE = [
    ("dr. smith", ["dr.", "smith"]),
    ("the u.s. army", ["the", "u.s.", "army"]),
    ("in the u.s.", ["in", "the", "u.s", "."]),          # the text-final period is always split off
    ("in 1990. he left", ["in", "1990.", "he", "left"]),
    ("j. smith", ["j.", "smith"]),
    ("e.g. next", ["e.g", ".", "next"]),
    ("e.g.; this", ["e.g", ".", ";", "this"]),
    ("word.) next", ["word", ".", ")", "next"]),
    ("‘abc’ «def» ghi", ["‘", "abc", "’", "«", "def", "»", "ghi"]),
]


@pytest.mark.parametrize("text,tokens", NLTK_WORD_TOKENIZE)
def test_english_word_tokenize_equals_nltk_word_tokenize(text, tokens):
    assert M.english_word_tokenize(text) == tokens


# ----------------------------------------------------------------------------- CMRC2018
def test_cmrc_segmentation_and_punctuation():
    assert M.cmrc_mixed_segmentation("ERNIE 2.0模型，很好!") == ["ernie", "2.0", "模", "型", "，", "很", "好", "!"]
    assert M.cmrc_mixed_segmentation("ERNIE 2.0模型，很好!", remove_punctuation=True) == \
        ["ernie", "2.0", "模", "型", "很", "好", "!"]
    assert M.cmrc_remove_punctuation(" 《北京-大学》 ") == "北京大学"
    # ASCII , . ? ! and the single '…' are not in the list ('……' never matches one character)
    assert M.cmrc_remove_punctuation("a,b…") == "a,b…"
    assert M.cmrc_lcs_length([1, 2, 3, 4], [1, 3, 4]) == 2      # contiguous, not a subsequence (3)
    assert M.cmrc_lcs_length([], [1]) == 0


def test_cmrc_f1_em_by_hand():
    # 4 vs 5 segments, lcs 4: P .8, R 1 -> 8/9
    assert M.cmrc_f1(["北京大学"], "北京大学生") == pytest.approx(8 / 9)
    assert M.cmrc_f1(["上海", "北京大学"], "北京大学生") == pytest.approx(8 / 9)  # max over answers
    assert M.cmrc_f1(["北京"], "上海") == 0.0
    assert M.cmrc_f1(["1998年"], "1998年") == 1.0
    assert M.cmrc_em(["《北京》"], "北京") == 1
    assert M.cmrc_em(["北京…"], "北京") == 0          # the quirk: '…' kept
    with pytest.raises(ValueError, match="at least one gold answer"):
        M.cmrc_f1([], "x")


def test_cmrc2018_evaluate_dataset():
    data = {"data": [{"paragraphs": [{"context": "…", "qas": [
        {"id": "q1 ", "question": "?", "answers": [{"text": "北京大学", "answer_start": 0}]},
        {"id": "q2", "question": "?", "answers": [{"text": "1998年", "answer_start": 0},
                                                  {"text": "一九九八年", "answer_start": 0}]},
        {"id": "q3", "question": "?", "answers": [{"text": "张三", "answer_start": 0}]}]}]}]}
    messages = []
    r = M.cmrc2018_evaluate(data, {"q1": "北京大学生", "q2": "1998年"}, log=messages.append)
    assert r["total"] == 3 and r["skip"] == 1 and messages == ["Unanswered question: q3"]
    assert r["f1"] == pytest.approx(100 * (8 / 9 + 1) / 3)
    assert r["em"] == pytest.approx(100 / 3)
    assert r["avg"] == pytest.approx((r["em"] + r["f1"]) / 2)


# The official cmrc2018_evaluate.py's F1 on one question per token class (segments after nltk;
# "." is not in the script's punctuation list, so it stays a segment).
CMRC_OFFICIAL_F1 = [
    # gold ["dr.", "smith"], prediction ["dr.", "smith", "said"]: lcs 2, P 2/3, R 1
    ("dr. smith", "dr. smith said", 0.8),
    # gold ["the", "u.s.", "army"], prediction ["u.s.", "army"]: lcs 2, P 1, R 2/3
    ("the u.s. army", "u.s. army", 0.8),
    # gold ["in", "1990.", "he", "left"], prediction ["1990.", "he"]: lcs 2, P 1, R 1/2
    ("in 1990. he left", "1990. he", 2 / 3),
    # gold ["e.g", ".", ";", "this"], prediction ["e.g", "."]: lcs 2, P 1, R 1/2
    ("e.g.; this", "e.g.", 2 / 3),
    # gold ["«", "abc", "»", "def"], prediction ["abc", "def"]: lcs 1, P 1/2, R 1/4
    ("«abc» def", "abc def", 1 / 3),
    # gold ["‘", "abc", "def"], prediction ["abc", "def"]: lcs 2, P 1, R 2/3
    ("‘abc def", "abc def", 0.8),
]


@pytest.mark.parametrize("gold,prediction,f1", CMRC_OFFICIAL_F1)
def test_cmrc_f1_equals_the_official_script(gold, prediction, f1):
    assert M.cmrc_f1([gold], prediction) == pytest.approx(f1)


def test_cmrc2018_file_score_and_the_original_layout():
    """The same questions in the SQuAD-style and in the original CMRC2018 layout give the official
    script's file score: F1 = mean of the per-question values above, EM = 0 for all (the texts differ)."""
    squad_style = {"data": [{"paragraphs": [{"context": "c", "qas": [
        {"id": "q%d" % i, "question": "?", "answers": [{"text": gold, "answer_start": 0}]}
        for i, (gold, _, _) in enumerate(CMRC_OFFICIAL_F1)]}]}]}
    original = [{"context_id": "c1", "context_text": "c", "qas": [
        {"query_id": " q%d " % i, "query_text": "?", "answers": [gold, "unrelated"]}
        for i, (gold, _, _) in enumerate(CMRC_OFFICIAL_F1)]}]
    predictions = {"q%d" % i: pred for i, (_, pred, _) in enumerate(CMRC_OFFICIAL_F1)}
    want = 100 * sum(f for _, _, f in CMRC_OFFICIAL_F1) / len(CMRC_OFFICIAL_F1)
    for dataset in (squad_style, original):
        r = M.cmrc2018_evaluate(dataset, predictions, log=lambda m: None)
        assert r["f1"] == pytest.approx(want) and r["em"] == 0.0 and r["total"] == 6 and r["skip"] == 0
    with pytest.raises(ValueError, match="neither 'paragraphs' nor 'qas'"):
        M.cmrc2018_evaluate([{"context": "c"}], predictions)


def test_cmrc2018_question_id_whitespace_as_the_official_script():
    """The official script strips the gold id and looks the stripped id up in the predictions as they are."""
    data = [{"context_id": "c", "context_text": "c", "qas": [{"query_id": " q1 ", "query_text": "?",
                                                              "answers": ["北京"]}]}]
    assert M.cmrc2018_evaluate(data, {"q1": "北京"}, log=lambda m: None)["em"] == 100.0
    messages = []
    r = M.cmrc2018_evaluate(data, {" q1 ": "北京"}, log=messages.append)
    assert r["skip"] == 1 and r["em"] == 0.0 and messages == ["Unanswered question: q1"]


def test_pearson_equals_scipy_at_extreme_scales():
    stats = pytest.importorskip("scipy.stats")
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])   # r = 4 / 5 by hand
    for scale in (1.0, 1e80, 1e-160, 1e150):
        assert M.pearson(x * scale, y * scale) == pytest.approx(0.8, rel=1e-12)
        assert M.pearson(x * scale, y * scale) == pytest.approx(stats.pearsonr(x * scale, y * scale)[0], rel=1e-12)
    rng = np.random.RandomState(0)
    a = rng.normal(size=50)
    b = 0.9 * a + 0.3 * rng.normal(size=50)
    for sa, sb in ((1e80, 1e-160), (1e-160, 1e80), (1.0, 1.0)):
        assert M.pearson(a * sa, b * sb) == pytest.approx(stats.pearsonr(a * sa, b * sb)[0], rel=1e-9)
    assert math.isnan(M.pearson([1e80] * 3, [1, 2, 3]))


# ----------------------------------------------------------------------------- SQuAD
def test_squad_v2_has_answer_split_as_the_official_script():
    """HasAns = the answer list is non-empty, even when every answer normalises to "" (scored against "")."""
    qas = [{"id": "the", "question": "?", "answers": [{"text": "The", "answer_start": 0}]},
           {"id": "cat", "question": "?", "answers": [{"text": "cat", "answer_start": 0}]},
           {"id": "none", "question": "?", "answers": []}]
    r = M.squad_evaluate(_squad(qas), {"the": "", "cat": "dog", "none": "x"})
    assert r["HasAns_total"] == 2 and r["HasAns_exact"] == 50.0 and r["HasAns_f1"] == 50.0
    assert r["NoAns_total"] == 1 and r["NoAns_exact"] == 0.0
    assert r["exact_match"] == pytest.approx(100 / 3) and r["total"] == 3


def _squad(qas):
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}


def test_squad_normalisation_and_token_f1():
    assert M.squad_normalize_answer("The  Cat, sat!") == "cat sat"
    assert M.squad_normalize_answer("an apple") == "apple"
    assert M.squad_normalize_answer("theatre") == "theatre"      # only whole words are articles
    assert M.squad_exact("The cat", "cat.") == 1
    assert M.squad_f1("the cat sat", "cat sat down") == pytest.approx(0.8)   # P 2/3, R 1
    assert M.squad_f1("a a b", "a b b") == pytest.approx(2 / 3)             # multiset overlap 2
    assert M.squad_f1("", "") == 1.0 and M.squad_f1("", "x") == 0.0
    assert M.squad_f1("", "", version=1) == 0.0


def test_squad_evaluate_v1_and_v2():
    qas = [{"id": "a", "question": "?", "answers": [{"text": "the cat sat", "answer_start": 0},
                                                     {"text": "cat", "answer_start": 0}]},
           {"id": "b", "question": "?", "answers": [], "is_impossible": True},
           {"id": "c", "question": "?", "answers": [{"text": "dog", "answer_start": 0}]}]
    preds = {"a": "cat sat down", "b": ""}
    messages = []
    r = M.squad_evaluate(_squad(qas), preds, version=2, log=messages.append)
    # a: EM max(0, 0) = 0, F1 max(0.8, 0.5) = 0.8; b: 1/1; c: missing -> 0
    assert r["total"] == 3 and r["missing"] == 1 and len(messages) == 1
    assert r["exact_match"] == pytest.approx(100 / 3) and r["f1"] == pytest.approx(180 / 3)
    assert r["HasAns_total"] == 2 and r["HasAns_f1"] == pytest.approx(40.0)
    assert r["NoAns_total"] == 1 and r["NoAns_exact"] == 100.0
    assert M.squad_evaluate(_squad(qas), {"a": "x", "b": "something", "c": "Dog"})["NoAns_f1"] == 0.0
    with pytest.raises(ValueError, match="question b has no gold answer"):
        M.squad_evaluate(_squad(qas), preds, version=1)
    r1 = M.squad_evaluate(_squad([qas[0], qas[2]]), {"a": "The cat sat", "c": "a dog"}, version=1)
    assert r1["exact_match"] == 100.0 and r1["f1"] == 100.0 and "HasAns_total" not in r1


def test_paddlenlp_squad_evaluate_is_impossible_quirk():
    squad = pytest.importorskip("paddlenlp.metrics.squad", reason="paddlenlp not installed")
    answerable = {"id": "a", "answers": {"text": ["cat"], "answer_start": [0]}, "is_impossible": False}
    out = squad.squad_evaluate([answerable], {"a": "cat"})
    assert out.get("NoAns_total") == 1 and "HasAns_total" not in out     # flag read inverted
    ours = M.squad_evaluate(_squad([{"id": "a", "question": "?", "is_impossible": False,
                                     "answers": [{"text": "cat", "answer_start": 0}]}]), {"a": "cat"})
    assert ours["HasAns_total"] == 1 and "NoAns_total" not in ours
    # the recipe (leave is_impossible out, HF-style answers) agrees with us on exact/f1
    examples = [{"id": "a", "answers": {"text": ["the cat sat", "cat"], "answer_start": [0, 0]}},
                {"id": "b", "answers": {"text": [], "answer_start": []}}]
    preds = {"a": "cat sat down", "b": ""}
    theirs = squad.squad_evaluate(examples, preds)
    ours = M.squad_evaluate(_squad([
        {"id": "a", "question": "?", "answers": [{"text": "the cat sat", "answer_start": 0},
                                                 {"text": "cat", "answer_start": 0}]},
        {"id": "b", "question": "?", "answers": []}]), preds)
    assert theirs["exact"] == pytest.approx(ours["exact_match"]) and theirs["f1"] == pytest.approx(ours["f1"])
    assert theirs["HasAns_total"] == ours["HasAns_total"] == 1
