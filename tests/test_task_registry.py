"""The task registry keeps its promise: a task is one module (found by discovery inside ernie/tasks, or
loaded with --user_dir from anywhere), its options are a typed dataclass, and no generic module names a
task."""
import ast
import gzip
import json
import math
import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

from ernie import tasks as T
from ernie.cli.pretrain import parse_args, run
from ernie.prepare import build_task_data as btd
from ernie.scheduler import ScheduleError, TaskConfig
from ernie.tasks.base import _REGISTRY

AUSTEN = os.path.join(REPO, "tests", "fixtures", "austen")

# --------------------------------------------------------------------------- no task name in generic code

# (module path, word): a task name that generic code may hold, and why.  A "word" is the task name with
# the identifier characters around it (next_sent_fc is a word, next_sentence_label is not a task name).
ALLOWED = {
    # the ERNIE 1.0 checkpoint format: the next-sentence head's parameters are called next_sent_fc.* in the
    # official checkpoints, which the converters and exporters read and write by name
    ("ernie/cli/convert_bert.py", "next_sent_fc"), ("ernie/cli/convert_bert.py", "next_sent"),
    ("ernie/cli/convert_paddlenlp.py", "next_sent_fc"), ("ernie/cli/export_bert.py", "next_sent_fc"),
    ("ernie/modeling.py", "next_sent_fc"),
    # the original's ERNIE 1.0 log lines and metric names, kept word for word (train.py without --task_config)
    ("ernie/cli/pretrain.py", "next_sent_acc"), ("ernie/modeling.py", "next_sent_acc"),
}
# check_task_data checks the files of the built-in tasks against each task's definition (sentence
# reordering's class encodes its segment count, capitalization labels sit on word starts, ...): a rule per
# built-in task.  A new task needs no entry there (its lines are still parsed and checked by the generic rules).
ALLOWED_MODULES = {"ernie/prepare/check_task_data.py"}


def generic_modules():
    """Every Python module of the library and drivers, but the task modules ernie/tasks/<task>.py."""
    tasks_dir = os.path.join("ernie", "tasks")
    task_modules = {os.path.join(tasks_dir, f) for f in os.listdir(os.path.join(REPO, tasks_dir))
                    if f.endswith(".py") and f not in ("__init__.py", "base.py")}
    out = [f for f in os.listdir(REPO) if f.endswith(".py")]
    for pkg in ("ernie", "reader"):
        for root, _, files in os.walk(os.path.join(REPO, pkg)):
            out += [os.path.relpath(os.path.join(root, f), REPO) for f in files if f.endswith(".py")]
    return sorted(m for m in out if m not in task_modules)


def code_words(path):
    """(line, text) of every string literal (docstrings excepted) and identifier of a Python file."""
    tree = ast.parse(open(os.path.join(REPO, path), encoding="utf-8").read(), path)
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            texts = [node.value]
        elif isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, ast.alias):
            texts = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            texts = [node.module or ""]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts = [node.name]
        elif isinstance(node, (ast.arg, ast.keyword)):
            texts = [node.arg or ""]
        else:
            continue
        for text in texts:
            yield getattr(node, "lineno", 0), text


def test_no_task_name_in_generic_modules():
    names = T.list_tasks()
    assert {"knowledge_masking", "next_sent", "sentence_reordering"} <= set(names)
    # a task name, optionally followed by _suffix (next_sent_acc); not inside a longer word
    word = re.compile(r"(?<![A-Za-z0-9_])(?:%s)(?:_[a-z0-9]+)*(?![A-Za-z0-9])" % "|".join(map(re.escape, names)))
    modules = generic_modules()
    assert "ernie/scheduler.py" in modules and "reader/pretraining_tasks.py" in modules
    assert "ernie/tasks/base.py" in modules and "ernie/tasks/capitalization.py" not in modules
    hits = []
    for path in modules:
        if path in ALLOWED_MODULES:
            continue
        for line, text in code_words(path):
            for m in word.finditer(text):
                if (path, m.group(0)) not in ALLOWED:
                    hits.append("%s:%d: %s in %r" % (path, line, m.group(0), text[:80]))
    assert not hits, "task names in generic code:\n" + "\n".join(hits)


def test_the_scan_sees_a_task_name(tmp_path):
    """The scan above finds a name in a literal, an identifier and an import, and not in a docstring."""
    probe = tmp_path / "probe.py"
    probe.write_text('"""knowledge_masking in a docstring"""\nfrom ernie.tasks.ir_relevance import x\n'
                     'a = "knowledge_masking/loss"\nnext_sent_acc = 1\n')
    texts = [t for _, t in code_words(str(probe))]
    assert "knowledge_masking in a docstring" not in texts
    assert {"ernie.tasks.ir_relevance", "knowledge_masking/loss", "next_sent_acc"} <= set(texts)


# --------------------------------------------------------------------------- discovery and typed options

def test_every_module_of_the_package_is_a_registered_task():
    """Discovery: each module of ernie/tasks (but base) registers the task of its file name."""
    modules = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "ernie", "tasks"))
                     if f.endswith(".py") and f not in ("__init__.py", "base.py"))
    assert modules == sorted(T.list_tasks())
    assert not hasattr(T, "BUILTIN_MODULES")


def test_options_are_typed_dataclasses_checked_when_a_config_is_read(tmp_path):
    opts = T.get_task("sentence_reordering", max_segments="4").options
    assert type(opts).__name__ == "Options" and opts.max_segments == 4 and opts.min_sentences == 2
    assert T.get_task("discourse_relation", cross_paragraph="true").cross_paragraph is True
    for bad, msg in (({"max_segments": 7}, r"option max_segments must be an integer in \[1, 6\], got 7"),
                     ({"max_segments": 2.5}, r"must be an integer in \[1, 6\], got 2.5"),
                     ({"max_segments": True}, r"got True"),
                     ({"colour": 1}, r"has no option colour \(options: max_segments, min_sentences\)")):
        with pytest.raises(T.TaskError, match=msg):
            T.get_task("sentence_reordering", **bad)
    with pytest.raises(T.TaskError, match=r"option granularity must be one of sense, marker, got 'word'"):
        T.get_task("discourse_relation", granularity="word")
    # in a configuration file: the file, the task and the option are named
    listed = os.path.join(REPO, "data", "tasks", "en", "sentence_reordering.train_filelist")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"tasks": [{"name": "sentence_reordering", "iterations": 3, "train_filelist": listed,
                                          "options": {"max_segments": "many"}}]}))
    with pytest.raises(ScheduleError, match=r"c.json: tasks\[0\] \(sentence_reordering\): task sentence_reordering: "
                                            r"option max_segments must be an integer in \[1, 6\], got 'many'"):
        TaskConfig.from_json(str(cfg))
    # null is "not given": the default
    cfg.write_text(json.dumps({"tasks": [{"name": "sentence_reordering", "iterations": 3, "train_filelist": listed,
                                          "options": None, "heads": None, "valid_filelist": None}]}))
    (entry,) = TaskConfig.from_json(str(cfg)).tasks
    assert (entry.options, entry.heads, entry.valid_filelist) == ({}, [], None)
    for key, value, msg in (("heads", "next_sent", r"'heads' must be a list of strings, got 'next_sent'"),
                            ("id", -1, r"'id' must be an integer >= 0, got -1"),
                            ("valid_filelist", 3, r"'valid_filelist' must be a string, got 3"),
                            ("options", [], r"'options' must be an object, got \[\]")):
        cfg.write_text(json.dumps({"tasks": [{"name": "sentence_reordering", "iterations": 3, "train_filelist": listed,
                                              key: value}]}))
        with pytest.raises(ScheduleError, match=msg):
            TaskConfig.from_json(str(cfg))


def test_shipped_configurations_are_valid():
    for name in sorted(os.listdir(os.path.join(REPO, "config"))):
        path = os.path.join(REPO, "config", name)
        with open(path, encoding="utf-8") as f:
            data = json.load(f) if name.endswith(".json") else None
        if isinstance(data, dict) and "tasks" in data:
            tc = TaskConfig.from_json(path, check_data=False)
            assert tc.tasks, name


# --------------------------------------------------------------------------- a task from outside the package

USER_TASK = '''
"""A toy token-level task kept outside the repository: is the word longer than `threshold` characters?"""
import collections
from dataclasses import dataclass

from ernie.tasks import TokenTask, register_task
from ernie.typed_fields import option


@register_task
class LongWord(TokenTask):
    name = "toy_long_word"
    num_classes = 2
    description = "per word: longer than `threshold` characters"

    @dataclass
    class Options:
        threshold: int = option(4, "a word longer than this many characters is long", min=1)

    def segment_labels(self, ctx, segment):
        out = []
        for tok in segment.tokens:
            out.append(-1 if tok.startswith("##") else int(len(tok) > self.threshold))
        return out

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        return self.chunk_samples(ctx, rng, stats), stats
'''

MODEL = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, vocab_size=3000,
             max_position_embeddings=64, type_vocab_size=2, hidden_act="relu", hidden_dropout_prob=0.1,
             attention_probs_dropout_prob=0.1)


def _forget(name, package):
    _REGISTRY.pop(name, None)
    for mod in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[mod]


def test_a_user_task_registers_builds_and_pretrains_without_touching_the_repository(tmp_path, capsys):
    before = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    pkg = tmp_path / "my_ernie_tasks"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from my_ernie_tasks import long_word  # noqa: F401\n")
    (pkg / "long_word.py").write_text(textwrap.dedent(USER_TASK))
    data = tmp_path / "data"
    assert "toy_long_word" not in T.list_tasks()
    try:
        # --list_tasks shows it beside the built-ins, with its description, no default id and its option
        assert btd.main(["--user_dir", str(pkg), "--list_tasks"]) == 0
        out = capsys.readouterr().out.splitlines()[1:]
        listed = [ln for ln in out if not ln.startswith(" ")]
        assert [ln.split()[1] for ln in listed] == T.list_tasks() and T.list_tasks()[-1] == "toy_long_word"
        assert listed[-1].split()[0] == "-" and listed[-1].endswith("per word: longer than `threshold` characters")
        for ln, name in zip(listed, T.list_tasks()):
            assert T.get_task_class(name).description in ln
        assert out[-1].strip() == ("toy_long_word.threshold (a positive integer; default 4): a word longer than "
                                   "this many characters is long")
        for start in ("      next_sent.negative_pool (one of all, pairable, same_corpus; default all): ",
                      "      capitalization.skip_uncased (true or false; default false): ",
                      "      discourse_relation.lang (one of zh, en; unset by default): "):
            assert any(ln.startswith(start) for ln in out), start
        _forget("toy_long_word", "my_ernie_tasks")              # the build below must register it by itself
        # the data builder builds its lines (--user_dir), with its option
        assert btd.main(["--user_dir", str(pkg), "--corpus", AUSTEN, "--input_format", "one_doc_per_file",
                         "--lang", "en", "--build_vocab", str(data / "vocab.txt"), "--max_seq_len", "48",
                         "--num_valid_docs", "1", "--tasks", "toy_long_word", "--task_option",
                         "toy_long_word.threshold=3", "--output_dir", str(data)]) == 0
        assert "toy_long_word" in T.list_tasks()
        with gzip.open(data / "toy_long_word.train.gz", "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        assert len(lines) > 5 and all(";task=toy_long_word;" in ln and ";toy_long_word=-1 " in ln for ln in lines)
        assert json.loads((data / "tasks.json").read_text())["tasks"] == [
            {"name": "toy_long_word", "id": 8, "threshold": 3}]         # the next id after the built-ins
    finally:
        _forget("toy_long_word", "my_ernie_tasks")

    cfg = tmp_path / "pretrain.json"
    cfg.write_text(json.dumps({"strategy": "multitask", "tasks": [
        {"name": "toy_long_word", "id": 0, "iterations": 4, "options": {"threshold": 3},
         "train_filelist": str(data / "toy_long_word.train_filelist"),
         "valid_filelist": str(data / "toy_long_word.valid_filelist")}]}))
    model = tmp_path / "model.json"
    model.write_text(json.dumps(MODEL))
    argv = ["--task_config", str(cfg), "--ernie_config_path", str(model), "--vocab_path", str(data / "vocab.txt"),
            "--max_seq_len", "48", "--batch_size", "4", "--in_tokens", "false", "--skip_steps", "1",
            "--validation_steps", "4", "--learning_rate", "1e-3", "--warmup_steps", "0", "--use_cuda", "false",
            "--checkpoints", str(tmp_path / "ckpt")]
    # without --user_dir the task is unknown: a clear error before any work
    with pytest.raises(ScheduleError, match=r"unknown task 'toy_long_word'"):
        run(parse_args(argv))
    # train.py in a fresh process, as a user runs it
    proc = subprocess.run([sys.executable, os.path.join(REPO, "train.py"), "--user_dir", str(pkg)] + argv,
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=REPO))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    steps = re.findall(r"step: (\d+), task: toy_long_word, task_id: 0, task_step: \d+/4, loss: (\S+), acc: (\S+),",
                       out)
    assert [int(s) for s, _, _ in steps] == [1, 2, 3, 4], out[-3000:]
    assert all(math.isfinite(float(loss.rstrip(","))) for _, loss, _ in steps)
    valid = re.search(r"\[validation_set\] stage: 1/1, step: 4, task: toy_long_word, task_id: 0, loss: (\S+), "
                      r"acc: (\S+),", out)
    assert valid and math.isfinite(float(valid.group(1).rstrip(","))) and 0 <= float(valid.group(2).rstrip(",")) <= 1
    assert "toy_long_word_fc.w_0" in os.listdir(tmp_path / "ckpt" / "step_4")
    after = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    assert after == before                       # no file of the repository was touched


def test_a_task_adds_its_own_builder_flags(tmp_path, capsys):
    """The relevance files are flags of the relevance task (add_build_args / build_inputs), not of the builder."""
    tsv = tmp_path / "ir.tsv"
    tsv.write_text("董卓进京\t董卓专权\t0\n刘备\t吕布刺董\t2\n曹操\t董卓专权\t1\n", encoding="utf-8")
    valid_tsv = tmp_path / "ir_valid.tsv"
    valid_tsv.write_text("吕布\t吕布刺董\t0\n", encoding="utf-8")
    base = ["--corpus", os.path.join(REPO, "tests", "fixtures", "sanguo_sample.json"), "--input_format",
            "sanguo_json", "--lang", "zh", "--vocab_path", os.path.join(REPO, "config", "vocab.txt"),
            "--num_valid_docs", "1", "--tasks", "ir_relevance", "--max_seq_len", "64"]
    assert btd.main(base + ["--ir_tsv", str(tsv), "--ir_valid_tsv", str(valid_tsv),
                            "--output_dir", str(tmp_path / "a")]) == 0
    stats = json.loads((tmp_path / "a" / "stats.json").read_text())
    assert stats["files"]["ir_relevance.train.gz"]["label_counts"] == {"0": 1, "1": 1, "2": 1}
    assert stats["files"]["ir_relevance.valid.gz"]["lines"] == 1
    # a training file without a validation file: the validation split is skipped, not derived from titles
    assert btd.main(base + ["--ir_tsv", str(tsv), "--output_dir", str(tmp_path / "b")]) == 0
    stats = json.loads((tmp_path / "b" / "stats.json").read_text())
    assert stats["skipped_tasks"] == {"ir_relevance.valid": "--ir_tsv given without --ir_valid_tsv"}
    capsys.readouterr()
    assert btd.main(base + ["--ir_valid_tsv", str(valid_tsv), "--output_dir", str(tmp_path / "c")]) == 1
    assert "--ir_valid_tsv needs --ir_tsv" in capsys.readouterr().err
    tsv.write_text("董卓进京\t董卓专权\t5\n", encoding="utf-8")
    assert btd.main(base + ["--ir_tsv", str(tsv), "--output_dir", str(tmp_path / "d")]) == 1
    assert "ir.tsv:1: label 5 outside" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_user_dir_forms_and_errors(tmp_path):
    """--user_dir takes one .py file or a directory of modules too; a path that cannot be imported is a clear
    error, and importing the same path twice does nothing."""
    one = tmp_path / "one_task.py"
    one.write_text(textwrap.dedent(USER_TASK).replace("toy_long_word", "toy_file_task"))
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "folder_task.py").write_text(textwrap.dedent(USER_TASK).replace("toy_long_word", "toy_folder_task"))
    try:
        (mod,) = T.import_user_dir(str(one))
        assert "toy_file_task" in T.list_tasks() and T.import_user_dir(str(one)) == [mod]
        T.import_user_dir(str(folder))
        assert T.get_task("toy_folder_task", threshold="2").threshold == 2
        assert T.TaskSet(["toy_file_task", "toy_folder_task"]).ids == {"toy_file_task": 8, "toy_folder_task": 9}
    finally:
        _forget("toy_file_task", "one_task")
        _forget("toy_folder_task", "folder_task")
    with pytest.raises(T.TaskError, match=r"--user_dir .*nowhere is neither a .py file nor a directory"):
        T.import_user_dir(str(tmp_path / "nowhere"))
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "json.py").write_text("")
    with pytest.raises(T.TaskError, match=r"cannot be imported as 'json': a module of that name is already loaded"):
        T.import_user_dir(str(clash))
    (tmp_path / "empty").mkdir()
    with pytest.raises(T.TaskError, match=r"holds no .py file"):
        T.import_user_dir(str(tmp_path / "empty"))
