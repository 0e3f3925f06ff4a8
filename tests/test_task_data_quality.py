"""Task data good enough to learn from: the mining rules of discourse_relation, the weak-supervision labels
of ir_relevance, sentences without text, train/validation leakage, and the line-by-line checker
(``ernie.prepare.check_task_data``) on tiny hand-made inputs and on the shipped demo data.

Each rule is tested on the function that applies it, with inputs whose answer is worked out by hand.
"""
import collections
import gzip
import hashlib
import json
import os
import random

import pytest
from conftest import REPO

from ernie import tasks as T
from ernie.prepare import build_task_data as btd, check_task_data as chk
from ernie.prepare.corpus import Document, load_corpus, load_sanguo_entities
from ernie.tasks.base import drop_textless_sentences, has_text
from ernie.tasks.discourse_relation import SENSES, MarkerMatcher, clause_break_before_end
from reader import text_units
from reader.vocab import load_vocab

FIX = os.path.join(REPO, "tests", "fixtures")
ZH_VOCAB = os.path.join(REPO, "config", "vocab.txt")
EN_VOCAB = os.path.join(REPO, "data", "tasks", "en", "vocab.txt")


@pytest.fixture(scope="module")
def zh_analyzer():
    return text_units.ZhUnitAnalyzer(entities=load_sanguo_entities(os.path.join(FIX, "sanguo_entities.json")))


@pytest.fixture(scope="module")
def en_analyzer():
    return text_units.EnUnitAnalyzer()


def make_ctx(docs, lang, vocab_path, analyzer, max_seq_len=64, **kw):
    vocab = load_vocab(vocab_path)
    tok = text_units.tokenize_documents(docs, text_units.analyze_documents(docs, analyzer), vocab)
    return T.BuildContext(tok, lang, vocab, max_seq_len, analyzer=analyzer, **kw)


def titled_chapters(chapters):
    """One-paragraph documents from {title: [sentence, ...]}, in the dict's order."""
    return [Document([sentences], title=title) for title, sentences in chapters.items()]


# --------------------------------------------------------------------------- discourse relation, English

@pytest.mark.parametrize("sentence, expected", [
    # "so": a connective before a comma or a clause's subject; the degree adverb otherwise
    ("So, I made free to wish her joy.", ("so", None)),
    ("So he inquired who she was.", ("so", None)),
    ("So the uniform remained at Portsmouth.", ("so", None)),
    ("So Emma went home.", ("so", None)),
    ("So much the better.", ("so", "adverb_use")),
    ("So many clever riddles!", ("so", "adverb_use")),
    ("So very fond of me!", ("so", "adverb_use")),
    ("so happy to see you.", ("so", "adverb_use")),
    ("So far it was all as she had foreseen.", ("so", "adverb_use")),
    ("So would poor little Harriet.", ("so", "adverb_use")),
    # "so" standing for a clause or a manner
    ("So I will, Edmund.", ("so", "anaphoric")),
    ("So Emma thought, at least.", ("so", "anaphoric")),
    ("So I would advise you two, to set off for town.", ("so", None)),
    # prepositional uses
    ("Instead of staying at Lyme, he went off to Plymouth.", ("instead", "prepositional")),
    ("Because of the rain, they stayed.", ("because", "prepositional")),
    ("As a result of this, he left.", ("as a result", "prepositional")),
    ("Instead, he went to Plymouth.", ("instead", None)),
    # a preposed subordinate clause followed by its main clause: the relation is inside B
    ("Though I have no younger sister, I feel for her.", ("though", "clause_internal")),
    ("Because you are so sly about it yourself, you think nobody else has any senses.", ("because", "clause_internal")),
    ("Although it rained, we went.", ("although", "clause_internal")),
    ("Though I think he had better not have married.", ("though", None)),
    ("Because she had been there so long.", ("because", None)),
    ('"Though I think, with you, he is wrong," she said.', ("though", "clause_internal")),
    # still: only with a comma
    ("Still they moved on.", ("still", "adverb_use")),
    ("Still, they moved on.", ("still", None)),
    ("Thus much for my general intention.", ("thus", "adverb_use")),
    ("Thus the day ended.", ("thus", None)),
    ("Andrew came.", None),
])
def test_english_connective_uses(sentence, expected):
    found = MarkerMatcher("en").find(sentence)
    assert (None if found is None else (found.marker, found.rejected)) == expected


def test_english_marker_followed_by_a_dash_is_removed_with_it():
    en = MarkerMatcher("en")
    assert en.match("Yet--he is not the kind of young man.") == ("yet", "he is not the kind of young man.")
    assert en.match("And yet--he is not.") == ("and", "yet--he is not.")    # the builder skips it: double marker


def test_instead_is_expansion_as_in_pdtb():
    assert SENSES["instead"] == 3 and T.get_task("discourse_relation").class_names[3] == "expansion"


def test_clause_break_ignores_commas_inside_quotations():
    assert clause_break_before_end("he said, and went.", "en")
    assert not clause_break_before_end('he said "yes, sir" and went.', "en")
    assert not clause_break_before_end("it rained.", "en")
    assert not clause_break_before_end("he left,", "en")                 # nothing after the comma
    assert clause_break_before_end("不早图，人将先我而为之矣。", "zh")
    assert not clause_break_before_end("问平曰：“谁使汝来，药我？”", "zh")   # the comma is inside the speech
    assert clause_break_before_end("迟则毋丘俭必先至矣。", "zh")           # the correlative 则


def test_english_pairs_built_only_from_connective_uses(en_analyzer):
    docs = [Document([["He was ill.", "So much the better.", "She stayed.", "So she went home.",
                       "It rained.", "Instead of walking, they drove.", "They were tired.",
                       "Though it rained, we went.", "We came.", "* * *", "Still, we were glad."]])]
    ctx = make_ctx(docs, "en", EN_VOCAB, en_analyzer)
    samples, stats = T.get_task("discourse_relation").build_samples(ctx, random.Random(1))
    assert sorted(s.meta["marker"] for s in samples) == ["so", "still"]
    assert stats["rejected_adverb_use"] == 1 and stats["rejected_prepositional"] == 1
    assert stats["rejected_clause_internal"] == 1
    by = {s.meta["marker"]: s for s in samples}
    assert by["so"].meta["b_text"] == "she went home." and by["so"].label == SENSES["so"]
    # the section break is dropped before the pairs are made: "We came." and "Still, ..." become adjacent
    assert by["still"].meta["b_text"] == "we were glad." and ctx.textless_sentences == 1


# --------------------------------------------------------------------------- discourse relation, Chinese

@pytest.mark.parametrize("sentence, expected", [
    ("遂引兵出城。", ("遂", None)),
    ("但见一人飞马而来。", ("但见", "not_a_marker")),            # a storyteller's formula
    ("却说张飞。", ("却说", "not_a_marker")),
    ("乃是玄德引着伏龙、凤雏来接。", ("乃是", "not_a_marker")),   # copula
    ("故主马超，有勇无谋。", ("故主", "not_a_marker")),          # 故 "former"
    ("因问平曰：“谁使汝来？”", ("因问", "not_a_marker")),         # 因 "thereupon"
    ("不过百余日，招安到降兵三十余万。", ("不过", "not_a_marker")),  # "no more than"
    ("遂曰：“贤侄守寨。”", ("遂", "not_a_marker")),               # 韩遂 speaking
    ("既至城下，并不见动静。", None),                             # bare 既 is no marker any more
    ("既而席散。", ("既而", None)),
    ("若不早图，人将先我而为之矣。", ("若", "clause_internal")),
    ("若迟则毋丘俭必先至矣。", ("若", "clause_internal")),
    ("若玄德来相助。", ("若", None)),
    ("虽然如此，亦不足惧！", ("虽然", None)),                      # "even so" refers back to A
    ("虽然兵败，却射死郭淮。", ("虽然", "clause_internal")),
    ("但是，他不来。", ("但是", None)),
])
def test_chinese_connective_uses_without_pos(sentence, expected):
    found = MarkerMatcher("zh", "extended").classify(sentence)
    assert (None if found is None else (found.marker, found.rejected)) == expected


def test_chinese_adverb_markers_need_a_subject():
    tags = {"我国": "n", "待": "v", "见": "v", "其": "r", "廖化": "nr", "收兵": "v"}

    def pos_cut(text):
        for word, tag in tags.items():
            if text.startswith(word):
                return [(word, tag), (text[len(word):], "x")]
        return [(text, "x")]
    zh = MarkerMatcher("zh", "extended", pos_cut=pos_cut)
    assert zh.find("但我国太夫人甚爱幼女。").rejected is None           # 但 + subject: "but"
    assert zh.find("且待三五日。").rejected == "adverb_use"             # 且 + verb: "for the moment"
    assert zh.find("且其孝行素著。").rejected is None                   # 且 + pronoun: "moreover"
    assert zh.find("乃廖化也。").rejected == "copula"                   # 乃 + name: "(it) was"
    assert zh.find("乃收兵回洛阳。").rejected is None                   # 乃 + verb: "thereupon"
    assert MarkerMatcher("zh", "extended").find("但我国太夫人甚爱幼女。").rejected == "adverb_use"   # no POS: not taken


def test_chinese_pairs_use_the_analyzers_pos(zh_analyzer):
    docs = [Document([["操大怒。", "遂引兵出城。", "玄德大喜。", "但见一人飞马而来。", "孔明笑曰。", "若得此人，大事可成。"]])]
    ctx = make_ctx(docs, "zh", ZH_VOCAB, zh_analyzer)
    samples, stats = T.get_task("discourse_relation", markers="extended").build_samples(ctx, random.Random(1))
    assert [(s.meta["marker"], s.label) for s in samples] == [("遂", SENSES["遂"])]
    assert stats["rejected_not_a_marker"] == 1 and stats["rejected_clause_internal"] == 1


# --------------------------------------------------------------------------- sentences without text

def test_has_text():
    assert not has_text("* * *") and not has_text("……") and not has_text("”") and not has_text("□")
    assert has_text("曰") and has_text("Yes.") and has_text("1811")


def test_textless_sentences_are_dropped_from_every_task(en_analyzer):
    docs = [Document([["He came.", "* * *", "She left."], ["* * * * *"], ["It rained.", "They stayed home."]])]
    vocab = load_vocab(EN_VOCAB)
    tok = text_units.tokenize_documents(docs, text_units.analyze_documents(docs, en_analyzer), vocab)
    kept, dropped = drop_textless_sentences(tok)
    assert dropped == 2 and [[s.text for s in p] for p in kept[0].paragraphs] == [["He came.", "She left."],
                                                                                ["It rained.", "They stayed home."]]
    ctx = T.BuildContext(tok, "en", vocab, 10, analyzer=en_analyzer)   # short: the document makes several chunks
    star = vocab["*"]
    for name in ("knowledge_masking", "sentence_reordering", "sentence_distance", "token_document_relation"):
        samples, _ = T.get_task(name).build_samples(ctx, random.Random(3))
        assert samples and all(star not in s.token_ids for s in samples), name


# --------------------------------------------------------------------------- sentence distance

def test_sentence_distance_other_documents_can_be_kept_to_the_corpus_of_a(zh_analyzer):
    """negative_pool=same_corpus: class 2's B comes from another document of A's own corpus (its register
    cannot give the class away); a corpus of one document has no such document, and its class-2 draws are
    skipped, counted."""
    sentences = ["刘备关羽张飞在桃园结义。", "三人饮酒。", "董卓进京。", "吕布杀了丁原。", "王允设计。"]
    docs = [Document([sentences[k:] + sentences[:k]], corpus=corpus)
            for k, corpus in enumerate(["novel", "novel", "news", "news", "news", "letters"])]
    ctx = make_ctx(docs, "zh", ZH_VOCAB, zh_analyzer)
    corpus_of = [d.corpus for d in docs]
    crossed = []
    for pool in ("all", "same_corpus"):
        task, other, skipped = T.get_task("sentence_distance", negative_pool=pool), [], 0
        for seed in range(4):
            samples, stats = task.build_samples(ctx, random.Random(seed))
            other += [s.meta["docs"] for s in samples if s.label == 2]
            skipped += stats["no_other_document"]
        assert other and all(a != b for a, b in other)
        crossed.append(sum(corpus_of[a] != corpus_of[b] for a, b in other))
        if pool == "same_corpus":
            assert skipped > 0 and all(a != 5 for a, _ in other)
    assert crossed[0] > 0 and crossed[1] == 0


def test_sentence_distance_draws_are_those_of_earlier_releases(zh_analyzer):
    """The default pool draws exactly what the code before the negative_pool option drew (the digest of
    labels, documents, spans and ids below was computed with that code): rebuilt task files stay
    byte-identical, and a faster draw must not change the stream."""
    chapters = load_corpus([os.path.join(FIX, "sanguo_sample.json")], "sanguo_json", "zh")
    sentences = [x for d in chapters for p in d.paragraphs for x in p]
    docs = [Document([sentences[i:i + 3 + i % 4]]) for i in range(0, len(sentences), 5)]
    samples, stats = T.get_task("sentence_distance").build_samples(make_ctx(docs, "zh", ZH_VOCAB, zh_analyzer),
                                                                    random.Random(7))
    draws = [[s.label, s.meta["docs"], [list(x) for x in s.meta["spans"]], s.token_ids] for s in samples]
    assert (len(docs), len(samples), sum(s.label == 2 for s in samples)) == (17, 56, 23)
    assert hashlib.sha256(json.dumps(draws).encode()).hexdigest() == \
        "fa9ea7be733e4ee4cca40dc6a3d74ca3ffae09d038d888f9b768add9b928d96c"


# --------------------------------------------------------------------------- ir relevance

def test_ir_none_pairs_share_no_keyword_and_labels_hold_after_truncation(zh_analyzer):
    docs = titled_chapters({"桃园结义": ["刘备关羽张飞在桃园结义。", "三人饮酒。"],
                            "董卓专权": ["董卓进京。", "桃园三人去见董卓。"],
                            "吕布刺董": ["吕布杀了丁原。", "王允设计。"]})
    task = T.get_task("ir_relevance")
    ctx = make_ctx(docs, "zh", ZH_VOCAB, zh_analyzer)
    for seed in range(8):
        samples, stats = task.build_samples(ctx, random.Random(seed))
        for s in samples:
            q, t = s.meta["docs"]
            qk = task.keywords(ctx, ctx.sentences(q)[s.meta["spans"][0][0]])
            tk = task.keywords(ctx, ctx.tokenize(docs[t].title))
            assert bool(qk & tk) == (s.label in (0, 1)), (seed, s.label)
    # a title cut by truncation loses the shared word: the pair is dropped, not kept with a false label
    short = make_ctx(docs, "zh", ZH_VOCAB, zh_analyzer, max_seq_len=12)
    samples, stats = task.build_samples(short, random.Random(1))
    assert stats["label_lost_in_truncation_0"] + stats["label_lost_in_truncation_1"] >= 1
    inv = {i: t for t, i in short.vocab.items()}
    for s in samples:
        seps = [i for i, t in enumerate(s.token_ids) if t == short.sep_id]
        ln = chk.Line("x", 1, "ir_relevance", s.label, s.token_ids, [(1, seps[0]), (seps[0] + 1, seps[1])],
                      s.seg_labels, {})
        shared = chk._ir_keywords(ln, 0, inv, "zh") & chk._ir_keywords(ln, 1, inv, "zh")
        assert bool(shared) == (s.label in (0, 1))


def test_ir_one_label_per_input(zh_analyzer):
    # the same sentence in two chapters: with chapter 0's title it is class 0 (own title) for one occurrence
    # and class 1 (another chapter's title) for the other: the input is dropped from both classes
    repeated = "董卓进京。"
    docs = titled_chapters({"董卓专权": [repeated, "王允设计。"],
                            "吕布刺董": [repeated, "吕布杀了丁原。"],
                            "诸侯会盟": ["孙坚起兵。", "袁绍会盟。"]})
    task = T.get_task("ir_relevance")
    ctx = make_ctx(docs, "zh", ZH_VOCAB, zh_analyzer)
    seen = collections.defaultdict(set)
    for seed in range(6):
        samples, stats = task.build_samples(ctx, random.Random(seed))
        keys = [tuple(s.token_ids) for s in samples]
        assert len(keys) == len(set(keys))
        for s in samples:
            seen[tuple(s.token_ids)].add(s.label)
        if stats["conflicting_labels_0"] or stats["conflicting_labels_1"]:
            break
    else:
        pytest.fail("the repeated sentence never produced a conflicting input")
    assert all(len(v) == 1 for v in seen.values())


# --------------------------------------------------------------------------- build: leakage, checker

def _build(tmp_path, docs, lang, vocab_path, analyzer, tasks, **kw):
    explicit, ts = btd.resolve_tasks(",".join(tasks), {}, {})
    return btd.build_all(docs, analyzer, load_vocab(vocab_path), ts,
                         btd.BuildConfig(str(tmp_path), lang, explicit=explicit, max_seq_len=64, **kw),
                         log=lambda m: None)


def test_no_validation_input_repeats_a_training_input(tmp_path, en_analyzer):
    repeated = ["Yes, sir.", "He bowed."]
    docs = [Document([["It rained all day.", "They stayed home."], repeated], source="a"),
            Document([repeated, ["The end came soon."]], source="b"),
            Document([["Morning came.", "She rose early."], repeated], source="c")]
    stats = _build(tmp_path, docs, "en", EN_VOCAB, en_analyzer, ["sentence_distance", "knowledge_masking"],
                   valid_docs=1, valid_split="last")
    report = chk.check_files(str(tmp_path), EN_VOCAB, "en")
    assert report.checked["valid_input_not_in_train"] > 0 and not report.by_rule()["valid_input_not_in_train"]
    gen = stats["files"].get("sentence_distance.valid.gz", {}).get("generation", {})
    km = stats["files"].get("knowledge_masking.valid.gz", {}).get("generation", {})
    assert gen.get("same_input_in_training_split", 0) + km.get("same_input_in_training_split", 0) >= 1


def _write_lines(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(x + "\n" for x in lines))


def test_checker_finds_each_kind_of_bad_line(tmp_path, zh_analyzer):
    vocab = load_vocab(ZH_VOCAB)
    ids = lambda text: [vocab[c] for c in text]      # noqa: E731  (single characters of the demo vocabulary)
    cls, sep, star = vocab["[CLS]"], vocab["[SEP]"], vocab["*"] if "*" in vocab else vocab["，"]

    def line(task, segs, label=None, tid=3, units=None):
        toks = [cls]
        seg_labels = [-1]
        for s in segs:
            toks += s + [sep]
            seg_labels += (units or [0] * len(s)) if len(segs) == 1 else [0] * len(s)
            seg_labels += [-1]
        n = len(toks)
        fields = [" ".join(map(str, toks)), " ".join("0" for _ in toks), " ".join(map(str, range(n))),
                  " ".join(map(str, seg_labels)), "0", "v2", "task=%s" % task, "task_id=%d" % tid]
        if label is not None:
            fields.append("label=%d" % label)
        return ";".join(fields)
    d = tmp_path
    (d / "tasks.json").write_text('{"lang": "zh", "tasks": []}', encoding="utf-8")
    _write_lines(str(d / "sentence_reordering.train.gz"), [
        line("sentence_reordering", [ids("玄德大喜。"), ids("遂引兵出城。")], label=1),         # 2 segments, class 1: ok
        line("sentence_reordering", [ids("玄德大喜。")], label=4),                            # class 4 needs 3
        line("sentence_reordering", [[star, star, star], ids("遂引兵。")], label=2)])          # a textless segment
    _write_lines(str(d / "sentence_reordering.valid.gz"), [
        line("sentence_reordering", [ids("玄德大喜。"), ids("遂引兵出城。")], label=1)])        # also in train
    unit = lambda text: [0, 1] + [0] * (len(text) - 2)      # noqa: E731  (first two characters one word)
    q, t = ids("董卓进京。"), ids("董卓专权")
    seg_q, seg_t = unit("董卓进京。"), unit("董卓专权")

    def ir(label, q=q, t=t, seg_q=seg_q, seg_t=seg_t):
        toks = [cls] + q + [sep] + t + [sep]
        segl = [-1] + seg_q + [-1] + seg_t + [-1]
        n = len(toks)
        return ";".join([" ".join(map(str, toks)), " ".join(["0"] * n), " ".join(map(str, range(n))),
                         " ".join(map(str, segl)), "0", "v2", "task=ir_relevance", "task_id=6", "label=%d" % label])
    _write_lines(str(d / "ir_relevance.train.gz"), [ir(0), ir(2), ir(1, t=ids("吕布刺董"), seg_t=unit("吕布刺董"))])
    report = chk.check_files(str(d), ZH_VOCAB, "zh")
    rules = report.by_rule()
    assert rules["segment_count"] == 1 and rules["segment_has_text"] == 1
    assert rules["valid_input_not_in_train"] == 1
    assert rules["ir_relevance_keywords"] == 2          # "none" sharing 董卓; class 1 sharing nothing
    assert rules["one_label_per_input"] == 2            # the same input labelled 0 and 2


def test_checker_exit_status_says_findings_1_or_cannot_check_2(tmp_path, capsys):
    vocab = load_vocab(ZH_VOCAB)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    toks = [cls, vocab["玄"], sep, vocab["德"], sep]
    good = ";".join([" ".join(map(str, toks)), "0 0 0 1 1", "0 1 2 3 4", "-1 0 -1 0 -1", "0", "v2",
                     "task=sentence_reordering", "task_id=3", "label=4"])          # class 4 needs 3 segments
    (tmp_path / "tasks.json").write_text('{"lang": "zh", "tasks": []}', encoding="utf-8")
    _write_lines(str(tmp_path / "sentence_reordering.train.gz"), [good])
    assert chk.main(["--data_dir", str(tmp_path), "--vocab_path", ZH_VOCAB]) == 1
    assert "segment_count" in capsys.readouterr().out
    cases = [(tmp_path / "none", "is not a directory")]
    (tmp_path / "no_config").mkdir()
    cases.append((tmp_path / "no_config", "tasks.json does not exist"))
    (tmp_path / "bad_line").mkdir()
    (tmp_path / "bad_line" / "tasks.json").write_text('{"lang": "zh", "tasks": []}', encoding="utf-8")
    _write_lines(str(tmp_path / "bad_line" / "sentence_reordering.train.gz"), [good, "1 2 3;0 0"])
    cases.append((tmp_path / "bad_line", "sentence_reordering.train.gz:2: line does not parse"))
    for data_dir, message in cases:
        assert chk.main(["--data_dir", str(data_dir), "--vocab_path", ZH_VOCAB]) == 2, data_dir
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err


# --------------------------------------------------------------------------- the shipped demo data

@pytest.mark.parametrize("lang, vocab", [("zh", ZH_VOCAB), ("en", EN_VOCAB)])
def test_shipped_demo_data_passes_the_file_checks(lang, vocab):
    report = chk.check_files(os.path.join(REPO, "data", "tasks", lang), vocab, lang)
    assert report.checked["segment_has_text"] > 10000 and report.checked["valid_input_not_in_train"] > 1000
    assert not report.findings, "\n".join(map(str, report.findings[:20]))


def test_masked_target_baseline_reads_the_validation_masks():
    r = chk.masked_target_baseline(os.path.join(REPO, "data", "tasks", "zh", "knowledge_masking.valid_filelist"),
                                   ZH_VOCAB, voc_size=6000)
    tok, n, share = r["most_frequent"]
    assert r["targets"] > 1000 and tok == "，" and share == n / r["targets"] and 0 < share < 0.2
    assert 0 < r["unigram_entropy"] < 8.3          # below ln(3909): the targets are far from uniform
    again = chk.masked_target_baseline(os.path.join(REPO, "data", "tasks", "zh", "knowledge_masking.valid_filelist"),
                                       ZH_VOCAB, voc_size=6000)
    assert again == r                              # seeded: the same positions every time
