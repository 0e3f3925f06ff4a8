"""Evaluation text kept out of the pre-training corpus: ernie/prepare/overlap.py, build_task_data --exclude_text,
bench/pretrain_transfer.py's use of it, and bench/overlap_scores.py's rescoring of finished runs."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, REPO)
from bench import overlap_scores  # noqa: E402
from bench import pretrain_transfer as pt  # noqa: E402
from ernie.prepare import overlap  # noqa: E402
from ernie.prepare.corpus import Document  # noqa: E402

EVAL = "The quiet harbour town forgot the storm that had taken its boats."      # 12 words


def write_tsv(path, texts, header=("label", "text_a")):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        for i, t in enumerate(texts):
            f.write("%d\t%s\n" % (i % 2, t))
    return path


def test_units_ignore_case_punctuation_and_spacing():
    assert overlap.units("The  quiet, HARBOUR-town!", "en") == ["the", "quiet", "harbour", "town"]
    assert overlap.units("新华社北京１月１日电，记者", "zh") == list("新华社北京１月１日电记者")


def test_a_shared_run_of_n_units_overlaps_and_a_shorter_one_does_not():
    index = overlap.OverlapIndex("en")                    # 8 words
    index.add(EVAL, "t1")
    assert index.matches("Yesterday the quiet harbour town forgot the storm that had, they say.") == {"t1"}
    assert index.matches("the QUIET harbour-town forgot the storm that HAD") == {"t1"}   # case, punctuation
    assert index.matches("The quiet harbour town forgot the storm entirely.") == set()    # 7 shared words
    short = overlap.OverlapIndex("en")
    short.add("A fine, sad film.", "s")                   # 4 words: whole-run match (>= 8 // 2)
    short.add("Bad.", "x")                                # 1 word: too short to check
    assert short.matches("It is a fine sad film about boats.") == {"s"}
    assert short.matches("a fine film, sad") == set()
    assert short.unchecked == 1 and short.texts == 2
    zh = overlap.OverlapIndex("zh")                       # 12 characters
    zh.add("只有这样才能顺乎潮流经受挑战", "z")
    assert zh.matches("他说：只有这样，才能顺乎潮流，经受考验。") == {"z"}    # 12 characters shared
    assert zh.matches("他说：这样，才能顺乎潮流，经受考验。") == set()        # 10
    with pytest.raises(ValueError):
        overlap.OverlapIndex("en", 1)
    longer = overlap.OverlapIndex("en", 30)                 # 12 words < 30 // 2: too short to check
    longer.add(EVAL, "t1")
    assert longer.unchecked == 1 and longer.matches(EVAL) == set()


def test_coverage_tells_a_shared_phrase_from_a_contained_text():
    index = overlap.OverlapIndex("en")
    index.add(EVAL, "t1")                                 # 12 words
    assert index.covered("I said the quiet harbour town forgot the storm that day") == {"t1": set(range(8))}
    assert index.covered("x " + EVAL) == {"t1": set(range(12))}
    short = overlap.OverlapIndex("en")
    short.add("A fine, sad film.", "s")
    assert short.covered("it is a fine sad film") == {"s": {0, 1, 2, 3}}


def test_whole_documents_are_dropped_even_when_the_text_spans_two_sentences():
    index = overlap.OverlapIndex("en")
    index.add(EVAL, "t1")
    split = Document([["Rain fell.", "The quiet harbour town forgot the storm."], ["That had taken its boats."]])
    clean = Document([["The harbour was quiet.", "Boats came home."]])
    kept, report = overlap.drop_overlapping([split, clean], index)
    assert kept == [clean]
    assert report["documents_dropped"] == 1 and report["sentences_dropped"] == 3
    assert report["eval_texts_sharing_a_run"] == 1 and report["documents_kept"] == 1


def test_bad_evaluation_file_names_file_and_line(tmp_path):
    bad = tmp_path / "dev.tsv"
    bad.write_text("label\ttext_a\n1\tfine\n0\n", encoding="utf-8")
    with pytest.raises(overlap.OverlapError, match=r"dev.tsv:3: 1 TAB-separated fields but the header has 2"):
        overlap.index_files([str(bad)], "en")
    write_tsv(str(bad), ["x"], header=("label", "sentence"))
    with pytest.raises(overlap.OverlapError, match=r"dev.tsv:1: .*missing column\(s\): text_a"):
        overlap.index_files([str(bad)], "en")


def build(tmp_path, name, *extra):
    out = tmp_path / name
    cmd = [sys.executable, "-m", "ernie.prepare.build_task_data", "--corpus", str(tmp_path / "corpus"),
           "--input_format", "one_doc_per_file", "--lang", "en", "--tasks", "knowledge_masking",
           "--output_dir", str(out), "--build_vocab", str(out / "vocab.txt"), "--max_seq_len", "64"] + list(extra)
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300), out


def test_build_task_data_exclude_text_keeps_the_documents_out(tmp_path):
    """The document quoting a test sentence (the only one with the word 'zeppelin') is not built from, nor in
    the vocabulary; without --exclude_text it is."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k in range(4):
        (corpus / ("d%d.txt" % k)).write_text("Boats came home at dusk. The nets were full.\n\nDoc %d ended.\n" % k,
                                              encoding="utf-8")
    (corpus / "quoting.txt").write_text("A zeppelin passed. %s Nobody noticed.\n" % EVAL, encoding="utf-8")
    test = write_tsv(str(tmp_path / "ft" / "test.tsv"), [EVAL, "an unrelated line"])
    proc, out = build(tmp_path, "plain")
    assert proc.returncode == 0, proc.stderr
    assert "zeppelin" in (out / "vocab.txt").read_text(encoding="utf-8").split()
    proc, out = build(tmp_path, "clean", "--exclude_text", test)
    assert proc.returncode == 0, proc.stderr
    assert "zeppelin" not in (out / "vocab.txt").read_text(encoding="utf-8").split()
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    excluded = stats["excluded_eval_text"]
    assert excluded["documents_dropped"] == 1 and excluded["documents_kept"] == 4
    assert stats["config"]["documents"]["train"] == 4          # the task files were built from the other four
    assert excluded["eval_texts_sharing_a_run"] == 1 and excluded["files"] == [os.path.abspath(test)]
    proc, out = build(tmp_path, "long_runs", "--exclude_text", test, "--exclude_ngram", "30")
    assert proc.returncode == 0, proc.stderr
    excluded = json.loads((out / "stats.json").read_text(encoding="utf-8"))["excluded_eval_text"]
    assert excluded["documents_dropped"] == 0 and excluded["ngram"] == 30


def test_a_bad_exclude_file_stops_the_build_before_the_corpus_is_read(tmp_path):
    bad = tmp_path / "test.tsv"
    bad.write_text("label\ttext_a\n1\n", encoding="utf-8")
    proc, out = build(tmp_path, "out", "--exclude_text", str(bad))     # tmp_path/corpus does not exist
    assert proc.returncode == 1
    assert "test.tsv:2: 1 TAB-separated fields" in proc.stderr and "corpus" not in proc.stderr
    assert not out.exists()


def smoke_args(tmp_path, *extra):
    return pt.parse_args(["--lang", "zh", "--work", str(tmp_path / "work"), "--finetune_data", str(tmp_path / "ft"),
                          "--corpus_dirs", str(tmp_path / "corpus")] + list(extra))


def test_the_study_builds_without_every_task_s_dev_and_test_text(tmp_path):
    args = smoke_args(tmp_path)
    cmd = pt.build_job(args, pt.LANGUAGES["zh"], []).command()
    excluded = cmd[cmd.index("--exclude_text") + 1:]
    expected = [os.path.join(str(tmp_path / "ft"), ds.name, split + ".tsv")
                for ds in pt.LANGUAGES["zh"].downstream for split in ("dev", "test")]
    assert excluded[:len(expected)] == expected and len(expected) == 4
    # a --downstream subset still excludes every task's text: the corpus is shared
    args = smoke_args(tmp_path, "--downstream", "msra_ner")
    assert pt.build_job(args, pt.LANGUAGES["zh"], []).command()[-4:] == cmd[-4:]
    assert "--exclude_text" not in pt.build_job(smoke_args(tmp_path, "--exclude_eval_text", "false"),
                                                pt.LANGUAGES["zh"], []).command()


def test_a_tree_built_before_exclusion_is_reported_only_as_such(tmp_path):
    """A study_settings.json without the key was built with evaluation text in the corpus: a call that
    would exclude it stops; --exclude_eval_text false reuses the tree."""
    args = smoke_args(tmp_path, "--exclude_eval_text", "false")
    pt.check_tree_settings(args)
    path = pt.settings_path(args)
    with open(path, encoding="utf-8") as f:
        settings = json.load(f)
    del settings["exclude_eval_text"]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(settings, f)
    with pytest.raises(SystemExit, match="--exclude_eval_text: true here, false in the tree"):
        pt.check_tree_settings(smoke_args(tmp_path))
    pt.check_tree_settings(smoke_args(tmp_path, "--exclude_eval_text", "false"))


def fake_run(root, arm, seed, preds, recorded):
    run = root / arm / ("lr1e-3_seed%d" % seed)
    (run / "ckpt").mkdir(parents=True)
    (run / "test_result.0.3").write_text("".join("%d\t[0.5 0.5]\n" % p for p in preds), encoding="utf-8")
    result = {"primary": "acc", "best": 0, "finished": True, "evaluations": [
        {"test": {"test.tsv": {"file": str(run / "test_result.0.3"), "metrics": {"acc": recorded}}}}]}
    (run / "ckpt" / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return str(run)


def test_overlap_scores_splits_the_test_set_by_what_the_corpus_held(tmp_path):
    """Example 0 stands whole in the corpus (contained), example 3 shares one 8-word run out of 21 words
    (partial), 1 shares nothing (clean), 2 is too short to tell (unchecked); accuracy rescored per subset
    and checked against the record."""
    texts = [EVAL, "A fresh story told with care and wit by the young director.", "Nothing like it.",
             "The cast seems lost in a plot that goes nowhere at all while the quiet harbour town forgot the storm "
             "that night."]
    test = write_tsv(str(tmp_path / "test.tsv"), texts)           # labels 0 1 0 1
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Old news. %s\n" % EVAL, encoding="utf-8")
    (corpus / "b.txt").write_text("Unrelated text about harbours.\n", encoding="utf-8")
    runs = [fake_run(tmp_path / "ft", "random_init", 1, [1, 1, 0, 1], 0.75),       # the contained one wrong
            fake_run(tmp_path / "ft", "random_init", 2, [0, 0, 0, 1], 0.75),
            fake_run(tmp_path / "ft", "ernie1_char", 1, [0, 1, 1, 1], 0.75)]
    out = tmp_path / "scores.json"
    summary = overlap_scores.main(["--lang", "en", "--corpus", str(corpus), "--test", test, "--runs"] + runs +
                                  ["--json", str(out)])
    random_init = summary["random_init"]
    assert random_init["clean"]["runs"] == [100.0, 0.0] and random_init["seen"]["runs"] == [50.0, 100.0]
    assert random_init["contained"]["runs"] == [0.0, 100.0] and random_init["partial"]["runs"] == [100.0, 100.0]
    assert random_init["unchecked"]["runs"] == [100.0, 100.0]                 # "Nothing like it.": 3 words
    assert summary["ernie1_char"]["clean"]["mean"] == pytest.approx(100.0)
    assert random_init["short"] == {"mean": None, "sd": 0.0, "runs": []}       # an empty subset has no score
    assert json.loads(out.read_text(encoding="utf-8"))["examples"] == {
        "all": 4, "clean": 1, "seen": 2, "partial": 1, "contained": 1, "short": 0, "unchecked": 1}
    bad = fake_run(tmp_path / "ft2", "random_init", 1, [1, 1, 0, 1], 0.5)        # recorded score disagrees
    with pytest.raises(SystemExit, match="rescored acc 0.750000, recorded 0.500000"):
        overlap_scores.main(["--lang", "en", "--corpus", str(corpus), "--test", test, "--runs", bad])
    unfinished = fake_run(tmp_path / "ft3", "random_init", 1, [1, 1, 0, 1], 0.75)
    path = os.path.join(unfinished, "ckpt", "result.json")
    with open(path, encoding="utf-8") as f:
        result = json.load(f)
    result["finished"] = False
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    with pytest.raises(SystemExit, match="did not finish"):
        overlap_scores.main(["--lang", "en", "--corpus", str(corpus), "--test", test, "--runs", unfinished])


def test_overlap_scores_rescores_chunk_f1_per_subset(tmp_path):
    """Sequence labelling: chunk F1 (IOB) from the predicted tags, per subset; the example the corpus holds
    is tagged right, the clean one finds one of its two entities."""
    label_map = {"B-PER": 0, "I-PER": 1, "B-ORG": 2, "I-ORG": 3, "B-LOC": 4, "I-LOC": 5, "O": 6}
    (tmp_path / "label_map.json").write_text(json.dumps(label_map), encoding="utf-8")
    held, clean = "李明今天去了上海参加会议然后回家", "王芳明天到北京"
    gold = [["B-PER", "I-PER"] + ["O"] * 4 + ["B-LOC", "I-LOC"] + ["O"] * 8,
            ["B-PER", "I-PER", "O", "O", "O", "B-LOC", "I-LOC"]]
    pred = [gold[0], ["B-PER", "I-PER"] + ["O"] * 5]
    with open(tmp_path / "test.tsv", "w", encoding="utf-8") as f:
        f.write("text_a\tlabel\n")
        for text, tags in zip((held, clean), gold):
            f.write("%s\t%s\n" % ("\x02".join(text), "\x02".join(tags)))
    run = tmp_path / "ft" / "random_init" / "lr1e-3_seed1"
    (run / "ckpt").mkdir(parents=True)
    (run / "test_result").write_text("".join("%s\t%s\n" % ("\x02".join(t), "\x02".join(p))
                                             for t, p in zip((held, clean), pred)), encoding="utf-8")
    f1_all = 2 * 1.0 * 0.75 / 1.75                   # 3 chunks predicted, 3 right, 4 in the gold
    (run / "ckpt" / "result.json").write_text(json.dumps({"primary": "f1", "best": 0, "finished": True, "evaluations": [
        {"test": {"test.tsv": {"file": str(run / "test_result"), "metrics": {"f1": f1_all}}}}]}), encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("新闻。%s。\n" % held, encoding="utf-8")
    summary = overlap_scores.main(["--lang", "zh", "--corpus", str(corpus), "--test", str(tmp_path / "test.tsv"),
                                   "--label_map", str(tmp_path / "label_map.json"), "--runs", str(run)])
    scores = summary["random_init"]
    assert scores["all"]["mean"] == pytest.approx(100 * f1_all)
    assert scores["contained"]["mean"] == pytest.approx(100.0)
    assert scores["clean"]["mean"] == pytest.approx(100 * 2 * 0.5 / 1.5)     # P 1, R 0.5


def test_subsets_take_the_best_single_document_and_every_column(tmp_path):
    """contained = one document covers half of the example (both columns of a pair counted) or more; runs
    stitched from two documents stay partial; a short line found whole is short; a file named twice is
    indexed once."""
    words = ["w%02d" % i for i in range(40)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Lead. %s. Tail.\n" % " ".join(words[0:8]), encoding="utf-8")
    (corpus / "b.txt").write_text("Other. %s. End.\n" % " ".join(words[10:18]), encoding="utf-8")
    (corpus / "c.txt").write_text("A fine sad film indeed.\n", encoding="utf-8")
    rows = [(" ".join(words[0:16]), ""),            # 8 of 16 covered by a: exactly half -> contained
            (" ".join(words[0:17]), ""),            # 8 of 17 -> partial
            (" ".join(words[0:20]), ""),            # a covers 0-7, b 10-17: 16 of 20 stitched, 8 alone -> partial
            (" ".join(words[0:8]), " ".join(words[20:28])),    # pair: 8 of 16 over both columns -> contained
            (" ".join(words[0:8]), " ".join(words[20:29])),    # 8 of 17 -> partial
            ("A fine, sad film.", ""),              # 4 words found whole -> short
            (" ".join(words[30:40]), "")]           # nothing shared -> clean
    test = tmp_path / "test.tsv"
    with open(test, "w", encoding="utf-8") as f:
        f.write("label\ttext_a\ttext_b\n")
        f.writelines("0\t%s\t%s\n" % row for row in rows)
    subsets = overlap_scores.overlap_subsets(str(test), [str(corpus)], "en")
    assert [subsets[line] for line in range(2, 9)] == ["contained", "partial", "partial", "contained", "partial",
                                                       "short", "clean"]
    assert overlap.index_files([str(test), str(test)], "en").texts == 9          # 7 text_a + 2 text_b, once
    with pytest.raises(ValueError, match="added twice"):
        index = overlap.OverlapIndex("en")
        index.add(EVAL, "k")
        index.add(EVAL, "k")
