"""reader.task_reader: records, truncation, padding, batching, shuffling, bad input."""
import json
import os

import numpy as np
import pytest

from conftest import original_path
from reader.task_reader import (ClassifyReader, DataError, ExtractEmbeddingReader, make_input_mask,
                                pad_batch_data)
from reader.vocab import load_vocab

HERE = os.path.dirname(os.path.abspath(__file__))
TINY_VOCAB = os.path.join(HERE, "fixtures", "vocab_tiny.txt")
VOCAB = load_vocab(TINY_VOCAB)
CLS, SEP, PAD, UNK = VOCAB["[CLS]"], VOCAB["[SEP]"], VOCAB["[PAD]"], VOCAB["[UNK]"]


def ids(*tokens):
    return [VOCAB[t] for t in tokens]


def write_tsv(tmp_path, rows, name="data.tsv", newline="\n"):
    path = tmp_path / name
    path.write_text(newline.join("\t".join(r) for r in rows) + newline, encoding="utf-8")
    return str(path)


def classify_reader(**kw):
    kw.setdefault("for_cn", False)
    return ClassifyReader(TINY_VOCAB, **kw)


def all_batches(reader, path, batch_size, **kw):
    kw.setdefault("shuffle", False)
    return list(reader.data_generator(path, batch_size, **kw)())


# ------------------------------------------------------------------ records
def test_single_sentence_record(tmp_path):
    path = write_tsv(tmp_path, [["label", "text_a"], ["1", "The quick fox jumps."]])
    (batch,) = all_batches(classify_reader(), path, 8)
    expect = [CLS] + ids("the", "quick", "fox", "jump", "##s", ".") + [SEP]
    assert batch["src_ids"].tolist() == [expect]
    assert batch["sent_ids"].tolist() == [[0] * len(expect)]
    assert batch["pos_ids"].tolist() == [list(range(len(expect)))]
    assert batch["labels"].tolist() == [[1]]


def test_pair_record_and_sentence_ids(tmp_path):
    path = write_tsv(tmp_path, [["text_a", "text_b", "label"], ["the fox", "a lazy dog", "0"]])
    (batch,) = all_batches(classify_reader(), path, 8)
    expect = [CLS] + ids("the", "fox") + [SEP] + ids("a", "lazy", "dog") + [SEP]
    assert batch["src_ids"].tolist() == [expect]
    assert batch["sent_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1, 1]]   # the final [SEP] is type 1
    assert batch["pos_ids"].tolist() == [list(range(8))]


@pytest.mark.parametrize("a_words, b_words, max_len, keep_a, keep_b", [
    (6, 2, 8, 3, 2),   # a longer: drop from a until 3 + 2 <= 5
    (2, 6, 8, 2, 3),   # b longer
    (4, 4, 8, 3, 2),   # tie -> drop from b first: (4,3) then a longer -> (3,3) then tie -> (3,2)
    (3, 3, 9, 3, 3),   # fits exactly
    (5, 1, 5, 1, 1),   # a 5 -> 1, then tie (1,1) fits max 2
])
def test_pair_truncation(tmp_path, a_words, b_words, max_len, keep_a, keep_b):
    words = ["one", "two", "three", "four", "cat", "dog", "fox"]
    text_a = " ".join(words[:a_words])
    text_b = " ".join(reversed(words[-b_words:]))
    path = write_tsv(tmp_path, [["text_a", "text_b", "label"], [text_a, text_b, "0"]])
    (batch,) = all_batches(classify_reader(max_seq_len=max_len), path, 8)
    # truncation drops tokens from the end of each sentence
    expect = ([CLS] + ids(*words[:a_words][:keep_a]) + [SEP]
              + ids(*list(reversed(words[-b_words:]))[:keep_b]) + [SEP])
    assert batch["src_ids"].tolist() == [expect]
    assert len(expect) <= max_len


def test_single_truncation_and_empty_text_b(tmp_path):
    path = write_tsv(tmp_path, [["text_a", "text_b", "label"], ["one two three four cat", "", "1"]])
    (batch,) = all_batches(classify_reader(max_seq_len=4), path, 8)
    assert batch["src_ids"].tolist() == [[CLS] + ids("one", "two") + [SEP]]
    assert batch["sent_ids"].tolist() == [[0, 0, 0, 0]]


def test_padding_and_feed_layout(tmp_path):
    path = write_tsv(tmp_path, [["text_a", "label", "qid"], ["fox", "0", "7"], ["the lazy dog sat", "1", "7"],
                                ["cat", "1", "9"]])
    (batch,) = all_batches(classify_reader(task_id=3), path, 8)
    assert list(batch) == ["src_ids", "sent_ids", "pos_ids", "task_ids", "input_mask", "labels", "qids"]
    for key in ("src_ids", "sent_ids", "pos_ids", "task_ids"):
        assert batch[key].dtype == np.int64 and batch[key].shape == (3, 6), key
    assert batch["input_mask"].dtype == np.float32 and batch["input_mask"].shape == (3, 6, 1)
    assert batch["src_ids"][0].tolist() == [CLS, VOCAB["fox"], SEP, PAD, PAD, PAD]
    assert batch["pos_ids"][0].tolist() == [0, 1, 2, 0, 0, 0]
    assert batch["input_mask"][:, :, 0].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6, [1, 1, 1, 0, 0, 0]]
    assert (batch["task_ids"] == 3).all()   # padding included, as the original
    assert batch["labels"].dtype == np.int64 and batch["labels"].tolist() == [[0], [1], [1]]
    assert batch["qids"].dtype == np.int64 and batch["qids"].tolist() == [[7], [7], [9]]


def test_regression_labels_and_inference(tmp_path):
    path = write_tsv(tmp_path, [["text_a", "text_b", "label"], ["fox", "dog", "3.800"], ["cat", "", "-1"]])
    (batch,) = all_batches(classify_reader(is_classify=False, is_regression=True), path, 8)
    assert batch["labels"].dtype == np.float32
    np.testing.assert_allclose(batch["labels"], [[3.8], [-1.0]], rtol=1e-6)
    assert "qids" not in batch
    (batch,) = all_batches(classify_reader(is_inference=True), path, 8)
    assert "labels" not in batch
    # inference needs no label column at all
    path = write_tsv(tmp_path, [["text_a"], ["fox"]], name="nolabel.tsv")
    (batch,) = all_batches(classify_reader(is_inference=True), path, 8)
    assert batch["src_ids"].tolist() == [[CLS, VOCAB["fox"], SEP]]


def test_label_map(tmp_path):
    label_map = tmp_path / "labels.json"
    label_map.write_text(json.dumps({"neg": 0, "pos": 1, "neutral": 2}))
    path = write_tsv(tmp_path, [["text_a", "label"], ["good", "pos"], ["bad", "neg"], ["cat", "neutral"]])
    (batch,) = all_batches(classify_reader(label_map_config=str(label_map)), path, 8)
    assert batch["labels"].tolist() == [[1], [0], [2]]


def test_columns_by_name_extra_columns_and_crlf(tmp_path):
    path = write_tsv(tmp_path, [["id", "label", "text_b", "text_a"], ["x1", "1", "dog", "fox"]], newline="\r\n")
    (batch,) = all_batches(classify_reader(), path, 8)
    assert batch["src_ids"].tolist() == [[CLS, VOCAB["fox"], SEP, VOCAB["dog"], SEP]]
    assert batch["labels"].tolist() == [[1]]   # "1\r" would not be a valid label


def test_for_cn_space_removal_only_where_the_original_did(tmp_path):
    path = write_tsv(tmp_path, [["text_a", "label"], ["the fox", "1"]])
    glued = all_batches(ClassifyReader(TINY_VOCAB, for_cn=True), path, 8)[0]
    assert glued["src_ids"].tolist() == [[CLS, UNK, SEP]]          # "thefox": the original's trap
    kept = all_batches(ClassifyReader(TINY_VOCAB, for_cn=False), path, 8)[0]
    assert kept["src_ids"].tolist() == [[CLS] + ids("the", "fox") + [SEP]]
    emb = all_batches(ExtractEmbeddingReader(TINY_VOCAB), path, 8)[0]
    assert emb["src_ids"].tolist() == kept["src_ids"].tolist()
    # labels are not touched by the space removal
    lm = tmp_path / "lm.json"
    lm.write_text(json.dumps({"very good": 1}))
    path = write_tsv(tmp_path, [["text_a", "label"], ["中 国", "very good"]], name="cn.tsv")
    b = all_batches(ClassifyReader(TINY_VOCAB, for_cn=True, label_map_config=str(lm)), path, 8)[0]
    assert b["src_ids"].tolist() == [[CLS] + ids("中", "国") + [SEP]] and b["labels"].tolist() == [[1]]


def test_extract_embedding_reader(tmp_path):
    path = write_tsv(tmp_path, [["text_a", "text_b"], ["fox", "dog cat"], ["the quick brown fox", ""]])
    (batch,) = all_batches(ExtractEmbeddingReader(TINY_VOCAB), path, 8)
    assert list(batch) == ["src_ids", "sent_ids", "pos_ids", "task_ids", "input_mask", "seq_lens"]
    assert batch["seq_lens"].dtype == np.int64 and batch["seq_lens"].tolist() == [6, 6]
    assert batch["sent_ids"].tolist() == [[0, 0, 0, 1, 1, 1], [0] * 6]


def test_pad_helpers():
    out = pad_batch_data([[5, 6], [7], [1, 2, 3]], pad_value=9)
    assert out.dtype == np.int64 and out.tolist() == [[5, 6, 9], [7, 9, 9], [1, 2, 3]]
    mask = make_input_mask([2, 1, 3], 3)
    assert mask.shape == (3, 3, 1) and mask[:, :, 0].tolist() == [[1, 1, 0], [1, 0, 0], [1, 1, 1]]


# ------------------------------------------------------------------ batching
def _numbered_file(tmp_path, lengths):
    """Example i has ``lengths[i]`` words (record length + 2) and label i."""
    rows = [["text_a", "label"]] + [[" ".join(["fox"] * n), str(i)] for i, n in enumerate(lengths)]
    return write_tsv(tmp_path, rows)


def test_example_count_batching(tmp_path):
    path = _numbered_file(tmp_path, [1] * 7)
    batches = all_batches(classify_reader(), path, 3)
    assert [b["labels"].ravel().tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]


def test_token_budget_batching(tmp_path):
    lengths = [1, 1, 4, 2, 9, 1, 1, 1, 1, 3]          # record lengths are these + 2
    path = _numbered_file(tmp_path, lengths)
    budget = 16
    batches = all_batches(classify_reader(in_tokens=True), path, budget)
    got = [b["labels"].ravel().tolist() for b in batches]
    # by hand: [3,3]=6 ok, +6 -> 3*6=18 > 16 -> emit; [6,4]=12 ok, +11 -> 33 -> emit;
    # [11] alone (+3 -> 2*11=22 -> emit); [3,3,3,3] = 4*3=12, +5 -> 5*5=25 -> emit; [5]
    assert got == [[0, 1], [2, 3], [4], [5, 6, 7, 8], [9]]
    for b in batches:
        assert b["src_ids"].size <= budget
    # a record longer than the budget gets a batch of its own instead of an empty batch
    batches = all_batches(classify_reader(in_tokens=True), path, 8)
    assert [4] in [b["labels"].ravel().tolist() for b in batches]


def test_dev_count_drops_only_the_final_partial_group(tmp_path):
    path = _numbered_file(tmp_path, [1] * 5)
    batches = all_batches(classify_reader(), path, 2, dev_count=2, epoch=1)
    assert [b["labels"].ravel().tolist() for b in batches] == [[0, 1], [2, 3]]
    batches = all_batches(classify_reader(), path, 2, dev_count=2, epoch=2)
    # 3 batches per epoch; the group buffer spans epochs: 6 batches, none dropped
    assert len(batches) == 6


def _epoch_orders(reader, path, epochs):
    labels = [b["labels"].ravel().tolist() for b in reader.data_generator(path, 100, epoch=epochs,
                                                                          shuffle=True)()]
    return labels


def test_seeded_shuffling_is_deterministic_and_private(tmp_path):
    n = 20
    path = _numbered_file(tmp_path, [1] * n)
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    first = _epoch_orders(classify_reader(random_seed=42), path, 3)
    assert np.array_equal(np.random.get_state()[1], before)   # the global RNG is not used
    assert first == _epoch_orders(classify_reader(random_seed=42), path, 3)
    assert first != _epoch_orders(classify_reader(random_seed=43), path, 3)
    # each epoch shuffles the previous epoch's order in place with the reader's RandomState
    rng, order, expect = np.random.RandomState(42), list(range(n)), []
    for _ in range(3):
        rng.shuffle(order)
        expect.append(list(order))
    assert first == expect
    assert all(sorted(e) == list(range(n)) for e in first)


def test_train_progress_attributes(tmp_path):
    path = _numbered_file(tmp_path, [1] * 5)
    reader = classify_reader(random_seed=1)
    seen = [(reader.current_epoch, reader.current_example)
            for _ in reader.data_generator(path, 2, epoch=2, shuffle=True, phase="train")()]
    assert seen == [(0, 2), (0, 4), (0, 5), (1, 2), (1, 4), (1, 5)]
    assert reader.get_num_examples(path) == 5


# ------------------------------------------------------------------ bad input
BAD_CASES = [
    ("wrong_columns", [["text_a", "label"], ["fox", "1"], ["dog", "0", "extra"]], {}, 3,
     "3 TAB-separated fields but the header has 2"),
    ("too_few_columns", [["text_a", "text_b", "label"], ["fox", "1"]], {}, 2, "2 TAB-separated fields"),
    ("blank_line", [["text_a", "label"], ["fox", "1"], [""], ["dog", "0"]], {}, 3, "blank line"),
    ("empty_text_a", [["text_a", "label"], ["fox", "1"], ["  ", "0"]], {}, 3, "text_a is empty"),
    ("no_header", [["the fox", "1"], ["a dog", "0"]], {}, 1, "header"),
    ("no_text_a", [["sentence", "label"], ["fox", "1"]], {}, 1, "missing column(s): text_a"),
    ("no_label_column", [["text_a"], ["fox"]], {}, 1, "missing column(s): label"),
    ("duplicate_column", [["text_a", "text_a", "label"], ["a", "b", "1"]], {}, 1, "more than once"),
    ("regression_label", [["text_a", "label"], ["fox", "1.5"], ["dog", "high"]],
     dict(is_classify=False, is_regression=True), 3, "regression label 'high' is not a number"),
    ("regression_nan", [["text_a", "label"], ["fox", "nan"]],
     dict(is_classify=False, is_regression=True), 2, "not finite"),
    ("string_label_without_map", [["text_a", "label"], ["fox", "pos"]], {}, 2, "not an integer class id"),
    ("label_out_of_range", [["text_a", "label"], ["fox", "1"], ["dog", "2"]], dict(num_labels=2), 3,
     "outside [0, num_labels=2)"),
    ("bad_qid", [["text_a", "label", "qid"], ["fox", "1", "q1"]], {}, 2, "qid 'q1' is not an integer"),
]


@pytest.mark.parametrize("name, rows, kwargs, lineno, reason", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_is_reported_when_the_file_is_read(tmp_path, name, rows, kwargs, lineno, reason):
    path = write_tsv(tmp_path, rows)
    reader = classify_reader(**kwargs)
    with pytest.raises(DataError) as err:
        reader.data_generator(path, 4)          # raised before any batch is requested
    msg = str(err.value)
    assert msg.startswith("%s:%d: " % (path, lineno)), msg
    assert reason in msg, msg


def test_unknown_label_with_label_map(tmp_path):
    lm = tmp_path / "labels.json"
    lm.write_text(json.dumps({"neg": 0, "pos": 1}))
    path = write_tsv(tmp_path, [["text_a", "label"], ["fox", "pos"], ["dog", "Pos"]])
    with pytest.raises(DataError, match=r"data.tsv:3: label 'Pos' is not in the label map .*labels.json"):
        classify_reader(label_map_config=str(lm)).get_num_examples(path)


def test_bad_label_map_and_missing_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{neg: 0")
    with pytest.raises(DataError, match="bad.json is not valid UTF-8 JSON"):
        classify_reader(label_map_config=str(bad))
    bad.write_text(json.dumps({"neg": "zero"}))
    with pytest.raises(DataError, match="ids must be non-negative integers"):
        classify_reader(label_map_config=str(bad))
    with pytest.raises(DataError, match="cannot open data file .*missing.tsv"):
        classify_reader().data_generator(str(tmp_path / "missing.tsv"), 4)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.tsv: file is empty"):
        classify_reader().get_num_examples(str(empty))


def test_constructor_checks():
    with pytest.raises(ValueError, match="exactly one of is_classify and is_regression"):
        ClassifyReader(TINY_VOCAB, is_classify=True, is_regression=True)
    with pytest.raises(ValueError, match="unknown tokenizer"):
        ClassifyReader(TINY_VOCAB, tokenizer="SentencepieceTokenizer")
    with pytest.raises(ValueError, match="max_seq_len"):
        ExtractEmbeddingReader(TINY_VOCAB, max_seq_len=2)


def test_embedding_reader_ignores_labels_but_checks_rows(tmp_path):
    path = write_tsv(tmp_path, [["text_a", "label"], ["fox", "whatever"], ["dog"]])
    with pytest.raises(DataError, match=r"data.tsv:3: 1 TAB-separated fields"):
        ExtractEmbeddingReader(TINY_VOCAB).data_generator(path, 4)


def test_original_chinese_vocab_layout(tmp_path):
    vocab = original_path("config", "vocab.txt")
    table = load_vocab(vocab)
    path = write_tsv(tmp_path, [["text_a", "text_b", "label"], ["我 爱 中 国", "你好", "1"]])
    (batch,) = all_batches(ClassifyReader(vocab, for_cn=True), path, 4)
    expect = [table[t] for t in ["[CLS]", "我", "爱", "中", "国", "[SEP]", "你", "好", "[SEP]"]]
    assert batch["src_ids"].tolist() == [expect]
    assert expect[0] == 1 and expect[5] == 2   # [CLS]=1, [SEP]=2 in the Chinese vocab
