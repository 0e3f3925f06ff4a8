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

The executor's mode is logged once per process (Paddle's own INFO line,
"pir interpreter is running by multi-thread mode", names a code path that
also serves the serial mode; ``ernie._quiet`` drops it).
"""
import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

# before paddle (a deliberate order, not an import to sort): _quiet and cpu_setup put into the environment
# the settings Paddle reads once, at its import (log level, CPU kernels and threads)
from ernie import _quiet, cpu_setup

import paddle

from ernie.args import check_cuda
from ernie.checkpoint import check_params_fit_config
from ernie.config import ErnieConfig
from ernie.distributed import device_place
from ernie.optimization import AmpConfig, check_amp_device

SERIAL_FLAG = "FLAGS_new_executor_serial_run"

logger = logging.getLogger(__name__)
_quiet.absorb_first_out_tensor_warning()
_reported = set()


def executor_mode(place):
    """How the operators of a static program run on ``place``, in words."""
    if isinstance(place, paddle.CPUPlace):
        serial = paddle.get_flags([SERIAL_FLAG])[SERIAL_FLAG]
        return ("CPU, operators run one at a time (%s=1)" % SERIAL_FLAG if serial
                else "CPU, operators run on a thread pool (%s=0)" % SERIAL_FLAG)
    return "%s, Paddle's default scheduling" % place


def create_executor(place=None):
    """A ``paddle.static.Executor`` for ``place`` (default CPU)."""
    place = place if place is not None else paddle.CPUPlace()
    if isinstance(place, paddle.CPUPlace) and SERIAL_FLAG not in os.environ:
        paddle.set_flags({SERIAL_FLAG: True})
    apply_thread_setting()
    mode = executor_mode(place)
    if mode not in _reported:
        _reported.add(mode)
        logger.info("static executor: %s", mode)
    return paddle.static.Executor(place)


def apply_thread_setting():
    """Give Paddle the ``FLAGS_paddle_num_threads`` that ``ernie.cpu_setup`` put in the environment."""
    decided = cpu_setup.applied()
    if decided and "FLAGS_paddle_num_threads" in decided["set_by_ernie"]:
        paddle.set_flags({"FLAGS_paddle_num_threads": int(decided["set_by_ernie"]["FLAGS_paddle_num_threads"])})


@dataclass
class StaticRuntime:
    """The static-mode setup of a run: AMP setting (None: float32), model config, place, executor and scope."""

    amp: Optional[AmpConfig]
    config: ErnieConfig
    place: Any
    exe: paddle.static.Executor
    scope: paddle.static.Scope


def static_runtime(args, rank, params_dir, task_id=None, check_config=None):
    """Static mode; the device and precision checks; the model config of ``--ernie_config_path`` (printed by
    rank 0) checked against ``--max_seq_len``, the vocabulary and ``task_id``, then by ``check_config(config)``
    when given, and against ``params_dir``, the parameters the run will load (None: nothing to load); the
    place, a CPU-aware executor and a fresh scope.  ``args``: the parsed flags of ``train.py`` or a
    fine-tuning driver."""
    paddle.enable_static()
    check_cuda(args.use_cuda)
    amp = AmpConfig.from_flags(args)
    check_amp_device(amp, args.use_cuda)
    config = ErnieConfig.from_json(args.ernie_config_path)
    if rank == 0:
        config.print_config()
    config.check_inputs(args.max_seq_len, args.vocab_path, task_id=task_id)
    if check_config is not None:
        check_config(config)
    if params_dir:
        check_params_fit_config(params_dir, config)
    place = device_place(True) if args.use_cuda else paddle.CPUPlace()
    return StaticRuntime(amp, config, place, create_executor(place), paddle.static.Scope())

