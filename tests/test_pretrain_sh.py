"""script/zh_task/pretrain.sh and script/en_task/pretrain.sh: short real CPU runs (ERNIE 2.0 continual multi-task,
the default, and ERNIE 1.0), and the commands of both profiles in both modes."""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import REPO
from demo_data import demo_filelist

SCRIPT = os.path.join(REPO, "script", "zh_task", "pretrain.sh")
EN_SCRIPT = os.path.join(REPO, "script", "en_task", "pretrain.sh")
VALID = re.compile(r"\[validation_set\] epoch: \d+, step: (\d+), loss: ([\d.]+), global ppl: ([\d.]+), "
                   r"next_sent_acc: ([\d.]+), speed: [\d.]+ steps/s")
TRAIN = re.compile(r"epoch: \d+, progress: \d+/\d+, step: (\d+), loss: ([\d.]+), ppl: [\d.]+, next_sent_acc: "
                   r"[\d.]+, speed: [\d.]+ steps/s, file: \S+, mask_type: mask_(word|char), lr: \S+, tokens/s: \d+")


def _env(**kw):
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.update({k: str(v) for k, v in kw.items()})
    return env


ZH_TASKS = ["knowledge_masking", "sentence_reordering", "sentence_distance", "discourse_relation", "ir_relevance"]
TASK_LINE = re.compile(r"stage: (\d)/5, step: (\d+), task: (\w+), task_id: (\d), task_step: (\d+)/6, loss: [\d.]+, "
                       r"acc: [\d.]+, lr: \S+, speed: [\d.]+ steps/s, tokens/s: \d+")
STAGE_DONE = re.compile(r"stage (\d)/5 \(continual_multitask\) finished at step (\d+):\n((?:\|.*\|\n?)+)")


def test_short_ernie2_cpu_run_trains_the_zh_tasks_stage_by_stage(tmp_path):
    # the default (config/ernie2_zh_tasks.json) with a tiny model and 6 iterations per task (30 updates)
    model = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=6000,
                 max_position_embeddings=130, type_vocab_size=2, hidden_act="relu", use_task_id=True,
                 task_type_vocab_size=16)
    (tmp_path / "model.json").write_text(json.dumps(model))
    env = _env(ERNIE_DEVICE="cpu", ERNIE_CONFIG=tmp_path / "model.json", ITERATIONS_SCALE="0.0001", BATCH_SIZE=512,
               CHECKPOINTS=tmp_path / "ckpt", LOG_DIR=tmp_path / "log")
    proc = subprocess.run(["sh", SCRIPT, "--skip_steps", "1"], cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    steps = [(int(m.group(1)), int(m.group(2)), m.group(3), int(m.group(4))) for m in TASK_LINE.finditer(log)]
    assert [s for _, s, _, _ in steps] == list(range(1, 31))
    ids = {t: i for i, t in zip((0, 3, 4, 5, 6), ZH_TASKS)}
    assert all(ids[t] == i for _, _, t, i in steps)
    # stage k trains the first k tasks: 2, 4, 6, 8, 10 updates (6 per task: 2 + 1 per later stage)
    for stage in range(1, 6):
        assert sorted({t for st, _, t, _ in steps if st == stage}) == sorted(ZH_TASKS[:stage])
    tables = [(int(m.group(1)), int(m.group(2)), m.group(3)) for m in STAGE_DONE.finditer(log)]
    assert [(k, s) for k, s, _ in tables] == [(1, 2), (2, 6), (3, 12), (4, 20), (5, 30)]
    last = [line.split("|")[1:-1] for line in tables[-1][2].strip().split("\n")[2:]]
    assert [(c[0].strip(), c[3].strip()) for c in last] == [(t, "6/6") for t in ZH_TASKS]
    assert all(float(c[5]) > 0 and 0 <= float(c[6]) <= 1 for c in last)      # every task validated
    summaries = json.load(open(tmp_path / "ckpt" / "stage_summaries.json"))
    assert [s["end_step"] for s in summaries] == [2, 6, 12, 20, 30]
    assert "step_30" in os.listdir(tmp_path / "ckpt")
    # the closing summary: what ran, every task's validation before its training and at the end, model, log
    assert re.search(r"\[summary\] ERNIE 2\.0 pre-training \(\S*ernie2_zh_tasks\.json, continual_multitask, 5 stage\(s\)\): "
                     r"30 updates in \d+ min \d+ s", log), log[-3000:]
    assert re.search(r"\[summary\] validation knowledge_masking/loss: [\d.]+ at step 0 -> [\d.]+ at step 30", log)
    # a task that joins later is validated before its first update too: its line compares untrained -> trained
    assert re.search(r"\[summary\] validation sentence_reordering/acc: [\d.]+ at step 2 -> [\d.]+ at step 30", log)
    assert re.search(r"\[summary\] validation ir_relevance/acc: [\d.]+ at step 20 -> [\d.]+ at step 30", log)
    assert "[summary] model: %s" % (tmp_path / "ckpt" / "step_30") in log
    assert "[summary] log: %s/pretrain.log" % (tmp_path / "log") in log and "[summary] next: " in log
    assert "[summary] model:" in (tmp_path / "log" / "pretrain.log").read_text()


def test_short_ernie1_cpu_demo_run_lowers_the_validation_loss(tmp_path):
    # ERNIE_TASK_CONFIG=none: train.py without --task_config, as before the ERNIE 2.0 configurations.
    # A smaller validation set and 30 steps keep this under a minute; the profile is otherwise the demo's
    valid_filelist = demo_filelist(tmp_path, "valid", 64)
    env = _env(ERNIE_DEVICE="cpu", NUM_TRAIN_STEPS=30, WARMUP_STEPS=10, BATCH_SIZE=512, VALIDATION_STEPS=1000,
               SAVE_STEPS=1000, VALID_FILELIST=valid_filelist, CHECKPOINTS=tmp_path / "ckpt",
               ERNIE_TASK_CONFIG="none", LOG_DIR=tmp_path / "log")
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
    first, last = re.search(r"\[summary\] validation loss: ([\d.]+) at step 0 -> ([\d.]+) at step 30", log).groups()
    assert (float(first), float(last)) == pytest.approx((valid[0][1], valid[-1][1]), abs=1e-4)


def _dry(tmp_path, env, *extra, script=SCRIPT):
    proc = subprocess.run(["sh", script] + list(extra), cwd=str(tmp_path), env=dict(env, ERNIE_DRY_RUN="1"),
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


def test_ernie2_defaults_environment_and_extra_flags(tmp_path):
    env = _env(ERNIE_DEVICE="cpu")
    cmd, err = _dry(tmp_path, env)
    assert cmd[:2] == [sys.executable, "./train.py"] and "ERNIE 2.0 pre-training" in err and "CPU demo" in err
    flags = _flags(cmd)
    assert {k: flags[k] for k in ("task_config", "iterations_scale", "ernie_config_path", "use_cuda", "max_seq_len",
                                  "batch_size", "learning_rate", "warmup_steps", "validation_steps")} == {
        "task_config": "./config/ernie2_zh_tasks.json", "iterations_scale": "0.0005",
        "ernie_config_path": "./config/ernie2_demo_config.json", "use_cuda": "false", "max_seq_len": "128",
        "batch_size": "512", "learning_rate": "1e-3", "warmup_steps": "10", "validation_steps": "0"}
    # the data, the vocabulary and the number of updates come from the configuration
    assert not {"train_filelist", "valid_filelist", "vocab_path", "num_train_steps", "epoch", "strategy"} & set(flags)
    assert flags["validate_at_start"] == "true"
    # NUM_TRAIN_STEPS alone: that many updates in all (every budget of 5 x 60,000 scaled to 1000 / 300,000)
    flags = _flags(_dry(tmp_path, dict(env, NUM_TRAIN_STEPS="1000"))[0])
    assert flags["num_train_steps"] == "1000" and float(flags["iterations_scale"]) == pytest.approx(1000 / 300000)
    cmd, _ = _dry(tmp_path, dict(env, STRATEGY="continual", VOCAB_PATH="v.txt", NUM_TRAIN_STEPS="40",
                                 ERNIE_TASK_CONFIG="config/ernie2_table7.json", ITERATIONS_SCALE="0.001"),
                  "--skip_steps", "1")
    flags = _flags(cmd)
    assert (flags["strategy"], flags["vocab_path"], flags["num_train_steps"], flags["task_config"],
            flags["iterations_scale"]) == ("continual", "v.txt", "40", "config/ernie2_table7.json", "0.001")
    assert cmd[-2:] == ["--skip_steps", "1"]
    # English: the same script with the English configuration
    cmd, err = _dry(tmp_path, env, script=EN_SCRIPT)
    assert _flags(cmd)["task_config"] == "./config/ernie2_en_tasks.json" and "ERNIE 2.0" in err
    proc = subprocess.run(["sh", EN_SCRIPT], cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
                          env=dict(env, ERNIE_DRY_RUN="1", ERNIE_TASK_CONFIG="none"))
    assert proc.returncode == 1 and "Chinese demo data only" in proc.stderr
    proc = subprocess.run(["sh", SCRIPT], cwd=str(tmp_path), capture_output=True, text=True, timeout=60,
                          env=dict(env, ERNIE_DRY_RUN="1", ERNIE_TASK_CONFIG="missing.json"))
    assert proc.returncode == 1 and "missing.json does not exist" in proc.stderr


def test_ernie1_environment_overrides_and_extra_flags(tmp_path):
    env = _env(ERNIE_DEVICE="cpu", TRAIN_FILELIST="t.list", VALID_FILELIST="v.list", VOCAB_PATH="v.txt",
               ERNIE_CONFIG="c.json", NUM_TRAIN_STEPS=7, CHECKPOINTS="out", VDL_DIR="vdl", INIT_CHECKPOINT="out/step_3",
               ERNIE_TASK_CONFIG="none")
    cmd, err = _dry(tmp_path, env, "--learning_rate", "5e-4")
    assert cmd[:2] == [sys.executable, "./train.py"] and "CPU demo profile" in err and "ERNIE 1.0" in err
    assert "task_config" not in _flags(cmd)
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
    flags = _flags(cmd)     # ERNIE 2.0 (the default): the paper's settings, the file's budgets
    assert {k: flags[k] for k in ("use_cuda", "is_distributed", "task_config", "iterations_scale",
                                  "ernie_config_path", "max_seq_len", "batch_size", "learning_rate", "lr_scheduler",
                                  "warmup_steps", "use_fp16", "adam_beta2", "in_tokens")} == {
        "use_cuda": "true", "is_distributed": "true", "task_config": "./config/ernie2_zh_tasks.json",
        "iterations_scale": "1", "ernie_config_path": "./config/ernie2_base_config.json", "max_seq_len": "512",
        "batch_size": "8192", "learning_rate": "1.28e-4", "lr_scheduler": "noam_decay", "warmup_steps": "4000",
        "use_fp16": "true", "adam_beta2": "0.98", "in_tokens": "true"}
    cmd, _ = _dry(tmp_path, env, script=EN_SCRIPT)
    assert (_flags(cmd)["task_config"], _flags(cmd)["learning_rate"]) == ("./config/ernie2_en_tasks.json", "5e-5")
    cmd, err = _dry(tmp_path, dict(env, ERNIE_TASK_CONFIG="none"))
    flags = _flags(cmd)     # ERNIE 1.0
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
