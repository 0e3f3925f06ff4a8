"""script/en_glue/preprocess: the GLUE converter on tiny hand-written files in the official GLUE layout."""
import importlib.util
import os
import subprocess
import sys

import pytest

from reader.task_reader import read_tsv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRE = os.path.join(REPO, "script", "en_glue", "preprocess")
_spec = importlib.util.spec_from_file_location("convert_glue", os.path.join(PRE, "convert_glue.py"))
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)

MNLI_TRAIN_HEAD = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                   "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")
MNLI_DEV_HEAD = MNLI_TRAIN_HEAD.replace("label1\tgold_label", "label1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label")
MNLI_TEST_HEAD = MNLI_TRAIN_HEAD.rsplit("\tlabel1", 1)[0]
STSB_HEAD = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"

GLUE = {
    # CoLA train/dev have no header line.
    "CoLA/train.tsv": "gj04\t1\t\tOur friends won't buy this analysis.\ngj04\t0\t*\tThey drank the pub.\n",
    "CoLA/dev.tsv": "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\n",
    "CoLA/test.tsv": "index\tsentence\n0\tBill whistled past the house.\n1\tThe car honked.\n",
    "SST-2/train.tsv": "sentence\tlabel\nhide new secretions \t0\nbad row without label\ncontains no wit \t0\n",
    "SST-2/dev.tsv": "sentence\tlabel\nit 's a charming journey . \t1\n",
    "SST-2/test.tsv": "index\tsentence\n0\tuneasy mishmash of styles\n",
    "MRPC/train.tsv": "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t702876\t702977\tAmrozi accused.\tReferring to him.\n",
    "MRPC/dev.tsv": "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\tHe said \"no\".\tShe agreed.\n",
    "MRPC/test.tsv": "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1089874\t1089925\tPCCW 's chief.\tCurrent chief.\n",
    "STS-B/train.tsv": STSB_HEAD + "\n0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off."
                                   "\tAn air plane is taking off.\t5.000\n",
    "STS-B/dev.tsv": STSB_HEAD + "\n0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man.\tA woman.\t0.500\n",
    "STS-B/test.tsv": STSB_HEAD.rsplit("\t", 1)[0] + "\n0\tmain-captions\tMSRvid\t2012test\t0024\tnone\tnone"
                                                     "\tA girl.\tA boy.\n",
    "QQP/train.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n133273\t213221\t213222\tHow?\tWhy?\t0\n"
                     "1\t2\t3\tbroken row\n4\t5\t6\tNo label?\tNone\t\n",
    "QQP/dev.tsv": "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n201359\t303345\t303346\tA?\tB?\t1\n",
    "QQP/test.tsv": "id\tquestion1\tquestion2\n0\tWhy do rockets look white?\tWhy are rockets white?\n",
    "MNLI/train.tsv": MNLI_TRAIN_HEAD + "\n0\t31193\t31193n\tgovernment\t(\t(\t(\t(\tConceptually cream."
                                        "\tProduct and geography.\tneutral\tneutral\n",
    "MNLI/dev_matched.tsv": MNLI_DEV_HEAD + "\n0\t63735\t63735n\tslate\t(\t(\t(\t(\tThe new rights.\tEveryone."
                                            "\tneutral\tentailment\tneutral\tneutral\tneutral\tentailment\n",
    "MNLI/dev_mismatched.tsv": MNLI_DEV_HEAD + "\n0\t75290\t75290c\tletters\t(\t(\t(\t(\tYour gift.\tNone."
                                               "\tcontradiction\tcontradiction\tcontradiction\tcontradiction"
                                               "\tcontradiction\tcontradiction\n",
    "MNLI/test_matched.tsv": MNLI_TEST_HEAD + "\n7\t31193\t31193n\tgovernment\t(\t(\t(\t(\tHi.\tHello.\n",
    "MNLI/test_mismatched.tsv": MNLI_TEST_HEAD + "\n9\t1\t1n\tletters\t(\t(\t(\t(\tYo.\tHey.\n",
    "diagnostic/diagnostic.tsv": "index\tsentence1\tsentence2\n0\tThe cat sat.\tThe cat did not sit.\n",
    "QNLI/train.tsv": "index\tquestion\tsentence\tlabel\n0\tWhen?\tIn 1990.\tentailment\n1\tWho?\tNobody.\tnot_entailment\n",
    "QNLI/dev.tsv": "index\tquestion\tsentence\tlabel\n0\tWhat?\tThat.\tnot_entailment\n",
    "QNLI/test.tsv": "index\tquestion\tsentence\n0\tWhere?\tHere.\n",
    "RTE/train.tsv": "index\tsentence1\tsentence2\tlabel\n0\tNo weapons.\tWeapons found.\tnot_entailment\n",
    "RTE/dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n",
    "RTE/test.tsv": "index\tsentence1\tsentence2\n0\tMaude.\tAnd Maude.\n",
    "WNLI/train.tsv": "index\tsentence1\tsentence2\tlabel\n0\tI stuck a pin.\tI stuck the pin.\t1\n",
    "WNLI/dev.tsv": "index\tsentence1\tsentence2\tlabel\n0\tThe drain.\tIt is clogged.\t0\n",
    "WNLI/test.tsv": "index\tsentence1\tsentence2\n0\tMaude and Dora.\tDora had seen.\n",
}


def _make_glue(root, files=GLUE):
    for rel, text in files.items():
        path = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return str(root)


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def test_convert_every_task(tmp_path):
    glue = _make_glue(tmp_path / "glue")
    out = str(tmp_path / "out")
    logged = []
    done = G.convert(glue, out, log=logged.append)
    expected = {
        # the first CoLA example of train and dev is kept (the original dropped it)
        "CoLA/train.tsv": ["label\ttext_a", "1\tOur friends won't buy this analysis.", "0\tThey drank the pub."],
        "CoLA/dev.tsv": ["label\ttext_a", "1\tThe sailors rode the breeze clear of the rocks."],
        "CoLA/test.tsv": ["qid\ttext_a\tlabel", "0\tBill whistled past the house.\t-1", "1\tThe car honked.\t-1"],
        "SST-2/train.tsv": ["label\ttext_a", "0\thide new secretions ", "0\tcontains no wit "],
        "SST-2/test.tsv": ["qid\ttext_a\tlabel", "0\tuneasy mishmash of styles\t-1"],
        "MRPC/train.tsv": ["text_a\ttext_b\tlabel", "Amrozi accused.\tReferring to him.\t1"],
        "MRPC/dev.tsv": ["text_a\ttext_b\tlabel", 'He said "no".\tShe agreed.\t0'],
        "MRPC/test.tsv": ["qid\ttext_a\ttext_b\tlabel", "0\tPCCW 's chief.\tCurrent chief.\t-1"],
        "STS-B/train.tsv": ["text_a\ttext_b\tlabel", "A plane is taking off.\tAn air plane is taking off.\t5.000"],
        "STS-B/test.tsv": ["qid\ttext_a\ttext_b\tlabel", "0\tA girl.\tA boy.\t-1"],
        "QQP/train.tsv": ["text_a\ttext_b\tlabel", "How?\tWhy?\t0"],
        "QQP/test.tsv": ["qid\ttext_a\ttext_b\tlabel", "0\tWhy do rockets look white?\tWhy are rockets white?\t-1"],
        "MNLI/train.tsv": ["text_a\ttext_b\tlabel", "Conceptually cream.\tProduct and geography.\t1"],
        "MNLI/m/dev.tsv": ["text_a\ttext_b\tlabel", "The new rights.\tEveryone.\t2"],   # gold label, not label1
        "MNLI/mm/dev.tsv": ["text_a\ttext_b\tlabel", "Your gift.\tNone.\t0"],
        "MNLI/m/test.tsv": ["qid\ttext_a\ttext_b\tlabel", "7\tHi.\tHello.\t-1"],
        "MNLI/mm/test.tsv": ["qid\ttext_a\ttext_b\tlabel", "9\tYo.\tHey.\t-1"],
        "MNLI/diagnostic.tsv": ["qid\ttext_a\ttext_b\tlabel", "0\tThe cat sat.\tThe cat did not sit.\t-1"],
        "QNLI/train.tsv": ["text_a\ttext_b\tlabel", "When?\tIn 1990.\t1", "Who?\tNobody.\t0"],
        "RTE/train.tsv": ["text_a\ttext_b\tlabel", "No weapons.\tWeapons found.\t0"],
        "RTE/test.tsv": ["qid\ttext_a\ttext_b\tlabel", "0\tMaude.\tAnd Maude.\t-1"],
        "WNLI/dev.tsv": ["text_a\ttext_b\tlabel", "The drain.\tIt is clogged.\t0"],
        "WNLI/test.tsv": ["qid\ttext_a\ttext_b\tlabel", "0\tMaude and Dora.\tDora had seen.\t-1"],
    }
    for rel, lines in expected.items():
        assert _lines(os.path.join(out, rel)) == lines, rel
    assert len(done) == 8 * 3 + 6
    # every output is readable by the fine-tuning reader's TSV parser
    for path in done:
        header, rows = read_tsv(path, ("text_a", "label"))
        assert rows
    sst = done[os.path.join(out, "SST-2/train.tsv")]
    assert sst.skipped == {"rows without 2 fields": 1}
    qqp = done[os.path.join(out, "QQP/train.tsv")]
    assert qqp.skipped == {"rows without 6 fields": 1, "rows with an empty label": 1}
    assert any(l.endswith("QQP/train.tsv: 1 rows, skipped 1 rows with an empty label, skipped 1 rows without "
                          "6 fields") for l in logged)


def test_bad_rows_name_file_and_line(tmp_path):
    files = dict(GLUE)
    files["MNLI/train.tsv"] = MNLI_TRAIN_HEAD + "\n0\t1\t1n\tg\t(\t(\t(\t(\tA.\tB.\tneutral\tmaybe\n"
    glue = _make_glue(tmp_path / "g1", files)
    with pytest.raises(G.GlueError, match=r"MNLI/train.tsv:2: unknown label 'maybe'"):
        G.convert(glue, str(tmp_path / "o"), tasks=["MNLI"], log=lambda s: None)
    files = dict(GLUE)
    files["CoLA/train.tsv"] = GLUE["CoLA/train.tsv"] + "gj04\t1\tonly three fields\n"
    glue = _make_glue(tmp_path / "g2", files)
    with pytest.raises(G.GlueError, match=r"CoLA/train.tsv:3: 3 TAB-separated fields, expected 4"):
        G.convert(glue, str(tmp_path / "o"), tasks=["CoLA"], log=lambda s: None)
    files = dict(GLUE)
    files["CoLA/train.tsv"] = "source\tlabel\tmark\tsentence\n" + GLUE["CoLA/train.tsv"]   # a header where none belongs
    glue = _make_glue(tmp_path / "g3", files)
    with pytest.raises(G.GlueError, match=r"CoLA/train.tsv:1: bad label 'label'"):
        G.convert(glue, str(tmp_path / "o"), tasks=["CoLA"], log=lambda s: None)
    files = dict(GLUE)
    files["RTE/test.tsv"] = "index\tsentence1\tsentence2\nx\tA.\tB.\n"
    glue = _make_glue(tmp_path / "g4", files)
    with pytest.raises(G.GlueError, match=r"RTE/test.tsv:2: the id 'x' is not an integer"):
        G.convert(glue, str(tmp_path / "o"), tasks=["RTE"], log=lambda s: None)


def test_missing_tasks_are_skipped_and_cli(tmp_path):
    glue = _make_glue(tmp_path / "glue", {k: v for k, v in GLUE.items() if k.startswith("RTE/")})
    out = str(tmp_path / "out")
    proc = subprocess.run(["sh", os.path.join(PRE, "cvt.sh"), glue, out], capture_output=True, text=True,
                          env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stderr
    assert "CoLA: no folder" in proc.stdout and "RTE/dev.tsv: 1 rows" in proc.stdout
    assert sorted(os.listdir(out)) == ["RTE"]
    proc = subprocess.run([sys.executable, os.path.join(PRE, "convert_glue.py"), glue, out, "--tasks", "XNLI"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown task(s) XNLI" in proc.stderr
