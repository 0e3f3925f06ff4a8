"""params / checkpoint directories: byte format, checked loading, atomic saving."""
import json
import os

import numpy as np
import paddle
import pytest
from conftest import REPO, random_encoder_feed, tiny_config
from finetune_helpers import make_model

from ernie import checkpoint, tensor_file
from ernie.checkpoint import CheckpointError, check_params_fit_config
from ernie.cli.pretrain import main as pretrain_main
from ernie.config import ErnieConfig
from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from ernie.tasks import TaskSet

SPECS = {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64"), "labels": ([-1, 1], "int64")}


def build(cfg, seed, with_optimizer=False):
    main, startup = paddle.static.Program(), paddle.static.Program()
    main.random_seed = startup.random_seed = seed
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        inputs = create_inputs(encoder_input_names(cfg))
        extra = create_inputs(list(SPECS), SPECS)
        model = ErnieModel(inputs, cfg, is_training=False)
        loss, _ = TaskSet(["knowledge_masking", "next_sent"]).build_heads(model, extra)   # ERNIE 1.0's heads
        if with_optimizer:
            paddle.optimizer.AdamW(1e-2).minimize(loss)
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    return main, exe, model, loss


def scope_values(names):
    scope = paddle.static.global_scope()
    return {n: np.array(scope.find_var(n).get_tensor()) for n in names}


def test_header_layout_matches_the_documented_bytes(tmp_path):
    arr = np.arange(96, dtype=np.float32).reshape(3, 32)
    path = str(tmp_path / "task_embedding")
    tensor_file.write_tensor(path, arr)
    raw = open(path, "rb").read()
    assert len(raw) == 410                       # 20 header + 6 descriptor + 384 data bytes
    assert raw[20:26] == bytes([0x08, 0x05, 0x10, 0x03, 0x10, 0x20])
    np.testing.assert_array_equal(tensor_file.read_tensor(path), arr)


def test_our_files_are_byte_identical_to_paddles_save_vars(static_mode, tmp_path):
    main, exe, model, _ = build(tiny_config(), seed=3)
    params = [v for v in main.global_block().all_parameters()]
    paddle.static.save_vars(exe, str(tmp_path / "paddle"), main_program=main, vars=params)
    names = [p.name for p in params]
    checkpoint.save_variables(str(tmp_path / "ours"), names)
    for name in names:
        assert open(tmp_path / "paddle" / name, "rb").read() == open(tmp_path / "ours" / name, "rb").read(), name


def save_tiny_params(directory):
    """Build the tiny model (seed 1), save its parameters to ``directory``: (names, {name: saved value})."""
    main, _, _, _ = build(tiny_config(), seed=1)
    names, _ = checkpoint.program_variables(main)
    saved = scope_values(names)
    checkpoint.save_checkpoint(directory, main, params_only=True)
    return names, saved


def test_round_trip_is_bit_exact(static_mode, tmp_path):
    cfg = tiny_config()
    names, saved = save_tiny_params(str(tmp_path / "params"))
    with paddle.static.scope_guard(paddle.static.Scope()):
        main2, exe2, _, _ = build(cfg, seed=99)                 # different init
        assert any(not np.array_equal(saved[n], v) for n, v in scope_values(names).items())
        loaded = checkpoint.init_pretraining_params(str(tmp_path / "params"), main2)
        assert sorted(loaded) == names
        for name, value in scope_values(names).items():
            assert value.dtype == saved[name].dtype
            np.testing.assert_array_equal(value, saved[name])


def test_paddle_loads_our_params_directory(static_mode, tmp_path):
    """The directory we write is the 1.x layout Paddle's own per-variable loader reads."""
    names, saved = save_tiny_params(str(tmp_path / "params"))
    with paddle.static.scope_guard(paddle.static.Scope()):
        main2, exe2, _, _ = build(tiny_config(), seed=5)
        paddle.static.load_vars(exe2, str(tmp_path / "params"), main_program=main2,
                                vars=main2.global_block().all_parameters())
        for name, value in scope_values(names).items():
            np.testing.assert_array_equal(value, saved[name])


@pytest.fixture
def saved_params(static_mode, tmp_path):
    cfg = tiny_config()
    main, exe, _, loss = build(cfg, seed=1)
    directory = str(tmp_path / "params")
    checkpoint.save_checkpoint(directory, main, params_only=True)
    # A fresh model to load into, with different values.
    main2, exe2, _, loss2 = build(cfg, seed=2)
    names, _ = checkpoint.program_variables(main2)
    return directory, main2, names, scope_values(names)


def assert_untouched(names, before):
    for name, value in scope_values(names).items():
        np.testing.assert_array_equal(value, before[name])


def test_missing_encoder_file_is_an_error_and_nothing_loads(saved_params):
    directory, main, names, before = saved_params
    os.remove(os.path.join(directory, "encoder_layer_1_ffn_fc_0.w_0"))
    with pytest.raises(CheckpointError) as err:
        checkpoint.init_pretraining_params(directory, main)
    msg = str(err.value)
    assert "encoder_layer_1_ffn_fc_0.w_0" in msg and "is missing" in msg and "nothing was loaded" in msg
    assert_untouched(names, before)


def test_truncated_file_is_an_error(saved_params):
    directory, main, names, before = saved_params
    path = os.path.join(directory, "word_embedding")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-7])
    with pytest.raises(CheckpointError, match="word_embedding.*truncated or corrupt"):
        checkpoint.init_pretraining_params(directory, main)
    assert_untouched(names, before)


def test_shape_mismatch_names_both_shapes(saved_params):
    directory, main, names, before = saved_params
    tensor_file.write_tensor(os.path.join(directory, "pos_embedding"), np.zeros((7, 32), np.float32))
    with pytest.raises(CheckpointError) as err:
        checkpoint.init_pretraining_params(directory, main)
    msg = str(err.value)
    assert "pos_embedding" in msg and "[7, 32]" in msg and "[64, 32]" in msg
    assert os.path.join(directory, "pos_embedding") in msg
    assert_untouched(names, before)


def test_dtype_mismatch_is_an_error(saved_params):
    directory, main, names, before = saved_params
    arr = tensor_file.read_tensor(os.path.join(directory, "sent_embedding")).astype(np.float64)
    tensor_file.write_tensor(os.path.join(directory, "sent_embedding"), arr)
    with pytest.raises(CheckpointError, match="sent_embedding.*float64.*float32"):
        checkpoint.init_pretraining_params(directory, main)
    assert_untouched(names, before)


def test_garbage_file_is_an_error(saved_params):
    directory, main, names, before = saved_params
    open(os.path.join(directory, "pooled_fc.w_0"), "wb").write(b"not a tensor at all")
    with pytest.raises(CheckpointError, match="pooled_fc.w_0.*unreadable"):
        checkpoint.init_pretraining_params(directory, main)
    assert_untouched(names, before)


def test_missing_head_parameters_keep_fresh_init(saved_params, caplog):
    directory, main, names, before = saved_params
    for head in ("next_sent_fc.w_0", "next_sent_fc.b_0", "mask_lm_out_fc.b_0"):
        os.remove(os.path.join(directory, head))
    with caplog.at_level("INFO"):
        loaded = checkpoint.init_pretraining_params(directory, main)
    after = scope_values(names)
    np.testing.assert_array_equal(after["next_sent_fc.w_0"], before["next_sent_fc.w_0"])
    assert not np.array_equal(after["word_embedding"], before["word_embedding"])
    assert "next_sent_fc.w_0" not in loaded
    assert "keep their fresh initialisation" in caplog.text and "next_sent_fc.w_0" in caplog.text


def test_missing_directory(static_mode, tmp_path):
    main, _, _, _ = build(tiny_config(), seed=1)
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.init_pretraining_params(str(tmp_path / "nope"), main)


def test_init_checkpoint_needs_a_training_checkpoint(saved_params):
    directory, main, names, before = saved_params
    with pytest.raises(CheckpointError, match="not a training checkpoint.*--init_pretraining_params"):
        checkpoint.init_checkpoint(directory, main)


def test_full_checkpoint_restores_optimizer_state(static_mode, tmp_path):
    cfg = tiny_config()
    main, exe, _, loss = build(cfg, seed=1, with_optimizer=True)
    feed = random_encoder_feed(cfg, 2, 6)
    feed.update(mask_label=np.array([[5], [7]]), mask_pos=np.array([[1], [8]]), labels=np.array([[0], [1]]))
    exe.run(main, feed=feed, fetch_list=[loss])
    params, others = checkpoint.program_variables(main)
    assert any(n.endswith("_moment1_0") for n in others)
    checkpoint.save_checkpoint(str(tmp_path / "step_1"), main, state={"step": 1})
    saved = scope_values(params + others)
    next_loss, = exe.run(main, feed=feed, fetch_list=[loss])
    with paddle.static.scope_guard(paddle.static.Scope()):
        main2, exe2, _, loss2 = build(cfg, seed=9, with_optimizer=True)
        state = checkpoint.init_checkpoint(str(tmp_path / "step_1"), main2)
        assert state == {"step": 1}
        for name, value in scope_values(params + others).items():
            np.testing.assert_array_equal(value, saved[name].reshape(value.shape))
        resumed_loss, = exe2.run(main2, feed=feed, fetch_list=[loss2])
    assert float(resumed_loss) == float(next_loss)
    # A missing optimizer file is an error for a full resume.
    os.remove(str(tmp_path / "step_1" / sorted(others)[0]))
    with paddle.static.scope_guard(paddle.static.Scope()):
        main3, _, _, _ = build(cfg, seed=9, with_optimizer=True)
        with pytest.raises(CheckpointError, match="is missing"):
            checkpoint.init_checkpoint(str(tmp_path / "step_1"), main3)


def test_crash_mid_save_keeps_previous_checkpoint(static_mode, tmp_path, monkeypatch):
    main, exe, _, _ = build(tiny_config(), seed=1)
    target = str(tmp_path / "step_10")
    checkpoint.save_checkpoint(target, main, state={"step": 10})
    good = sorted(os.listdir(target))
    calls = {"n": 0}
    real = checkpoint.tensor_bytes

    def failing(arr):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("disk full (simulated)")
        return real(arr)

    monkeypatch.setattr(checkpoint, "tensor_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(target, main, state={"step": 11})
    assert sorted(os.listdir(target)) == good
    assert os.listdir(str(tmp_path)) == ["step_10"]           # no temporary directory left behind
    monkeypatch.setattr(checkpoint, "tensor_bytes", real)
    assert checkpoint.init_checkpoint(target, main) == {"step": 10}


def fake_checkpoint(root, step, complete=True):
    """A ``step_<N>`` directory with a state file (and its completion marker when ``complete``)."""
    path = os.path.join(str(root), "step_%d" % step)
    os.makedirs(path)
    with open(os.path.join(path, checkpoint.STATE_FILE), "w") as f:
        f.write('{"step": %d}' % step)
    if complete:
        with open(os.path.join(path, checkpoint.COMPLETE_FILE), "w") as f:
            f.write('{"files": {"%s": %d}}' % (checkpoint.STATE_FILE, os.path.getsize(os.path.join(
                path, checkpoint.STATE_FILE))))
    return path


def test_prune_and_latest(tmp_path):
    for step in (5, 10, 20, 15):
        fake_checkpoint(tmp_path, step)
    fake_checkpoint(tmp_path, 30, complete=False)      # incomplete: no completion marker
    assert checkpoint.latest_checkpoint(str(tmp_path)) == str(tmp_path / "step_20")
    removed = checkpoint.prune_checkpoints(str(tmp_path), keep=2)
    assert sorted(removed) == ["step_10", "step_5"]
    assert sorted(os.listdir(tmp_path)) == ["step_15", "step_20", "step_30"]


def test_params_that_do_not_fit_the_config_fail_in_one_line(tmp_path):
    """check_params_fit_config, and train.py with another model's config: one line naming both and the fix."""
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join("%s\n" % t for t in ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + list("abcdefghij")))
    model = make_model(str(tmp_path / "model"), str(vocab), 15)
    own = ErnieConfig.from_json(os.path.join(model, "ernie_config.json"))
    check_params_fit_config(os.path.join(model, "params"), own)           # its own config fits
    other_path = tmp_path / "other.json"
    other_path.write_text(json.dumps(dict(own.to_dict(), hidden_size=64, num_hidden_layers=3)))
    other = ErnieConfig.from_json(str(other_path))
    with pytest.raises(CheckpointError) as e:
        check_params_fit_config(os.path.join(model, "params"), other)
    message = str(e.value)
    assert "\n" not in message and "word_embedding is [15, 32], the config needs [15, 64]" in message
    assert message.endswith("pass --ernie_config_path %s/ernie_config.json (task scripts: ERNIE_CONFIG=%s/"
                            "ernie_config.json)" % (model, model))
    with pytest.raises(SystemExit) as e:
        pretrain_main(["--use_cuda", "false", "--ernie_config_path", str(other_path), "--vocab_path", str(vocab),
                       "--init_pretraining_params", os.path.join(model, "params"), "--checkpoints",
                       str(tmp_path / "ck"), "--num_train_steps", "1", "--train_filelist",
                       os.path.join(REPO, "data", "train_filelist"), "--valid_filelist", "", "--max_seq_len", "32"])
    assert str(e.value.code).startswith("train.py: error: the parameters in %s/params do not fit" % model)
    assert not (tmp_path / "ck").exists()
    paddle.disable_static()
