"""``ernie.trainer.Trainer`` on a toy static program (linear regression, an in-memory batch source), without a
command-line driver: steps, loss, checkpoints, exact resume, validation, the stop on a non-finite loss."""
import json
import os

import numpy as np
import paddle
import pytest

from ernie.checkpoint import STATE_FILE, checkpoint_steps, read_tensor
from ernie.optimization import build_optimizer, lr_scheduler
from ernie.runtime import create_executor
from ernie.cli.finetune.run import TrainData
from ernie.cli.pretrain import StreamProgram
from ernie.scheduler import LRSchedules, ScheduledReader
from ernie.trainer import (BatchSource, CheckpointConfig, EmptyTrainingDataError, LoggingConfig, LRSchedule,
                           NonFiniteLossError, SteppedSchedule, StepOptimizer, StepProgram, Trainer, TrainerConfig,
                           ValidationConfig)
from reader.pretraining import PretrainingReader

FEATURES, BATCH = 3, 8
TRUE_W, TRUE_B = np.array([[1.5], [-2.0], [0.5]], np.float32), 0.25


class ToyBatch(dict):
    """A feed dict with the attributes the trainer reads: ``state`` (position after it), ``epoch``."""
    state = None
    epoch = 0


class ToyData:
    """``num_batches`` seeded batches of y = x w + b (+ noise); ``nan_from``: y is NaN from that batch on."""

    def __init__(self, num_batches, seed=0, nan_from=None):
        rng = np.random.RandomState(seed)
        self.items = []
        for i in range(num_batches):
            x = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
            y = (x @ TRUE_W + TRUE_B + 0.01 * rng.normal(size=(BATCH, 1))).astype(np.float32)
            if nan_from is not None and i >= nan_from:
                y[:] = np.nan
            self.items.append((x, y))
        self.position = 0
        self.loaded = []

    def batches(self):
        for i in range(self.position, len(self.items)):
            batch = ToyBatch(x=self.items[i][0], y=self.items[i][1])
            batch.state = {"next": i + 1}
            yield batch

    def load_state_dict(self, state):
        self.loaded.append(state)
        self.position = state["next"]


def build(num_train_steps, learning_rate=0.1):
    """(main, startup, optimizer, fetches) of a linear regression trained with AdamW."""
    paddle.enable_static()
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        x = paddle.static.data("x", [-1, FEATURES], "float32")
        y = paddle.static.data("y", [-1, 1], "float32")
        w = paddle.create_parameter([FEATURES, 1], "float32", name="toy_w")
        b = paddle.create_parameter([1], "float32", name="toy_b", is_bias=True)
        loss = paddle.mean(paddle.square(paddle.matmul(x, w) + b - y))
        optimizer = build_optimizer(loss, lr_scheduler("linear_warmup_decay", learning_rate, 0, num_train_steps),
                                    weight_decay=0.0)
    return main, startup, optimizer, {"loss": loss}


def make_trainer(num_train_steps, directory=None, save_steps=0, max_checkpoints=0, validation=None, seed=0,
                 schedule_steps=None):
    main, startup, optimizer, fetches = build(schedule_steps or num_train_steps)
    trainer = Trainer(create_executor(paddle.CPUPlace()), main, optimizer, fetches,
                      TrainerConfig(num_train_steps=num_train_steps, random_seed=seed),
                      checkpoint=CheckpointConfig(directory=directory, save_steps=save_steps,
                                                  max_checkpoints=max_checkpoints),
                      validation=validation, logging=LoggingConfig(every_steps=1))
    trainer.run_startup(startup)
    return trainer


def parameters(trainer):
    return {n: np.array(trainer.scope.find_var(n).get_tensor()) for n in ("toy_w", "toy_b")}


def losses(trainer):
    return [values["loss"] for _, values in trainer.history]


def test_steps_run_and_the_loss_decreases():
    trainer = make_trainer(60)
    assert trainer.train(ToyData(80)) == 60
    assert trainer.step == 60 and [s for s, _ in trainer.history] == list(range(1, 61))
    curve = losses(trainer)
    assert np.mean(curve[-5:]) < np.mean(curve[:5]) / 100
    np.testing.assert_allclose(parameters(trainer)["toy_w"], TRUE_W, atol=0.1)
    assert trainer.train(ToyData(80)) == 0          # num_train_steps reached: nothing more


def test_training_stops_when_the_data_end():
    trainer = make_trainer(30)
    assert trainer.train(ToyData(12)) == 12 and trainer.step == 12


def test_checkpoints_are_written_and_resume_equals_the_uninterrupted_run(tmp_path):
    full = make_trainer(20, str(tmp_path / "full"), save_steps=5, max_checkpoints=2)
    full.train(ToyData(20))
    assert [s for s, _ in checkpoint_steps(str(tmp_path / "full"))] == [15, 20]   # the newest two kept
    state = json.load(open(tmp_path / "full" / "step_20" / STATE_FILE))
    assert state["step"] == 20 and state["reader"] == {"next": 20}
    np.testing.assert_array_equal(read_tensor(str(tmp_path / "full" / "step_20" / "toy_w")),
                                  parameters(full)["toy_w"])

    # the same run interrupted after 10 steps, then resumed in a fresh process-like setup (new scope, program)
    root = str(tmp_path / "parts")
    first = make_trainer(10, root, save_steps=5, schedule_steps=20)
    first.train(ToyData(20))
    assert [s for s, _ in checkpoint_steps(root)] == [5, 10]
    second = make_trainer(20, root, save_steps=5)
    data = ToyData(20)
    second.load_checkpoint(os.path.join(root, "step_10"))
    assert second.step == 10
    assert second.train(data) == 10
    assert data.loaded == [{"next": 10}]             # the data continue after the last trained batch
    assert losses(second) == losses(full)[10:]       # bit for bit on CPU
    for name, value in parameters(full).items():
        np.testing.assert_array_equal(parameters(second)[name], value)


def test_validation_runs_at_its_steps_and_at_the_end():
    calls = []
    trainer = make_trainer(7, validation=ValidationConfig(eval_fn=lambda t: calls.append(t.step) or {"x": 1.0},
                                                          every_steps=3))
    trainer.train(ToyData(10))
    assert calls == [3, 6, 7] and trainer.last_validation == (7, {"x": 1.0})


def test_a_step_is_validated_before_it_is_checkpointed(tmp_path):
    """A run killed between the two resumes from an earlier checkpoint and validates the step again; the other
    order would leave a checkpoint whose step's evaluation is missing from the run's record for good."""
    root = str(tmp_path / "ckpt")
    checkpointed_when_validated = []

    def eval_fn(trainer):
        checkpointed_when_validated.append((trainer.step, os.path.isdir(os.path.join(root, "step_%d" % trainer.step))))
        return {"x": 1.0}
    trainer = make_trainer(7, root, save_steps=3, validation=ValidationConfig(eval_fn=eval_fn, every_steps=3))
    trainer.train(ToyData(10))
    assert checkpointed_when_validated == [(3, False), (6, False), (7, False)]
    assert [s for s, _ in checkpoint_steps(root)] == [3, 6, 7]


def test_a_non_finite_loss_stops_training_and_is_never_checkpointed(tmp_path):
    root = tmp_path / "c"
    trainer = make_trainer(20, str(root), save_steps=1)
    with pytest.raises(NonFiniteLossError, match="steps 5 to 7"):
        trainer.train(ToyData(20, nan_from=4))       # batch 4 is step 5
    assert [s for s, _ in checkpoint_steps(str(root))] == [1, 2, 3, 4]
    for _, path in checkpoint_steps(str(root)):
        assert np.isfinite(read_tensor(os.path.join(path, "toy_w"))).all()


def test_a_new_run_without_any_batch_is_an_error():
    with pytest.raises(EmptyTrainingDataError):
        make_trainer(5).train(ToyData(0))


def test_a_negative_step_count_is_refused():
    with pytest.raises(ValueError, match="num_train_steps"):
        TrainerConfig(num_train_steps=-1)


def test_the_project_objects_satisfy_the_protocols():
    main, startup, optimizer, fetches = build(10)
    assert isinstance(optimizer, StepOptimizer) and isinstance(optimizer.scheduler, SteppedSchedule)
    assert isinstance(StreamProgram("t", None, None, main, startup, fetches, {}, optimizer), StepProgram)
    assert isinstance(LRSchedules("global", "linear_warmup_decay", 0.1, 0, {"a": 5, "b": 5}, 10), LRSchedule)
    for reader_class in (PretrainingReader, ScheduledReader, TrainData, ToyData):
        assert issubclass(reader_class, BatchSource), reader_class
    assert not isinstance(object(), StepProgram) and not issubclass(dict, BatchSource)
