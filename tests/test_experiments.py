"""The experiment drivers of bench/: task_learnability.py (each task alone) and table7_comparison.py.

Their training is train.py's / run_classifier.py's (tested elsewhere); here: the baselines they
compare against, the commands they run, and how they read results back.
"""
import json
import os
import sys
import types

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))

import task_learnability as TL  # noqa: E402
import table7_comparison as T7  # noqa: E402


def _task(name, level):
    return types.SimpleNamespace(name=name, level=level)


def test_baselines_sentence_reordering_hand_checked():
    # (label, number of segments seen through the [SEP]s)
    train = [(0, 1), (0, 1), (0, 1), (1, 2), (1, 2), (2, 2), (5, 3), (5, 3), (3, 3)]
    valid = [(0, 1), (2, 2), (2, 2), (1, 2), (5, 3), (4, 3)]
    b = TL.baselines(_task("sentence_reordering", "sentence"), train, valid)
    assert b["majority"] == pytest.approx(1 / 6)          # label 0 is the most frequent training label
    assert b["majority_valid"] == pytest.approx(2 / 6)    # label 2 in hindsight
    # train-fitted per count: 1 -> 0, 2 -> 1, 3 -> 5: right on (0,1), (1,2), (5,3)
    assert b["given_n"] == pytest.approx(3 / 6)
    # fitted on valid: 1 -> 0, 2 -> 2, 3 -> 5 (first of the tie 5/4 in order of appearance): 4 right
    assert b["given_n_valid"] == pytest.approx(4 / 6)
    assert b["chance"] == pytest.approx(4 / 6)


def test_baselines_token_task_lookup():
    train = [(1, 10), (1, 10), (0, 11), (1, 12)]
    valid = [(1, 10), (0, 11), (0, 12), (0, 13)]        # id 13 unseen: the majority class 1
    b = TL.baselines(_task("token_document_relation", "token"), train, valid)
    assert b["majority"] == pytest.approx(1 / 4) and b["majority_valid"] == pytest.approx(3 / 4)
    assert b["token_lookup"] == pytest.approx(2 / 4)
    assert b["chance"] == pytest.approx(3 / 4)


def test_redirect_data_rewrites_filelists_and_options(tmp_path, monkeypatch):
    data = tmp_path / "full"
    data.mkdir()
    for split in ("train", "valid"):
        (data / ("sentence_distance.%s_filelist" % split)).write_text("x.gz\t1.0\n")
    (data / "tasks.json").write_text(json.dumps({"tasks": [{"name": "sentence_distance", "id": 4,
                                                            "segment_tokens": 60}]}))
    _, config = TL.load_run_config("zh", "sentence_distance")
    path, new = TL.redirect_data(config, str(data), "sentence_distance", str(tmp_path / "run"))
    (spec,) = new["tasks"]
    assert spec["train_filelist"] == str(data / "sentence_distance.train_filelist")
    assert spec["options"] == {"segment_tokens": 60}
    assert json.load(open(path)) == new
    with pytest.raises(SystemExit, match="has no ir_relevance.train_filelist"):
        TL.redirect_data(TL.load_run_config("zh", "ir_relevance")[1], str(data), "ir_relevance", str(tmp_path / "r"))


def test_table7_dry_run_commands(tmp_path, capsys):
    data = tmp_path / "rt"
    data.mkdir()
    (data / "train.tsv").write_text("label\ttext_a\n1\tgood\n")
    T7.main(["--work", str(tmp_path / "w"), "--data_dir", str(data), "--seeds", "4,5", "--dry_run",
             "--iterations_scale", "0.002"])
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("$ ")]
    pre = [l for l in lines if "train.py" in l]
    fine = [l for l in lines if "run_classifier.py" in l]
    # one pre-training per strategy, from the same configuration and scale; 2 seeds x 4 rows of fine-tuning
    assert [l.split("--strategy ")[1].split()[0] for l in pre] == list(T7.STRATEGIES)
    assert all("--task_config config/ernie2_table7.json" in l and "--iterations_scale 0.002" in l for l in pre)
    assert len(fine) == 8
    assert sum("--init_pretraining_params" in l for l in fine) == 6        # the random row has none
    assert all(("--random_seed 4" in l) != ("--random_seed 5" in l) for l in fine)
    cfg = json.load(open(tmp_path / "w" / "model_config.json"))
    assert cfg["use_task_id"] and cfg["task_type_vocab_size"] >= 4


def test_table7_reads_results(tmp_path):
    ck = tmp_path / "ck"
    for n in ("step_30", "step_300", "step_40", "notastep"):
        (ck / n).mkdir(parents=True)
    assert T7.last_step_dir(str(ck)).endswith("step_300")
    assert T7._acc({"/d/dev.tsv": {"acc": 0.75, "loss": 0.5}}) == 0.75
    assert T7._acc({"/d/test.tsv": {"file": "out", "metrics": {"acc": 0.5}}}) == 0.5
    pre = {"end_step": 1200, "final_valid_acc": dict.fromkeys(T7.TASKS, 0.5),
           "valid_acc_when_introduced": dict.fromkeys(T7.TASKS, 0.625)}
    pre["final_valid_acc"] = {"sentence_reordering": 0.5}       # continual: only the last stage's task
    rows = {"continual": {"pretrain": pre, "finetune": [{"dev_acc": 0.7, "test_acc": 0.6},
                                                         {"dev_acc": 0.8, "test_acc": 0.6}]},
            "random": {"finetune": [{"dev_acc": 0.5, "test_acc": 0.5}]}}
    table = T7.render_table({"rows": rows}).splitlines()
    assert "| continual learning | 1200 | – / 0.625 | – / 0.625 | – / 0.625 | 0.500 / 0.625 |" in table[2]
    assert "0.7500 ± 0.0707 | 0.6000 ± 0.0000 | 2 |" in table[2]       # std with ddof 1: 0.1/sqrt(2)
    assert table[3].startswith("| no pre-training | 0 | – |") and "| 1 |" in table[3]


def test_learnability_table_rows(tmp_path):
    base = {"task": "sentence_reordering", "lang": "zh", "num_classes": 9, "valid_items": 400, "steps": 1500,
            "wall_s": 100.4, "final_valid_acc": 0.7,
            "baselines": {"majority": 0.3, "majority_valid": 0.35, "given_n": 0.5, "given_n_valid": 0.6,
                          "chance": 0.6}}
    tdr = dict(base, task="token_document_relation", num_classes=2, final_valid_acc=0.75,
               baselines={"majority": 0.68, "majority_valid": 0.68, "token_lookup": 0.74, "chance": 0.68})
    paths = []
    for r in (base, tdr):
        paths.append(str(tmp_path / ("%s.json" % r["task"])))
        json.dump(r, open(paths[-1], "w"))
    rows = TL.render_table(paths).splitlines()
    # chance = the better majority constant; the segment-count rule and the token lookup shown beside it
    assert rows[2] == ("| sentence_reordering | zh | 9 | 400 | 0.350 | segment count 0.600 | **0.700** | +0.350 "
                       "| 1500 | 100 s |")
    assert "| 0.680 | token lookup 0.740 | **0.750** | +0.070 |" in rows[3]
