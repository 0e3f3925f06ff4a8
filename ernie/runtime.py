"""Creating the static-graph executor with the settings this project measured best.

On a CPU place Paddle 3's PIR interpreter runs its instruction list on a
thread pool by default.  With only a few cores those threads compete with the
math kernels: on the 2-core benchmark machine a 4-layer ERNIE training step
took 15.8 s with the default and 10.3 s with serial execution, and its peak
memory fell from 2.4 GB to 1.3 GB (``bench/bench_encoder.py --config demo``).
So CPU executors run serially unless the user set
``FLAGS_new_executor_serial_run`` explicitly.  GPU executors keep Paddle's
default (kernels are asynchronous there; not measured here).

The thread count chosen by ``ernie.cpu_setup`` is also given to Paddle here, for the case where
Paddle was imported (and read its flags) before ``ernie``.
"""
import os

import paddle

from ernie import cpu_setup

SERIAL_FLAG = "FLAGS_new_executor_serial_run"


def create_executor(place=None):
    """A ``paddle.static.Executor`` for ``place`` (default CPU)."""
    place = place if place is not None else paddle.CPUPlace()
    if isinstance(place, paddle.CPUPlace) and SERIAL_FLAG not in os.environ:
        paddle.set_flags({SERIAL_FLAG: True})
    apply_thread_setting()
    return paddle.static.Executor(place)


def apply_thread_setting():
    """Give Paddle the ``FLAGS_paddle_num_threads`` that ``ernie.cpu_setup`` put in the environment."""
    decided = cpu_setup.applied()
    if decided and "FLAGS_paddle_num_threads" in decided["set_by_ernie"]:
        paddle.set_flags({"FLAGS_paddle_num_threads": int(decided["set_by_ernie"]["FLAGS_paddle_num_threads"])})
