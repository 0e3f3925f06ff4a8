"""ernie/_quiet.py: Paddle's start-up noise stays out of the logs, real warnings do not."""
import os
import subprocess
import sys

from conftest import REPO
from ernie import _quiet

NOISE = ("No ccache found", "not support input out tensor", "Tensor do not have 'place' interface",
         "pir interpreter is running by multi-thread mode", "New Executor is Running")

# Builds and runs a static program with an addition and a backward pass (what triggers every noise line),
# then raises a warning of its own.
PROGRAM = """
import warnings
import numpy as np
import ernie.runtime
import paddle
paddle.enable_static()
main, startup = paddle.static.Program(), paddle.static.Program()
with paddle.static.program_guard(main, startup):
    x = paddle.static.data("x", [2, 3], "float32")
    w = paddle.static.create_parameter([3, 3], "float32")
    loss = paddle.mean(paddle.matmul(x, w) + x)
    paddle.optimizer.SGD(0.1).minimize(loss)
exe = ernie.runtime.create_executor()
exe.run(startup)
print(exe.run(main, feed={"x": np.ones((2, 3), "float32")}, fetch_list=[loss])[0])
warnings.warn("a real warning of the user's own")
"""


def _run(code, **env):
    full = dict(os.environ, PYTHONPATH=REPO)
    full.pop("GLOG_minloglevel", None)
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=300)


def test_training_step_prints_no_paddle_noise_but_real_warnings():
    proc = _run(PROGRAM)
    assert proc.returncode == 0, proc.stderr
    assert not [n for n in NOISE if n in proc.stderr], proc.stderr
    assert "a real warning of the user's own" in proc.stderr


def test_the_noise_is_there_without_the_filter():
    # the same program with the filter off prints the lines the filter removes (so the test above can fail)
    proc = _run(PROGRAM, ERNIE_PADDLE_NOISE="1")
    assert proc.returncode == 0, proc.stderr
    assert all(n in proc.stderr for n in NOISE[:4]), proc.stderr


def test_train_help_is_clean():
    proc = subprocess.run([sys.executable, "train.py", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0 and "--num_train_steps" in proc.stdout
    assert not [n for n in NOISE if n in proc.stdout + proc.stderr]


def test_hidden_lines_only_the_marked_ones(capfd):
    def writes():
        os.write(2, b"W0101 eager_utils.cc] not support input out tensor for now!!!!!\nW0101 a real C++ warning\n")
        return 7
    assert _quiet.call_hiding_lines(writes, _quiet.OUT_TENSOR_WARNING) == 7
    err = capfd.readouterr().err
    assert "a real C++ warning" in err and "out tensor" not in err


def test_executor_mode_is_reported(caplog):
    import logging
    import paddle
    from ernie import runtime
    runtime._reported.clear()
    with caplog.at_level(logging.INFO, logger="ernie.runtime"):
        runtime.create_executor(paddle.CPUPlace())
    serial = paddle.get_flags([runtime.SERIAL_FLAG])[runtime.SERIAL_FLAG]
    assert ("one at a time" if serial else "thread pool") in caplog.text
