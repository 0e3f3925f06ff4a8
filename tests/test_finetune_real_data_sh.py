"""script/finetune_real_data.sh (issue 12, item 15): no fixed shared work directory reused unchecked, no
write through a planted symlink, paths with spaces kept whole.  PYTHON is a fake that records its calls."""
import json
import os
import stat
import subprocess
import sys

from conftest import REPO

SCRIPT = os.path.join(REPO, "script", "finetune_real_data.sh")
FAKE = r'''#!%s
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(args) + "\n")
def value(flag):
    return args[args.index(flag) + 1]
if args[:2] == ["-m", "ernie.prepare.finetune_data"]:
    d = os.path.join(value("--output_dir"), "rotten_tomatoes")
    os.makedirs(d, exist_ok=True)
    for n in ("train.tsv", "dev.tsv", "test.tsv"):
        open(os.path.join(d, n), "w").write("text_a\tlabel\nx\t1\n")
elif args[:2] == ["-m", "ernie.cli.convert_bert"]:
    d = value("--output_dir")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "ernie_config.json"), "w").write("{}")
elif args and args[0].endswith("run_classifier.py"):
    d = value("--checkpoints")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "result.json"), "w").write("{}")
    print("run log line")
'''


def setup(tmp_path):
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE % sys.executable)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def run_script(tmp_path, fake, **env):
    log = tmp_path / "calls.jsonl"
    full = dict(os.environ, PYTHON=str(fake), FAKE_LOG=str(log), RUNS="tiny", TMPDIR=str(tmp_path / "tmp"))
    full.pop("WORK", None)
    full.update(env)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    proc = subprocess.run(["sh", SCRIPT], capture_output=True, text=True, env=full, timeout=120)
    calls = [json.loads(l) for l in open(log)] if log.exists() else []
    return proc, calls


def test_work_with_a_space_and_planted_symlinks(tmp_path):
    fake = setup(tmp_path)
    work = tmp_path / "my work"
    (work / "tiny").mkdir(parents=True)
    (work / "log").mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.symlink(victim, work / "tiny" / "ernie_config.json")
    os.symlink(victim, work / "log" / "tiny.log")
    proc, calls = run_script(tmp_path, fake, WORK=str(work))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"                      # nothing written through the symlinks
    assert not os.path.islink(work / "tiny" / "ernie_config.json")
    assert json.loads((work / "tiny" / "ernie_config.json").read_text())["hidden_size"] == 128
    assert "run log line" in (work / "log" / "tiny.log").read_text()
    summary = [c for c in calls if c[:2] == ["-m", "ernie.cli.finetune.summary"]][0]
    assert summary[2:4] == ["--table", "tiny=%s" % (work / "ckpt" / "tiny" / "result.json")]


def test_default_work_is_a_new_private_directory_each_time(tmp_path):
    fake = setup(tmp_path)
    first, _ = run_script(tmp_path, fake)
    second, _ = run_script(tmp_path, fake)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    made = sorted(p for p in os.listdir(tmp_path / "tmp") if p.startswith("ernie_finetune_real."))
    assert len(made) == 2                                         # never a fixed, shared /tmp directory
    for name in made:
        assert stat.S_IMODE(os.stat(tmp_path / "tmp" / name).st_mode) == 0o700


def test_work_that_is_a_symlink_is_refused(tmp_path):
    fake = setup(tmp_path)
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    proc, calls = run_script(tmp_path, fake, WORK=str(tmp_path / "link"))
    assert proc.returncode == 2 and "is a symlink" in proc.stderr and calls == []
