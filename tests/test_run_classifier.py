"""run_classifier.py / predict_classifier.py end to end on tiny models and the hand-written fixtures.

A random tiny ERNIE (2 layers, H 32) is written as a pre-trained ``params`` directory; fine-tuning runs
in-process through ``ernie.cli.finetune.classifier.run`` (the task scripts and the multi-process run as
subprocesses).  Fixtures: tests/fixtures/finetune (see its README).
"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import paddle
import pytest
from conftest import REPO
from finetune_helpers import capture_logs, make_model

from ernie.checkpoint import CheckpointError
from ernie.cli.finetune import predict as predict_mod, summary as summary_mod
from ernie.cli.finetune.args import UsageError
from ernie.cli.finetune.classifier import main as classifier_main, parse_args, run
from ernie.cli.finetune.run import (RunRecord, TrainData, format_summary, max_train_steps, sibling_results,
                                    summarize_runs)
from ernie.config import ConfigError
from ernie.metrics import evaluate_classification, mrr, pearson, spearman
from ernie.optimization import lr_value
from reader.task_reader import ClassifyReader, DataError

FIX = os.path.join(REPO, "tests", "fixtures", "finetune")
SENT = os.path.join(FIX, "sentiment")
SIM = os.path.join(FIX, "similarity")
RANK = os.path.join(FIX, "ranking")
VOCAB = os.path.join(FIX, "vocab.txt")
FLOAT = r"(-?[\d.]+|nan)"
DEV_LINE = re.compile(r"^\[dev evaluation\] ave loss: %s, acc:%s, data_num: (\d+), elapsed time: [\d.]+ s, "
                      r"file: (\S+), epoch: (\d+), steps: (\d+)$" % (FLOAT, FLOAT))
TRAIN_LINE = re.compile(r"^epoch: (\d+), progress: (\d+)/(\d+), step: (\d+), ave loss: %s, ave acc: %s, "
                        r"speed: [\d.]+ steps/s$" % (FLOAT, FLOAT))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("tiny_model"), VOCAB, 260)


def base_argv(model, ckpt, *extra):
    out = ["--use_cuda", "false", "--for_cn", "false", "--ernie_config_path", os.path.join(model, "ernie_config.json"),
           "--vocab_path", os.path.join(model, "vocab.txt"), "--init_pretraining_params", os.path.join(model, "params"),
           "--checkpoints", str(ckpt), "--max_seq_len", "32", "--batch_size", "4", "--learning_rate", "3e-3",
           "--warmup_proportion", "0", "--weight_decay", "0.01", "--skip_steps", "1", "--save_steps", "0",
           "--validation_steps", "0", "--random_seed", "1"]
    return out + [str(x) for x in extra]


def finetune(model, ckpt, *extra):
    with capture_logs() as logs:
        out = run(parse_args(base_argv(model, ckpt, *extra)))
    paddle.disable_static()
    out["logs"] = logs
    return out


def predict(*argv):
    args = predict_mod.parse_args([str(a) for a in argv] + ["--use_cuda", "false"])
    with capture_logs() as logs:
        rows, res = predict_mod.predict(args)
    paddle.disable_static()
    return rows, res, logs


def read_test_save(path):
    """[(qid or None, pred string, probs array)] of a --test_save file."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = line.rstrip("\n").split("\t")
            qid = int(cells[0]) if len(cells) == 3 else None
            probs = np.array(cells[-1].strip("[]").split(), dtype="float64")
            out.append((qid, cells[-2], probs))
    return out


def labels_of(path):
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        return [line.rstrip("\n").split("\t")[header.index("label")] for line in f]


# ----------------------------------------------------------------------------- classification end to end
@pytest.fixture(scope="module")
def trained(model, tmp_path_factory):
    """5 epochs on sentiment/train.tsv (11 steps each), dev + two test files evaluated after every epoch."""
    root = tmp_path_factory.mktemp("sst")
    out = finetune(model, root / "ckpt", "--train_set", os.path.join(SENT, "train.tsv"),
                   "--dev_set", os.path.join(SENT, "dev.tsv"), "--epoch", 5,
                   "--test_set", "%s,%s" % (os.path.join(SENT, "test.tsv"), os.path.join(SENT, "test_labelled.tsv")),
                   "--test_save", "%s,%s" % (root / "out" / "test_out.tsv", root / "out" / "labelled_out.tsv"))
    out["root"] = root
    return out


def test_end_to_end_lines_files_checkpoint_and_learning(trained):
    root, logs = trained["root"], trained["logs"]
    # training lines: every step, the original format, 0-based epoch, progress within the epoch
    steps = [m for m in logs.matching(TRAIN_LINE)]
    assert [int(m.group(4)) for m in steps] == list(range(1, 56))
    assert [(int(m.group(1)), int(m.group(2)), int(m.group(3))) for m in steps[9:12]] == \
        [(0, 40, 44), (0, 44, 44), (1, 4, 44)]
    # dev evaluated at the end of every epoch, in the original's line format
    dev = logs.matching(DEV_LINE)
    assert [(int(m.group(5)), int(m.group(6))) for m in dev] == [(0, 11), (1, 22), (2, 33), (3, 44), (4, 55)]
    assert all(m.group(3) == "12" and m.group(4) == os.path.join(SENT, "dev.tsv") for m in dev)
    accs = [float(m.group(2)) for m in dev]
    assert max(accs) >= 0.8 > 0.5                               # it learned (majority class: 0.5)
    losses = [float(m.group(5)) for m in steps]
    assert np.mean(losses[-11:]) < np.mean(losses[:11]) - 0.2
    # test predictions after every evaluation, one line per example, pred = argmax, probabilities sum to 1
    for epoch, step in [(0, 11), (4, 55)]:
        path = root / "out" / ("test_out.tsv.%d.%d" % (epoch, step))
        assert "testing %s, save to %s" % (os.path.join(SENT, "test.tsv"), path) in logs.messages
        rows = read_test_save(path)
        assert [q for q, _, _ in rows] == list(range(8))        # qid column of the GLUE-style test file
        for _, pred, probs in rows:
            assert probs.shape == (2,) and abs(probs.sum() - 1) < 1e-6 and int(pred) == int(np.argmax(probs))
    # the labelled test file is also evaluated; the dummy-labelled one is not
    test_lines = logs.matching(r"^\[test evaluation\] ave loss: [\d.]+, acc:([\d.]+), data_num: 8, .* "
                               r"file: ([^,\s]+), ")
    assert len(test_lines) == 5 and {m.group(2) for m in test_lines} == {os.path.join(SENT, "test_labelled.tsv")}
    # the run record: the best dev evaluation and the test results at that point
    result = json.load(open(root / "ckpt" / "result.json"))
    assert result["primary"] == "acc" and len(result["evaluations"]) == 5 and result["finished"] is True
    best = result["evaluations"][result["best"]]
    assert best["dev"][os.path.join(SENT, "dev.tsv")]["acc"] == max(accs)
    assert result["best"] == accs.index(max(accs))              # the first of equal values
    assert best["test"][os.path.join(SENT, "test.tsv")]["metrics"] is None
    assert best["test"][os.path.join(SENT, "test_labelled.tsv")]["metrics"]["acc"] == \
        float(test_lines[result["best"]].group(1))
    # <test_save> itself holds the predictions of the best evaluation
    best_file = root / "out" / ("test_out.tsv.%d.%d" % (best["epoch"], best["step"]))
    assert open(root / "out" / "test_out.tsv").read() == open(best_file).read()
    # the final checkpoint with the head under the original names
    assert {"_cls_out_w", "_cls_out_b", "train_state.json"} <= set(os.listdir(root / "ckpt" / "step_55"))


def test_predict_classifier_matches_the_evaluation(trained, tmp_path):
    root = trained["root"]
    ckpt = root / "ckpt" / "step_55"
    # settings come from the checkpoint itself: for_cn false, max_seq_len 32, the config and vocab
    rows, res, logs = predict("--init_checkpoint", ckpt, "--predict_set", os.path.join(SENT, "test.tsv"))
    assert any("--for_cn False (from %s)" % (ckpt / "train_state.json") in m for m in logs.messages)
    assert rows[0] == "index\tqid\tlabel\tprob_0\tprob_1" and len(rows) == 9
    saved = read_test_save(root / "out" / "test_out.tsv.4.55")     # the run's final test predictions
    for i, row in enumerate(rows[1:]):
        cells = row.split("\t")
        probs = np.array(cells[3:], dtype="float64")
        assert int(cells[0]) == i and int(cells[1]) == saved[i][0]
        assert abs(probs.sum() - 1) < 1e-6 and int(cells[2]) == int(np.argmax(probs)) == int(saved[i][1])
        np.testing.assert_allclose(probs, saved[i][2], atol=1e-6)
    # dev: the logged final accuracy and loss equal what the predicted probabilities give
    _, dev, _ = predict("--init_checkpoint", ckpt, "--predict_set", os.path.join(SENT, "dev.tsv"))
    labels = np.array(labels_of(os.path.join(SENT, "dev.tsv")), dtype="int64")
    last = trained["logs"].matching(DEV_LINE)[-1]
    assert float(last.group(2)) == pytest.approx(np.mean(dev["labels"] == labels), abs=1e-6)
    assert float(last.group(1)) == pytest.approx(-np.mean(np.log(dev["probs"][np.arange(12), labels])), abs=5e-6)
    # the CLI writes the same rows to --output; an inference model is saved on request
    out = tmp_path / "pred.tsv"
    assert predict_mod.main(["--init_checkpoint", str(ckpt), "--predict_set", os.path.join(SENT, "test.tsv"),
                             "--output", str(out), "--use_cuda", "false",
                             "--save_inference_model_path", str(tmp_path / "inf")]) == 0
    paddle.disable_static()
    assert out.read_text().splitlines() == rows
    assert (tmp_path / "inf" / "step_55_inference_model" / "model.pdiparams").is_file()


def test_predict_for_cn_is_not_applied_to_english_by_default(trained, tmp_path):
    # A checkpoint copied away from its run record keeps its own settings; for_cn false keeps English words apart.
    ckpt = tmp_path / "step_55"
    shutil.copytree(trained["root"] / "ckpt" / "step_55", ckpt)
    model = os.path.dirname(trained["result"]["args"]["vocab_path"])
    common = ["--init_checkpoint", ckpt, "--predict_set", os.path.join(SENT, "dev.tsv"),
              "--ernie_config_path", os.path.join(model, "ernie_config.json"), "--vocab_path",
              os.path.join(model, "vocab.txt"), "--max_seq_len", 32]
    _, plain, logs = predict(*common)
    assert any("--for_cn False (from %s)" % (ckpt / "train_state.json") in m for m in logs.messages)
    _, glued, _ = predict(*common, "--for_cn", "true")
    _, recorded, _ = predict("--init_checkpoint", trained["root"] / "ckpt" / "step_55",
                             "--predict_set", os.path.join(SENT, "dev.tsv"))
    np.testing.assert_array_equal(plain["probs"], recorded["probs"])
    assert np.abs(glued["probs"] - plain["probs"]).max() > 1e-3      # spaces removed: other tokens ([UNK])


def test_predict_ignores_a_foreign_run_record_beside_the_checkpoint(trained, tmp_path):
    """Issue 12, item 7: the settings a checkpoint was trained with travel in it; a result.json of another run
    lying beside it (for_cn true, max_seq_len 8) changes nothing."""
    ckpt = tmp_path / "ckpt" / "step_55"
    shutil.copytree(trained["root"] / "ckpt" / "step_55", ckpt)
    foreign = dict(trained["result"], args=dict(trained["result"]["args"], for_cn=True, max_seq_len=8))
    (tmp_path / "ckpt" / "result.json").write_text(json.dumps(foreign))
    _, got, logs = predict("--init_checkpoint", ckpt, "--predict_set", os.path.join(SENT, "dev.tsv"))
    _, recorded, _ = predict("--init_checkpoint", trained["root"] / "ckpt" / "step_55",
                             "--predict_set", os.path.join(SENT, "dev.tsv"))
    np.testing.assert_array_equal(got["probs"], recorded["probs"])
    assert any("--max_seq_len 32 (from %s)" % (ckpt / "train_state.json") in m for m in logs.messages)


def test_predict_refuses_a_config_the_checkpoint_does_not_fit(trained, tmp_path):
    """Checked before any program is built: one line naming the parameters, the config and the mismatch."""
    config = json.loads(open(trained["result"]["args"]["ernie_config_path"]).read())
    config["num_hidden_layers"] += 1
    (tmp_path / "deeper.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not fit the model config .*deeper.json"):
        predict("--init_checkpoint", trained["root"] / "ckpt" / "step_55", "--predict_set",
                os.path.join(SENT, "dev.tsv"), "--ernie_config_path", tmp_path / "deeper.json")


@pytest.mark.parametrize("metric,pattern,keys", [
    ("acc_and_f1", r"ave loss: [\d.]+, ave_acc: ([\d.]+), f1: ([\d.]+), data_num: 12, elapsed time: [\d.]+ s, file: ",
     ("acc", "f1")),
    ("matthews_corrcoef", r"ave loss: [\d.]+, matthews_corrcoef: (-?[\d.]+), data_num: 12, elapsed time", ("mcc",)),
    ("pearson_and_spearman", r"ave loss: [\d.]+, pearson:(-?[\d.]+), spearman:(-?[\d.]+), corr:(-?[\d.]+), elapsed",
     ("pearson", "spearman", "corr")),
    ("simple_accuracy", r"ave loss: [\d.]+, acc:([\d.]+), data_num: 12, elapsed", ("acc",)),
])
def test_each_metric_in_evaluation_only_mode(trained, tmp_path, metric, pattern, keys):
    ckpt = trained["root"] / "ckpt" / "step_55"
    out = finetune(os.path.dirname(trained["result"]["args"]["vocab_path"]), tmp_path / "ev",
                   "--do_train", "false", "--do_test", "false", "--init_checkpoint", ckpt,
                   "--dev_set", os.path.join(SENT, "dev.tsv"), "--metric", metric)
    line = out["logs"].matching(r"^\[dev evaluation\] " + pattern + ".*$")
    assert len(line) == 1 and line[0].group(0).endswith(", epoch: 0, steps: 55")
    _, dev, _ = predict("--init_checkpoint", ckpt, "--predict_set", os.path.join(SENT, "dev.tsv"))
    labels = np.array(labels_of(os.path.join(SENT, "dev.tsv")), dtype="int64")
    expected = evaluate_classification(metric, labels, dev["probs"])
    assert [float(line[0].group(i + 1)) for i in range(len(keys))] == \
        pytest.approx([expected[k] for k in keys], abs=1e-6)
    primary = out["result"]["primary"]
    assert primary == {"acc_and_f1": "f1", "matthews_corrcoef": "mcc", "pearson_and_spearman": "pearson",
                       "simple_accuracy": "acc"}[metric]


def test_label_map_names_and_diagnostic(model, tmp_path):
    # string labels through --label_map_config (the scripts' --label_map prefix), names in the predictions
    names = {"0": "rotten", "1": "fresh"}
    for split in ("train", "dev"):
        rows = open(os.path.join(SENT, split + ".tsv")).read().splitlines()
        (tmp_path / (split + ".tsv")).write_text("\n".join([rows[0]] + [names[r[0]] + r[1:] for r in rows[1:]]) + "\n")
    (tmp_path / "label_map.json").write_text(json.dumps({"rotten": 0, "fresh": 1}))
    out = finetune(model, tmp_path / "ck", "--train_set", tmp_path / "train.tsv", "--dev_set", tmp_path / "dev.tsv",
                   "--do_test", "false", "--epoch", 1, "--label_map", tmp_path / "label_map.json",
                   "--diagnostic", os.path.join(SENT, "test.tsv"), "--diagnostic_save", tmp_path / "diag.tsv")
    assert out["result"]["args"]["label_map_config"] == str(tmp_path / "label_map.json")
    assert "Done final diagnostic, saving to %s" % (tmp_path / "diag.tsv") in out["logs"].messages
    diag = read_test_save(tmp_path / "diag.tsv")
    assert [q for q, _, _ in diag] == list(range(8)) and all(abs(p.sum() - 1) < 1e-6 for _, _, p in diag)
    rows, res, _ = predict("--init_checkpoint", tmp_path / "ck" / "step_11",
                           "--predict_set", os.path.join(SENT, "test.tsv"))
    assert [r.split("\t")[2] for r in rows[1:]] == [["rotten", "fresh"][i] for i in res["labels"]]
    # the diagnostic used the final parameters, as the predictor does
    np.testing.assert_allclose(np.array([p for _, _, p in diag]), res["probs"], atol=1e-6)


# ----------------------------------------------------------------------------- regression and ranking
def test_regression_pearson_spearman(model, tmp_path):
    out = finetune(model, tmp_path / "ck", "--train_set", os.path.join(SIM, "train.tsv"),
                   "--dev_set", os.path.join(SIM, "dev.tsv"), "--test_set", os.path.join(SIM, "test.tsv"),
                   "--test_save", tmp_path / "out" / "sts.tsv", "--epoch", 2, "--is_classify", "false",
                   "--is_regression", "true", "--num_labels", 1, "--metric", "pearson_and_spearman")
    logs = out["logs"]
    train = logs.matching(r"^epoch: \d+, progress: \d+/16, step: (\d+), ave loss: [\d.]+,  speed: [\d.]+ steps/s$")
    assert [int(m.group(1)) for m in train] == list(range(1, 9))
    dev = logs.matching(r"^\[dev evaluation\] ave loss: ([\d.]+), pearson:(-?[\d.]+), spearman:(-?[\d.]+), "
                        r"corr:(-?[\d.]+), elapsed time: [\d.]+ s, file: \S+, epoch: 1, steps: 8$")
    assert len(dev) == 1
    _, res, _ = predict("--init_checkpoint", tmp_path / "ck" / "step_8", "--predict_set", os.path.join(SIM, "dev.tsv"))
    labels = np.array(labels_of(os.path.join(SIM, "dev.tsv")), dtype="float64")
    p, s = pearson(res["preds"], labels), spearman(res["preds"], labels)
    assert [float(dev[0].group(i)) for i in (2, 3, 4)] == pytest.approx([p, s, (p + s) / 2], abs=1e-6)
    assert float(dev[0].group(1)) == pytest.approx(np.mean((res["preds"] - labels) ** 2), abs=1e-5)   # real loss
    rows = read_test_save(tmp_path / "out" / "sts.tsv.1.8")
    assert [q for q, _, _ in rows] == [0, 1, 2, 3]
    assert all(float(pred) == pytest.approx(probs[0], rel=1e-6) for _, pred, probs in rows)
    assert out["result"]["primary"] == "pearson"


def test_ranking_mrr_needs_qids(model, tmp_path):
    out = finetune(model, tmp_path / "ck", "--train_set", os.path.join(RANK, "train.tsv"),
                   "--dev_set", os.path.join(RANK, "dev.tsv"), "--do_test", "false", "--epoch", 1,
                   "--metric", "acc_and_f1_and_mrr")
    line = out["logs"].matching(r"^\[dev evaluation\] ave loss: [\d.]+, acc: ([\d.]+), f1: ([\d.]+), mrr: ([\d.]+), "
                                r"data_num: 9, elapsed time: [\d.]+ s, file: \S+, epoch: 0, steps: 5$")
    assert len(line) == 1
    _, res, _ = predict("--init_checkpoint", tmp_path / "ck" / "step_5", "--predict_set", os.path.join(RANK, "dev.tsv"))
    labels = np.array(labels_of(os.path.join(RANK, "dev.tsv")), dtype="int64")
    assert res["qids"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert float(line[0].group(3)) == pytest.approx(mrr(res["qids"], res["probs"][:, 1], labels), abs=1e-6)
    assert out["result"]["primary"] == "mrr"
    with pytest.raises(DataError, match=r"dev.tsv:2: --metric acc_and_f1_and_mrr needs a qid column"):
        finetune(model, tmp_path / "ck2", "--train_set", os.path.join(RANK, "train.tsv"),
                 "--dev_set", os.path.join(SENT, "dev.tsv"), "--do_test", "false", "--metric", "acc_and_f1_and_mrr")


# ----------------------------------------------------------------------------- resume, schedule, data
def test_init_checkpoint_resume_continues_exactly(model, tmp_path):
    args = ["--train_set", os.path.join(SENT, "train.tsv"), "--dev_set", os.path.join(SENT, "dev.tsv"),
            "--do_test", "false", "--epoch", 2, "--warmup_proportion", 0.2, "--max_checkpoints", 0]
    straight = finetune(model, tmp_path / "a", *args, "--save_steps", 7)
    resumed = finetune(model, tmp_path / "b", *args, "--init_checkpoint", tmp_path / "a" / "step_7",
                       "--init_pretraining_params", os.path.join(model, "params"))     # ignored, with a warning
    assert any("resuming from --init_checkpoint" in m for m in resumed["logs"].messages)
    a, b = straight["trainer"].history, resumed["trainer"].history
    assert [s for s, _ in b] == list(range(8, 23)) and b == a[7:]          # loss, acc, lr step by step
    # the original's schedule: 22 // 4 * ... = max_train_steps 22, warmup 4, linear decay from step 0
    assert [h["lr"] for _, h in a] == pytest.approx(
        [lr_value("linear_warmup_decay", 3e-3, 4, 22, s) for s in range(22)], rel=1e-6)
    strip = lambda m: re.sub(r"elapsed time: \S+ s", "", m.group(0))  # noqa: E731
    dev_a, dev_b = ([strip(m) for m in out["logs"].matching(DEV_LINE)] for out in (straight, resumed))
    assert dev_b == dev_a and len(dev_a) == 2           # both evaluate after epochs 1 and 2 (steps 11, 22)
    pa, pb = tmp_path / "a" / "step_22", tmp_path / "b" / "step_22"
    for name in os.listdir(pa):
        if name != "train_state.json":
            assert open(pa / name, "rb").read() == open(pb / name, "rb").read(), name
    # resumed in its own directory (killed after the step-14 checkpoint), the run keeps its record's
    # evaluation of step 11 instead of being summarised by the evaluation of step 22 alone
    again = finetune(model, tmp_path / "a", *args, "--save_steps", 7, "--init_checkpoint", tmp_path / "a" / "step_14")
    record = json.load(open(tmp_path / "a" / "result.json"))
    assert [ev["step"] for ev in record["evaluations"]] == [11, 22] and record["finished"] is True
    assert record["evaluations"] == straight["record"].evaluations
    assert again["trainer"].history == a[14:]
    # another run's record (other settings) is not taken over
    finetune(model, tmp_path / "a", *args, "--save_steps", 7, "--init_checkpoint", tmp_path / "a" / "step_14",
             "--learning_rate", 1e-3)
    assert [ev["step"] for ev in json.load(open(tmp_path / "a" / "result.json"))["evaluations"]] == [22]


def test_max_train_steps_and_train_data_shards():
    assert max_train_steps(10279, 3, 32) == 963
    assert max_train_steps(10279, 3, 32, nranks=8) == 120
    assert max_train_steps(1000, 3, 8192, in_tokens=True, max_seq_len=512) == 187
    reader = lambda: ClassifyReader(VOCAB, max_seq_len=32, random_seed=5, for_cn=False)  # noqa: E731
    path = os.path.join(SENT, "train.tsv")
    one = list(TrainData(reader(), path, 4, 2).batches())
    assert len(one) == 22 == TrainData(reader(), path, 4, 2).num_batches()
    assert [b.end_of_epoch for b in one].count(True) == 2 and one[10].end_of_epoch and one[21].end_of_epoch
    assert [b.epoch for b in one] == [0] * 11 + [1] * 11 and one[10].example == 44
    # two processes: disjoint halves of the same seeded stream, equal counts
    ranks = [list(TrainData(reader(), path, 4, 2, rank=r, nranks=2).batches()) for r in (0, 1)]
    assert [len(r) for r in ranks] == [11, 11]
    for i, b in enumerate(one):
        np.testing.assert_array_equal(b["src_ids"], ranks[i % 2][i // 2]["src_ids"])
    # resume: a fresh reader with the same seed skips what was trained
    data = TrainData(reader(), path, 4, 2)
    data.load_state_dict(one[6].state)
    rest = list(data.batches())
    assert len(rest) == 15 and all(np.array_equal(x["src_ids"], y["src_ids"]) for x, y in zip(rest, one[7:]))


def test_in_tokens_batches_and_schedule(model, tmp_path):
    # --in_tokens: batch_size counts padded tokens; the schedule uses batch_size // max_seq_len examples
    out = finetune(model, tmp_path / "ck", "--train_set", os.path.join(SENT, "train.tsv"), "--do_val", "false",
                   "--do_test", "false", "--epoch", 2, "--in_tokens", "true", "--batch_size", 64,
                   "--warmup_proportion", 0.5)
    assert "Max train steps: %d" % (2 * 44 // (64 // 32)) in out["logs"].messages
    assert "Num warmup steps: 22" in out["logs"].messages
    reader = ClassifyReader(VOCAB, max_seq_len=32, in_tokens=True, random_seed=1, for_cn=False)
    batches = list(TrainData(reader, os.path.join(SENT, "train.tsv"), 64, 2).batches())
    assert all(b["src_ids"].size <= 64 for b in batches) and sum(len(b["labels"]) for b in batches) == 88
    assert out["trainer"].step == len(batches) and out["trainer"].last_batch["src_ids"].size <= 64
    np.testing.assert_array_equal(out["trainer"].last_batch["src_ids"], batches[-1]["src_ids"])


# ----------------------------------------------------------------------------- summaries
def _result(seed, dev_values, test_values=None, primary="acc"):
    rec = RunRecord(primary, {"train_set": "t"}, seed)
    for i, v in enumerate(dev_values):
        test = {"test.tsv": {"file": "out.%d" % i,
                             "metrics": None if test_values is None else {primary: test_values[i]}}}
        rec.add(10 * (i + 1), i, {"dev.tsv": {primary: v, "loss": 1.0 - v}}, test)
    rec.finish()
    return rec.to_dict()


def test_a_record_says_whether_its_run_finished(tmp_path, capsys):
    """The record is written after every evaluation, so a killed run leaves one: it must say it is partial,
    and summaries must leave it out rather than average a first-epoch score in with finished runs."""
    path = tmp_path / "run2" / "result.json"
    path.parent.mkdir()
    rec = RunRecord("acc", {"train_set": "t"}, 2, path=str(path))
    rec.add(10, 0, {"dev.tsv": {"acc": 0.99}}, {"test.tsv": {"file": "out.0", "metrics": {"acc": 0.99}}})
    assert json.load(open(path))["finished"] is False          # what a run killed now leaves behind
    (tmp_path / "run1").mkdir()
    (tmp_path / "run1" / "result.json").write_text(json.dumps(_result(1, [0.6], [0.5])))
    assert summary_mod.main([str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "[summary] 1 run(s)" in captured.out and "0.99" not in captured.out
    assert "left out %s: the run did not finish" % path in captured.err
    with pytest.raises(SystemExit, match="no finished run record in .*run2"):
        summary_mod.main(["--table", "b=%s" % path])
    with pytest.raises(SystemExit, match="no finished run record in .*run2"):
        summary_mod.main(["--brief", str(path)])
    signature = json.load(open(path))["signature"]
    assert len(sibling_results(str(tmp_path / "run1" / "result.json"), signature)) == 1
    rec.finish()
    rec.save()
    assert json.load(open(path))["finished"] is True
    assert len(sibling_results(str(tmp_path / "run1" / "result.json"), signature)) == 2
    # a table row names one run: a directory of two is not silently read as its first
    with pytest.raises(SystemExit, match="--table c=.*: 2 finished run records there"):
        summary_mod.main(["--table", "c=%s" % tmp_path])


def test_summary_best_dev_per_run_then_mean():
    results = [_result(1, [0.80, 0.86, 0.84], [0.70, 0.75, 0.79]),
               _result(2, [0.90, 0.90, 0.85], [0.81, 0.60, 0.50]),          # tie: the first one
               _result(3, [float("nan"), 0.70], [0.99, 0.66])]              # nan never wins
    s = summarize_runs(results)
    assert [(r["seed"], r["step"], r["dev"]["acc"]) for r in s["runs"]] == [(1, 20, 0.86), (2, 10, 0.90), (3, 20, 0.70)]
    assert s["mean"] == pytest.approx((0.86 + 0.90 + 0.70) / 3) and s["median"] == pytest.approx(0.86)
    assert s["std"] == pytest.approx(np.std([0.86, 0.90, 0.70], ddof=1)) and (s["min"], s["max"]) == (0.70, 0.90)
    assert s["test_mean"]["test.tsv"]["acc"] == pytest.approx((0.75 + 0.81 + 0.66) / 3)
    assert s["dev_mean"]["loss"] == pytest.approx(np.mean([0.14, 0.10, 0.30]))
    lines = format_summary(s)
    assert lines[0] == "[summary] 3 run(s); best dev acc per run on dev.tsv:"
    assert "mean 0.820000, median 0.860000" in lines[4]
    # unlabelled test files: the summary names the prediction file of the best evaluation
    s2 = summarize_runs([_result(7, [0.5, 0.6])])
    assert s2["test_mean"]["test.tsv"] is None and "test.tsv -> out.1" in format_summary(s2)[1]
    with pytest.raises(ValueError, match="disagree"):
        summarize_runs([_result(1, [0.5]), _result(2, [0.5], primary="f1")])


def test_summary_cli_table_and_majority(tmp_path, capsys):
    for i, seed in enumerate((1, 2)):
        d = tmp_path / ("run%d" % (i + 1))
        d.mkdir()
        (d / "result.json").write_text(json.dumps(_result(seed, [0.6 + 0.1 * i], [0.5 + 0.1 * i])))
    assert summary_mod.main([str(tmp_path), "--table", "a=%s" % (tmp_path / "run1" / "result.json"),
                             "--majority", ",".join(os.path.join(SENT, n) for n in ("train.tsv", "dev.tsv",
                                                                                     "test_labelled.tsv"))]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("| a | 0.6000 | 0.5000 | 0 / 10 |")
    assert out[3] == "| majority class (label 0) | 0.5000 | 0.5000 | - | - |"      # 22/22 tie -> label 0
    assert out[4] == "[summary] 2 run(s); best dev acc per run on dev.tsv:"
    assert "mean 0.650000" in out[7]


# ----------------------------------------------------------------------------- errors
def test_max_steps_stops_early_and_fits_the_schedule(model, tmp_path):
    # 2 epochs of 11 steps, stopped after 5: the linear decay reaches 0 at step 5, not 22; evaluated at the end
    out = finetune(model, tmp_path / "ck", "--train_set", os.path.join(SENT, "train.tsv"), "--dev_set",
                   os.path.join(SENT, "dev.tsv"), "--do_test", "false", "--epoch", 2, "--max_steps", 5,
                   "--warmup_proportion", "0.2")
    assert out["trainer"].step == 5 and sorted(os.listdir(tmp_path / "ck"))[-1] == "step_5"
    logs = out["logs"]
    assert logs.matching(r"--max_steps 5: training stops after 5 of the 22 steps") and logs.matching(
        r"^Max train steps: 5$") and logs.matching(r"^Num warmup steps: 1$")
    lrs = dict((step, values["lr"]) for step, values in out["trainer"].history)
    assert lrs[5] < 1e-3 < lrs[2]           # near the end of a 5-step decay (of 22 steps it would still be 2.4e-3)
    assert [ev["step"] for ev in out["record"].evaluations] == [5]


def test_parameters_of_another_model_fail_in_one_line(model, tmp_path):
    """A model directory paired with another model's config: one line naming both and the fix, before training."""
    other = tmp_path / "other.json"
    cfg = json.load(open(os.path.join(model, "ernie_config.json")))
    other.write_text(json.dumps(dict(cfg, hidden_size=64, num_hidden_layers=3)))
    argv = base_argv(model, tmp_path / "ck", "--train_set", os.path.join(SENT, "train.tsv"), "--dev_set",
                     os.path.join(SENT, "dev.tsv"), "--do_test", "false") + ["--ernie_config_path", str(other)]
    with pytest.raises(SystemExit) as e:
        classifier_main(argv)
    message = str(e.value.code)
    assert "\n" not in message and message.startswith("run_classifier.py: error: the parameters in %s/params do not "
                                                       "fit the model config %s" % (model, other))
    assert "word_embedding is [260, 32], the config needs [260, 64]" in message
    assert "2 encoder layers, the config has num_hidden_layers 3" in message
    assert message.endswith("pass --ernie_config_path %s/ernie_config.json (task scripts: ERNIE_CONFIG=%s/"
                            "ernie_config.json)" % (model, model))
    assert not (tmp_path / "ck" / "step_1").exists()
    paddle.disable_static()


def test_flag_and_input_errors(model, trained, tmp_path):
    ok = ["--train_set", os.path.join(SENT, "train.tsv"), "--dev_set", os.path.join(SENT, "dev.tsv"),
          "--do_test", "false"]
    cases = [
        (["--is_regression", "true"], UsageError, "exactly one of --is_classify and --is_regression"),
        (["--is_classify", "false", "--is_regression", "true"], UsageError, "needs --num_labels 1"),
        (["--num_labels", "1"], UsageError, "needs --num_labels >= 2"),
        (["--do_test", "true"], UsageError, "--do_test true needs --test_set"),
        (["--do_test", "true", "--test_set", "a,b", "--test_save", "x"], UsageError, "one prefix per test file"),
        (["--do_train", "false"], UsageError, "--init_checkpoint must name the fine-tuned checkpoint"),
        (["--do_train", "false", "--do_val", "false"], UsageError, "at least one of"),
        (["--metric", "matthews_corrcoef", "--num_labels", "3"], UsageError, "binary"),
        (["--best_metric", "mrr"], UsageError, "--best_metric mrr is not computed"),
        (["--diagnostic", "d.tsv"], UsageError, "--diagnostic needs --diagnostic_save"),
        (["--max_seq_len", "100"], ConfigError, "exceeds max_position_embeddings 64"),
        (["--do_train", "false", "--init_checkpoint", os.path.join(model, "params")], CheckpointError,
         "holds no classification head"),
        (["--dev_set", os.path.join(SENT, "test.tsv")], DataError, r"test.tsv:2: label '-1' .* outside"),
    ]
    for extra, error, message in cases:
        with pytest.raises(error, match=message):
            finetune(model, tmp_path / "x", *(ok + extra))
    assert not (tmp_path / "x" / "step_1").exists()        # every error came before training
    with pytest.raises(SystemExit, match=r"^run_classifier.py: error: .*needs --num_labels >= 2"):
        classifier_main(base_argv(model, tmp_path / "y", *(ok + ["--num_labels", "1"])))
    with pytest.raises(UsageError, match="checkpoint's head has 2 outputs"):
        predict("--init_checkpoint", trained["root"] / "ckpt" / "step_55", "--predict_set",
                os.path.join(SENT, "dev.tsv"), "--num_labels", 3)


# ----------------------------------------------------------------------------- scripts and processes
def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PADDLE_", "FLAGS_selected"))}
    env.update(PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="", **extra)
    return env


def test_glue_task_script_runs_end_to_end_and_summarises(model, tmp_path):
    data = tmp_path / "glue" / "SST-2"
    data.mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        shutil.copyfile(os.path.join(SENT, name), data / name)
    model_dir = tmp_path / "model"
    shutil.copytree(model, model_dir)
    proc = subprocess.run(
        ["sh", os.path.join(REPO, "script", "en_glue", "ernie_base", "SST-2", "task.sh"), "--epoch", "1",
         "--batch_size", "8", "--max_seq_len", "32", "--learning_rate", "1e-3", "--skip_steps", "2"],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
        env=_env(MODEL_PATH=str(model_dir), TASK_DATA_PATH=str(tmp_path / "glue"), SEEDS="1 2",
                 ERNIE_CONFIG=os.path.join(model, "ernie_config.json")))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for run_no in (1, 2):
        log = (tmp_path / "log" / "model" / "SST-2-base-cpu-demo" / ("run%d" % run_no) / "job.log").read_text()
        assert len([l for l in log.splitlines() if DEV_LINE.search(l.split("\t", 1)[-1])]) == 1
        assert (tmp_path / "output" / "model" / "SST-2-base-cpu-demo" / ("run%d" % run_no) / "test_out.tsv.0.6").is_file()
        assert (tmp_path / "checkpoints" / "model" / "SST-2-base-cpu-demo" / ("run%d" % run_no) / "step_6").is_dir()
    assert "[summary] 2 run(s); best dev acc per run on" in log        # run 2 summarises runs 1 and 2
    seeds = [json.load(open(tmp_path / "checkpoints" / "model" / "SST-2-base-cpu-demo" / ("run%d" % r) /
                            "result.json"))["random_seed"]
             for r in (1, 2)]
    assert seeds == [1, 2]


def test_sst2_large_script_cpu_demo_with_a_model_and_data_dir_only(model, tmp_path):
    """The README's command, `MODEL_PATH=minilm DATA_DIR=... sh script/en_glue/ernie_large/SST-2/task.sh`, with a
    tiny model: the model's own config (not the paper's large one), the CPU demo (one seed, MAX_STEPS steps, a
    log line every 5 steps), dev and test accuracy in the closing summary, and how to run the full schedule."""
    data = tmp_path / "rotten_tomatoes"
    data.mkdir()
    for src, dst in (("train.tsv", "train.tsv"), ("dev.tsv", "dev.tsv"), ("test_labelled.tsv", "test.tsv")):
        shutil.copyfile(os.path.join(SENT, src), data / dst)
    model_dir = tmp_path / "tinylm"
    shutil.copytree(model, model_dir)
    script = os.path.join(REPO, "script", "en_glue", "ernie_large", "SST-2", "task.sh")
    proc = subprocess.run(["sh", script, "--max_seq_len", "32", "--batch_size", "4", "--learning_rate", "1e-3"],
                          cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300, env=_env(MODEL_PATH=str(model_dir), DATA_DIR=str(data), MAX_STEPS="10"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    train = [m for m in (TRAIN_LINE.search(l.split("\t", 1)[-1]) for l in proc.stdout.splitlines()) if m]
    assert [int(m.group(4)) for m in train] == [5, 10]
    assert "config: %s/ernie_config.json (the model's own" % model_dir in proc.stderr
    assert "CPU demo (no GPU): one seed, 10 steps" in proc.stderr
    dev = re.search(r"\[SST-2\] seed 1: dev dev.tsv at step 10 \(epoch 0\): acc ([\d.]+)", proc.stderr)
    test = re.search(r"\[SST-2\] seed 1: test test.tsv at that step: acc ([\d.]+).*; predictions: (\S+)",
                     proc.stderr)
    assert dev and test, proc.stderr
    result = json.load(open(tmp_path / "checkpoints" / "tinylm" / "SST-2-large-cpu-demo" / "run1" / "result.json"))
    best = result["evaluations"][result["best"]]
    assert float(dev.group(1)) == pytest.approx(best["dev"][str(data / "dev.tsv")]["acc"], abs=1e-4)
    assert os.path.isfile(os.path.join(str(tmp_path), test.group(2)))      # relative to the run directory
    assert "FULL_SCHEDULE=1 MODEL_PATH=%s DATA_DIR=%s sh %s" % (model_dir, data, script) in proc.stderr


def test_chinese_task_script_evaluates_dev_and_test(tmp_path):
    """script/zh_task/ernie_base/run_ChnSentiCorp.sh: --for_cn true, dev_set = dev,test, no --do_test."""
    data = tmp_path / "zh" / "chnsenticorp"
    shutil.copytree(os.path.join(FIX, "chnsenticorp"), data)
    model = make_model(tmp_path / "model", os.path.join(REPO, "config", "vocab.txt"), 18000)
    proc = subprocess.run(
        ["sh", os.path.join(REPO, "script", "zh_task", "ernie_base", "run_ChnSentiCorp.sh"), "--epoch", "2",
         "--batch_size", "8", "--max_seq_len", "32", "--skip_steps", "1"],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
        env=_env(MODEL_PATH=model, TASK_DATA_PATH=str(tmp_path / "zh")))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (tmp_path / "log" / "model" / "ChnSentiCorp-base-cpu-demo" / "run1" / "job.log").read_text()
    dev = [m for m in (DEV_LINE.search(l.split("\t", 1)[-1]) for l in log.splitlines()) if m]
    assert [(os.path.basename(m.group(4)), m.group(3), int(m.group(6))) for m in dev] == \
        [("dev.tsv", "4", 2), ("test.tsv", "4", 2), ("dev.tsv", "4", 4), ("test.tsv", "4", 4)]
    assert "testing " not in log
    args = json.load(open(tmp_path / "checkpoints" / "model" / "ChnSentiCorp-base-cpu-demo" / "run1" /
                          "result.json"))["args"]
    assert args["for_cn"] is True and args["weight_decay"] == 0.01 and args["warmup_proportion"] == 0.0


def test_real_data_script_with_stand_in_data_and_model(model, tmp_path):
    """script/finetune_real_data.sh on the fixtures (data and "MiniLM" already in WORK: nothing is fetched)."""
    data = tmp_path / "data" / "rotten_tomatoes"
    data.mkdir(parents=True)
    for src, dst in (("train.tsv", "train.tsv"), ("dev.tsv", "dev.tsv"), ("test_labelled.tsv", "test.tsv")):
        shutil.copyfile(os.path.join(SENT, src), data / dst)
    shutil.copytree(model, tmp_path / "minilm")
    proc = subprocess.run(["sh", os.path.join(REPO, "script", "finetune_real_data.sh")], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300,
                          env=_env(WORK=str(tmp_path), RUNS="minilm tiny", EPOCH="1", TINY_EPOCH="1",
                                   MAX_SEQ_LEN="32", BATCH_SIZE="8"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout.splitlines()
    assert table[0] == "| run | dev acc (best) | test acc at best dev | epoch / step | wall time |"
    assert [row.split(" | ")[0] for row in table[2:]] == ["| minilm", "| tiny", "| majority class (label 0)"]
    assert table[4].startswith("| majority class (label 0) | 0.5000 | 0.5000 |")
    result = json.load(open(tmp_path / "ckpt" / "minilm" / "result.json"))
    assert result["args"]["init_pretraining_params"] == str(tmp_path / "minilm" / "params")
    assert table[2].startswith("| minilm | %.4f | " % result["evaluations"][0]["dev"][str(data / "dev.tsv")]["acc"])
    tiny = json.load(open(tmp_path / "ckpt" / "tiny" / "result.json"))["args"]
    assert tiny["init_pretraining_params"] is None and tiny["learning_rate"] == 1e-3
    assert "[minilm] done in" in proc.stderr and (tmp_path / "log" / "tiny.log").is_file()


def test_two_processes_equal_one_process_with_the_global_batch(tmp_path):
    """paddle.distributed.launch with 2 CPU ranks (gloo), batch 2 each = one process with batch 4
    (no dropout, so the runs must agree): the same dev evaluation, only rank 0 evaluates and saves."""
    from test_distributed import _run
    model = make_model(tmp_path / "model", VOCAB, 260, dropout=0.0)
    common = ["--use_cuda", "false", "--for_cn", "false",
              "--ernie_config_path", os.path.join(model, "ernie_config.json"),
              "--vocab_path", os.path.join(model, "vocab.txt"),
              "--init_pretraining_params", os.path.join(model, "params"),
              "--train_set", os.path.join(SENT, "train.tsv"), "--dev_set", os.path.join(SENT, "dev.tsv"),
              "--do_test", "false", "--epoch", "2", "--max_seq_len", "32", "--learning_rate", "3e-3",
              "--skip_steps", "1", "--random_seed", "4", "--save_steps", "0"]
    log_dir = str(tmp_path / "log")
    _run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--max_restart", "0",
          "--log_dir", log_dir, os.path.join(REPO, "run_classifier.py")] + common +
         ["--batch_size", "2", "--checkpoints", str(tmp_path / "two")], log_dir, timeout=240)
    single = subprocess.run([sys.executable, os.path.join(REPO, "run_classifier.py")] + common +
                            ["--batch_size", "4", "--checkpoints", str(tmp_path / "one")],
                            capture_output=True, text=True, timeout=240, env=_env())
    assert single.returncode == 0, single.stderr[-3000:]
    rank0 = open(os.path.join(log_dir, "workerlog.0"), encoding="utf-8", errors="replace").read()
    rank1 = open(os.path.join(log_dir, "workerlog.1"), encoding="utf-8", errors="replace").read()
    assert "Device count: 2" in rank0 and "Max train steps: 22" in rank0
    dev = lambda text: [(float(m.group(1)), float(m.group(2)), int(m.group(6)))  # noqa: E731
                        for m in (DEV_LINE.search(l.split("\t", 1)[-1]) for l in text.splitlines()) if m]
    two, one = dev(rank0), dev(single.stderr)
    assert [s for _, _, s in two] == [s for _, _, s in one] == [11, 22] and dev(rank1) == []
    assert np.allclose([x[:2] for x in two], [x[:2] for x in one], atol=2e-5)
    assert "[dev evaluation]" not in rank1 and (tmp_path / "two" / "step_22").is_dir()
    assert json.load(open(tmp_path / "two" / "result.json"))["signature"]["nranks"] == 2
