"""Two cores, two ways: one process with 2 intra-op threads, or 2 data-parallel processes (gloo) of 1 thread.

    python bench/cpu_parallelism.py [--steps 30] [--json OUT]

Trains the ERNIE 1.0 CPU demo (train.py, the shipped demo data, 1024-token global batches, seed 1)
for ``--steps`` updates three ways and reports the median steps/s after the first 5 steps:

  threads   one process, the project's defaults (MKL and Paddle threads = usable cores)
  serial    one process, 1 thread (MKL_NUM_THREADS=1 FLAGS_paddle_num_threads=1)
  2 procs   ``python -m paddle.distributed.launch --nproc_per_node 2``: each rank 512 tokens, 1 thread
            (ernie.cpu_setup divides the cores among the launched processes), gradients all-reduced
            over gloo every step

The global batch is the same in all three, so steps/s compare directly.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench import _common  # noqa: E402
from bench.loss_agreement import DEMO_FLAGS, read_steps  # noqa: E402


def train_flags(batch_size, steps, ckpt):
    """loss_agreement's CPU demo flags with this run's batch size, step count and checkpoint directory."""
    flags = list(DEMO_FLAGS)
    flags[flags.index("--batch_size") + 1] = str(batch_size)
    return flags + ["--checkpoints", ckpt, "--num_train_steps", str(steps), "--save_steps", str(10 * steps),
                    "--validation_steps", str(10 * steps)]


def median_speed(text, skip=5):
    speeds = [speed for step, (_, speed) in read_steps(text).items() if step > skip]
    if not speeds:
        raise RuntimeError("no step lines after step %d in the log:\n%s" % (skip, text[-3000:]))
    return statistics.median(speeds)


def run(cmd, env, log_file=None):
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s" % (" ".join(cmd), proc.returncode, proc.stdout[-4000:]))
    if log_file:
        with open(log_file, encoding="utf-8", errors="replace") as f:
            return f.read()
    return proc.stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch_size", type=int, default=1024, help="global batch in tokens")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.steps < 7:
        p.error("--steps must be >= 7 (the first 5 are not counted)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="cpu_parallelism_") as work:
        for name, env in (("threads", {}), ("serial", {"MKL_NUM_THREADS": "1", "FLAGS_paddle_num_threads": "1"})):
            print("cpu_parallelism: %s ..." % name, file=sys.stderr, flush=True)
            cmd = [sys.executable, "train.py"] + train_flags(args.batch_size, args.steps, os.path.join(work, name))
            results[name] = median_speed(run(cmd, env))
        print("cpu_parallelism: 2 procs ...", file=sys.stderr, flush=True)
        log_dir = os.path.join(work, "log")
        cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--max_restart", "0",
               "--log_dir", log_dir, "train.py"] + train_flags(args.batch_size // 2, args.steps,
                                                               os.path.join(work, "dp"))
        results["2 procs"] = median_speed(run(cmd, {}, os.path.join(log_dir, "workerlog.0")))
    print("%-10s %12s" % ("variant", "steps/s"))
    for name, speed in results.items():
        print("%-10s %12.3f" % (name, speed))
    if args.json:
        _common.write_json(args.json, {"args": vars(args), "steps_per_s": results, "loadavg": os.getloadavg()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
