"""script/zh_task/pretrain.sh: a short real CPU run, and the commands of both profiles."""
import gzip
import os
import re
import shlex
import subprocess
import sys

from conftest import REPO

SCRIPT = os.path.join(REPO, "script", "zh_task", "pretrain.sh")
VALID = re.compile(r"\[validation_set\] epoch: \d+, step: (\d+), loss: ([\d.]+), global ppl: ([\d.]+), "
                   r"next_sent_acc: ([\d.]+), speed: [\d.]+ steps/s")
TRAIN = re.compile(r"epoch: \d+, progress: \d+/\d+, step: (\d+), loss: ([\d.]+), ppl: [\d.]+, next_sent_acc: "
                   r"[\d.]+, speed: [\d.]+ steps/s, file: \S+, mask_type: mask_(word|char), lr: \S+, tokens/s: \d+")


def _env(**kw):
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.update({k: str(v) for k, v in kw.items()})
    return env


def test_short_cpu_demo_run_lowers_the_validation_loss(tmp_path):
    # a smaller validation set and 30 steps keep this under a minute; the profile is otherwise the demo's
    with gzip.open(os.path.join(REPO, "data", "demo_valid_set.gz"), "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(64)]
    with gzip.open(tmp_path / "valid.gz", "wt", encoding="utf-8") as f:
        f.writelines(lines)
    (tmp_path / "valid_filelist").write_text("%s\t1.1\n" % (tmp_path / "valid.gz"))
    env = _env(ERNIE_DEVICE="cpu", NUM_TRAIN_STEPS=30, WARMUP_STEPS=10, BATCH_SIZE=512, VALIDATION_STEPS=1000,
               SAVE_STEPS=1000, VALID_FILELIST=tmp_path / "valid_filelist", CHECKPOINTS=tmp_path / "ckpt")
    proc = subprocess.run(["sh", SCRIPT, "--skip_steps", "5"], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    valid = [(int(m.group(1)), float(m.group(2))) for m in VALID.finditer(log)]
    assert [s for s, _ in valid] == [0, 30], valid             # before training and at the end
    assert valid[-1][1] < valid[0][1] - 0.5, valid
    steps = [int(m.group(1)) for m in TRAIN.finditer(log)]
    assert steps == [5, 10, 15, 20, 25, 30]                     # the extra flag overrode --skip_steps 10
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["step_30"]  # the final checkpoint


def _dry(tmp_path, env, *extra):
    proc = subprocess.run(["sh", SCRIPT] + list(extra), cwd=str(tmp_path), env=dict(env, ERNIE_DRY_RUN="1"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return shlex.split(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _flags(cmd):
    """{flag: value} of a command line; the last occurrence wins, as in argparse."""
    out = {}
    for i, tok in enumerate(cmd):
        if tok.startswith("--") and i + 1 < len(cmd):
            out[tok[2:]] = cmd[i + 1]
    return out


def test_environment_overrides_and_extra_flags(tmp_path):
    env = _env(ERNIE_DEVICE="cpu", TRAIN_FILELIST="t.list", VALID_FILELIST="v.list", VOCAB_PATH="v.txt",
               ERNIE_CONFIG="c.json", NUM_TRAIN_STEPS=7, CHECKPOINTS="out", VDL_DIR="vdl", INIT_CHECKPOINT="out/step_3")
    cmd, err = _dry(tmp_path, env, "--learning_rate", "5e-4")
    assert cmd[:2] == [sys.executable, "./train.py"] and "CPU demo profile" in err
    flags = _flags(cmd)
    assert (flags["train_filelist"], flags["valid_filelist"], flags["vocab_path"], flags["ernie_config_path"],
            flags["num_train_steps"], flags["checkpoints"], flags["vdl_dir"], flags["init_checkpoint"]) == \
        ("t.list", "v.list", "v.txt", "c.json", "7", "out", "vdl", "out/step_3")
    assert cmd[-2:] == ["--learning_rate", "5e-4"] and flags["learning_rate"] == "5e-4"
    assert (flags["use_cuda"], flags["use_fp16"], flags["max_seq_len"], flags["batch_size"],
            flags["validate_at_start"]) == ("false", "false", "128", "1024", "true")


def test_gpu_profile_uses_the_launcher_and_the_paper_settings(tmp_path):
    # fake nvidia-smi listing two GPUs and a fake interpreter that claims a CUDA build
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: A (UUID: x)'\necho 'GPU 1: B (UUID: y)'\n")
    (bin_dir / "fakepython").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = _env(PATH="%s:%s" % (bin_dir, os.environ["PATH"]), PYTHON=bin_dir / "fakepython")
    cmd, err = _dry(tmp_path, env)
    assert cmd[:8] == [str(bin_dir / "fakepython"), "-m", "paddle.distributed.launch", "--gpus", "0,1",
                       "--log_dir", "./log", "./train.py"]
    flags = _flags(cmd)
    assert {k: flags[k] for k in ("use_cuda", "is_distributed", "ernie_config_path", "max_seq_len", "batch_size",
                                  "learning_rate", "lr_scheduler", "warmup_steps", "use_fp16", "weight_decay",
                                  "num_train_steps", "save_steps", "validation_steps", "skip_steps", "adam_beta2",
                                  "in_tokens")} == {
        "use_cuda": "true", "is_distributed": "true", "ernie_config_path": "./config/ernie_config.json",
        "max_seq_len": "512", "batch_size": "8192", "learning_rate": "1.28e-4", "lr_scheduler": "noam_decay",
        "warmup_steps": "4000", "use_fp16": "true", "weight_decay": "0.01", "num_train_steps": "1000000",
        "save_steps": "10000", "validation_steps": "100", "skip_steps": "10", "adam_beta2": "0.98",
        "in_tokens": "true"}
    cmd, _ = _dry(tmp_path, dict(env, CUDA_VISIBLE_DEVICES="3,5"))
    assert cmd[3:5] == ["--gpus", "3,5"]
    cmd, _ = _dry(tmp_path, dict(env, ERNIE_DEVICE="cpu"))
    assert cmd[1] == "./train.py"
    # a CPU-only Paddle with GPUs present falls back to the CPU profile, with a warning
    (bin_dir / "fakepython").write_text("#!/bin/sh\nexit 1\n")
    cmd, err = _dry(tmp_path, env)
    assert cmd[1] == "./train.py" and "CPU-only build" in err
