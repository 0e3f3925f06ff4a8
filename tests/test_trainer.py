"""ernie.trainer through train.py's run() (ERNIE 1.0 pre-training): exact resume, checkpoints, LR position,
validation, ranks."""
import json
import math
import os
import re

import numpy as np
import paddle
import pytest
from conftest import REPO
from demo_data import TINY_DEMO_CONFIG, demo_filelist

import ernie.checkpoint as checkpoint
from ernie.cli.pretrain import UsageError, parse_args, run
from ernie.config import ErnieConfig
from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from ernie.optimization import lr_value
from ernie.tasks import TaskSet
from reader.pretraining import PretrainingReader

VOCAB = os.path.join(REPO, "config", "vocab.txt")
TRAIN_LINE = re.compile(r"epoch: (\d+), progress: (\d+)/(\d+), step: (\d+), loss: ([\d.]+), ppl: ([\d.]+), "
                        r"next_sent_acc: ([\d.]+), speed: ([\d.]+) steps/s, file: (\S+), mask_type: (mask_\w+), "
                        r"lr: (\S+), tokens/s: (\d+)$")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny config and the first lines of the shipped demo sets, as file lists."""
    root = tmp_path_factory.mktemp("trainer_data")
    demo_filelist(root, "train", 160)
    demo_filelist(root, "valid", 26)
    (root / "config.json").write_text(json.dumps(TINY_DEMO_CONFIG))
    return root


def argv(data, ckpt, steps, *extra, valid=False):
    out = ["--ernie_config_path", str(data / "config.json"), "--vocab_path", VOCAB,
           "--train_filelist", str(data / "train_filelist"), "--valid_filelist",
           str(data / "valid_filelist") if valid else "", "--max_seq_len", "128", "--batch_size", "512",
           "--in_tokens", "true", "--skip_steps", "1", "--lr_scheduler", "noam_decay", "--warmup_steps", "3",
           "--learning_rate", "1e-3", "--num_train_steps", str(steps), "--save_steps", "1000",
           "--checkpoints", str(ckpt), "--random_seed", "7", "--use_cuda", "false"]
    return out + [str(x) for x in extra]


def train(*a, **kw):
    return run(parse_args(argv(*a, **kw)))


LOSS = "knowledge_masking/loss"      # the history's name of the total loss (masked LM + next sentence)


def ckpt_files(directory):
    return {n: open(os.path.join(directory, n), "rb").read() for n in os.listdir(directory) if n != "train_state.json"}


def train_lines(caplog):
    return [TRAIN_LINE.search(r.getMessage()) for r in caplog.records if TRAIN_LINE.search(r.getMessage())]


def test_resume_equals_uninterrupted(data, tmp_path, caplog):
    caplog.set_level("INFO")
    # logging every 2nd step: steps without fetches and steps with them are both resumed
    straight = train(data, tmp_path / "a", 8, "--save_steps", 3, "--skip_steps", 2)
    lines = train_lines(caplog)
    assert [int(m.group(4)) for m in lines] == [2, 4, 6, 8]
    caplog.clear()
    resumed = train(data, tmp_path / "b", 8, "--init_checkpoint", tmp_path / "a" / "step_3", "--skip_steps", 2)
    relines = train_lines(caplog)
    assert [s for s, _ in resumed.history] == [4, 6, 8]
    # the same losses, accuracy, learning rates (dropout is on: per-step seeds) ...
    assert resumed.history == straight.history[1:]
    # ... the same log lines apart from timing, the same data files and mask modes ...
    strip = lambda m: re.sub(r", (speed: \S+ steps/s|tokens/s: \d+)", "", m.group(0))  # noqa: E731
    assert [strip(m) for m in relines] == [strip(m) for m in lines[1:]]
    # ... and bit-identical parameters and optimizer state at the end
    a, b = ckpt_files(tmp_path / "a" / "step_8"), ckpt_files(tmp_path / "b" / "step_8")
    assert sorted(a) == sorted(b) and any(n.endswith("_moment2_0") for n in a)
    assert all(a[n] == b[n] for n in a), [n for n in a if a[n] != b[n]]
    state = json.load(open(tmp_path / "b" / "step_8" / "train_state.json"))
    assert state["step"] == 8 and state["scheduler"]["global"]["last_epoch"] == 8
    # the loss moved: the comparison is not between constant values
    losses = [h[LOSS] for _, h in straight.history]
    assert len(set(losses)) == len(losses)


def test_steps_without_fetches_update_the_same_way(data, tmp_path):
    quiet = train(data, tmp_path / "q", 3, "--skip_steps", 0)
    loud = train(data, tmp_path / "l", 3, "--skip_steps", 1)
    assert quiet.history == [] and len(loud.history) == 3
    a, b = ckpt_files(tmp_path / "q" / "step_3"), ckpt_files(tmp_path / "l" / "step_3")
    assert all(a[n] == b[n] for n in a)
    fresh = train(data, tmp_path / "f", 0)         # nothing to train: no checkpoint either
    assert fresh.step == 0 and not (tmp_path / "f").exists()


def test_in_tokens_false_batches_by_samples(data, tmp_path, caplog):
    result = train(data, tmp_path / "s", 2, "--in_tokens", "false", "--batch_size", 3)
    assert result.trainer.last_batch["labels"].shape == (3, 1)
    # a new run into a directory holding another run's checkpoints is refused before any compute
    with pytest.raises(checkpoint.CheckpointError, match=r"already holds checkpoints of another run \(step_2\)"):
        train(data, tmp_path / "s", 1)


def test_init_pretraining_params_starts_the_schedule_fresh(data, tmp_path):
    first = train(data, tmp_path / "a", 4)
    assert (tmp_path / "a" / "step_4").is_dir()                     # final checkpoint, no save_steps hit
    fresh = train(data, tmp_path / "b", 3, "--init_pretraining_params", tmp_path / "a" / "step_4")
    noam = lambda s: np.float32(lr_value("noam_decay", 1e-3, 3, 3, s))  # noqa: E731
    assert [s for s, _ in fresh.history] == [1, 2, 3]
    assert [np.float32(h["lr"]) for _, h in fresh.history] == [noam(1), noam(2), noam(3)]
    assert fresh.history[0][1]["lr"] > 0
    # parameters were loaded: the first loss is that of the trained model, not of a fresh one
    assert fresh.history[0][1][LOSS] < first.history[0][1][LOSS] - 0.05
    resumed = train(data, tmp_path / "c", 6, "--init_checkpoint", tmp_path / "a" / "step_4")
    noam6 = lambda s: np.float32(lr_value("noam_decay", 1e-3, 3, 6, s))  # noqa: E731
    assert [(s, np.float32(h["lr"])) for s, h in resumed.history] == [(5, noam6(5)), (6, noam6(6))]
    linear = train(data, tmp_path / "d", 3, "--lr_scheduler", "linear_warmup_decay",
                   "--init_pretraining_params", tmp_path / "a" / "step_4")
    assert [h["lr"] for _, h in linear.history] == pytest.approx([0.0, 1e-3 / 3, 2e-3 / 3], rel=1e-6)


def test_flag_conflicts(data, tmp_path):
    with pytest.raises(UsageError, match="mutually exclusive"):
        train(data, tmp_path / "x", 2, "--init_checkpoint", tmp_path, "--init_pretraining_params", tmp_path)
    with pytest.raises(UsageError, match="--test_filelist"):
        run(parse_args(argv(data, tmp_path / "x", 2, "--do_test", "true")))
    with pytest.raises(UsageError, match="--init_checkpoint or --init_pretraining_params"):
        run(parse_args(argv(data, tmp_path / "x", 2, "--do_test", "true", "--test_filelist", "t")))
    with pytest.raises(checkpoint.CheckpointError, match="not a training checkpoint"):
        train(data, tmp_path / "x", 2, "--init_checkpoint", tmp_path)


def test_bounded_checkpoints_final_one_and_visualdl(data, tmp_path):
    vdl = tmp_path / "vdl"
    result = train(data, tmp_path / "c", 7, "--save_steps", 2, "--max_checkpoints", 2, "--vdl_dir", vdl)
    assert sorted(os.listdir(tmp_path / "c")) == ["step_6", "step_7"]
    assert json.load(open(tmp_path / "c" / "step_7" / "train_state.json"))["step"] == 7
    assert checkpoint.latest_checkpoint(str(tmp_path / "c")).endswith("step_7")
    from visualdl.reader.reader import LogReader
    (log,) = os.listdir(vdl)
    reader = LogReader(file_path=str(vdl / log))
    got = [(r.id, r.value) for r in reader.get_data("scalar", "train/" + LOSS)]
    assert [s for s, _ in got] == list(range(1, 8))
    np.testing.assert_allclose([v for _, v in got], [h[LOSS] for _, h in result.history], rtol=1e-6)
    assert len(reader.get_data("scalar", "train/lr")) == 7


def test_crash_during_save_keeps_the_previous_checkpoint(data, tmp_path, monkeypatch):
    train(data, tmp_path / "c", 2)
    good = ckpt_files(tmp_path / "c" / "step_2")
    real = checkpoint.save_variables

    def crash(directory, names, scope=None, **kw):
        real(directory, names[: len(names) // 2], scope, **kw)     # half the files are written ...
        raise OSError("No space left on device")              # ... then the disk is full

    monkeypatch.setattr(checkpoint, "save_variables", crash)
    with pytest.raises(OSError, match="No space left"):
        train(data, tmp_path / "c", 4, "--save_steps", 2, "--init_checkpoint", tmp_path / "c" / "step_2")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path / "c")) == ["step_2"]          # no partial step_4, no temporary dir
    assert ckpt_files(tmp_path / "c" / "step_2") == good
    resumed = train(data, tmp_path / "d", 3, "--init_checkpoint", tmp_path / "c" / "step_2")
    assert [s for s, _ in resumed.history] == [3]


def test_validation_and_do_test_metrics(data, tmp_path, caplog):
    caplog.set_level("INFO")
    result = train(data, tmp_path / "c", 4, "--validation_steps", 2, "--validate_at_start", "true", valid=True)
    pattern = re.compile(r"\[validation_set\] epoch: (\d+), step: (\d+), loss: ([\d.]+), global ppl: ([\d.]+), "
                         r"next_sent_acc: ([\d.]+), speed: ([\d.]+) steps/s$")
    found = [pattern.search(r.getMessage()) for r in caplog.records]
    found = [m for m in found if m]
    assert [int(m.group(2)) for m in found] == [0, 2, 4]           # start, every 2 steps, not again at the end
    assert result.trainer.last_validation[0] == 4
    caplog.clear()
    args = parse_args(argv(data, tmp_path / "c", 4, "--do_test", "true", "--test_filelist",
                           data / "valid_filelist", "--init_checkpoint", tmp_path / "c" / "step_4"))
    got = run(args)
    last = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[test_set] loss")]
    assert len(last) == 1 and ("global ppl: %f" % got["global_ppl"]) in last[0]
    assert float(found[-1].group(4)) == pytest.approx(got["global_ppl"], rel=1e-5)   # same params, same set

    # independent recomputation, per batch, with ERNIE 1.0's heads and the ERNIE 1.0 reader, aggregated here:
    # ppl over all masked tokens, accuracy over all samples
    config = ErnieConfig.from_json(str(data / "config.json"))
    labels = {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64"), "labels": ([-1, 1], "int64")}
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        names = encoder_input_names(config) + list(labels)
        inputs = create_inputs(names, labels)
        model = ErnieModel(inputs, config, is_training=False)
        total_v, metrics = TaskSet(["knowledge_masking", "next_sent"]).build_heads(model, inputs)
        acc_v, lm_v = metrics["next_sent_acc"], metrics["knowledge_masking_loss"]
    exe, scope = paddle.static.Executor(paddle.CPUPlace()), paddle.static.Scope()
    with paddle.static.scope_guard(scope):
        exe.run(startup)
        checkpoint.init_pretraining_params(str(tmp_path / "c" / "step_4"), main, scope=scope)
        reader = PretrainingReader(str(data / "valid_filelist"), VOCAB, batch_size=512, in_tokens=True,
                                   max_seq_len=128, random_seed=7, voc_size=3909, is_test=True)
        rows = []
        for b in reader.batches():
            t, lm, acc = exe.run(main, feed={n: b[n] for n in names}, fetch_list=[total_v, lm_v, acc_v])
            rows.append((float(t), float(lm), float(acc), len(b["mask_pos"]), len(b["labels"])))
    t, lm, acc, m, n = map(np.array, zip(*rows))
    assert len(set(m)) > 1 and len(set(n)) > 1                   # the weighting matters on this set
    assert got["loss"] == pytest.approx(t.mean(), rel=1e-6)
    assert got["global_ppl"] == pytest.approx(math.exp((lm * m).sum() / m.sum()), rel=1e-6)
    assert got["next_sent_acc"] == pytest.approx((acc * n).sum() / n.sum(), rel=1e-6)
    assert got["global_ppl"] != pytest.approx(math.exp(lm.mean()), rel=1e-6)


def test_other_ranks_keep_their_own_reader_state(data, tmp_path, monkeypatch):
    """Two ranks simulated one after the other (the collectives are replaced by no-ops)."""
    import ernie.cli.pretrain as pretrain
    from ernie.trainer import Trainer
    monkeypatch.setattr(pretrain, "allreduce_gradients", lambda pg, n: pg)
    monkeypatch.setattr(Trainer, "broadcast_parameters", lambda self: [])
    monkeypatch.setattr(Trainer, "_all_ranks_have", lambda self, batch: batch is not None)
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    ckpt = tmp_path / "c"
    for rank in (0, 1):
        monkeypatch.setenv("PADDLE_TRAINER_ID", str(rank))
        monkeypatch.setattr(pretrain, "_distributed", lambda args, rank=rank: (rank, 2))
        result = train(data, ckpt, 4, "--save_steps", 2, "--max_checkpoints", 1)
        assert bool(result.history) == (rank == 0)                # only rank 0 logs
    assert sorted(os.listdir(ckpt)) == ["reader_states", "step_4"]    # rank 1 wrote no checkpoint directory
    assert os.listdir(ckpt / "reader_states") == ["step_4.rank_1.json"]
    rank1_state = json.load(open(ckpt / "reader_states" / "step_4.rank_1.json"))["readers"]["knowledge_masking"]
    rank0_state = json.load(open(ckpt / "step_4" / "train_state.json"))["reader"]["readers"]["knowledge_masking"]
    assert rank1_state["config"]["trainer_id"] == 1 and rank0_state["config"]["trainer_id"] == 0

    loaded = []
    real = PretrainingReader.load_state_dict
    monkeypatch.setattr(PretrainingReader, "load_state_dict", lambda self, s: (loaded.append(s), real(self, s)))
    for rank, expected in ((1, rank1_state), (0, rank0_state)):
        monkeypatch.setenv("PADDLE_TRAINER_ID", str(rank))
        monkeypatch.setattr(pretrain, "_distributed", lambda args, rank=rank: (rank, 2))
        loaded.clear()
        train(data, tmp_path / ("r%d" % rank), 5, "--init_checkpoint", ckpt / "step_4")
        assert loaded[0] == expected                              # the first position loaded: the resume
