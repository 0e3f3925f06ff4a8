"""ernie.cli.export_inference + ernie.cli.inference (paddle.inference predictor) against predict_classifier.py and
ernie_encoder.py on a tiny fine-tuned model."""
import json
import os

import numpy as np
import paddle
import pytest
from conftest import REPO
from finetune_helpers import capture_logs, make_model

from ernie.cli import export_inference, inference
from ernie.cli.finetune import predict as predict_mod
from ernie.cli.finetune.classifier import parse_args, run
from ernie.config import ErnieConfig

FIX = os.path.join(REPO, "tests", "fixtures", "finetune")
SENT = os.path.join(FIX, "sentiment")
VOCAB = os.path.join(FIX, "vocab.txt")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny ERNIE fine-tuned for one epoch on string labels through a label map."""
    root = tmp_path_factory.mktemp("inference")
    model = make_model(root / "model", VOCAB, 260)
    names = {"0": "rotten", "1": "fresh"}
    for split in ("train", "dev"):
        rows = open(os.path.join(SENT, split + ".tsv")).read().splitlines()
        (root / (split + ".tsv")).write_text("\n".join([rows[0]] + [names[r[0]] + r[1:] for r in rows[1:]]) + "\n")
    (root / "label_map.json").write_text(json.dumps({"rotten": 0, "fresh": 1}))
    argv = ["--use_cuda", "false", "--for_cn", "false", "--ernie_config_path", os.path.join(model, "ernie_config.json"),
            "--vocab_path", os.path.join(model, "vocab.txt"), "--init_pretraining_params", os.path.join(model, "params"),
            "--checkpoints", str(root / "ck"), "--max_seq_len", "32", "--batch_size", "4", "--learning_rate", "3e-3",
            "--warmup_proportion", "0", "--skip_steps", "10", "--save_steps", "0", "--validation_steps", "0",
            "--random_seed", "1", "--train_set", str(root / "train.tsv"), "--dev_set", str(root / "dev.tsv"),
            "--do_test", "false", "--epoch", "1", "--label_map", str(root / "label_map.json")]
    with capture_logs():
        run(parse_args(argv))
    paddle.disable_static()
    return {"root": root, "model": model, "ckpt": str(root / "ck" / "step_11")}


def read_rows(rows):
    header, *body = rows
    return header, [r.split("\t") for r in body]


def test_exported_classifier_predicts_what_predict_classifier_does(tiny, tmp_path, capsys):
    out = tmp_path / "served"
    assert export_inference.main(["--init_checkpoint", tiny["ckpt"], "--output_dir", str(out)]) == 0
    paddle.disable_static()
    assert sorted(os.listdir(out)) == ["inference_config.json", "label_map.json", "model.json", "model.pdiparams",
                                       "vocab.txt"]
    settings = json.loads((out / "inference_config.json").read_text())
    assert settings["kind"] == "classifier" and settings["fetches"] == ["probs"] and settings["num_labels"] == 2
    assert settings["max_seq_len"] == 32 and settings["for_cn"] is False and settings["do_lower_case"] is True

    test_file = os.path.join(SENT, "test.tsv")
    args = predict_mod.parse_args(["--init_checkpoint", tiny["ckpt"], "--predict_set", test_file,
                                   "--use_cuda", "false"])
    with capture_logs():
        expected, _ = predict_mod.predict(args)
    paddle.disable_static()
    pred_file = tmp_path / "pred.tsv"
    capsys.readouterr()
    assert inference.main(["--model_dir", str(out), "--predict_set", test_file, "--output", str(pred_file),
                           "--batch_size", "3"]) == 0
    assert "sentences/s" in capsys.readouterr().err
    got = pred_file.read_text().splitlines()
    (h1, want), (h2, have) = read_rows(expected), read_rows(got)
    assert h1 == h2 == "index\tqid\tlabel\tprob_0\tprob_1" and len(have) == len(want) == 8
    for a, b in zip(want, have):
        assert a[:3] == b[:3]                          # index, qid, label name
        assert b[2] in ("rotten", "fresh")
        np.testing.assert_allclose(np.array(b[3:], float), np.array(a[3:], float), atol=1e-6)

    # the in-code API gives the same probabilities; a regressor flag that contradicts the head is refused
    model = inference.InferenceModel(str(out))
    res, seconds = inference.predict_file(model, test_file, batch_size=8)
    assert res["probs"].shape == (8, 2) and seconds > 0
    np.testing.assert_allclose(res["probs"], np.array([r[3:] for r in want], float), atol=1e-6)
    batch = next(model.reader().data_generator(test_file, 8, epoch=1, shuffle=False, phase="eval")())
    runs = [model.run(batch)[0] for _ in range(3)]   # oneDNN made repeated runs differ (see ernie.cli.inference)
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    with pytest.raises(SystemExit, match="head has 2 outputs"):
        export_inference.main(["--init_checkpoint", tiny["ckpt"], "--output_dir", str(tmp_path / "r"),
                               "--is_regression", "true"])
    assert not os.path.exists(tmp_path / "r")
    with pytest.raises(SystemExit, match="already exists"):
        export_inference.main(["--init_checkpoint", tiny["ckpt"], "--output_dir", str(out)])


def test_exported_encoder_equals_ernie_encoder(tiny, tmp_path):
    from ernie.cli.embed import extract_embeddings
    model = tiny["model"]
    out = tmp_path / "encoder"
    assert export_inference.main(["--init_pretraining_params", os.path.join(model, "params"), "--ernie_config_path",
                                  os.path.join(model, "ernie_config.json"), "--vocab_path",
                                  os.path.join(model, "vocab.txt"), "--max_seq_len", "32",
                                  "--output_dir", str(out)]) == 0
    data = tmp_path / "data.tsv"
    data.write_text("text_a\ttext_b\nthe film was great\tyes\na dull movie\t\n")
    assert inference.main(["--model_dir", str(out), "--predict_set", str(data), "--output", str(tmp_path / "emb")]) == 0
    config = ErnieConfig.from_json(os.path.join(model, "ernie_config.json"))
    cls_emb, top, lens = extract_embeddings(config, os.path.join(model, "params"), str(data),
                                            os.path.join(model, "vocab.txt"), max_seq_len=32, progress=False)
    paddle.disable_static()
    np.testing.assert_array_equal(np.load(tmp_path / "emb" / "seq_lens.npy"), lens)
    np.testing.assert_allclose(np.load(tmp_path / "emb" / "cls_emb.npy"), cls_emb, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "emb" / "top_layer_emb.npy"), top, atol=1e-5)


def test_incomplete_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(inference.InferenceError, match="inference_config.json does not exist"):
        inference.read_inference_config(str(tmp_path))
    (tmp_path / "inference_config.json").write_text(json.dumps(
        {"kind": "classifier", "feeds": [], "fetches": [], "max_seq_len": 8, "do_lower_case": True,
         "for_cn": False, "task_id": 0, "vocab": "vocab.txt"}))
    with pytest.raises(inference.InferenceError, match="model.json is missing"):
        inference.read_inference_config(str(tmp_path))
