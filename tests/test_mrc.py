"""Reading comprehension: reader.mrc_reader (features, windows, bad input), ernie.cli.finetune.mrc
(post-processing, metrics) and run_mrc end to end on a tiny model.

All data are hand-written here (small SQuAD-format files in tmp_path, with their own tiny vocabularies);
every expected value below was worked out by hand from the rules in the module docs.
"""
import json
import logging
import os
import random
import re

import numpy as np
import paddle
import pytest
from finetune_helpers import capture_logs, make_model

from ernie.cli.finetune.args import UsageError
from ernie.cli.finetune.mrc import (MRCTask, compute_predictions, file_has_answers, parse_args, piece_text, run,
                                    score_predictions)
from reader.mrc_reader import (MRCReader, doc_spans, final_text_alignment, improve_answer_span, is_max_context,
                               read_squad_file, split_chinese)
from reader.task_reader import DataError

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EN_WORDS = ["the", "cat", "sat", "on", "mat", "where", "did", "he", "is", "un", "##aff", "##able", "(", ")", "-",
            "18", "##95", "19", "##43", ".", "?", "born", "when", "was"]
ZH_WORDS = ["北", "京", "是", "中", "国", "的", "首", "都", "，", "20", "##18", "年", "冬", "天", "。", "哪", "里",
            "什", "么", "时", "候"]
EN_CONTEXT = "The Cat sat on the mat. He is unaffable (1895-1943)."
ZH_CONTEXT = "北京是中国的首都，2018年冬天。"


def write_vocab(path, words):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(SPECIAL + list(words)) + "\n")
    return str(path)


def write_squad(path, paragraphs):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "test", "data": [{"title": "t", "paragraphs": paragraphs}]}, f, ensure_ascii=False)
    return str(path)


def qa(qid, question, answers=None, starts=None, **extra):
    out = {"id": qid, "question": question}
    if answers is not None:
        out["answers"] = [{"text": t, "answer_start": s} for t, s in zip(answers, starts or [None] * len(answers))]
    out.update(extra)
    return out


@pytest.fixture
def en(tmp_path):
    vocab = write_vocab(tmp_path / "vocab_en.txt", EN_WORDS)
    data = write_squad(tmp_path / "en.json", [{"context": EN_CONTEXT, "qas": [
        qa("a", "where did the cat sit?", ["the mat"], [15]),
        qa("b", "born?", ["1895", "1895-1943"], [41, 41])]}])
    return vocab, data


@pytest.fixture
def zh(tmp_path):
    vocab = write_vocab(tmp_path / "vocab_zh.txt", ZH_WORDS)
    data = write_squad(tmp_path / "zh.json", [{"context": ZH_CONTEXT, "qas": [
        qa("z1", "中国的首都是哪里？", ["北京"], [0]),
        qa("z2", "什么时候？", ["18"], [ZH_CONTEXT.index("18")])]}])
    return vocab, data


# --------------------------------------------------------------------------- features
def test_doc_spans_and_max_context_by_hand():
    # 20 pieces, windows of 8, stride 3: starts 0, 3, 6, 9, 12 (the last reaches the end)
    spans = doc_spans(20, 8, 3)
    assert [(s.start, s.length) for s in spans] == [(0, 8), (3, 8), (6, 8), (9, 8), (12, 8)]
    # a stride longer than the window advances by the window length only
    assert [(s.start, s.length) for s in doc_spans(10, 4, 100)] == [(0, 4), (4, 4), (8, 2)]
    assert [(s.start, s.length) for s in doc_spans(0, 4, 2)] == [(0, 0)]
    # piece 4: window 0 gives min(4, 3) = 3, window 1 min(1, 6) = 1 -> window 0
    assert is_max_context(spans, 0, 4) and not is_max_context(spans, 1, 4)
    # piece 5: min(5, 2) = 2 in both window 0 and window 1 (left 2, right 5): tie -> the first window
    assert is_max_context(spans, 0, 5) and not is_max_context(spans, 1, 5)
    # piece 6: window 1 (left 3, right 4) beats window 0 (min 1) and window 2 (min 0)
    assert [is_max_context(spans, i, 6) for i in range(3)] == [False, True, False]


def test_english_features_across_doc_strides(en):
    vocab, path = en
    reader = MRCReader(vocab, max_seq_len=16, for_cn=False, doc_stride=3, max_query_length=5, mode="train")
    examples, features = reader.read_file(path)
    assert [e.qas_id for e in examples] == ["a", "b"]
    a, b = examples
    # whitespace words; the answer "the mat" = words 4..5 ("mat." holds the period)
    assert a.doc_tokens == ["The", "Cat", "sat", "on", "the", "mat.", "He", "is", "unaffable", "(1895-1943)."]
    assert (a.start_position, a.end_position) == (4, 5)
    assert b.answers == ["1895", "1895-1943"] and (b.start_position, b.end_position) == (9, 9)
    fa = [f for f in features if f.example_index == 0]
    fb = [f for f in features if f.example_index == 1]
    # query "where did the cat sit ?" -> 6 pieces ("sit" unknown), cut to 5; 16 - 5 - 3 = 8 doc pieces per window
    assert fa[0].tokens[:7] == ["[CLS]", "where", "did", "the", "cat", "[UNK]", "[SEP]"]
    assert len(fa) == 5 and all(len(f.tokens) == 16 for f in fa)
    assert fa[0].tokens[7:15] == ["the", "cat", "sat", "on", "the", "mat", ".", "he"]
    assert fa[1].tokens[7:15] == ["on", "the", "mat", ".", "he", "is", "un", "##aff"]
    # answer pieces 4..5: window 0 -> 4 + 7 = 11, 12; window 1 (start 3) -> 8, 9; later windows -> [CLS]
    assert [(f.start_position, f.end_position) for f in fa] == [(11, 12), (8, 9), (0, 0), (0, 0), (0, 0)]
    assert fa[0].tokens[11:13] == ["the", "mat"]
    # max context of the answer pieces is window 0 (piece 5 ties, first window wins), of "." window 1
    assert fa[0].token_is_max_context[11] and fa[0].token_is_max_context[12]
    assert not fa[1].token_is_max_context[8] and not fa[1].token_is_max_context[9]
    assert fa[1].token_is_max_context[10] and not fa[0].token_is_max_context[13]
    assert fa[0].token_to_orig_map[12] == 5 and fa[0].token_to_orig_map[13] == 5   # "mat" and "." of "mat."
    # "1895" inside "(1895-1943).": the span is narrowed to the pieces "18 ##95" (pieces 13, 14);
    # query "born ?" = 2 pieces, 11 doc pieces per window: starts 0, 3, 6, 9
    assert [f.tokens[4] for f in fb] == ["the", "on", ".", "un"]
    assert [(f.start_position, f.end_position) for f in fb] == [(0, 0), (0, 0), (11, 12), (8, 9)]
    assert fb[2].tokens[11:13] == ["18", "##95"]
    # unique ids run over the file's features; segment ids and positions
    assert [f.unique_id for f in features] == list(range(1000000000, 1000000000 + len(features)))
    assert fa[0].text_type_ids == [0] * 7 + [1] * 9 and fa[0].position_ids == list(range(16))


def test_improve_answer_span(en):
    vocab, _ = en
    reader = MRCReader(vocab, max_seq_len=32, max_query_length=8, for_cn=False, mode="train")
    pieces = ["(", "18", "##95", "-", "19", "##43", ")", "."]
    assert improve_answer_span(pieces, 0, 7, reader.tokenizer, "1895") == (1, 2)
    assert improve_answer_span(pieces, 0, 7, reader.tokenizer, "1943)") == (4, 6)
    assert improve_answer_span(pieces, 0, 7, reader.tokenizer, "cat") == (0, 7)   # not found: unchanged


def test_chinese_features_and_answer_cut(zh):
    vocab, path = zh
    train = MRCReader(vocab, max_seq_len=32, for_cn=True, doc_stride=4, max_query_length=8, mode="train")
    examples, features = train.read_file(path)
    z1, z2 = examples
    assert "".join(z1.doc_tokens) == ZH_CONTEXT and z1.joiner == ""
    # every CJK character is a token; "，2018" is one run, cut for training at the answer "18"
    assert z2.doc_tokens[8:12] == ["，20", "18", "年", "冬"]
    assert (z2.start_position, z2.end_position) == (9, 9)
    assert (z1.start_position, z1.end_position) == (0, 1)
    f2 = [f for f in features if f.example_index == 1]
    # query 什么时候？ = 5 pieces; 32 - 5 - 3 = 24 >= 16 document pieces: one window
    assert len(f2) == 1
    f = f2[0]
    assert f.tokens[7:18] == ["北", "京", "是", "中", "国", "的", "首", "都", "，", "20", "[UNK]"]
    # "18" alone is not a word-initial piece of the vocabulary: [UNK] at 17, the label points there
    assert (f.start_position, f.end_position) == (17, 17)
    # evaluation readers keep the runs whole and carry no labels
    ev = MRCReader(vocab, max_seq_len=32, max_query_length=8, for_cn=True, mode="eval")
    examples, features = ev.read_file(path)
    assert examples[1].doc_tokens[8:10] == ["，2018", "年"]
    assert features[1].start_position is None
    batch = next(ev.data_generator(path, 2, shuffle=False, phase="eval")())
    assert set(batch) == {"src_ids", "sent_ids", "pos_ids", "task_ids", "input_mask", "unique_ids"}
    assert batch["unique_ids"].reshape(-1).tolist() == [1000000000, 1000000001]


def test_split_chinese_cuts():
    tokens, c2t = split_chinese("ab中cd e", cuts=(1, 5))
    assert tokens == ["a", "b", "中", "cd", " ", "e"]
    assert c2t == [0, 1, 2, 3, 3, 4, 5]


def test_training_batches_shuffled_with_seed_and_labels(en):
    vocab, path = en

    def order(seed):
        reader = MRCReader(vocab, max_seq_len=16, for_cn=False, doc_stride=3, max_query_length=5, mode="train",
                           random_seed=seed)
        batches = list(reader.data_generator(path, 3, epoch=1, shuffle=True, phase="train")())
        return reader, batches

    r1, b1 = order(5)
    _, b2 = order(5)
    ids1 = np.concatenate([b["unique_ids"].reshape(-1) for b in b1]).tolist()
    assert ids1 == np.concatenate([b["unique_ids"].reshape(-1) for b in b2]).tolist()
    assert sorted(ids1) == list(range(1000000000, 1000000009)) and ids1 != sorted(ids1)
    assert r1.get_num_examples(path) == 9          # features, as the original's step count
    by_id = {f.unique_id: f for f in r1.get_features(path)}
    for b in b1:
        for uid, s, e in zip(b["unique_ids"].reshape(-1), b["start_positions"].reshape(-1),
                             b["end_positions"].reshape(-1)):
            assert (s, e) == (by_id[uid].start_position, by_id[uid].end_position)


# --------------------------------------------------------------------------- bad input
def test_answer_start_mismatch_is_a_counted_skip(tmp_path, en, caplog):
    vocab, _ = en
    path = write_squad(tmp_path / "bad.json", [{"context": EN_CONTEXT, "qas": [
        qa("good", "where did the cat sit?", ["the mat"], [15]),
        qa("wrong", "where?", ["the mat"], [14]),
        qa("outside", "where?", ["mat"], [100])]}])
    reader = MRCReader(vocab, max_seq_len=32, max_query_length=8, for_cn=False, mode="train")
    with caplog.at_level(logging.WARNING):
        examples = reader.get_examples(path)
    assert [e.qas_id for e in examples] == ["good"] and reader.skipped[path] == 2
    text = caplog.text
    assert "question id wrong" in text and "does not point at the answer text 'the mat'" in text
    assert "data[0].paragraphs[0].qas[1]" in text and "question id outside" in text and "outside the context" in text
    assert "skipped 2 training question(s)" in text
    # evaluation needs only the texts: nothing skipped, every gold answer kept
    ev = MRCReader(vocab, max_seq_len=32, max_query_length=8, for_cn=False, mode="eval")
    assert [e.answers for e in ev.get_examples(path)] == [["the mat"], ["the mat"], ["mat"]]


@pytest.mark.parametrize("paragraphs, mode, message", [
    ([{"qas": []}], "eval", r"data\[0\]\.paragraphs\[0\]: missing field 'context'"),
    ([{"context": "x"}], "eval", r"missing field 'qas'"),
    ([{"context": "x", "qas": [{"question": "q?", "answers": []}]}], "eval",
     r"qas\[0\]: missing field 'id'"),
    ([{"context": "x", "qas": [{"id": "q7", "answers": []}]}], "eval", r"question id q7\): missing field 'question'"),
    ([{"context": "x", "qas": [{"id": "q8", "question": "q?"}]}], "eval", r"question id q8\): missing field 'answers'"),
    ([{"context": "x", "qas": [{"id": "q9", "question": "q?", "answers": [{"text": "x"}]}]}], "train",
     r"qas\[0\]\.answers\[0\] \(question id q9\): missing field 'answer_start'"),
    ([{"context": "x", "qas": [{"id": "q1", "question": "q?", "answers": [{"answer_start": 0}]}]}], "eval",
     r"missing field 'text'"),
    ([{"context": "x", "qas": [qa("d", "q?", ["x"], [0]), qa("d", "q?", ["x"], [0])]}], "eval",
     r"qas\[1\] \(question id d\): duplicate question id"),
    ([{"context": "x", "qas": [qa("i", "q?", ["x"], [0], is_impossible="no")]}], "eval", r"is_impossible must be"),
])
def test_bad_input_errors_name_file_position_and_reason(tmp_path, en, paragraphs, mode, message):
    vocab, _ = en
    path = write_squad(tmp_path / "bad.json", paragraphs)
    reader = MRCReader(vocab, max_seq_len=32, max_query_length=8, for_cn=False, mode=mode)
    with pytest.raises(DataError, match=message) as info:
        reader.read_file(path)
    assert str(path) in str(info.value)


def test_bad_files(tmp_path, en):
    vocab, _ = en
    reader = MRCReader(vocab, max_seq_len=32, max_query_length=8, for_cn=False, mode="eval")
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(DataError, match="data file .*broken.json is not valid UTF-8 JSON"):
        reader.read_file(str(broken))
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    with pytest.raises(DataError, match="SQuAD format"):
        reader.read_file(str(tmp_path / "list.json"))
    with pytest.raises(DataError, match="data file .*absent.json does not exist"):
        reader.read_file(str(tmp_path / "absent.json"))
    with pytest.raises(DataError, match="no usable question"):
        reader.read_file(write_squad(tmp_path / "empty.json", [{"context": "x", "qas": []}]))
    with pytest.raises(ValueError, match="no room for the document"):
        MRCReader(vocab, max_seq_len=10, max_query_length=7)


def test_unanswerable_questions(tmp_path, en):
    vocab, _ = en
    path = write_squad(tmp_path / "v2.json", [{"context": EN_CONTEXT, "qas": [
        qa("n1", "when was he born?", [], [], is_impossible=True),
        {"id": "n2", "question": "why?", "is_impossible": True},
        qa("y", "born?", ["1895"], [41])]}])
    reader = MRCReader(vocab, max_seq_len=16, for_cn=False, doc_stride=4, max_query_length=5, mode="train")
    examples, features = reader.read_file(path)
    assert [e.is_impossible for e in examples] == [True, True, False]
    assert all((f.start_position, f.end_position) == (0, 0) for f in features if f.example_index < 2)
    assert any(f.start_position > 0 for f in features if f.example_index == 2)
    ev = MRCReader(vocab, max_seq_len=16, max_query_length=8, for_cn=False, mode="eval").get_examples(path)
    assert [e.answers for e in ev] == [[], [], ["1895"]]


def test_unlabelled_file_for_prediction(tmp_path, en):
    vocab, labelled = en
    path = write_squad(tmp_path / "plain.json", [{"context": EN_CONTEXT, "qas": [
        {"id": "p1", "question": "where did the cat sit?"}, {"id": "p2", "question": "born?"}]}])
    assert not file_has_answers(path) and file_has_answers(labelled)
    examples = read_squad_file(path, mode="predict", for_cn=False)
    assert [(e.qas_id, e.answers) for e in examples] == [("p1", []), ("p2", [])]
    with pytest.raises(DataError, match=r"question id p1\): missing field 'answers'"):
        read_squad_file(path, mode="eval", for_cn=False)


# --------------------------------------------------------------------------- answer mapping and post-processing
def test_final_text_alignment():
    # lower-cased prediction mapped back to the original casing, punctuation outside dropped
    assert final_text_alignment("the cat", "The Cat", True) == "The Cat"
    assert final_text_alignment("1895", "(1895-1943).", True) == "1895"
    assert final_text_alignment("1895 - 1943", "(1895-1943).", True) == "1895-1943"
    assert final_text_alignment("café", "Café.", True) == "Café.", "accent stripped: not found -> whole text"
    assert final_text_alignment("cafe", "Café.", True) == "Café"
    assert final_text_alignment("18", "，2018", True) == "18"
    assert final_text_alignment("北 京", "北京", True) == "北京"
    assert final_text_alignment("[UNK]", "mat.", True) == "mat."
    assert piece_text(["un", "##aff", "##able", "(", "18", "##95"]) == "unaffable ( 1895"


def _logits(feature, start, end, base=-5.0):
    n = len(feature.tokens)
    s, e = np.full(n, base), np.full(n, base)
    for pos, value in start.items():
        s[pos] = value
    for pos, value in end.items():
        e[pos] = value
    return s, e


def test_predictions_from_hand_set_logits_english(en):
    vocab, path = en
    reader = MRCReader(vocab, max_seq_len=64, for_cn=False, mode="eval", max_query_length=16)
    examples, features = reader.read_file(path)
    fa, fb = features           # one window each
    assert fa.tokens[8:12] == ["the", "cat", "sat", "on"] and fb.tokens[4:6] == ["the", "cat"]
    # question a: best pair "the cat" (8..9, score 10 + 9), then "the cat sat" (8..10, 10 + 7) and
    # "cat" (9..9, 8 + 9), tied at 17: the one found first stays first
    a_logits = _logits(fa, {8: 10.0, 9: 8.0}, {9: 9.0, 10: 7.0})
    # question b: position 1 ("born", in the query) has the best logits but is not a document piece;
    # the best document pair is "18" .. "##43" (6 + 5), mapped back to "1895-1943" of "(1895-1943)."
    i18 = fb.tokens.index("18")
    b_logits = _logits(fb, {1: 20.0, i18: 6.0}, {1: 20.0, i18 + 1: 3.0, i18 + 4: 5.0})
    results = {fa.unique_id: a_logits, fb.unique_id: b_logits}
    preds, nbest, _ = compute_predictions(examples, features, results, n_best_size=3, max_answer_length=10,
                                          do_lower_case=True)
    assert preds == {"a": "The Cat", "b": "1895-1943"}
    texts = [x["text"] for x in nbest["a"]]
    assert texts == ["The Cat", "The Cat sat", "Cat"]
    assert nbest["a"][0]["start_logit"] == 10.0 and nbest["a"][0]["end_logit"] == 9.0
    assert abs(sum(x["probability"] for x in nbest["a"]) - 1.0) < 1e-9
    p = np.exp([19.0, 17.0, 17.0])
    assert abs(nbest["a"][0]["probability"] - p[0] / p.sum()) < 1e-9
    # max_answer_length 1: only one-piece answers: "Cat" (9..9); for b no top-3 end equals a top-3 start
    # document piece, so no candidate is left and the answer is empty
    preds, nbest, _ = compute_predictions(examples, features, results, n_best_size=3, max_answer_length=1,
                                          do_lower_case=True)
    assert preds == {"a": "Cat", "b": ""}
    # no candidate at all (every end before every start): empty answer
    bad = {fa.unique_id: _logits(fa, {12: 9.0}, {9: 9.0}, base=-1e9), fb.unique_id: b_logits}
    preds, nbest, _ = compute_predictions(examples, features, bad, n_best_size=1, max_answer_length=5)
    assert preds["a"] == "" and nbest["a"] == [{"text": "", "probability": 1.0, "start_logit": 0.0,
                                                 "end_logit": 0.0}]


def test_predictions_pick_the_max_context_window(en):
    vocab, path = en
    reader = MRCReader(vocab, max_seq_len=16, for_cn=False, doc_stride=3, max_query_length=5, mode="eval")
    examples, features = reader.read_file(path)
    fa = [f for f in features if f.example_index == 0]
    results = {f.unique_id: _logits(f, {}, {}) for f in features}
    # window 1 scores "the mat" (8..9) highest, but piece "the" has its max context in window 0, where it
    # scores lower: window 1's candidate is not allowed, window 0's is
    results[fa[1].unique_id] = _logits(fa[1], {8: 9.0}, {9: 9.0})
    results[fa[0].unique_id] = _logits(fa[0], {11: 1.0}, {12: 1.0})
    preds, _, _ = compute_predictions(examples, features, results, n_best_size=5, max_answer_length=5)
    assert preds["a"] == "the mat"


def test_predictions_chinese_character_spans(zh):
    vocab, path = zh
    reader = MRCReader(vocab, max_seq_len=40, max_query_length=8, for_cn=True, mode="eval")
    examples, features = reader.read_file(path)
    f1, f2 = features
    i = f1.tokens.index("北")
    j = f2.tokens.index("20")
    results = {f1.unique_id: _logits(f1, {i: 5.0}, {i + 1: 5.0}),
               f2.unique_id: _logits(f2, {j + 1: 5.0}, {j + 2: 5.0})}
    preds, _, _ = compute_predictions(examples, features, results, n_best_size=5, max_answer_length=5)
    # the run "，2018" -> pieces "，" "20" "##18"; "##18 年" spans two original tokens ("，2018", "年"),
    # aligned back to the characters "18年"
    assert f2.tokens[j:j + 3] == ["20", "##18", "年"]
    assert preds == {"z1": "北京", "z2": "18年"}


def test_null_answer_threshold(en):
    vocab, path = en
    reader = MRCReader(vocab, max_seq_len=64, for_cn=False, mode="eval", max_query_length=16)
    examples, features = reader.read_file(path)
    fa, fb = features
    # a: null 4 + 4 = 8, best span "The Cat" 3 + 3 = 6 -> diff 2; b: null 2, "Cat" 6 -> diff -4
    results = {fa.unique_id: _logits(fa, {0: 4.0, 8: 3.0}, {0: 4.0, 9: 3.0}),
               fb.unique_id: _logits(fb, {0: 1.0, 5: 3.0}, {0: 1.0, 5: 3.0})}
    preds, nbest, diff = compute_predictions(examples, features, results, 5, 10, True, version_2_with_negative=True)
    assert preds == {"a": "", "b": "Cat"} and diff == {"a": 2.0, "b": -4.0}
    assert nbest["a"][0]["text"] == "" and any(x["text"] == "" for x in nbest["b"])
    preds, _, _ = compute_predictions(examples, features, results, 5, 10, True, version_2_with_negative=True,
                                      null_score_diff_threshold=2.5)
    assert preds["a"] == "The Cat"


# --------------------------------------------------------------------------- metrics
class _Ex:
    def __init__(self, qas_id, answers):
        self.qas_id, self.answers = qas_id, answers


def test_scores_cmrc2018_by_hand():
    examples = [_Ex("1", ["北京", "北京市"]), _Ex("2", ["北京"]), _Ex("3", []), _Ex("4", ["首都"])]
    missing = []
    res = score_predictions(examples, {"1": "北京市", "2": "京。", "3": " "}, "cmrc2018", log=missing.append)
    # 1: exact (2nd gold); 2: EM 0 (京 != 北京), F1: lcs 1, P 1, R 1/2 -> 2/3; 3: empty for unanswerable -> 1;
    # 4: missing -> 0
    assert res["em"] == pytest.approx(50.0) and res["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1) / 4)
    assert res["total"] == 4 and res["missing"] == 1 and missing == ["Unanswered question: 4"]
    assert res["avg"] == pytest.approx((res["em"] + res["f1"]) / 2)
    # punctuation of the CMRC2018 list is ignored by EM, ASCII "." is not
    res = score_predictions([_Ex("1", ["北京"])], {"1": "“北京”"}, "cmrc2018")
    assert res["em"] == 100.0
    res = score_predictions([_Ex("1", ["北京"])], {"1": "北京."}, "cmrc2018")
    assert res["em"] == 0.0 and 0 < res["f1"] < 100
    res = score_predictions([_Ex("1", [])], {"1": "北京"}, "cmrc2018")
    assert res["em"] == 0.0 and res["f1"] == 0.0


def test_scores_squad_by_hand():
    examples = [_Ex("1", ["the Eiffel Tower", "Eiffel Tower"]), _Ex("2", ["the Eiffel Tower"]), _Ex("3", [])]
    res = score_predictions(examples, {"1": "Eiffel tower.", "2": "tower", "3": "x"}, "squad")
    # 1: normalised equal; 2: "eiffel tower" vs "tower": P 1, R 1/2 -> 2/3; 3: unanswerable, non-empty -> 0
    assert res["em"] == pytest.approx(100 / 3) and res["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    res = score_predictions([_Ex("3", [])], {"3": ""}, "squad")
    assert res["em"] == 100.0 and res["f1"] == 100.0
    with pytest.raises(ValueError, match="unknown"):
        score_predictions(examples, {}, "bleu")


# --------------------------------------------------------------------------- flags
def test_flags(tmp_path, en):
    vocab, path = en
    base = ["--use_cuda", "false", "--ernie_config_path", "c.json", "--vocab_path", vocab, "--train_set", path,
            "--dev_set", path, "--do_test", "false"]
    task = MRCTask()
    args = parse_args(base + ["--max_seq_len", "64", "--max_query_length", "61"])
    with pytest.raises(UsageError, match="no room"):
        task.check_args(args)
    with pytest.raises(SystemExit):                  # refused by the flag's range
        parse_args(base + ["--doc_stride", "0"])
    args = parse_args(base + ["--best_metric", "acc"])
    with pytest.raises(UsageError, match="best_metric"):
        task.check_args(args)
    args = parse_args(base + ["--version_2_with_negative", "true", "--null_score_diff_threshold", "1.5",
                              "--best_metric", "em"])
    task.check_args(args)
    assert args.version_2_with_negative and args.null_score_diff_threshold == 1.5
    assert task.primary_metric(args) == "em" and task.primary_metric(parse_args(base)) == "f1"


# --------------------------------------------------------------------------- end to end
def color_dataset(tmp_path, n=32, seed=0):
    """Hand-made English questions "what color is the <thing> ?" whose answer is the colour after
    "the <thing> is" in a context padded with random filler words (other colours never appear)."""
    rng = random.Random(seed)
    colors = ["red", "blue", "green", "yellow"]
    things = ["ball", "car", "bird", "book", "house", "hat"]
    filler = ["a", "small", "dog", "runs", "near", "old", "tree", "and", "it", "was", "very", "nice", "today"]
    paragraphs = []
    for i in range(n):
        thing, color = rng.choice(things), rng.choice(colors)
        pre = " ".join(rng.choice(filler) for _ in range(rng.randint(1, 6)))
        post = " ".join(rng.choice(filler) for _ in range(rng.randint(1, 6)))
        context = "%s . The %s is %s . %s ." % (pre, thing, color.capitalize() if i % 3 == 0 else color, post)
        start = context.index(" is ") + 4
        answer = context[start:start + len(color)]
        paragraphs.append({"context": context, "qas": [qa("q%d" % i, "what color is the %s ?" % thing,
                                                          [answer], [start])]})
    words = sorted(set(colors + things + filler + ["the", "is", "what", "color", ".", "?"]))
    vocab = write_vocab(tmp_path / "vocab_color.txt", words)
    return write_squad(tmp_path / "color.json", paragraphs), vocab, len(words) + len(SPECIAL)


EVAL_LINE = re.compile(r"^\[dev evaluation\] em: ([\d.]+), f1: ([\d.]+), avg: ([\d.]+), questions: (\d+), "
                       r"elapsed time: [\d.]+, file: (\S+), epoch: (\d+), steps: (\d+)$")
TRAIN_LINE = re.compile(r"^epoch: (\d+), progress: (\d+)/(\d+), step: (\d+), ave loss: ([\d.]+), "
                        r"speed: [\d.]+ steps/s$")


def test_end_to_end_training_learns(tmp_path):
    data, vocab, size = color_dataset(tmp_path)
    model = make_model(tmp_path / "model", vocab, size, max_len=48, dropout=0.0)

    def finetune(ckpt, *extra):
        argv = ["--use_cuda", "false", "--for_cn", "false", "--ernie_config_path",
                os.path.join(model, "ernie_config.json"), "--vocab_path", os.path.join(model, "vocab.txt"),
                "--init_pretraining_params", os.path.join(model, "params"), "--checkpoints", str(ckpt),
                "--train_set", data, "--dev_set", data, "--do_test", "true", "--test_set", data,
                "--test_save", str(tmp_path / ckpt.name / "test_pred.json"),
                "--max_seq_len", "32", "--max_query_length", "8", "--doc_stride", "8", "--batch_size", "8",
                "--warmup_proportion", "0", "--weight_decay", "0.0", "--skip_steps", "4", "--save_steps", "0",
                "--validation_steps", "0", "--validate_every_epoch", "false", "--random_seed", "1",
                "--n_best_size", "5", "--max_answer_length", "4"] + [str(x) for x in extra]
        with capture_logs() as logs:
            out = run(parse_args(argv))
        paddle.disable_static()
        return out, logs.messages

    # learning rate 0: the untrained model, through the same pipeline
    _, logs0 = finetune(tmp_path / "untrained", "--learning_rate", "0", "--epoch", "1")
    before = [EVAL_LINE.match(m) for m in logs0 if EVAL_LINE.match(m)]
    out, logs = finetune(tmp_path / "trained", "--learning_rate", "5e-3", "--epoch", "25")
    after = [EVAL_LINE.match(m) for m in logs if EVAL_LINE.match(m)]
    assert len(before) == 1 and len(after) == 1
    f1_before, f1_after = float(before[0].group(2)), float(after[0].group(2))
    assert after[0].group(4) == "32"
    assert f1_after >= f1_before + 40.0, (f1_before, f1_after)
    # training log lines: progress counts features (one window per question here)
    train = [TRAIN_LINE.match(m) for m in logs if TRAIN_LINE.match(m)]
    assert train and all(int(m.group(3)) == 32 for m in train)
    losses = [float(m.group(5)) for m in train]
    assert losses[-1] < losses[0]
    # prediction files: every question, texts taken from its context (original casing)
    step = int(after[0].group(7))
    ckpt = tmp_path / "trained"
    with open(ckpt / ("%d_dev_predictions.json" % step), encoding="utf-8") as f:
        preds = json.load(f)
    with open(ckpt / ("%d_dev_nbest_predictions.json" % step), encoding="utf-8") as f:
        nbest = json.load(f)
    with open(data, encoding="utf-8") as f:
        gold = {p["qas"][0]["id"]: p for p in json.load(f)["data"][0]["paragraphs"]}
    assert set(preds) == set(gold) == set(nbest)
    for qid, text in preds.items():
        assert text and text in gold[qid]["context"]
        assert nbest[qid][0]["text"] == text and len(nbest[qid]) <= 5
    # the F1 of the log line is the score of the written predictions
    reader = MRCReader(vocab, max_seq_len=32, for_cn=False, mode="eval", max_query_length=8)
    assert score_predictions(reader.get_examples(data), preds, "squad")["f1"] == pytest.approx(f1_after)
    # test file: predictions written and scored (it has answers); run record selects by f1
    result = out["result"]
    assert result["primary"] == "f1"
    ev = result["evaluations"][result["best"]]
    assert ev["dev"][data]["f1"] == pytest.approx(f1_after)
    assert ev["test"][data]["metrics"]["f1"] == pytest.approx(f1_after)
    assert os.path.isfile(ev["test"][data]["file"]) and os.path.isfile(ev["test"][data]["file"] + ".nbest.json")
    # evaluation only (--do_train false) from the final checkpoint reproduces the dev score
    final = ckpt / ("step_%d" % step)
    assert {"cls_mrc_out_w", "cls_mrc_out_b"} <= set(os.listdir(final))
    _, logs2 = finetune(tmp_path / "evalonly", "--do_train", "false", "--init_checkpoint", final,
                        "--do_test", "false")
    again = [EVAL_LINE.match(m) for m in logs2 if EVAL_LINE.match(m)]
    assert len(again) == 1 and float(again[0].group(2)) == pytest.approx(f1_after)
    # a checkpoint without the head is refused
    with pytest.raises(Exception, match="cls_mrc_out"):
        finetune(tmp_path / "nohead", "--do_train", "false", "--init_checkpoint", os.path.join(model, "params"),
                 "--do_test", "false")


def test_drcd_script_runs_chinese_end_to_end(tmp_path):
    """script/zh_task/ernie_base/run_drcd.sh with a tiny Chinese model: the flags the script passes work,
    the windows, Chinese character answers, dev and test prediction files and the CMRC2018 line."""
    import subprocess
    import sys

    from conftest import REPO

    data = tmp_path / "data" / "drcd"
    data.mkdir(parents=True)
    second = "中国的首都是北京，北京冬天。"
    paragraphs = [{"context": ZH_CONTEXT, "qas": [qa("z1", "中国的首都是哪里？", ["北京"], [0]),
                                                  qa("z2", "什么时候？", ["2018年", "2018"], [9, 9])]},
                  {"context": second, "qas": [qa("z3", "首都是哪里？", ["北京"], [6])]}]
    for name in ("train", "dev", "test"):
        write_squad(data / ("%s.json" % name), paragraphs)
    vocab = write_vocab(tmp_path / "vocab.txt", ZH_WORDS)
    model = make_model(tmp_path / "model", vocab, len(ZH_WORDS) + len(SPECIAL), max_len=48, dropout=0.0)
    env = dict(os.environ, MODEL_PATH=model, TASK_DATA_PATH=str(tmp_path / "data"), ERNIE_NUM_GPUS="0",
               PYTHON=sys.executable, OUTPUT_ROOT=str(tmp_path / "out"), CHECKPOINT_ROOT=str(tmp_path / "ckpt"),
               LOG_ROOT=str(tmp_path / "log"), CUDA_VISIBLE_DEVICES="")
    script = os.path.join(REPO, "script", "zh_task", "ernie_base", "run_drcd.sh")
    proc = subprocess.run(["sh", script, "--epoch", "1", "--max_seq_len", "24", "--max_query_length", "8",
                           "--doc_stride", "6", "--batch_size", "4", "--skip_steps", "1",
                           "--validation_steps", "0", "--validate_every_epoch", "false"],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    run_dir = os.path.join("model", "DRCD-base-cpu-demo", "run1")     # <model name>/<task>-<size>[-cpu-demo]
    ckpt, out = tmp_path / "ckpt" / run_dir, tmp_path / "out" / run_dir
    dev_line = re.search(r"\[dev evaluation\] em: [\d.]+, f1: [\d.]+, avg: [\d.]+, questions: 3, elapsed time: "
                         r"[\d.]+, file: \S+dev.json, epoch: 0, steps: (\d+)", log)
    assert dev_line, log[-3000:]
    assert re.search(r"\[test evaluation\] em: [\d.]+, f1: [\d.]+, avg: [\d.]+, questions: 3", log)
    # the windows: "Num train examples" counts features (several per question with 24-token windows)
    num = int(re.search(r"Num train examples: (\d+)", log).group(1))
    assert num > 3
    step = int(dev_line.group(1))
    raw = (ckpt / ("%d_dev_predictions.json" % step)).read_text(encoding="utf-8")
    preds = json.loads(raw)
    assert set(preds) == {"z1", "z2", "z3"}
    contexts = {"z1": ZH_CONTEXT, "z2": ZH_CONTEXT, "z3": second}
    for qid, text in preds.items():
        assert text in contexts[qid]          # character spans of the context
    assert "\\u" not in raw                   # Chinese written as such
    nbest = json.loads((ckpt / ("%d_dev_nbest_predictions.json" % step)).read_text(encoding="utf-8"))
    assert all(len(v) <= 20 and v[0]["text"] == preds[k] for k, v in nbest.items())
    assert json.loads((out / "test_predictions.json").read_text(encoding="utf-8")).keys() == preds.keys()
    result = json.loads((ckpt / "result.json").read_text(encoding="utf-8"))
    assert result["primary"] == "f1" and result["args"]["for_cn"] is True and result["args"]["doc_stride"] == 6
