"""ernie.atomic_write: the one helper every writer of the project uses."""
import os
import re
import subprocess
import sys

import pytest

from ernie import atomic_write
from ernie.checkpoint import TEMP_ENTRY

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_atomic_open_writes_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "sub" / "out.txt"
    with atomic_write.atomic_open(path) as f:
        f.write("hello\n")
    assert path.read_text() == "hello\n"
    assert sorted(os.listdir(path.parent)) == ["out.txt"]


def test_failure_inside_the_block_keeps_the_previous_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write.atomic_open(path) as f:
            f.write("half of the new")
            raise RuntimeError("disk full")
    assert path.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_binary_and_json(tmp_path):
    atomic_write.write_json(tmp_path / "a.json", {"b": 1, "a": "é"}, ensure_ascii=False)
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == '{\n "a": "é",\n "b": 1\n}\n'
    with atomic_write.atomic_open(tmp_path / "b.bin", "wb") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(ValueError):
        with atomic_write.atomic_open(tmp_path / "c", "a"):
            pass


def test_a_killed_writer_leaves_the_previous_file_under_the_final_name(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    code = ("import os, sys; from ernie import atomic_write\n"
            "with atomic_write.atomic_open(sys.argv[1]) as f:\n"
            "    f.write('new, unfinished'); f.flush(); os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO)
    assert proc.returncode == -9
    assert path.read_text() == "old\n"
    leftovers = [e for e in os.listdir(tmp_path) if e != "out.txt"]
    assert len(leftovers) == 1 and re.fullmatch(r"out\.txt\.tmp-\d+", leftovers[0])


def test_atomic_directory_replaces_a_directory_in_one_step(tmp_path):
    out = tmp_path / "params"
    out.mkdir()
    (out / "old_param").write_text("old")
    with atomic_write.atomic_directory(out) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and TEMP_ENTRY.fullmatch(os.path.basename(tmp))
        with open(os.path.join(tmp, "w"), "w") as f:
            f.write("new")
    assert sorted(os.listdir(out)) == ["w"]
    assert sorted(os.listdir(tmp_path)) == ["params"]


def test_atomic_directory_failure_keeps_the_previous_directory(tmp_path):
    out = tmp_path / "params"
    out.mkdir()
    (out / "w").write_text("old")
    with pytest.raises(OSError):
        with atomic_write.atomic_directory(out) as tmp:
            with open(os.path.join(tmp, "w"), "w") as f:
                f.write("half")
            raise OSError(28, "No space left on device")
    assert (out / "w").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["params"]


def test_no_other_module_writes_through_its_own_temp_and_rename():
    """One mechanism, one helper: a temp-file-and-rename written anywhere else is a copy."""
    allowed = {os.path.join("ernie", "atomic_write.py"),
               os.path.join("ernie", "checkpoint.py"),        # renames leftovers of killed runs
               os.path.join("ernie", "prepare", "fetch.py")}            # moves a complete, sha256-checked download into the cache
    offenders = []
    for top in ("ernie", "reader", "bench", "script", "."):
        root_dir = os.path.join(REPO, top)
        for root, dirs, files in os.walk(root_dir):
            if top == ".":
                dirs[:] = []
            for name in files:
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(root, name), REPO)
                if rel in allowed:
                    continue
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    text = f.read()
                if re.search(r"os\.(replace|rename)\(", text):
                    offenders.append(rel)
    assert offenders == []
