"""ernie_encoder.py end to end on a tiny random model (CLI run in a subprocess).

The reference is computed here by building the ERNIE program directly with
``ernie.modeling`` and feeding every example alone (batch of one, no padding),
so the CLI's batching, padding, un-padding and concatenation are all checked.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import paddle
import pytest
from finetune_helpers import save_random_params

from ernie.args import ArgumentGroup, str2bool
from ernie.checkpoint import init_pretraining_params
from ernie.config import ErnieConfig
from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from reader.tokenization import FullTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TINY_VOCAB = os.path.join(HERE, "fixtures", "vocab_tiny.txt")
MAX_SEQ_LEN = 12

CONFIG = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, vocab_size=70,
              max_position_embeddings=32, sent_type_vocab_size=2, use_task_id=True,
              task_type_vocab_size=3, hidden_act="gelu", hidden_dropout_prob=0.1,
              attention_probs_dropout_prob=0.1, initializer_range=0.5)

# (text_a, text_b); no label column, as the encoder does not need one.
EXAMPLES = [
    ("the quick brown fox", "a lazy dog"),
    ("hello world", ""),
    ("the cat sat on the mat and the dog sat on the mat too", ""),  # truncated to MAX_SEQ_LEN
    ("good movie", "very good"),
    ("中国人", ""),
]


def build(config):
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        names = encoder_input_names(config)
        model = ErnieModel(create_inputs(names), config, is_training=False)
        pooled, seq = model.get_pooled_output(), model.get_sequence_output()
    return main, startup, names, pooled, seq


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_ernie")
    config_path = root / "ernie_config.json"
    config_path.write_text(json.dumps(CONFIG))
    config = ErnieConfig.from_json(str(config_path))
    save_random_params(config, str(root / "params"), seed=7)
    data = root / "data.tsv"
    data.write_text("text_a\ttext_b\n" + "".join("%s\t%s\n" % ex for ex in EXAMPLES), encoding="utf-8")
    return dict(root=root, config=config, config_path=str(config_path), params=str(root / "params"),
                data=str(data))


def run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "ernie_encoder.py")] + list(args),
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def reference_ids(tokenizer, text_a, text_b):
    """[CLS] a [SEP] (b [SEP]); only single sentences are long enough to need truncation here."""
    a, b = tokenizer.tokenize(text_a), tokenizer.tokenize(text_b)
    if b:
        assert len(a) + len(b) + 3 <= MAX_SEQ_LEN
        tokens, types = ["[CLS]"] + a + ["[SEP]"] + b + ["[SEP]"], [0] * (len(a) + 2) + [1] * (len(b) + 1)
    else:
        tokens = ["[CLS]"] + a[:MAX_SEQ_LEN - 2] + ["[SEP]"]
        types = [0] * len(tokens)
    return tokenizer.convert_tokens_to_ids(tokens), types


def reference_outputs(model, task_id):
    """Pooled and sequence output of every example fed alone (no padding)."""
    config = model["config"]
    tokenizer = FullTokenizer(TINY_VOCAB)
    paddle.enable_static()
    try:
        main, startup, names, pooled, seq = build(config)
        scope = paddle.static.Scope()
        exe = paddle.static.Executor(paddle.CPUPlace())
        out = []
        with paddle.static.scope_guard(scope):
            exe.run(startup)
            init_pretraining_params(model["params"], main, scope=scope)
            for text_a, text_b in EXAMPLES:
                ids, types = reference_ids(tokenizer, text_a, text_b)
                n = len(ids)
                feed = dict(src_ids=np.array([ids], "int64"), sent_ids=np.array([types], "int64"),
                            pos_ids=np.arange(n, dtype="int64")[None], input_mask=np.ones((1, n, 1), "float32"),
                            task_ids=np.full((1, n), task_id, "int64"))
                p, s = exe.run(main, feed={k: feed[k] for k in names}, fetch_list=[pooled, seq])
                out.append((p[0], s[0]))
    finally:
        paddle.disable_static()
    return out


def test_embeddings_match_the_model_computed_directly(tiny_model, tmp_path):
    out_dir = tmp_path / "emb"
    out_dir.mkdir()
    (out_dir / "cls_emb.npy").write_bytes(b"stale")   # an existing dir and file are accepted
    result = run_cli("--ernie_config_path", tiny_model["config_path"],
                     "--init_pretraining_params", tiny_model["params"],
                     "--vocab_path", TINY_VOCAB, "--data_set", tiny_model["data"],
                     "--output_dir", str(out_dir), "--max_seq_len", str(MAX_SEQ_LEN),
                     "--batch_size", "2", "--task_id", "1", "--use_cuda", "false")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[INFO] " in result.stderr and "[embed.py:" in result.stderr   # the original's log format

    cls_emb = np.load(out_dir / "cls_emb.npy")
    top = np.load(out_dir / "top_layer_emb.npy")
    seq_lens = np.load(out_dir / "seq_lens.npy")
    hidden, n = CONFIG["hidden_size"], len(EXAMPLES)
    assert cls_emb.dtype == np.float32 and cls_emb.shape == (n, hidden)
    assert seq_lens.dtype == np.int64 and seq_lens.shape == (n,)
    assert top.dtype == np.float32 and top.shape == (int(seq_lens.sum()), hidden)

    tokenizer = FullTokenizer(TINY_VOCAB)
    expected_lens = [len(reference_ids(tokenizer, a, b)[0]) for a, b in EXAMPLES]
    assert seq_lens.tolist() == expected_lens
    assert expected_lens[2] == MAX_SEQ_LEN and len(set(expected_lens)) > 2   # padding really happens

    ref = reference_outputs(tiny_model, task_id=1)
    per_example = np.split(top, np.cumsum(seq_lens)[:-1])
    for i, ((pooled, seq), tokens) in enumerate(zip(ref, per_example)):
        np.testing.assert_allclose(cls_emb[i], pooled, rtol=1e-5, atol=1e-5, err_msg="cls_emb row %d" % i)
        np.testing.assert_allclose(tokens, seq, rtol=1e-5, atol=1e-5, err_msg="tokens of example %d" % i)
    # the outputs are not degenerate, and --task_id was really fed
    assert np.abs(cls_emb[0] - cls_emb[1]).max() > 1e-3
    other_task = reference_outputs(tiny_model, task_id=0)
    assert np.abs(other_task[0][0] - cls_emb[0]).max() > 1e-3


def test_clear_errors(tiny_model, tmp_path):
    common = ["--ernie_config_path", tiny_model["config_path"], "--vocab_path", TINY_VOCAB,
              "--data_set", tiny_model["data"], "--output_dir", str(tmp_path / "out"), "--max_seq_len", "12"]
    result = run_cli(*common)
    assert result.returncode != 0 and "--init_pretraining_params is required" in result.stderr
    result = run_cli(*common, "--init_pretraining_params", str(tmp_path / "no_such_params"))
    assert result.returncode != 0 and "no_such_params does not exist" in result.stderr
    bad = tmp_path / "bad.tsv"
    bad.write_text("text_a\ttext_b\nfox\tdog\ncat\n")
    result = run_cli(*common[:4], "--data_set", str(bad), "--init_pretraining_params", tiny_model["params"],
                     "--max_seq_len", "12")
    assert result.returncode != 0 and "bad.tsv:3: 1 TAB-separated fields" in result.stderr
    result = run_cli(*common, "--init_pretraining_params", tiny_model["params"], "--max_seq_len", "64")
    assert result.returncode != 0 and "exceeds max_position_embeddings 32" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(paddle.is_compiled_with_cuda(), reason="needs a CPU-only Paddle build")
def test_use_cuda_on_cpu_build_is_a_clear_error(tiny_model, tmp_path):
    result = run_cli("--ernie_config_path", tiny_model["config_path"], "--vocab_path", TINY_VOCAB,
                     "--data_set", tiny_model["data"], "--init_pretraining_params", tiny_model["params"],
                     "--output_dir", str(tmp_path / "out"), "--use_cuda", "true")
    assert result.returncode != 0
    assert "CPU-only build" in result.stderr and "Traceback" not in result.stderr


def test_args_helpers():
    for value in ("true", "True", "TRUE", "1", True):
        assert str2bool(value) is True, value
    for value in ("false", "FALSE", "0", False):
        assert str2bool(value) is False, value
    for value in ("t", "f", "flase", "yes", "", "2"):      # any other word is an error, not False
        with pytest.raises(argparse.ArgumentTypeError, match="is not a boolean"):
            str2bool(value)
    parser = argparse.ArgumentParser()
    group = ArgumentGroup(parser, "g", "group")
    group.add_arg("flag", bool, True, "A flag.")
    group.add_arg("rate", float, 0.1, "Share in %.")
    assert "A flag. Default: True." in " ".join(parser.format_help().split())
    assert "Share in %. Default: 0.1." in " ".join(parser.format_help().split())
    args = parser.parse_args(["--flag", "False", "--rate", "0.5"])
    assert args.flag is False and args.rate == 0.5
    assert parser.parse_args([]).flag is True


def test_load_encoder_params_says_whether_the_pooler_was_loaded(tiny_model, tmp_path):
    """Both the embedding CLI and bench/linear_probe.py warn from this answer when a params directory has no pooler."""
    from ernie.cli.embed import build_encoder_program, load_encoder_params
    stripped = tmp_path / "no_pooler"
    shutil.copytree(tiny_model["params"], stripped)
    removed = [p for p in stripped.iterdir() if p.name.startswith("pooled_fc.")]
    assert removed
    for p in removed:
        p.unlink()
    paddle.enable_static()
    try:
        answers = []
        for params in (tiny_model["params"], str(stripped)):
            main, startup, _, _, _ = build_encoder_program(tiny_model["config"])
            scope = paddle.static.Scope()
            with paddle.static.scope_guard(scope):
                paddle.static.Executor(paddle.CPUPlace()).run(startup)
                answers.append(load_encoder_params(params, main, scope, paddle.CPUPlace(), tiny_model["config"]))
    finally:
        paddle.disable_static()
    assert answers == [True, False]
