"""run_sequence_labeling.py: the word-piece tag rule, chunk F1 per scheme, input errors, end to end.

Everything is made up here: a small vocabulary of Chinese characters and
English word pieces, an MSRA-style label map and a few dozen template
sentences.  The end-to-end runs use a random tiny ERNIE (2 layers, H 32) on
CPU, in-process through ``ernie.cli.finetune.sequence_labeling``.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys

import numpy as np
import paddle
import pytest
from finetune_helpers import capture_logs, save_random_params

from ernie.cli.finetune.args import UsageError
from ernie.cli.finetune.sequence_labeling import (HEAD_PARAMS, SequenceLabelTask, check_label_layout,
                                                  graph_chunk_counts, main as sl_main, parse_args, run)
from ernie.config import ErnieConfig
from ernie.metrics import CHUNK_SCHEMES, chunk_counts, chunk_f1, get_chunks
from reader.task_reader import DataError, SequenceLabelReader, subtoken_tags

MSRA_MAP = {"B-PER": 0, "I-PER": 1, "B-ORG": 2, "I-ORG": 3, "B-LOC": 4, "I-LOC": 5, "O": 6}
CHARS = list(dict.fromkeys("张李王三四五北京上海广州在去了到和是的公司银行大学工作学习年"))     # 学 once
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + CHARS + ["new", "##york", "play", "##ing", "##s", "in",
                                                                  "the", "1998"]
FLOAT = r"(-?[\d.]+|nan)"
TRAIN_LINE = re.compile(r"^epoch: (\d+), progress: (\d+)/(\d+), step: (\d+), loss: %s, f1: %s, precision: %s, "
                        r"recall: %s, speed: [\d.]+ steps/s$" % ((FLOAT,) * 4))
EVAL_LINE = re.compile(r"^\[(dev|test) evaluation\] f1: %s, precision: %s, recall: %s, elapsed time: [\d.]+ s, "
                       r"file: (\S+), epoch: (\d+), steps: (\d+)$" % ((FLOAT,) * 3))


def write_tsv(path, rows, header=("text_a", "label")):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    return str(path)


def joined(pairs):
    """[(token, tag)] -> (text_a, label) joined by \\x02."""
    return "\x02".join(w for w, _ in pairs), "\x02".join(t for _, t in pairs)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (root / "label_map.json").write_text(json.dumps(MSRA_MAP), encoding="utf-8")
    return root


def make_reader(files, max_seq_len=32, label_map=None, is_inference=False):
    return SequenceLabelReader(str(files / "vocab.txt"), label_map or str(files / "label_map.json"),
                               max_seq_len=max_seq_len, is_inference=is_inference)


# ----------------------------------------------------------------------------- word-piece tags
def test_subtoken_tag_rule():
    assert subtoken_tags("B-LOC", 0) == []
    assert subtoken_tags("B-LOC", 1) == ["B-LOC"]
    assert subtoken_tags("B-LOC", 3) == ["B-LOC", "I-LOC", "I-LOC"]
    assert subtoken_tags("I-LOC", 2) == ["I-LOC", "I-LOC"]
    assert subtoken_tags("O", 3) == ["O", "O", "O"]
    assert subtoken_tags("S-PER", 1) == ["S-PER"]
    assert subtoken_tags("S-PER", 2) == ["B-PER", "E-PER"]
    assert subtoken_tags("S-PER", 4) == ["B-PER", "I-PER", "I-PER", "E-PER"]
    assert subtoken_tags("E-ORG", 3) == ["I-ORG", "I-ORG", "E-ORG"]
    assert subtoken_tags("PER", 2) == ["PER", "PER"]          # IO scheme: plain types repeat


def test_alignment_chinese_chars_and_english_pieces(files, tmp_path):
    rows = [joined([("张", "B-PER"), ("三", "I-PER"), ("在", "O"), ("北", "B-LOC"), ("京", "I-LOC")]),
            joined([("newyork", "B-LOC"), ("playing", "I-LOC"), (" ", "O"), ("the", "O"), ("1998年", "B-ORG")]),
            joined([("Plays", "O"), ("zzz", "B-PER")])]
    path = write_tsv(tmp_path / "a.tsv", rows)
    reader = make_reader(files)
    ex = reader.read_examples(path)
    assert [e.lineno for e in ex] == [2, 3, 4]
    # Chinese: one piece per character, tags unchanged
    pieces, tags, first = reader.align(ex[0])
    assert pieces == ["张", "三", "在", "北", "京"]
    assert tags == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]
    assert first == [0, 1, 2, 3, 4]
    # English pieces: B-X continues as I-X; a space has no piece (dropped with its tag);
    # "1998年" is two words for the basic tokenizer (digits, CJK char)
    pieces, tags, first = reader.align(ex[1])
    assert pieces == ["new", "##york", "play", "##ing", "the", "1998", "年"]
    assert tags == ["B-LOC", "I-LOC", "I-LOC", "I-LOC", "O", "B-ORG", "I-ORG"]
    assert first == [0, 2, -1, 4, 5]
    # lower-casing, and an unknown word is one [UNK] piece
    pieces, tags, _ = reader.align(ex[2])
    assert pieces == ["play", "##s", "[UNK]"] and tags == ["O", "O", "B-PER"]

    record = reader._convert_example_to_record(ex[1])
    o = MSRA_MAP["O"]
    assert record.label_ids == [o, 4, 5, 5, 5, o, 2, 3, o]        # [CLS] ... [SEP] get O
    assert record.token_ids[0] == VOCAB.index("[CLS]") and record.token_ids[-1] == VOCAB.index("[SEP]")
    assert record.token_ids[1:3] == [VOCAB.index("new"), VOCAB.index("##york")]
    assert record.text_type_ids == [0] * 9 and record.position_ids == list(range(9))

    # truncation to max_seq_len - 2 pieces
    short = make_reader(files, max_seq_len=5)
    record = short._convert_example_to_record(short.read_examples(path)[1])
    assert record.label_ids == [o, 4, 5, 5, o] and len(record.token_ids) == 5

    # batches: label_ids padded with O, seq_lens with [CLS]/[SEP]
    batch = next(reader.data_generator(path, 3, shuffle=False)())
    assert batch["label_ids"].dtype == np.int64 and batch["label_ids"].shape == (3, 9)
    assert batch["seq_lens"].tolist() == [7, 9, 5]
    assert batch["label_ids"][0].tolist() == [o, 0, 1, o, 4, 5, o, o, o]
    assert batch["input_mask"][:, :, 0].sum(axis=1).tolist() == [7, 9, 5]
    assert batch["src_ids"][2, 5:].tolist() == [0, 0, 0, 0]

    # inference: no label column needed, no label_ids
    path2 = write_tsv(tmp_path / "b.tsv", [(r[0],) for r in rows], header=("text_a",))
    batch = next(make_reader(files, is_inference=True).data_generator(path2, 3, shuffle=False)())
    assert "label_ids" not in batch and batch["seq_lens"].tolist() == [7, 9, 5]


def test_iobes_pieces_and_missing_piece_tag(files, tmp_path):
    iobes = {"B-PER": 0, "I-PER": 1, "E-PER": 2, "S-PER": 3, "O": 4}
    (tmp_path / "iobes.json").write_text(json.dumps(iobes))
    path = write_tsv(tmp_path / "c.tsv", [joined([("playing", "S-PER"), ("newyork", "O")])])
    reader = make_reader(files, label_map=str(tmp_path / "iobes.json"))
    record = reader._convert_example_to_record(reader.read_examples(path)[0])
    assert record.label_ids == [4, 0, 2, 4, 4, 4]
    # an IOB map without I-LOC: a two-piece B-LOC word needs I-LOC -> error naming file and line
    (tmp_path / "noi.json").write_text(json.dumps({"B-LOC": 0, "O": 1}))
    path = write_tsv(tmp_path / "d.tsv", [joined([("北", "B-LOC")]), joined([("newyork", "B-LOC")])])
    reader = make_reader(files, label_map=str(tmp_path / "noi.json"))
    reader._convert_example_to_record(reader.read_examples(path)[0])
    with pytest.raises(DataError, match=r"d\.tsv:3: .*needs the tag 'I-LOC'"):
        reader._convert_example_to_record(reader.read_examples(path)[1])


# ----------------------------------------------------------------------------- bad input
def test_bad_input_names_file_line_and_reason(files, tmp_path):
    good = joined([("张", "B-PER"), ("三", "I-PER")])
    reader = make_reader(files)
    path = write_tsv(tmp_path / "count.tsv", [good, ("张\x02三\x02在", "B-PER\x02I-PER")])
    with pytest.raises(DataError, match=r"count\.tsv:3: 3 tokens in text_a but 2 tags"):
        reader.read_examples(path)
    path = write_tsv(tmp_path / "unknown.tsv", [("张\x02三", "B-PER\x02I-FOO"), good])
    with pytest.raises(DataError, match=r"unknown\.tsv:2: tag 'I-FOO' of token 2 \('三'\) is not in the label map"):
        reader.read_examples(path)
    path = write_tsv(tmp_path / "nolabel.tsv", [(good[0],)], header=("text_a",))
    with pytest.raises(DataError, match=r"nolabel\.tsv:1: .*missing column\(s\): label"):
        reader.read_examples(path)
    path = write_tsv(tmp_path / "empty.tsv", [good, ("", "")])
    with pytest.raises(DataError, match=r"empty\.tsv:3: text_a is empty"):
        reader.read_examples(path)
    path = write_tsv(tmp_path / "fields.tsv", [good, (good[0],)])
    with pytest.raises(DataError, match=r"fields\.tsv:3: 1 TAB-separated fields but the header has 2"):
        reader.read_examples(path)
    (tmp_path / "gap.json").write_text(json.dumps({"B-PER": 0, "O": 2}))
    with pytest.raises(DataError, match=r"gap\.json: ids must be exactly 0\.\.1"):
        make_reader(files, label_map=str(tmp_path / "gap.json"))
    with pytest.raises(DataError, match="needs a label map"):
        SequenceLabelReader(str(files / "vocab.txt"), None)


def test_label_layout_checks():
    check_label_layout(MSRA_MAP, "IOB")
    check_label_layout({"PER": 0, "LOC": 1, "O": 2}, "IO")
    check_label_layout({"I-PER": 0, "E-PER": 1, "O": 2}, "IOE")
    with pytest.raises(UsageError, match=r"6 tags \+ O do not fit the IOBES scheme"):
        check_label_layout(MSRA_MAP, "IOBES")
    with pytest.raises(UsageError, match=r"ids 0\.\.1 are I-PER, B-PER, but --chunk_scheme IOB reads them as "
                                         r"B-X 0, I-X 1"):
        check_label_layout({"I-PER": 0, "B-PER": 1, "O": 2}, "IOB")
    with pytest.raises(UsageError, match="ids 0..1 are B-PER, I-LOC"):
        check_label_layout({"B-PER": 0, "I-LOC": 1, "O": 2}, "IOB")


# ----------------------------------------------------------------------------- chunk F1 by hand
# Each case: scheme, label names by id (O last), gold tags, predicted tags, (infer, label, correct), (P, R, F1)
CASES = [
    ("IOB", ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"],
     "O B-PER I-PER O B-LOC I-LOC I-LOC O", "O B-PER I-PER O B-LOC I-LOC O B-PER",
     (3, 2, 1), (1 / 3, 1 / 2, 0.4)),
    ("IOB", ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"],        # I after O opens a chunk; I of another type too
     "B-PER I-PER O B-LOC I-LOC", "I-PER I-PER O B-LOC I-PER",
     (3, 2, 1), (1 / 3, 1 / 2, 0.4)),
    ("IOE", ["I-PER", "E-PER", "I-LOC", "E-LOC", "O"],
     "I-PER E-PER E-LOC O I-LOC I-LOC E-LOC", "I-PER E-PER I-LOC E-LOC I-LOC E-LOC E-LOC",
     (4, 3, 1), (1 / 4, 1 / 3, 2 / 7)),
    ("IOBES", ["B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "O"],
     "S-PER O B-LOC I-LOC E-LOC S-LOC", "S-PER O B-LOC E-LOC E-LOC S-LOC",
     (4, 3, 2), (1 / 2, 2 / 3, 4 / 7)),
    ("IO", ["PER", "LOC", "O"],
     "PER PER O LOC LOC PER", "PER PER LOC LOC LOC PER",
     (3, 3, 2), (2 / 3, 2 / 3, 2 / 3)),
]


@pytest.mark.parametrize("scheme,names,gold,pred,counts,prf", CASES)
def test_chunk_f1_by_hand(scheme, names, gold, pred, counts, prf):
    ids = {n: i for i, n in enumerate(names)}
    g = [ids[t] for t in gold.split()]
    p = [ids[t] for t in pred.split()]
    num_types = (len(names) - 1) // CHUNK_SCHEMES[scheme].num_tag_types
    assert chunk_counts([p], [g], scheme=scheme, num_types=num_types) == counts
    assert chunk_f1(*counts) == pytest.approx(prf)
    # the same sentence framed by [CLS]/[SEP]: a non-O guess there is not counted (v2.0 rule) ...
    o = len(names) - 1
    framed_p, framed_g = [0] + p + [0, o, o], [o] + g + [o, o, o]
    assert chunk_counts([framed_p], [framed_g], [len(p) + 2], scheme, num_types, exclude_cls_sep=True) == counts
    # ... but it changes the counts when [CLS]/[SEP] are evaluated (repro): an extra wrong chunk, or
    # (IO) one merged with the first / last real token
    assert chunk_counts([framed_p], [framed_g], [len(p) + 2], scheme, num_types) != counts


def test_graph_chunk_counts_equal_numpy():
    """The training program's batch counts against ernie.metrics.chunk_counts on random batches."""
    rng = np.random.RandomState(0)
    paddle.enable_static()
    try:
        for scheme in ("IOB", "IOE", "IOBES", "IO"):
            n = CHUNK_SCHEMES[scheme].num_tag_types
            num_types, c = 3, 3 * n + 1
            main, startup = paddle.static.Program(), paddle.static.Program()
            with paddle.static.program_guard(main, startup):
                p = paddle.static.data("p", [-1, -1], "int64")
                g = paddle.static.data("g", [-1, -1], "int64")
                lens = paddle.static.data("l", [-1], "int64")
                outs = graph_chunk_counts(p, g, lens, scheme, num_types)
            exe = paddle.static.Executor(paddle.CPUPlace())
            for trial in range(12):
                b, length = 5, rng.randint(3, 14)
                gold = rng.randint(0, c, (b, length))
                gold[rng.rand(b, length) < 0.3] = c - 1
                pred = gold.copy() if trial % 2 else rng.randint(0, c, (b, length))
                pred[rng.rand(b, length) < 0.25] = rng.randint(0, c)
                seq_lens = rng.randint(2, length + 1, b)
                got = exe.run(main, feed={"p": pred, "g": gold, "l": seq_lens}, fetch_list=list(outs))
                want = chunk_counts(pred, gold, seq_lens, scheme, num_types, exclude_cls_sep=True)
                assert tuple(int(x) for x in got) == want, (scheme, trial)
    finally:
        paddle.disable_static()


@pytest.mark.parametrize("scheme,names", [
    ("IOB", ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"]),
    ("IOE", ["I-PER", "E-PER", "I-LOC", "E-LOC", "O"]),
    ("IOBES", ["B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "O"]),
])
def test_chunk_counts_equal_paddlenlp_chunk_evaluator(scheme, names):
    """paddlenlp's ChunkEvaluator (conlleval-style, by tag names) gives the same counts on random,
    often ill-formed, tag sequences (e.g. I after O, E after B of another type)."""
    from paddlenlp.metrics import ChunkEvaluator
    evaluator = ChunkEvaluator(names)
    rng = np.random.RandomState(1)
    num_types = (len(names) - 1) // CHUNK_SCHEMES[scheme].num_tag_types
    for _ in range(60):
        pred, gold = rng.randint(0, len(names), (4, 9)), rng.randint(0, len(names), (4, 9))
        lens = rng.randint(1, 10, 4)
        theirs = evaluator.compute(paddle.to_tensor(lens), paddle.to_tensor(pred), paddle.to_tensor(gold))
        assert tuple(int(x.numpy()[0]) for x in theirs) == chunk_counts(pred, gold, lens, scheme, num_types)


# ----------------------------------------------------------------------------- end to end
def make_sentences(n, seed):
    """Template sentences: PER (+ 在/去/到) LOC (+ 的 ORG) (+ 和 newyork) + a char; 'newyork' is two pieces."""
    rng = random.Random(seed)
    people, places, orgs = ["张三", "李四", "王五", "张五"], ["北京", "上海", "广州"], ["公司", "银行", "大学"]

    def ent(word, kind):
        return [(c, ("B-" if i == 0 else "I-") + kind) for i, c in enumerate(word)]

    rows = []
    for _ in range(n):
        s = []
        if rng.random() < 0.3:
            s += [("是", "O")]
        s += ent(rng.choice(people), "PER") + [(rng.choice("在去到"), "O")] + ent(rng.choice(places), "LOC")
        if rng.random() < 0.5:
            s += [("的", "O")] + ent(rng.choice(orgs), "ORG")
        if rng.random() < 0.3:
            s += [("和", "O"), ("newyork", "B-LOC")]
        s += [(rng.choice("工学了"), "O")]
        rows.append(joined(s))
    return rows


@pytest.fixture(scope="module")
def data(files):
    train = write_tsv(files / "train.tsv", make_sentences(40, 1))
    test = write_tsv(files / "test.tsv", make_sentences(12, 2))
    cfg = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=len(VOCAB),
               max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu", hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1, initializer_range=0.02)
    (files / "config.json").write_text(json.dumps(cfg))
    return {"train": train, "test": test, "config": str(files / "config.json"),
            "vocab": str(files / "vocab.txt"), "map": str(files / "label_map.json")}


def argv(data, out, *extra):
    base = ["--use_cuda", "false", "--ernie_config_path", data["config"], "--vocab_path", data["vocab"],
            "--label_map_config", data["map"], "--num_labels", "7", "--chunk_scheme", "IOB",
            "--train_set", data["train"], "--dev_set", data["train"], "--test_set", data["test"],
            "--test_save", os.path.join(str(out), "pred", "test_out.tsv"), "--checkpoints", str(out),
            "--max_seq_len", "24", "--batch_size", "8", "--learning_rate", "5e-3", "--warmup_proportion", "0",
            "--weight_decay", "0.01", "--skip_steps", "1", "--save_steps", "0", "--validation_steps", "0",
            "--random_seed", "3", "--epoch", "4"]
    return base + [str(x) for x in extra]


def finetune(*args):
    with capture_logs() as logs:
        out = run(parse_args(list(args)))
    out["logs"] = logs
    return out


def dev_f1(out):
    return [float(m.group(2)) for m in out["logs"].matching(EVAL_LINE) if m.group(1) == "dev"]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    return finetune(*argv(data, tmp_path_factory.mktemp("trained")))


def test_end_to_end_trains_evaluates_and_predicts(data, trained, tmp_path):
    logs = trained["logs"]
    lines = logs.matching(TRAIN_LINE)
    assert len(lines) == 4 * 5                        # 40 sentences, batch 8, 4 epochs, a line per step
    assert [int(m.group(4)) for m in lines] == list(range(1, 21))
    assert lines[-1].group(2) == lines[-1].group(3) == "40"
    # the logged batch F1 is computed from the logged counts' own definition: in [0, 1]
    assert all(0.0 <= float(m.group(6)) <= 1.0 for m in lines)
    assert float(lines[-1].group(5)) < float(lines[0].group(5))     # loss falls

    # the untrained model: same seed (same random head), learning rate 0 -> parameters never change
    untrained = finetune(*argv(data, tmp_path / "untrained", "--learning_rate", "0", "--epoch", "1"))
    f1_before = dev_f1(untrained)[-1]
    f1_after = dev_f1(trained)
    assert len(f1_after) == 4                          # after each epoch; the last one is at the end
    assert f1_after[-1] > f1_before + 0.3, (f1_before, f1_after)
    assert f1_after[-1] > 0.8

    result = trained["result"]
    best = result["evaluations"][result["best"]]
    assert best["dev"][data["train"]]["f1"] == pytest.approx(max(f1_after), abs=1e-6)
    # prediction file: one line per test sentence, the input tokens and one tag per token
    test_rows = [l.rstrip("\n").split("\t") for l in open(data["test"], encoding="utf-8")][1:]
    pred_path = best["test"][data["test"]]["file"]
    pred_rows = [l.rstrip("\n").split("\t") for l in open(pred_path, encoding="utf-8")]
    assert len(pred_rows) == len(test_rows) == 12
    for (text, gold), (tokens, tags) in zip(test_rows, pred_rows):
        assert tokens == text
        assert len(tags.split("\x02")) == len(text.split("\x02"))
        assert set(tags.split("\x02")) <= set(MSRA_MAP)
    # token-level chunk F1 of the file against the gold tags is well above the untrained model's
    ids = lambda tags: [MSRA_MAP[t] for t in tags.split("\x02")]   # noqa: E731
    counts = chunk_counts([ids(t) for _, t in pred_rows], [ids(g) for _, g in test_rows], scheme="IOB",
                          num_types=3)
    assert chunk_f1(*counts)[2] > f1_before + 0.3
    test_lines = [m for m in logs.matching(EVAL_LINE) if m.group(1) == "test"]
    assert len(test_lines) == 4 and test_lines[-1].group(5) == data["test"]
    # the best evaluation's predictions are copied to --test_save
    assert open(pred_path, encoding="utf-8").read() == \
        open(os.path.join(os.path.dirname(pred_path), "test_out.tsv"), encoding="utf-8").read()


def test_evaluation_only_reproduces_and_unlabelled_test_is_predicted(data, trained, tmp_path):
    trainer = trained["trainer"]
    ckpt = os.path.join(trainer.checkpoints, "step_%d" % trainer.step)
    unlabelled = write_tsv(tmp_path / "raw.tsv", [(r.split("\t")[0],) for r in
                                                   open(data["test"], encoding="utf-8").read().splitlines()[1:]],
                           header=("text_a",))
    out = finetune(*argv(data, tmp_path / "eval", "--do_train", "false", "--init_checkpoint", ckpt,
                         "--test_set", unlabelled))
    assert dev_f1(out) == [dev_f1(trained)[-1]]
    assert not [m for m in out["logs"].matching(EVAL_LINE) if m.group(1) == "test"]
    ev = out["result"]["evaluations"][-1]
    assert ev["test"][unlabelled]["metrics"] is None
    rows = open(ev["test"][unlabelled]["file"], encoding="utf-8").read().splitlines()
    labelled = open(trained["result"]["evaluations"][-1]["test"][data["test"]]["file"], encoding="utf-8")
    assert rows == labelled.read().splitlines()        # same model, same predictions with or without labels
    # a checkpoint without the head (e.g. pre-trained parameters) is refused
    encoder_only = tmp_path / "encoder_only"
    shutil.copytree(ckpt, encoder_only)
    for name in os.listdir(encoder_only):
        if name.startswith("cls_seq_label_out"):
            os.remove(encoder_only / name)
    with pytest.raises(SystemExit, match="holds no sequence labelling head"):
        with capture_logs():
            sl_main(argv(data, tmp_path / "e2", "--do_train", "false", "--init_checkpoint", str(encoder_only)))
    assert set(HEAD_PARAMS) == {"cls_seq_label_out_w", "cls_seq_label_out_b"}


def test_flag_errors(data, tmp_path):
    def fails(pattern, *extra):
        with pytest.raises(SystemExit, match=pattern):
            with capture_logs():
                sl_main(argv(data, tmp_path / "x", *extra))

    fails(r"--num_labels 5 but the label map .* has 7 tags", "--num_labels", "5")
    fails("do not fit the IOBES scheme", "--chunk_scheme", "IOBES")
    fails("--label_map_config is required", "--label_map_config", "")
    fails("--best_metric acc", "--best_metric", "acc")
    bad = write_tsv(tmp_path / "bad.tsv", [joined([("张", "B-PER")]), ("张\x02三", "B-PER")])
    fails(r"bad\.tsv:3: 2 tokens in text_a but 1 tags", "--dev_set", bad)


def test_task_metrics_exclude_cls_sep():
    """SequenceLabelTask.metrics on hand-made rows: [CLS]/[SEP] predictions do not count."""
    class A:
        chunk_scheme, num_labels = "IOB", 7
    o = 6
    gold = [np.array([o, 0, 1, o, 4, o]), np.array([o, 2, 3, 3, o])]
    pred = [np.array([0, 0, 1, o, 4, 4]), np.array([o, 2, 3, o, o])]     # 2 of 2 right; 0 of 1 right
    m = SequenceLabelTask().metrics(A, {"pred": pred, "gold": gold, "seq_lens": np.array([6, 5])})
    assert (m["num_infer"], m["num_label"], m["num_correct"]) == (3, 3, 2)
    assert m["f1"] == pytest.approx(2 / 3)
    assert get_chunks(pred[1][1:-1], "IOB", 3) == [(0, 1, 1)]


def test_msra_ner_task_script_runs(data, tmp_path):
    """script/zh_task/ernie_base/run_msra_ner.sh with stand-in data and a random tiny model: its flags work,
    dev.tsv and test.tsv are evaluated, test predictions are written."""
    ner = tmp_path / "task" / "msra_ner"
    ner.mkdir(parents=True)
    shutil.copyfile(data["train"], ner / "train.tsv")
    shutil.copyfile(data["test"], ner / "dev.tsv")
    shutil.copyfile(data["test"], ner / "test.tsv")
    shutil.copyfile(data["map"], ner / "label_map.json")
    model = tmp_path / "model"
    model.mkdir()
    shutil.copyfile(data["config"], model / "ernie_config.json")
    shutil.copyfile(data["vocab"], model / "vocab.txt")
    save_random_params(ErnieConfig.from_json(data["config"]), str(model / "params"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PADDLE_", "FLAGS_selected"))}
    env.update(PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="", MODEL_PATH=str(model),
               TASK_DATA_PATH=str(tmp_path / "task"))
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "script", "zh_task",
                          "ernie_base", "run_msra_ner.sh")
    proc = subprocess.run(["sh", script, "--epoch", "1", "--batch_size", "8", "--max_seq_len", "24",
                           "--learning_rate", "5e-3", "--use_cuda", "false"], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (tmp_path / "log" / "model" / "MSRA-NER-base-cpu-demo" / "run1" / "job.log").read_text(encoding="utf-8")
    evals = [m for m in (EVAL_LINE.search(l.split("\t", 1)[-1]) for l in log.splitlines()) if m]
    assert [(m.group(1), os.path.basename(m.group(5)), int(m.group(7))) for m in evals] == \
        [("dev", "dev.tsv", 5), ("dev", "test.tsv", 5), ("test", "test.tsv", 5)]
    rows = (tmp_path / "output" / "model" / "MSRA-NER-base-cpu-demo" / "run1" / "test_out.tsv.0.5").read_text(
        encoding="utf-8").splitlines()
    assert len(rows) == 12 and all(len(r.split("\t")) == 2 for r in rows)
    args = json.load(open(tmp_path / "checkpoints" / "model" / "MSRA-NER-base-cpu-demo" / "run1" / "result.json"))["args"]
    assert args["chunk_scheme"] == "IOB" and args["num_labels"] == 7 and args["warmup_proportion"] == 0.0
