"""Worker for tests/test_rank_failure.py: two ranks all-reduce in a loop until one of them stops.

    python -m paddle.distributed.launch --nproc_per_node 2 tests/dist_failure_worker.py --who 1 --how exit

Rank ``--who`` stops before its third all-reduce, ``--how``: ``exit`` (``sys.exit(3)``), ``raise``
(a ``ValueError``, reported as ``dist_failure_worker: error: ...``) or ``kill`` (SIGKILL to itself).
Runs inside ``ernie.distributed.rank_failures_reported`` as the entry points do.
"""
import argparse
import contextlib
import os
import signal
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import paddle  # noqa: E402

from ernie import distributed  # noqa: E402

PROG = "dist_failure_worker"


def work(who, how):
    rank, _ = distributed.init_distributed()
    paddle.enable_static()
    exe = paddle.static.Executor(paddle.CPUPlace())
    for step in range(1000):
        print("rank %d step %d" % (rank, step), flush=True)
        if rank == who and step == 2:
            if how == "exit":
                sys.exit(3)
            if how == "raise":
                raise ValueError("rank %d cannot go on" % rank)
            os.kill(os.getpid(), signal.SIGKILL)
        distributed.all_reduce_values([1.0], "sum", exe)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--who", type=int, required=True)
    parser.add_argument("--how", choices=("exit", "raise", "kill"), required=True)
    args = parser.parse_args()
    # (without the helper, e.g. when the tests are run against older code: plain, as before it existed)
    reported = getattr(distributed, "rank_failures_reported", lambda prog: contextlib.nullcontext())
    try:
        with reported(PROG):
            work(args.who, args.how)
    except ValueError as e:
        sys.exit("%s: error: %s" % (PROG, e))


if __name__ == "__main__":
    main()
