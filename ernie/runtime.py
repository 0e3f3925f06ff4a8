"""Creating the static-graph executor with the settings this project measured best.

On a CPU place Paddle 3's PIR interpreter runs its instruction list on a
thread pool by default.  With only a few cores those threads compete with the
math kernels: on the 2-core benchmark machine a 4-layer ERNIE training step
took 15.8 s with the default and 10.3 s with serial execution, and its peak
memory fell from 2.4 GB to 1.3 GB (``bench/bench_encoder.py --config demo``).
So CPU executors run serially unless the user set
``FLAGS_new_executor_serial_run`` explicitly.  GPU executors keep Paddle's
default (kernels are asynchronous there; not measured here).
"""
import os

import paddle

SERIAL_FLAG = "FLAGS_new_executor_serial_run"


def create_executor(place=None):
    """A ``paddle.static.Executor`` for ``place`` (default CPU)."""
    place = place if place is not None else paddle.CPUPlace()
    if isinstance(place, paddle.CPUPlace) and SERIAL_FLAG not in os.environ:
        paddle.set_flags({SERIAL_FLAG: True})
    return paddle.static.Executor(place)
