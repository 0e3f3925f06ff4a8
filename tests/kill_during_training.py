"""Kill a tiny pre-training run with SIGKILL at random moments, resume it each time, check every state.

    python tests/kill_during_training.py --kills 20          # the full check (a few minutes on 2 cores)
    python tests/kill_during_training.py --kills 3 --steps 40 --window 1  # what tests/test_run_safety.py runs

A tiny ERNIE (2 layers, hidden 32) trains with ``--save_steps 1 --max_checkpoints 2``, so most of a
step's time is spent saving and pruning and random kills land in them too.  Each cycle starts
``train.py`` (resuming from the newest complete checkpoint after the first), waits for its first
checkpoint, kills it after a random delay and then checks:

* every ``step_<N>`` directory is complete (``checkpoint_complete.json`` matches) and loads into the
  training program with ``ernie.checkpoint.init_checkpoint``;
* the lock of the killed run is stale: the next run takes it over, and once it has claimed the
  directory no temporary (``*.tmp-*`` / ``*.prune-*``) entry is left.

After the last kill the run is resumed to the end; its final checkpoint must equal, byte for byte, the
one of an uninterrupted run (``train_state.json`` compared without its time stamp).  Prints one JSON
summary (kills, where they landed, temporaries found and removed); exit status 1 on any failure.
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))      # tests/demo_data.py, also under runpy

from ernie import checkpoint  # noqa: E402
from demo_data import TINY_DEMO_CONFIG, demo_filelist  # noqa: E402


def make_data(root, lines=160):
    """The first ``lines`` lines of the shipped demo training set, a file list and the tiny config."""
    os.makedirs(root, exist_ok=True)
    demo_filelist(root, "train", lines)
    with open(os.path.join(root, "config.json"), "w", encoding="utf-8") as f:
        json.dump(TINY_DEMO_CONFIG, f)
    return root


def train_cmd(data, ckpt, steps, resume=None):
    cmd = [sys.executable, os.path.join(REPO, "train.py"), "--ernie_config_path", os.path.join(data, "config.json"),
           "--vocab_path", os.path.join(REPO, "config", "vocab.txt"),
           "--train_filelist", os.path.join(data, "train_filelist"), "--max_seq_len", "128", "--batch_size", "512",
           "--in_tokens", "true", "--skip_steps", "1", "--lr_scheduler", "noam_decay", "--warmup_steps", "3",
           "--learning_rate", "1e-3", "--num_train_steps", str(steps), "--save_steps", "1",
           "--max_checkpoints", "2", "--checkpoints", ckpt, "--random_seed", "7", "--use_cuda", "false"]
    return cmd + (["--init_checkpoint", resume] if resume else [])


def start(cmd, log_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env), log


def temporaries(root):
    found = [e for e in os.listdir(root) if checkpoint.TEMP_ENTRY.fullmatch(e)]
    states = os.path.join(root, "reader_states")
    if os.path.isdir(states):
        found += [e for e in os.listdir(states) if ".tmp-" in e]
    return sorted(found)


class Loader:
    """The training program of the tiny config, built once, to load every checkpoint into."""

    def __init__(self, data):
        import paddle

        from ernie.cli.pretrain import build_stream_program
        from ernie.config import ErnieConfig
        from ernie.optimization import lr_scheduler
        from ernie.tasks import TaskSet
        paddle.enable_static()
        self.paddle = paddle
        self.config = ErnieConfig.from_json(os.path.join(data, "config.json"))
        scheduler = lr_scheduler("noam_decay", 1e-3, 3, 10)
        self.prog = build_stream_program("knowledge_masking", TaskSet(["knowledge_masking", "next_sent"]),
                                         self.config, True, optimizer_args=dict(scheduler=scheduler,
                                                                                weight_decay=0.01))
        self.exe = paddle.static.Executor(paddle.CPUPlace())
        self.scope = paddle.static.Scope()
        with paddle.static.scope_guard(self.scope):
            self.exe.run(self.prog.startup)

    def load(self, directory):
        return checkpoint.init_checkpoint(directory, self.prog.program, scope=self.scope, config=self.config)


def checkpoint_bytes(directory):
    out = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            blob = f.read()
        if name == checkpoint.STATE_FILE:
            state = json.loads(blob)
            state.pop("time", None)
            blob = json.dumps(state, sort_keys=True).encode()
        out[name] = blob
    return out


def wait_for(log_path, proc, pattern, timeout):
    """Wait until the log matches ``pattern`` (True) or the process ended / timed out (False)."""
    end = time.time() + timeout
    rx = re.compile(pattern)
    while time.time() < end:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            if rx.search(f.read()):
                return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def run(kills=20, steps=40, seed=0, workdir=None, window=1.5, log=print):
    """Run the experiment; returns the summary dict (``ok`` False on any failure, ``problems`` says why)."""
    rng = random.Random(seed)
    work = workdir or tempfile.mkdtemp(prefix="ernie-kill-")
    data = make_data(os.path.join(work, "data"))
    problems, cycles = [], []
    # the uninterrupted reference
    ref_dir = os.path.join(work, "reference")
    proc, fh = start(train_cmd(data, ref_dir, steps), os.path.join(work, "reference.log"))
    rc = proc.wait()
    fh.close()
    if rc != 0:
        return {"ok": False, "problems": ["the reference run failed (exit %d), see %s/reference.log" % (rc, work)]}
    reference = checkpoint_bytes(os.path.join(ref_dir, "step_%d" % steps))
    loader = Loader(data)

    root = os.path.join(work, "killed")
    k = 0
    attempts = 0
    while True:
        attempts += 1
        resume = checkpoint.latest_checkpoint(root) if os.path.isdir(root) else None
        log_path = os.path.join(work, "run_%02d.log" % attempts)
        proc, fh = start(train_cmd(data, root, steps, resume), log_path)
        if k >= kills:                                  # the last run goes to the end
            rc = proc.wait()
            fh.close()
            if rc != 0:
                problems.append("the final resumed run failed (exit %d), see %s" % (rc, log_path))
            break
        started = wait_for(log_path, proc, r"saved checkpoint", timeout=300)
        if started:
            time.sleep(rng.uniform(0, window))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            k += 1
            killed = True
        else:
            killed = False
        fh.close()
        with open(log_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if not killed and proc.returncode != 0:
            problems.append("run %d failed by itself (exit %d), see %s" % (attempts, proc.returncode, log_path))
            break
        saved = re.findall(r"saved checkpoint \S*step_(\d+)", text)
        left = temporaries(root)
        steps_there = [s for s, _ in checkpoint.checkpoint_steps(root)]
        for step, path in checkpoint.checkpoint_steps(root):
            reason = checkpoint.incomplete_reason(path)
            if reason:
                problems.append("after kill %d: %s is incomplete: %s" % (k, path, reason))
                continue
            try:
                state = loader.load(path)
                if state["step"] != step:
                    problems.append("after kill %d: %s holds step %s" % (k, path, state["step"]))
            except Exception as e:       # noqa: BLE001 - every failure is reported
                problems.append("after kill %d: %s does not load: %s" % (k, path, e))
        # the next run's start: the dead run's lock is stale, its temporaries are cleaned
        newest = checkpoint.latest_checkpoint(root)
        with checkpoint.claim_checkpoint_dir(root, resume_from=newest):
            after = temporaries(root)
        if after:
            problems.append("after kill %d: temporaries left after claiming: %s" % (k, after))
        cycles.append({"kill": k if killed else None, "saves_logged": len(saved), "last_saved": saved[-1] if saved
                       else None, "step_dirs": steps_there, "temporaries_at_kill": left})
        log("cycle %d: %s" % (attempts, json.dumps(cycles[-1])))
        if newest is None and killed:
            problems.append("after kill %d: no complete checkpoint although one was saved" % k)
        if not killed and proc.returncode == 0:
            log("run %d finished before it could be killed; starting over from its final checkpoint" % attempts)
            break
    final = os.path.join(root, "step_%d" % steps)
    if not problems:
        if not os.path.isdir(final):
            problems.append("no final checkpoint %s" % final)
        else:
            got = checkpoint_bytes(final)
            differ = sorted(n for n in set(got) | set(reference) if got.get(n) != reference.get(n))
            if differ:
                problems.append("the resumed run's final checkpoint differs from the uninterrupted one in %s" % differ)
    summary = {"ok": not problems, "problems": problems, "kills": k, "runs": attempts,
               "kills_with_temporaries": sum(1 for c in cycles if c["kill"] and c["temporaries_at_kill"]),
               "cycles": cycles, "workdir": work}
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--steps", type=int, default=120, help="num_train_steps of the run (enough for 20 kills)")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    p.add_argument("--window", type=float, default=1.5, help="kill within this many seconds after the first save")
    p.add_argument("--workdir", help="default: a new temporary directory (kept, for the logs)")
    args = p.parse_args(argv)
    summary = run(args.kills, args.steps, args.seed, args.workdir, args.window,
                  log=lambda s: print(s, file=sys.stderr))
    print(json.dumps({k: v for k, v in summary.items() if k != "cycles"}, indent=1))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
