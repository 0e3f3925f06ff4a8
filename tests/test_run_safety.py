"""Issue 12: a checkpoint directory belongs to one run, checkpoints are complete or absent, NaN stops
training, the model config travels with the checkpoint.  Through train.py's run() with a tiny config."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO

import ernie.checkpoint as checkpoint
from ernie.cli.pretrain import main, parse_args, run
from ernie.optimization import AmpConfig
from ernie.trainer import NonFiniteLossError, RoutedOptimizers, Trainer, TrainerConfig

sys.path.insert(0, os.path.join(REPO, "tests"))
import kill_during_training  # noqa: E402
from demo_data import TINY_DEMO_CONFIG  # noqa: E402

VOCAB = os.path.join(REPO, "config", "vocab.txt")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return kill_during_training.make_data(str(tmp_path_factory.mktemp("safety_data")))


def argv(data, ckpt, steps, *extra):
    cmd = kill_during_training.train_cmd(data, str(ckpt), steps)[2:]
    return cmd + [str(x) for x in extra]


def train(data, ckpt, steps, *extra):
    return run(parse_args(argv(data, ckpt, steps, *extra)))


def step_dirs(root):
    return sorted(os.path.basename(p) for _, p in checkpoint.checkpoint_steps(str(root)))


# --------------------------------------------------------------------------- item 1: one run per directory
def test_second_run_fails_at_once_naming_the_first(data, tmp_path):
    root = tmp_path / "ckpt"
    env = dict(os.environ, PYTHONPATH=REPO)
    first = subprocess.Popen([sys.executable, os.path.join(REPO, "train.py")] + argv(data, root, 10 ** 6),
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lock = root / checkpoint.LOCK_FILE
        end = time.time() + 120
        while not (lock.exists() and lock.stat().st_size) and time.time() < end and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None and lock.exists(), first.stderr.read() if first.poll() is not None else ""
        # wait for the first run's first checkpoint, then start a second run into the same directory
        while not step_dirs(root) and time.time() < end:
            time.sleep(0.05)
        before = step_dirs(root)
        second = subprocess.run([sys.executable, os.path.join(REPO, "train.py")] + argv(data, root, 5),
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode != 0
        assert "is in use by another run: pid %d on host" % first.pid in second.stderr
        assert "train.py" in second.stderr.splitlines()[-1]            # the first run's command is named
        assert "Traceback" not in second.stderr
        assert "step: 1," not in second.stderr                          # refused before any training step
        assert first.poll() is None                                      # the first run goes on
        assert before                                                    # with its checkpoints
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the first run is dead: its lock is stale and is taken over (with a warning naming it)
    with checkpoint.claim_checkpoint_dir(str(root), resume_from=checkpoint.latest_checkpoint(str(root))) as lock:
        assert json.load(open(lock.path))["pid"] == os.getpid()
    assert not (root / checkpoint.LOCK_FILE).exists()                   # released


def test_in_process_claims_conflict_and_release(tmp_path):
    with checkpoint.claim_checkpoint_dir(str(tmp_path / "c")):
        with pytest.raises(checkpoint.CheckpointDirBusy, match="pid %d" % os.getpid()):
            checkpoint.CheckpointDirLock(str(tmp_path / "c")).acquire()
    assert not (tmp_path / "c").exists()          # created by the claim, empty: removed on release
    with checkpoint.claim_checkpoint_dir(str(tmp_path / "c")):
        pass


# --------------------------------------------------------------------------- item 2: another run's checkpoints
def test_new_run_refuses_another_runs_checkpoints_unless_resuming_or_overwriting(data, tmp_path):
    root = tmp_path / "c"
    train(data, root, 4, "--save_steps", 2)
    assert step_dirs(root) == ["step_2", "step_4"]
    with pytest.raises(checkpoint.CheckpointError, match=r"already holds checkpoints of another run \(step_2, "
                                                         r"step_4\).*--init_checkpoint .*step_4.*--overwrite_checkpoints"):
        train(data, root, 2)
    assert step_dirs(root) == ["step_2", "step_4"]
    # resuming from an earlier checkpoint there: the checkpoint just written is never pruned
    trainer = train(data, root, 3, "--init_checkpoint", root / "step_2", "--max_checkpoints", 1)
    assert trainer.step == 3 and step_dirs(root) == ["step_3"]
    # starting over, explicitly
    with pytest.raises(checkpoint.CheckpointError, match="would delete"):
        train(data, root, 2, "--overwrite_checkpoints", "true", "--init_checkpoint", root / "step_3")
    train(data, root, 2, "--overwrite_checkpoints", "true")
    assert step_dirs(root) == ["step_1", "step_2"]


def test_pruning_keeps_the_checkpoint_just_written(tmp_path):
    from test_checkpoint import fake_checkpoint
    for step in (50, 60, 70):
        fake_checkpoint(tmp_path, step)
    just = fake_checkpoint(tmp_path, 3)
    assert checkpoint.prune_checkpoints(str(tmp_path), keep=2, protect=[just]) == ["step_50", "step_60"]
    assert step_dirs(tmp_path) == ["step_3", "step_70"]


# --------------------------------------------------------------------------- item 4: kills, pruning, temporaries
def test_interrupted_pruning_never_leaves_a_half_deleted_step_dir(tmp_path, monkeypatch):
    from test_checkpoint import fake_checkpoint
    for step in (1, 2, 3):
        fake_checkpoint(tmp_path, step)
    real = checkpoint.shutil.rmtree

    def killed(path, ignore_errors=False):   # the process dies after deleting one file
        os.remove(os.path.join(path, checkpoint.COMPLETE_FILE))
        raise KeyboardInterrupt
    monkeypatch.setattr(checkpoint.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.prune_checkpoints(str(tmp_path), keep=2)
    monkeypatch.setattr(checkpoint.shutil, "rmtree", real)
    assert step_dirs(tmp_path) == ["step_2", "step_3"]          # step_1 left the step_<N> namespace first
    assert checkpoint.latest_checkpoint(str(tmp_path)).endswith("step_3")
    (leftover,) = [e for e in os.listdir(tmp_path) if e.startswith("step_1.prune-")]
    # a complete checkpoint still under its temporary name (killed between its marker and its rename)
    tmp4 = fake_checkpoint(tmp_path, 4)
    os.rename(tmp4, str(tmp_path / "step_4.tmp-1-2"))
    half = fake_checkpoint(tmp_path, 5, complete=False)
    os.rename(half, str(tmp_path / "step_5.tmp-1-3"))
    with checkpoint.claim_checkpoint_dir(str(tmp_path), resume_from=str(tmp_path / "step_3")):
        assert sorted(os.listdir(tmp_path)) == [checkpoint.LOCK_FILE, "step_2", "step_3", "step_4"]
    assert leftover not in os.listdir(tmp_path)


def test_kill_during_training_small(tmp_path):
    """3 SIGKILLs at random moments (the full 20-kill run: python tests/kill_during_training.py)."""
    summary = kill_during_training.run(kills=3, steps=40, seed=1, workdir=str(tmp_path), window=1.0,
                                       log=lambda s: None)
    assert summary["ok"], summary["problems"]
    assert summary["kills"] >= 2          # 3 unless a fast machine trains all 40 steps before the third kill


# --------------------------------------------------------------------------- item 3: non-finite losses
def test_nan_loss_stops_training_and_is_never_checkpointed(data, tmp_path, caplog):
    root = tmp_path / "c"
    with pytest.raises(NonFiniteLossError, match=r"not finite \(nan\) at steps (\d+) to (\d+) \(3 consecutive\)"):
        train(data, root, 40, "--learning_rate", "1e30", "--warmup_steps", "0", "--lr_scheduler",
              "linear_warmup_decay", "--max_checkpoints", 2)
    assert step_dirs(root)                                 # the finite checkpoints are kept ...
    for _, path in checkpoint.checkpoint_steps(str(root)):
        for name in os.listdir(path):
            if name.endswith(".json"):
                continue
            arr = checkpoint.read_tensor(os.path.join(path, name))
            assert arr.dtype.kind != "f" or np.isfinite(arr).all(), (path, name)   # ... and finite
    assert not os.path.exists(root / checkpoint.LOCK_FILE)
    # train.py reports it as an error, not a traceback
    with pytest.raises(SystemExit, match="train.py: error: the training loss is not finite"):
        main(argv(data, tmp_path / "d", 40, "--learning_rate", "1e30", "--warmup_steps", "0", "--lr_scheduler",
                  "linear_warmup_decay"))


def test_float16_dynamic_loss_scaling_keeps_skipping():
    t = Trainer(None, None, RoutedOptimizers(scheduler=None, amp=AmpConfig("float16")), {}, TrainerConfig(10))
    for step in range(1, 10):
        t._check_loss(step, float("inf"))           # skipped updates: no error
    plain = Trainer(None, None, RoutedOptimizers(scheduler=None), {}, TrainerConfig(10))
    plain._check_loss(1, float("nan"))
    plain._check_loss(2, 1.0)                       # finite again: the count restarts
    plain._check_loss(3, float("nan"))
    plain._check_loss(4, float("nan"))
    with pytest.raises(NonFiniteLossError, match="steps 3 to 5"):
        plain._check_loss(5, float("inf"))


# --------------------------------------------------------------------------- item 8: the config travels along
def test_config_is_saved_and_checked_when_loading(data, tmp_path, caplog):
    root = tmp_path / "c"
    train(data, root, 2)
    saved = json.load(open(root / "step_2" / checkpoint.CONFIG_FILE))
    assert saved == TINY_DEMO_CONFIG
    other = dict(TINY_DEMO_CONFIG, hidden_act="gelu", num_attention_heads=2)
    (tmp_path / "other.json").write_text(json.dumps(other))
    cmd = argv(data, tmp_path / "d", 3) + ["--ernie_config_path", str(tmp_path / "other.json")]
    with pytest.raises(checkpoint.CheckpointError, match=r"another model architecture.*\n  num_attention_heads: 4 "
                                                         r"there, 2 in .*\n  hidden_act: 'relu' there, 'gelu'"):
        run(parse_args(cmd + ["--init_checkpoint", str(root / "step_2")]))
    with pytest.raises(checkpoint.CheckpointError, match="another model architecture"):
        run(parse_args(cmd + ["--init_pretraining_params", str(root / "step_2")]))
    # a non-architecture field: a warning, the run goes on
    (tmp_path / "drop.json").write_text(json.dumps(dict(TINY_DEMO_CONFIG, hidden_dropout_prob=0.0)))
    caplog.set_level("WARNING")
    trainer = run(parse_args(argv(data, tmp_path / "e", 3) + ["--ernie_config_path", str(tmp_path / "drop.json"),
                                                            "--init_checkpoint", str(root / "step_2")]))
    assert trainer.step == 3
    assert any("non-architecture fields: hidden_dropout_prob: 0.1 there, 0.0 now" in r.getMessage()
               for r in caplog.records)


# --------------------------------------------------------------------------- items 5, 12: clear errors
def test_full_disk_during_a_save_is_a_clear_error(data, tmp_path, monkeypatch):
    real = checkpoint.tensor_bytes

    def full(arr):            # the disk fills up while the second checkpoint is written
        if (tmp_path / "c" / "step_1").exists():
            raise OSError(28, "No space left on device")
        return real(arr)
    monkeypatch.setattr(checkpoint, "tensor_bytes", full)
    with pytest.raises(SystemExit) as e:
        main(argv(data, tmp_path / "c", 4, "--save_steps", 1))
    assert "train.py: error: cannot write the checkpoint" in str(e.value) and "No space left" in str(e.value)
    assert step_dirs(tmp_path / "c") == ["step_1"]             # the earlier checkpoint survives, no temporary
    assert sorted(os.listdir(tmp_path / "c")) == ["step_1"]


def test_unreadable_train_state_names_the_file(data, tmp_path):
    root = tmp_path / "c"
    train(data, root, 1)
    state = root / "step_1" / checkpoint.STATE_FILE
    text = state.read_text()
    for bad in (text[: len(text) // 2], "[1, 2]"):
        state.write_text(bad)
        with pytest.raises(checkpoint.CheckpointError, match=str(state)):
            train(data, tmp_path / "d", 2, "--init_checkpoint", root / "step_1")


def test_incomplete_checkpoint_is_refused(data, tmp_path):
    root = tmp_path / "c"
    train(data, root, 1)
    os.remove(root / "step_1" / checkpoint.COMPLETE_FILE)
    with pytest.raises(checkpoint.CheckpointError, match="not a complete checkpoint"):
        train(data, tmp_path / "d", 2, "--init_checkpoint", root / "step_1")


def test_huge_lod_size_is_a_format_error(tmp_path):
    import struct

    from ernie.tensor_file import TensorFileError, read_header, tensor_bytes
    path = tmp_path / "w"
    good = tensor_bytes(np.zeros((2, 3), "float32"))
    path.write_bytes(struct.pack("<IQQ", 0, 1, 1 << 60) + good[12:])
    with pytest.raises(TensorFileError, match="lod size 1152921504606846976 exceeds"):
        read_header(str(path))
