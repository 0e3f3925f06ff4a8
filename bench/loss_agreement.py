"""Do two ways of running the same pre-training compute the same losses?  Per-step comparison.

    python bench/loss_agreement.py --run new=. --run old=../ernie-old [--run 1thread=.:MKL_NUM_THREADS=1]
                                   [--run bf16=.::--use_bf16=true] [--steps 50] [--json OUT]

Each ``--run NAME=TREE[:ENV=VALUE,...][:--flag=value,...]`` trains the ERNIE 1.0 CPU demo profile
(config/ernie_demo_config.json: 4 layers, hidden 256, vocab 18000; 1024-token batches, noam 1e-3,
seed 1, the shipped demo data) for ``--steps`` updates with ``train.py`` of the source tree TREE
(e.g. a ``git worktree`` of an older commit), logging every step, in a fresh process with the extra
environment variables and flags.  The first run is the reference: for every other the script
prints the relative loss difference per step (max, median, first step) and the median step time.
Dropout is on, with the same seed, so runs that agree to float noise draw the same masks.

Used for the CPU-defaults change (docs/performance.md): old code with Paddle's defaults vs the new
code, and as the yardstick of float noise, the new code with 1 thread vs 2 (MKL splits its sums
differently) — and for bf16 against fp32.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench import _common  # noqa: E402

STEP_LINE = re.compile(r"step: (\d+), loss: ([-+\w.]+).*?speed: ([\d.]+) steps/s")

DEMO_FLAGS = ["--use_cuda", "false", "--ernie_config_path", "./config/ernie_demo_config.json",
              "--weight_sharing", "true", "--in_tokens", "true", "--batch_size", "1024", "--max_seq_len", "128",
              "--lr_scheduler", "noam_decay", "--learning_rate", "1e-3", "--warmup_steps", "100",
              "--weight_decay", "0.01", "--adam_beta1", "0.9", "--adam_beta2", "0.98", "--use_fp16", "false",
              "--skip_steps", "1", "--validate_at_start", "false", "--random_seed", "1",
              "--vocab_path", "./config/vocab.txt", "--train_filelist", "./data/train_filelist",
              "--valid_filelist", "./data/valid_filelist", "--epoch", "100", "--max_checkpoints", "1"]


def parse_run(spec):
    """'NAME=TREE[:ENV=V,...][:--flag=v,...]' -> (name, tree, env dict, flag list)."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError("--run wants NAME=TREE[:ENV=VALUE,...][:--flag=value,...], got %r" % spec)
    parts = rest.split(":")
    tree, env, flags = parts[0], {}, []
    for item in (parts[1].split(",") if len(parts) > 1 and parts[1] else []):
        k, eq, v = item.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError("environment entry %r of --run %s is not NAME=VALUE" % (item, name))
        env[k] = v
    for item in (parts[2].split(",") if len(parts) > 2 and parts[2] else []):
        k, eq, v = item.partition("=")
        flags += [k, v] if eq else [k]
    if len(parts) > 3:
        raise argparse.ArgumentTypeError("--run %s has more than three ':'-separated parts" % name)
    return name, os.path.abspath(tree), env, flags


def read_steps(log_text):
    """{step: (loss, steps/s)} from a train.py log."""
    out = {}
    for m in STEP_LINE.finditer(log_text):
        out[int(m.group(1))] = (float(m.group(2)), float(m.group(3)))
    return out


def compare(reference, other):
    """Relative loss differences over the steps both logged: {max, max_step, median, first, steps}."""
    steps = sorted(set(reference) & set(other))
    if not steps:
        raise ValueError("the two runs logged no common step")
    rel = [abs(other[s][0] - reference[s][0]) / max(abs(reference[s][0]), 1e-12) for s in steps]
    worst = max(range(len(steps)), key=rel.__getitem__)
    return {"steps": len(steps), "max": rel[worst], "max_step": steps[worst], "median": statistics.median(rel),
            "first": rel[0]}


def run_one(name, tree, env, flags, steps, workdir):
    ckpt = os.path.join(workdir, "checkpoints_" + name)
    cmd = [sys.executable, "train.py"] + DEMO_FLAGS + ["--checkpoints", ckpt, "--num_train_steps", str(steps),
                                                       "--save_steps", str(10 * steps),
                                                       "--validation_steps", str(10 * steps)] + flags
    full_env = dict(os.environ, **env)
    proc = subprocess.run(cmd, cwd=tree, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError("run %s failed (exit %d) in %s:\n%s" % (name, proc.returncode, tree, proc.stdout[-4000:]))
    logged = read_steps(proc.stdout)
    if len(logged) < steps:
        raise RuntimeError("run %s logged %d of %d steps" % (name, len(logged), steps))
    return logged


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", type=parse_run, required=True,
                   help="NAME=TREE[:ENV=VALUE,...][:--flag=value,...]; the first is the reference")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--json")
    args = p.parse_args(argv)
    if len(args.run) < 2:
        p.error("give at least two --run")
    if args.steps < 1:
        p.error("--steps must be >= 1")
    results = {}
    with tempfile.TemporaryDirectory(prefix="loss_agreement_") as work:
        for name, tree, env, flags in args.run:
            print("loss_agreement: running %s (%s, env %s, flags %s) ..." % (name, tree, env, flags), file=sys.stderr)
            results[name] = run_one(name, tree, env, flags, args.steps, work)
    ref_name = args.run[0][0]
    ref = results[ref_name]
    report = {"reference": ref_name, "steps": args.steps, "runs": {}}
    print("%-12s %14s %10s %12s %12s %14s" % ("run", "max rel diff", "at step", "median", "step 1", "median steps/s"))
    for name, _, env, flags in args.run:
        speed = statistics.median(v[1] for v in results[name].values())
        entry = {"env": env, "flags": flags, "median_steps_per_s": speed,
                 "losses": {s: v[0] for s, v in sorted(results[name].items())}}
        if name != ref_name:
            entry["vs_reference"] = compare(ref, results[name])
            c = entry["vs_reference"]
            print("%-12s %14.2e %10d %12.2e %12.2e %14.3f" % (name, c["max"], c["max_step"], c["median"], c["first"], speed))
        else:
            print("%-12s %14s %10s %12s %12s %14.3f" % (name, "(reference)", "", "", "", speed))
        report["runs"][name] = entry
    if args.json:
        _common.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
