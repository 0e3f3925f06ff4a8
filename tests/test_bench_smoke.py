"""bench/bench_encoder.py keeps running: the tiny config end to end in subprocesses, and its sanity check."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, REPO)
from bench import _common, bench_encoder  # noqa: E402

SCRIPT = os.path.join(REPO, "bench", "bench_encoder.py")


def run_bench(tmp_path, *args):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, SCRIPT, "--warmup", "1", "--steps", "1", "--batch_size", "2",
                           "--seq_len", "16", "--json", str(out)] + list(args),
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return proc.stdout, json.loads(out.read_text())


def test_tiny_config_all_variants(tmp_path):
    stdout, report = run_bench(tmp_path, "--config", "tiny", "--fwd_steps", "2", "--peak_n", "256")
    peak = report["sgemm_peak"]
    assert len(report["sgemm_peak_runs"]) == 2 and peak["peak_gflops"] >= max(peak["numpy_gflops"], peak["paddle_gflops"])
    assert peak["numpy_gflops"] > 1 and peak["paddle_gflops"] > 1
    assert report["cpu_setup"]["enabled"] and "fp32 sgemm peak" in stdout and "of peak" in stdout
    assert set(report["results"]) == set(bench_encoder.VARIANTS)
    for name, r in report["results"].items():
        t = r["timing"]
        assert t["n"] == (2 if name.endswith("fwd") else 1) and len(t["all_ms"]) == t["n"]
        assert 0 < t["min_ms"] <= t["median_ms"] <= t["max_ms"]
        assert r["tokens_per_s"] == r["sentences_per_s"] * 16
        assert r["peak_rss_mb"] > 100          # a paddle process; measured in the worker, not the parent
        assert r["flags"]["FLAGS_paddle_num_threads"] is not None
        assert r["model_gflop"] == pytest.approx(_common.encoder_flops(
            _common.load_config("tiny"), 2, 16, 5, training=name.endswith("train")) / 1e9)
        assert r["gflops"] == pytest.approx(r["model_gflop"] / (t["median_ms"] / 1000.0))
        assert r["fraction_of_peak"] == pytest.approx(r["gflops"] / peak["peak_gflops"])
    # Same synthetic weights and batches: the heads and criterion agree without dropout, and the
    # training runs start from (nearly) the same loss, near ln(V) + ln(2) for small random weights.
    train = [report["results"]["%s-train" % s] for s in ("static", "dygraph")]
    assert np.isfinite(train[0]["check_loss"]) and train[0]["check_loss"] > 0
    assert abs(train[0]["losses"][0] - train[1]["losses"][0]) < 0.2
    assert report["masked_tokens"] == 5      # round(0.15 * 2 * 16)
    assert report["checks_ok"] and len(report["checks"]) == 4
    assert set(report["speedup"]) == {"fwd", "train"}
    for line in ("static fwd", "dygraph train", "speed-up static/dygraph (train)", "check ok"):
        assert line in stdout


def test_config_path_with_task_embedding(tmp_path):
    """--config PATH.json; a task embedding (paddlenlp's ErnieForPretraining embeds a constant task id)."""
    values = dict(_common.TINY, use_task_id=True, task_type_vocab_size=3, hidden_act="gelu", layer_norm_eps=1e-12)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(values))
    _, report = run_bench(tmp_path, "--config", str(path), "--only", "train", "--skip_peak")
    assert set(report["results"]) == {"static-train", "dygraph-train"}
    assert report["model"]["hidden_act"] == "gelu" and report["checks_ok"]


def test_check_detects_disagreement(tmp_path):
    rng = np.random.default_rng(0)
    seq, pooled = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 8))
    files = {v: str(tmp_path / (v + ".npz")) for v in ("static-fwd", "dygraph-fwd")}
    np.savez(files["static-fwd"], seq=seq, pooled=pooled)
    np.savez(files["dygraph-fwd"], seq=seq + 5e-5, pooled=pooled - 3e-4)
    results = {"static-fwd": {}, "dygraph-fwd": {},
               "static-train": {"check_loss": 7.0, "check_lm_loss": 6.3},
               "dygraph-train": {"check_loss": 7.0 + 7e-3, "check_lm_loss": 6.3}}
    checks = bench_encoder.compare(results, files, tol=1e-4)
    assert [c["ok"] for c in checks] == [True, False, False, True]
    np.testing.assert_allclose([c["diff"] for c in checks], [5e-5, 3e-4, 1e-3, 0.0], rtol=1e-6, atol=1e-12)


def test_bad_arguments_fail_clearly(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--config", "tiny", "--seq_len", "600"], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode != 0 and "max_position_embeddings 512" in proc.stderr
    proc = subprocess.run([sys.executable, SCRIPT, "--config", str(tmp_path / "none.json")], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode != 0 and "none.json' does not exist" in proc.stderr


def test_synthetic_weights_are_per_name_and_order_free():
    a = _common.synthetic_weight("encoder_layer_0_ffn_fc_0.w_0", [3, 4], seed=1)
    b = _common.synthetic_weight("encoder_layer_1_ffn_fc_0.w_0", [3, 4], seed=1)
    assert a.dtype == np.float32 and not np.allclose(a, b)
    np.testing.assert_array_equal(a, _common.synthetic_weight("encoder_layer_0_ffn_fc_0.w_0", [3, 4], seed=1))
    ln = _common.synthetic_weight("pre_encoder_layer_norm_scale", [1000], seed=1)
    assert abs(ln.mean() - 1.0) < 0.01 and 0.01 < ln.std() < 0.03


def test_encoder_flops_by_hand():
    """H 4, F 8, V 10, 2 layers, batch 2 x seq 3, 1 masked token."""
    cfg = _common.load_config("tiny").replace(hidden_size=4, intermediate_size=8, vocab_size=10, num_hidden_layers=2,
                                              num_attention_heads=2)
    per_token_layer = 2 * (4 * 16 + 2 * 4 * 8) + 4 * 3 * 4          # projections, FFN, QK^T and AV
    forward = 6 * 2 * per_token_layer + 2 * 2 * 16                     # + pooler per sequence
    assert _common.encoder_flops(cfg, 2, 3, 1, training=False) == forward
    heads = 1 * 2 * (16 + 4 * 10) + 2 * 2 * 2 * 4                      # MLM transform + output, NSP
    assert _common.encoder_flops(cfg, 2, 3, 1, training=True) == 3 * (forward + heads)


def test_skip_peak(tmp_path):
    stdout, report = run_bench(tmp_path, "--config", "tiny", "--only", "fwd", "--skip_peak")
    assert report["sgemm_peak"] is None and "not measured" in stdout
    assert all(r["fraction_of_peak"] is None for r in report["results"].values())


def test_bench_inference_tiny_model(tmp_path):
    """bench/bench_inference.py: every variant runs on a tiny release dir; the predictor agrees with the executor."""
    from finetune_helpers import make_model
    model = make_model(tmp_path / "model", os.path.join(REPO, "config", "vocab.txt"), 18000)
    out = tmp_path / "inf.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "bench_inference.py"), "--model_dir", model,
                           "--batch_size", "4", "--seq_len", "16", "--batches", "3", "--json", str(out)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["checks"]["executor"]["max_abs_diff"] == 0.0
    assert report["checks"]["predictor"]["ok"], report["checks"]
    assert report["fastest_correct"] in ("executor", "predictor", "predictor-onednn")
    assert "fastest correct variant" in proc.stdout
    for r in report["results"].values():
        assert r["timing"]["n"] == 1 and r["sentences_per_s"] > 0


def test_profile_step_groups_and_table_parsing():
    from bench import profile_step
    assert profile_step.group_of("pd_op.addmm_grad") == "matmul"
    assert profile_step.group_of("pd_op.dropout") == "dropout"
    assert profile_step.group_of("pd_op.softmax_grad") == "attention"
    assert profile_step.group_of("pd_op.adamw_") == "optimizer"
    assert profile_step.group_of("pd_op.embedding") == "other"
    text = ("header\n----Thread: All threads merged----\n"
            "pd_op.addmm    10   5.50 / 0.55 / 1.00 / 0.10 / 50.00   0.00 / 0.00\n"
            "pd_op.dropout  2    1.25 / 0.62 / 0.70 / 0.50 / 12.00   0.00 / 0.00\n"
            "-----------\n"
            "pd_op.ignored  1    9.00 / 9.00 / 9.00 / 9.00 / 99.00\n")
    assert profile_step.parse_summary(text) == {"pd_op.addmm": (10, 5.5), "pd_op.dropout": (2, 1.25)}


def test_profile_step_runs(tmp_path):
    out = tmp_path / "prof.json"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "bench", "profile_step.py"), "--batch_size", "2",
                           "--seq_len", "16", "--steps", "1", "--json", str(out)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["groups_ms_per_step"]["matmul"] > 0 and "pd_op.addmm" in report["ops_ms_per_step"]


def test_context_probe_chain_data_and_both_runs(tmp_path):
    from bench import context_probe
    paths = context_probe.make_data(str(tmp_path), train_lines=50, valid_lines=8)
    successor = {}
    for ids, _ in context_probe.read_lines(paths["train"]) + context_probe.read_lines(paths["valid"]):
        sep = ids.index(2)
        for segment in (ids[1:sep], ids[sep + 1:-1]):
            assert segment and all(len(context_probe.SPECIAL) <= t < context_probe.MODEL["vocab_size"] for t in segment)
            for a, b in zip(segment, segment[1:]):
                assert successor.setdefault(a, b) == b        # each token determines the next
    out = tmp_path / "probe.json"
    context_probe.main(["--work", str(tmp_path), "--steps", "4", "--eval_steps", "2", "--batch_size", "4",
                        "--json", str(out)])
    report = json.loads(out.read_text())
    assert set(report["curves"]) == {"static", "paddlenlp"}
    for curve in report["curves"].values():
        assert [s for s, _ in curve] == [2, 4] and all(0.0 <= acc <= 1.0 for _, acc in curve)


def test_linear_probe_fits_signal_and_not_noise():
    from bench import linear_probe
    rng = np.random.RandomState(0)
    labels = {s: rng.randint(0, 2, n) for s, n in (("train", 400), ("dev", 200), ("test", 200))}
    signal = {s: np.c_[labels[s] * 3.0 + rng.randn(len(y)), rng.randn(len(y), 7)] for s, y in labels.items()}
    noise = {s: rng.randn(len(y), 8) for s, y in labels.items()}
    best = linear_probe.probe(signal, labels)
    assert best["dev"] > 0.85 and best["test"] > 0.85 and best["C"] in linear_probe.C_GRID
    assert abs(linear_probe.probe(noise, labels)["test"] - 0.5) < 0.12


def test_linear_probe_refuses_pairs_and_empty_sets(tmp_path):
    from bench import linear_probe
    vocab = os.path.join(REPO, "tests", "fixtures", "finetune", "vocab.txt")
    (tmp_path / "pairs.tsv").write_text("label\ttext_a\ttext_b\n1\ta film\ta story\n")
    (tmp_path / "empty.tsv").write_text("label\ttext_a\n")
    with pytest.raises(SystemExit, match="pairs.tsv has a text_b column"):
        linear_probe.read_split(str(tmp_path / "pairs.tsv"), vocab, False)
    with pytest.raises(SystemExit, match="empty.tsv holds no example"):
        linear_probe.read_split(str(tmp_path / "empty.tsv"), vocab, False)


def test_linear_probe_end_to_end_on_a_tiny_model(tmp_path):
    import paddle
    from finetune_helpers import make_model

    from bench import linear_probe
    from ernie.config import ErnieConfig
    fix = os.path.join(REPO, "tests", "fixtures", "finetune")
    model = make_model(tmp_path / "model", os.path.join(fix, "vocab.txt"), 260)
    out = tmp_path / "probe.json"
    data = os.path.join(fix, "sentiment")
    assert linear_probe.main(["--model_config", os.path.join(model, "ernie_config.json"),
                              "--vocab", os.path.join(model, "vocab.txt"),
                              "--train", os.path.join(data, "train.tsv"), "--dev", os.path.join(data, "dev.tsv"),
                              "--test", os.path.join(data, "test_labelled.tsv"), "--max_seq_len", "32",
                              "--arm", "tiny=" + os.path.join(model, "params"), "--random_seeds", "1,2",
                              "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["examples"] == {"train": 44, "dev": 12, "test": 8}
    assert [r["seed"] for r in report["arms"]["random_init"]] == [1, 2]
    assert [r["params"] for r in report["arms"]["tiny"]] == [os.path.join(model, "params")]
    for rows in report["arms"].values():
        for row in rows:       # the pooled output, the embeddings and each of the 2 layers
            assert list(row["features"]) == ["cls", "layer_0", "layer_1", "layer_2"]
            for result in row["features"].values():
                assert 0.0 <= result["dev"] <= 1.0 and 0.0 <= result["test"] <= 1.0 and result["C"] in linear_probe.C_GRID

    texts = ["a warm and funny film", "a dull film"]

    def features(params, seed):
        try:
            return linear_probe.sentence_features(ErnieConfig.from_json(os.path.join(model, "ernie_config.json")),
                                                  params, {"texts": texts}, os.path.join(model, "vocab.txt"), 32,
                                                  seed, str(tmp_path))["texts"]
        finally:
            paddle.disable_static()

    first, again, other, loaded = (features(None, 1), features(None, 1), features(None, 2),
                                   features(os.path.join(model, "params"), 1))
    assert all(f.shape == (2, 32) for f in first.values())
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])      # seeded: the same random encoder twice
        assert not np.allclose(first[name], other[name])             # another seed, another encoder
        assert not np.allclose(first[name], loaded[name])            # parameters given: they are loaded


def test_rescale_embeddings_keeps_the_function_and_shrinks_the_tables(tmp_path):
    import paddle
    from finetune_helpers import make_model

    from bench import rescale_embeddings
    from ernie.cli.embed import extract_embeddings
    from ernie.config import ErnieConfig
    from ernie.tensor_file import read_tensor
    fix = os.path.join(REPO, "tests", "fixtures", "finetune")
    model = make_model(tmp_path / "model", os.path.join(fix, "vocab.txt"), 260)
    src, dst = os.path.join(model, "params"), str(tmp_path / "rescaled")
    for name in ("word_embedding_moment1_0", "train_state.json"):      # a checkpoint's extras: left out
        shutil.copyfile(os.path.join(src, "word_embedding"), os.path.join(src, name))
    assert rescale_embeddings.main([src, dst + "/", "--target_std", "0.005"]) == 0
    assert not os.path.exists(os.path.join(dst, "word_embedding_moment1_0"))
    assert not os.path.exists(os.path.join(dst, "train_state.json"))
    assert sorted(os.listdir(tmp_path)) == ["model", "rescaled"]
    word = read_tensor(os.path.join(src, "word_embedding"))
    factor = 0.005 / word.std()
    assert np.allclose(read_tensor(os.path.join(dst, "word_embedding")), word * factor, rtol=1e-6)
    for table in ("pos_embedding", "sent_embedding"):
        assert np.allclose(read_tensor(os.path.join(dst, table)), read_tensor(os.path.join(src, table)) * factor,
                           rtol=1e-6)
    np.testing.assert_array_equal(read_tensor(os.path.join(dst, "encoder_layer_0_ffn_fc_0.w_0")),
                                  read_tensor(os.path.join(src, "encoder_layer_0_ffn_fc_0.w_0")))
    config = ErnieConfig.from_json(os.path.join(model, "ernie_config.json"))
    data = os.path.join(fix, "sentiment", "dev.tsv")
    try:
        before = extract_embeddings(config, src, data, os.path.join(model, "vocab.txt"), max_seq_len=32,
                                    progress=False)
        after = extract_embeddings(config, dst, data, os.path.join(model, "vocab.txt"), max_seq_len=32,
                                   progress=False)
    finally:
        paddle.disable_static()
    assert np.abs(after[1] - before[1]).max() < 0.05 * np.abs(before[1]).max()   # the layer norm undoes it
    with pytest.raises(SystemExit, match="exists; give a new directory"):
        rescale_embeddings.main([src, dst])          # never over another directory
