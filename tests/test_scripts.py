"""The fine-tuning shell scripts: syntax, the paper's hyper-parameters, config references,
the commands they build (dry run), and the shared helper's device/batch logic."""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON = os.path.join(REPO, "script", "common.sh")

# ERNIE 2.0 paper, Table 3 (English) and Table 4 (Chinese): (epochs, learning rate, batch), base then large.
# THUCNews is not in the paper: the original scripts' values.
PAPER = {
    "CoLA": ((3, 3e-5, 64), (5, 3e-5, 32)),
    "SST-2": ((4, 2e-5, 256), (4, 2e-5, 64)),
    "MRPC": ((4, 3e-5, 32), (4, 3e-5, 16)),
    "STS-B": ((3, 5e-5, 128), (3, 5e-5, 128)),
    "QQP": ((3, 3e-5, 256), (3, 5e-5, 256)),
    "MNLI": ((3, 3e-5, 512), (3, 3e-5, 256)),
    "QNLI": ((4, 2e-5, 256), (4, 2e-5, 256)),
    "RTE": ((4, 2e-5, 4), (5, 3e-5, 16)),
    "WNLI": ((4, 2e-5, 8), (4, 2e-5, 8)),
    "CMRC2018": ((2, 3e-5, 64), (2, 3e-5, 64)),
    "DRCD": ((2, 5e-5, 64), (2, 3e-5, 64)),
    "DuReader": ((2, 5e-5, 64), (2, 2e-5, 64)),
    "MSRA-NER": ((6, 5e-5, 16), (6, 1e-5, 16)),
    "XNLI": ((3, 1e-4, 512), (3, 4e-5, 512)),
    "ChnSentiCorp": ((10, 5e-5, 24), (10, 1e-5, 24)),
    "LCQMC": ((3, 2e-5, 32), (3, 5e-6, 32)),
    "BQ": ((3, 3e-5, 64), (3, 1.5e-5, 64)),
    "NLPCC-DBQA": ((3, 2e-5, 64), (3, 1e-5, 64)),
    "THUCNews": ((3, 3e-5, 64), (3, 1.5e-5, 64)),
}
GLUE = ["CoLA", "SST-2", "MRPC", "STS-B", "QQP", "MNLI", "QNLI", "RTE", "WNLI"]
ZH_FILES = {"XNLI": "run_xnli.sh", "ChnSentiCorp": "run_ChnSentiCorp.sh", "LCQMC": "run_lcqmc.sh", "BQ": "run_bq.sh",
            "NLPCC-DBQA": "run_dbqa.sh", "THUCNews": "run_thucnews.sh", "MSRA-NER": "run_msra_ner.sh",
            "CMRC2018": "run_cmrc2018.sh", "DRCD": "run_drcd.sh", "DuReader": "run_dureader.sh"}
ENTRY = dict({t: "run_classifier.py" for t in PAPER}, **{"MSRA-NER": "run_sequence_labeling.py",
             "CMRC2018": "run_mrc.py", "DRCD": "run_mrc.py", "DuReader": "run_mrc.py"})
# GLUE extras from the original's task scripts: num_labels, metric, max_seq_len.
GLUE_EXTRA = {"CoLA": (2, "matthews_corrcoef", 128), "SST-2": (2, "simple_accuracy", 128),
              "MRPC": (2, "acc_and_f1", 128), "STS-B": (1, "pearson_and_spearman", 128),
              "QQP": (2, "acc_and_f1", 128), "MNLI": (3, "simple_accuracy", 128),
              "QNLI": (2, "simple_accuracy", 128), "RTE": (2, "simple_accuracy", 128),
              "WNLI": (2, "simple_accuracy", 512)}
# The classification tasks' labels and metric (the original scripts').
LABELS_AND_METRIC = dict({t: GLUE_EXTRA[t][:2] for t in GLUE}, XNLI=(3, "simple_accuracy"),
                         ChnSentiCorp=(2, "simple_accuracy"), LCQMC=(2, "simple_accuracy"), BQ=(2, "simple_accuracy"),
                         THUCNews=(10, "simple_accuracy"), **{"NLPCC-DBQA": (2, "acc_and_f1_and_mrr")})
# The original's finetune_args.py flag names; obsolete ones must not be passed.
ORIGINAL_FLAGS = set("""ernie_config_path init_checkpoint init_pretraining_params checkpoints is_classify is_regression
task_id epoch learning_rate lr_scheduler weight_decay warmup_proportion save_steps validation_steps use_fp16
use_dynamic_loss_scaling init_loss_scaling test_save metric incr_every_n_steps decr_every_n_nan_or_inf incr_ratio
decr_ratio skip_steps verbose tokenizer train_set test_set dev_set vocab_path max_seq_len batch_size
predict_batch_size in_tokens do_lower_case random_seed label_map_config num_labels diagnostic diagnostic_save
max_query_length max_answer_length doc_stride n_best_size chunk_scheme use_cuda do_train do_val do_test for_cn""".split())
OBSOLETE = {"num_iteration_per_drop_scope", "use_fast_executor", "is_distributed", "use_multi_gpu_test"}


def all_scripts():
    out = []
    for size in ("base", "large"):
        for task in GLUE:
            out.append((task, size, os.path.join(REPO, "script", "en_glue", "ernie_" + size, task, "task.sh")))
        for task, name in ZH_FILES.items():
            out.append((task, size, os.path.join(REPO, "script", "zh_task", "ernie_" + size, name)))
    return out


SCRIPTS = all_scripts()
IDS = ["%s-%s" % (t, s) for t, s, _ in SCRIPTS]


TABLE = os.path.join(REPO, "script", "finetune_hyper_parameters.txt")
COLUMNS = ("task", "size", "epochs", "lr", "batch", "max_seq_len", "warmup", "weight_decay", "runs", "skip_steps",
           "save_steps", "validation_steps")


def table():
    """The rows of the hyper-parameter table: {(task, size): {column: text}}."""
    rows = {}
    for line in open(TABLE, encoding="utf-8"):
        if line.strip() and not line.lstrip().startswith("#"):
            row = dict(zip(COLUMNS, line.split()))
            assert len(line.split()) == len(COLUMNS), line
            assert (row["task"], row["size"]) not in rows, line
            rows[(row["task"], row["size"])] = row
    return rows


ROWS = table()


def named_row(path):
    """The (task, size) a task script names: its only commands are set -eu, ERNIE_ROOT=..., sourcing
    script/common.sh and `ernie_finetune TASK SIZE "$@"`."""
    code = [l.strip() for l in open(path, encoding="utf-8") if l.strip() and not l.lstrip().startswith("#")]
    assert len(code) == 4, code
    assert code[0] == "set -eu" and code[1].startswith("ERNIE_ROOT=$(cd \"$(dirname \"$0\")/")
    assert code[2] == '. "$ERNIE_ROOT/script/common.sh"'
    m = re.match(r'^ernie_finetune (\S+) (base|large) "\$@"$', code[3])
    assert m, code[3]
    return m.group(1), m.group(2)


# what the task scripts read from the environment besides MODEL_PATH / TASK_DATA_PATH (kept out of the tests)
SCRIPT_VARIABLES = ("CUDA_VISIBLE_DEVICES", "SEEDS", "DATA_DIR", "ERNIE_CONFIG", "VOCAB_PATH", "FULL_SCHEDULE",
                    "MAX_STEPS", "MODEL_NAME", "ERNIE_NUM_GPUS", "OUTPUT_ROOT", "CHECKPOINT_ROOT", "LOG_ROOT")


def dry_run(path, env_extra, args=(), cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in SCRIPT_VARIABLES}
    env.update(MODEL_PATH="/models/m", TASK_DATA_PATH="/data", ERNIE_DRY_RUN="1", PYTHON="python3")
    env.update(env_extra)
    proc = subprocess.run(["sh", path] + list(args), capture_output=True, text=True, env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return [shlex.split(l) for l in proc.stdout.splitlines() if l.strip()], proc.stderr


def flags_of(cmd):
    """Entry script and the {flag: value} pairs after it (last one wins, as argparse)."""
    i = next(k for k, a in enumerate(cmd) if a.endswith(".py"))
    rest = cmd[i + 1:]
    flags = {}
    for k in range(0, len(rest), 2):
        assert rest[k].startswith("--"), rest
        flags[rest[k][2:]] = rest[k + 1]
    return cmd[:i + 1], flags


# ----------------------------------------------------------------------------- syntax and tables
def test_every_script_exists_and_parses_with_sh_n():
    paths = [p for _, _, p in SCRIPTS] + [COMMON, os.path.join(REPO, "script", "en_glue", "preprocess", "cvt.sh")]
    for path in paths:
        assert os.path.isfile(path), path
        proc = subprocess.run(["sh", "-n", path], capture_output=True, text=True)
        assert proc.returncode == 0, (path, proc.stderr)
    assert len(SCRIPTS) == 2 * (9 + 10)


@pytest.mark.parametrize("task,size,path", SCRIPTS, ids=IDS)
def test_hyper_parameters_match_the_paper(task, size, path):
    assert named_row(path) == (task, size)            # the script is its row's name and nothing else
    row = ROWS[(task, size)]
    epoch, lr, batch = PAPER[task][0 if size == "base" else 1]
    assert int(row["epochs"]) == epoch and float(row["lr"]) == lr and int(row["batch"]) == batch
    if task in GLUE:
        assert int(row["max_seq_len"]) == GLUE_EXTRA[task][2]
        assert (float(row["warmup"]), float(row["weight_decay"]), int(row["runs"])) == (0.1, 0.0, 5)
    else:
        assert float(row["warmup"]) == 0.0 and int(row["runs"]) == 1     # constant LR and one run, as the original


def test_every_row_of_the_table_has_its_script():
    assert sorted(ROWS) == sorted((t, s) for t, s, _ in SCRIPTS)


def test_deviations_from_the_original_are_documented():
    notes = open(TABLE, encoding="utf-8").read().split("Where a row differs")[1]
    runner = open(COMMON, encoding="utf-8").read()
    assert "CMRC2018, DRCD base: Deviation" in notes and "x\n#   --batch_size 16" in notes
    assert "in_tokens" in notes and "65536" in notes
    assert "QQP base: the original ran once" in notes
    assert "THUCNews is not in the paper" in notes and "no DuReader script" in notes
    assert "diagnostic.tsv, a path the\n# converter never writes" in runner
    for setup in ("ernie_chinese_classification_setup", "ernie_mrc_setup", "ernie_sequence_labeling_setup"):
        comment = runner.split("\n%s() {" % setup)[0].rsplit("\n\n", 1)[1]
        assert "ERNIE 1.0 base" in comment, setup                # what the original large scripts read


@pytest.mark.parametrize("task,size,path", SCRIPTS, ids=IDS)
def test_config_references(task, size, path, tmp_path):
    """MODEL_PATH without ernie_config.json (an official release): the GLUE scripts take the paper's config of
    their size, the Chinese ones MODEL_PATH's (the dry run notes it missing; a real run stops, tested below),
    never the ERNIE 1.0 base config/ files the original large Chinese scripts used."""
    model = tmp_path / "release"
    model.mkdir()
    cmds, log = dry_run(path, {"MODEL_PATH": str(model), "ERNIE_NUM_GPUS": "0", "PYTHON": sys.executable,
                               "ERNIE_CONFIG": ""})
    config = flags_of(cmds[0])[1]["ernie_config_path"]
    if task in GLUE:
        assert config == os.path.join(REPO, "script", "en_glue", "ernie_" + size, "ernie_config.json")
        conf = json.load(open(config))
        assert conf["hidden_size"] == (768 if size == "base" else 1024)
        assert conf["num_hidden_layers"] == (12 if size == "base" else 24)
        assert "the paper's ERNIE 2.0 %s config" % size in log
    else:
        assert config == "%s/ernie_config.json" % model
        assert "dry run: MODEL_PATH/ernie_config.json does not exist" in log


# ----------------------------------------------------------------------------- the built commands
@pytest.mark.parametrize("task,size,path", SCRIPTS, ids=IDS)
@pytest.mark.parametrize("gpus", [0, 8])
def test_dry_run_commands(task, size, path, gpus):
    row = ROWS[(task, size)]
    # on CPU FULL_SCHEDULE=1 gives the paper's schedule (the default there is the CPU demo, tested below)
    cmds, log = dry_run(path, {"ERNIE_NUM_GPUS": str(gpus), "FULL_SCHEDULE": "1"}, args=["--skip_steps", "7"])
    runs = int(row["runs"])
    assert len(cmds) == runs
    for run, cmd in enumerate(cmds, start=1):
        head, flags = flags_of(cmd)
        assert head[-1] == os.path.join(REPO, ENTRY[task])
        batch = int(row["batch"])
        if gpus:
            assert head[:4] == ["python3", "-m", "paddle.distributed.launch", "--gpus"]
            n = len(head[4].split(","))
            assert batch % n == 0 and n <= gpus and int(flags["batch_size"]) * n == batch
            assert flags["use_cuda"] == "true"
        else:
            assert head == ["python3", head[-1]]
            assert flags["use_cuda"] == "false" and int(flags["batch_size"]) == batch
        unknown = set(flags) - ORIGINAL_FLAGS
        assert not unknown, unknown
        assert not set(flags) & OBSOLETE
        assert flags["random_seed"] == str(run)
        assert flags["skip_steps"] == "7"                               # the user's extra flag wins
        assert flags["init_pretraining_params"] == "/models/m/params"
        assert flags["vocab_path"] == "/models/m/vocab.txt"
        assert flags["checkpoints"] == "./checkpoints/m/%s-%s/run%d" % (task, size, run)
        assert "max_steps" not in flags
        if ENTRY[task] == "run_classifier.py":
            assert flags["for_cn"] == ("false" if task in GLUE else "true")
            assert (int(flags["num_labels"]), flags["metric"]) == LABELS_AND_METRIC[task]
            if flags["do_test"] == "true":
                assert flags["test_set"] and flags["test_save"]
        if task == "STS-B":
            assert (flags["is_classify"], flags["is_regression"]) == ("false", "true")
        if task == "MNLI":
            assert flags["dev_set"] == "/data/MNLI/m/dev.tsv,/data/MNLI/mm/dev.tsv"
            assert flags["diagnostic"] == "/data/MNLI/diagnostic.tsv"
            assert len(flags["test_save"].split(",")) == len(flags["test_set"].split(",")) == 2
        if task == "MSRA-NER":
            assert flags["label_map_config"] == "/data/msra_ner/label_map.json" and flags["chunk_scheme"] == "IOB"
            assert flags["num_labels"] == "7"
        if task == "XNLI":
            assert flags["label_map_config"] == "/data/xnli/label_map.json" and "in_tokens" not in flags
        if task == "DRCD":
            assert flags["do_test"] == "true" and flags["test_set"] == "/data/drcd/test.json"
    if gpus:
        assert "global batch %s = " % row["batch"] in log


@pytest.mark.parametrize("task,size,path", SCRIPTS, ids=IDS)
def test_commands_carry_the_table_row(task, size, path):
    """Each value of the script's row reaches every run's command as written in the table."""
    row = ROWS[(task, size)]
    cmds, _ = dry_run(path, {"ERNIE_NUM_GPUS": "0", "FULL_SCHEDULE": "1"})
    assert len(cmds) == int(row["runs"])
    for cmd in cmds:
        flags = flags_of(cmd)[1]
        got = {column: flags[flag] for column, flag in (
            ("epochs", "epoch"), ("lr", "learning_rate"), ("batch", "batch_size"), ("max_seq_len", "max_seq_len"),
            ("warmup", "warmup_proportion"), ("weight_decay", "weight_decay"), ("skip_steps", "skip_steps"),
            ("save_steps", "save_steps"), ("validation_steps", "validation_steps"))}
        assert got == {column: row[column] for column in got}


def test_table_errors(tmp_path):
    """A missing, repeated or malformed row stops the script in one line naming the table (and the line)."""
    bad = tmp_path / "table.txt"
    bad.write_text("# task size ...\nRTE base 4 2e-5 4 128 0.1 0.0 5 10 1000 1000000000\n"
                   "RTE large 5 3e-5 16 128 0.1 0.0 5 10 1000\n")
    proc = sh('ernie_table_row "%s" RTE base' % bad)
    assert proc.returncode == 1 and proc.stdout.strip() == (
        "%s line 3: 11 fields, expected 12 (task size epochs lr batch max_seq_len warmup weight_decay runs "
        "skip_steps save_steps validation_steps)" % bad)
    bad.write_text("RTE base 4 2e-5 4x 128 0.1 0.0 5 10 1000 1000000000\n")
    proc = sh('ernie_table_row "%s" RTE base' % bad)
    assert proc.returncode == 1 and proc.stdout.strip() == '%s line 1: field 5, "4x", is not a number' % bad
    bad.write_text("RTE base 4 2e-5 4 128 0.1 0.0 5 10 1000 1000000000\n" * 2)
    proc = sh('ernie_table_row "%s" RTE base' % bad)
    assert proc.returncode == 1 and proc.stdout.strip() == '%s has 2 rows for "RTE base" (expected one)' % bad
    proc = sh('ernie_table_row "%s" RTE large' % bad)
    assert proc.returncode == 1 and proc.stdout.strip() == '%s has 0 rows for "RTE large" (expected one)' % bad
    bad.write_text("RTE base 4 2e-5 4 128 0.1 0.0 5 10 1000 1000000000\n")
    proc = sh('ernie_table_row "%s" RTE base' % bad)
    assert proc.returncode == 0 and proc.stdout == "4 2e-5 4 128 0.1 0.0 5 10 1000 1000000000\n"
    # through a task script: the error line, nothing run
    proc = sh('ERNIE_ROOT="%s"; ernie_finetune RTE huge' % tmp_path, {"ERNIE_DRY_RUN": "1"})
    assert proc.returncode == 1 and proc.stderr.strip() == "error: model size must be base or large, got 'huge'"
    proc = sh('ERNIE_ROOT="%s"; ernie_finetune RTE base' % tmp_path, {"ERNIE_DRY_RUN": "1"})
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "error: %s/script/finetune_hyper_parameters.txt does not exist (the fine-tuning hyper-parameter table)"
        % tmp_path)


def test_dry_run_seeds_data_dir_and_visible_devices():
    path = os.path.join(REPO, "script", "en_glue", "ernie_base", "RTE", "task.sh")
    cmds, log = dry_run(path, {"SEEDS": "11 12", "DATA_DIR": "/elsewhere/rte", "CUDA_VISIBLE_DEVICES": "4,6,7"})
    assert [flags_of(c)[1]["random_seed"] for c in cmds] == ["11", "12"]
    head, flags = flags_of(cmds[0])
    assert head[4] == "4,6" and flags["batch_size"] == "2"       # global 4: 2 of the 3 visible GPUs
    assert flags["train_set"] == "/elsewhere/rte/train.tsv"
    proc = subprocess.run(["sh", path], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "ERNIE_DRY_RUN": "1", "TASK_DATA_PATH": "/d"})
    assert proc.returncode != 0 and "set MODEL_PATH" in proc.stderr
    proc = subprocess.run(["sh", path], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "ERNIE_DRY_RUN": "1", "MODEL_PATH": "/m"})
    assert proc.returncode != 0 and "set DATA_DIR to this task's data directory, or TASK_DATA_PATH" in proc.stderr
    # DATA_DIR alone suffices
    proc = subprocess.run(["sh", path], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "ERNIE_DRY_RUN": "1", "MODEL_PATH": "/m", "DATA_DIR": "/r"})
    assert proc.returncode == 0, proc.stderr
    assert flags_of(shlex.split(proc.stdout.splitlines()[0]))[1]["train_set"] == "/r/train.tsv"


def test_large_zh_config_with_wrong_hidden_size_warns(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "ernie_config.json").write_text(json.dumps({"hidden_size": 768}))
    path = os.path.join(REPO, "script", "zh_task", "ernie_large", "run_lcqmc.sh")
    _, log = dry_run(path, {"MODEL_PATH": str(model), "ERNIE_NUM_GPUS": "0", "PYTHON": sys.executable})
    assert "has hidden_size 768, but this script's hyper-parameters are the paper's for hidden_size 1024" in log


# ----------------------------------------------------------------------------- the shared helper
def sh(code, env=None):
    full = {"PATH": os.environ["PATH"]}
    full.update(env or {})
    return subprocess.run(["sh", "-c", '. "%s"; %s' % (COMMON, code)], capture_output=True, text=True, env=full)


@pytest.mark.parametrize("batch,devices,expected", [(256, 8, "32"), (64, 1, "64"), (24, 0, "24"), (512, 2, "256"),
                                                    (16, 16, "1")])
def test_per_device_batch(batch, devices, expected):
    proc = sh("ernie_per_device_batch %d %d" % (batch, devices))
    assert proc.returncode == 0 and proc.stdout.strip() == expected


def test_per_device_batch_errors():
    proc = sh("ernie_per_device_batch 10 4")
    assert proc.returncode == 1 and "global batch 10 cannot be split evenly over 4 devices" in proc.stderr
    proc = sh("ernie_per_device_batch 8k 2")
    assert proc.returncode == 1 and "positive integer" in proc.stderr


@pytest.mark.parametrize("batch,available,expected", [(4, 8, 4), (256, 3, 2), (64, 0, 0), (24, 8, 8), (512, 8, 8),
                                                      (16, 5, 4), (7, 8, 7), (7, 6, 1)])
def test_device_count_for(batch, available, expected):
    proc = sh("ernie_device_count_for %d %d" % (batch, available))
    assert proc.stdout.strip() == str(expected)


def test_gpu_detection(tmp_path):
    assert sh("ernie_gpu_list", {"CUDA_VISIBLE_DEVICES": ""}).stdout.strip() == ""
    assert sh("ernie_gpu_list", {"CUDA_VISIBLE_DEVICES": "-1"}).stdout.strip() == ""
    assert sh("ernie_gpu_list", {"CUDA_VISIBLE_DEVICES": "2, 5"}).stdout.strip() == "2,5"
    assert sh("ernie_gpu_list", {"CUDA_VISIBLE_DEVICES": "2,5", "ERNIE_NUM_GPUS": "1"}).stdout.strip() == "2"
    assert sh("ernie_gpu_list", {"CUDA_VISIBLE_DEVICES": "2,5", "ERNIE_NUM_GPUS": "0"}).stdout.strip() == ""
    # no CUDA_VISIBLE_DEVICES: a (fake) nvidia-smi lists the GPUs
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: Fake (UUID: a)'\necho 'GPU 1: Fake (UUID: b)'\n"
                                     "echo 'GPU 2: Fake (UUID: c)'\n")
    os.chmod(str(fake / "nvidia-smi"), 0o755)
    path = "%s:%s" % (fake, os.environ["PATH"])
    assert sh("ernie_gpu_list", {"PATH": path}).stdout.strip() == "0,1,2"
    assert sh("ernie_gpu_list", {"PATH": path, "ERNIE_NUM_GPUS": "2"}).stdout.strip() == "0,1"
    # nothing detected: ERNIE_NUM_GPUS=N means ids 0..N-1
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": "%s:/usr/bin:/bin" % empty}
    if sh("command -v nvidia-smi", env).stdout.strip():
        pytest.skip("a real nvidia-smi is on /usr/bin or /bin")
    assert sh("ernie_gpu_list", env).stdout.strip() == ""
    assert sh("ernie_gpu_list", dict(env, ERNIE_NUM_GPUS="4")).stdout.strip() == "0,1,2,3"
    proc = sh("ernie_gpu_list", dict(env, ERNIE_NUM_GPUS="two"))
    assert proc.returncode == 1 and "non-negative integer" in proc.stderr


def _model_and_data(tmp_path, config=True):
    """A model directory (params/ with one dummy file, vocab.txt, optionally ernie_config.json) and an SST-2-like
    data directory, for runs whose interpreter is faked (nothing is read but the config)."""
    model = tmp_path / "mymodel"
    (model / "params").mkdir(parents=True)
    (model / "params" / "word_embedding").write_text("")
    (model / "vocab.txt").write_text("[PAD]\n")
    if config:
        (model / "ernie_config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 3}))
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (data / name).write_text("label\ttext_a\n")
    return model, data


def test_real_launch_logs_and_exit_status(tmp_path):
    """Not a dry run: a fake interpreter records its arguments; its exit status reaches the caller."""
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/sh\necho \"fake run: $*\"\necho to-stderr >&2\nexit ${FAKE_RC:-0}\n")
    os.chmod(str(fake), 0o755)
    model, data = _model_and_data(tmp_path)
    path = os.path.join(REPO, "script", "en_glue", "ernie_base", "SST-2", "task.sh")
    env = {"PATH": os.environ["PATH"], "MODEL_PATH": str(model), "DATA_DIR": str(data), "PYTHON": str(fake),
           "ERNIE_NUM_GPUS": "0", "SEEDS": "3 4"}
    proc = subprocess.run(["sh", path], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    for run, seed in ((1, 3), (2, 4)):
        log_dir = tmp_path / "log" / "mymodel" / "SST-2-base-cpu-demo" / ("run%d" % run)
        job = (log_dir / "job.log").read_text()
        assert "fake run: %s/run_classifier.py --use_cuda false" % REPO in job and "to-stderr" in job
        assert "--random_seed %d" % seed in job and "--max_steps 60" in job
        assert (log_dir / "command.txt").read_text().startswith(str(fake))
        assert (tmp_path / "output" / "mymodel" / "SST-2-base-cpu-demo" / ("run%d" % run)).is_dir()
    assert "[SST-2] done in " in proc.stderr and "2 run(s) on mymodel, cpu-demo profile" in proc.stderr
    assert "FULL_SCHEDULE=1 MODEL_PATH=%s DATA_DIR=%s sh %s" % (model, data, path) in proc.stderr
    env["FAKE_RC"] = "3"
    proc = subprocess.run(["sh", path], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert proc.returncode == 1
    assert "SST-2 run 1 (seed 3) failed; see ./log/mymodel/SST-2-base-cpu-demo/run1/job.log" in proc.stderr
    assert "run 2" not in proc.stderr                                   # stops at the first failed run


def test_cpu_demo_profile_and_banner(tmp_path):
    model, data = _model_and_data(tmp_path)
    path = os.path.join(REPO, "script", "en_glue", "ernie_large", "SST-2", "task.sh")
    env = {"MODEL_PATH": str(model), "DATA_DIR": str(data), "ERNIE_NUM_GPUS": "0", "PYTHON": sys.executable}
    cmds, log = dry_run(path, env, args=["--batch_size", "32"])
    assert len(cmds) == 1                                              # one seed instead of five
    _, flags = flags_of(cmds[0])
    assert (flags["max_steps"], flags["skip_steps"], flags["random_seed"]) == ("60", "5", "1")
    assert flags["epoch"] == "4" and flags["learning_rate"] == "2e-5"  # the rest is the paper's
    assert flags["ernie_config_path"] == "%s/ernie_config.json" % model and flags["vocab_path"] == "%s/vocab.txt" % model
    assert flags["checkpoints"] == "./checkpoints/mymodel/SST-2-large-cpu-demo/run1"
    assert "config: %s/ernie_config.json (the model's own" % model in log and "hidden_size 64, 3 layers" in log
    assert "CPU, one process, batch 32; at most 60 steps of 4 epoch(s)" in log      # the user's batch size
    assert "FULL_SCHEDULE=1" in log and "5 seed(s) x 4 epochs" in log
    # MAX_STEPS and SEEDS override the demo's; FULL_SCHEDULE=1 restores the paper's schedule
    cmds, _ = dry_run(path, dict(env, MAX_STEPS="7", SEEDS="2 3"))
    assert [(flags_of(c)[1]["max_steps"], flags_of(c)[1]["random_seed"]) for c in cmds] == [("7", "2"), ("7", "3")]
    cmds, log = dry_run(path, dict(env, FULL_SCHEDULE="1"))
    assert len(cmds) == 5 and "max_steps" not in flags_of(cmds[0])[1] and "CPU demo" not in log


def test_model_config_resolution(tmp_path):
    model, data = _model_and_data(tmp_path, config=False)
    glue = os.path.join(REPO, "script", "en_glue", "ernie_large", "SST-2", "task.sh")
    env = {"PATH": os.environ["PATH"], "MODEL_PATH": str(model), "DATA_DIR": str(data), "ERNIE_NUM_GPUS": "0",
           "PYTHON": sys.executable, "ERNIE_DRY_RUN": "1"}
    # an official release without ernie_config.json: the paper's config of the script's size
    proc = subprocess.run(["sh", glue], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    paper = os.path.join(REPO, "script", "en_glue", "ernie_large", "ernie_config.json")
    assert flags_of(shlex.split(proc.stdout.splitlines()[0]))[1]["ernie_config_path"] == paper
    assert "MODEL_PATH has no ernie_config.json: the paper's ERNIE 2.0 large config" in proc.stderr
    # ERNIE_CONFIG wins
    proc = subprocess.run(["sh", glue], capture_output=True, text=True, env=dict(env, ERNIE_CONFIG="/c.json"))
    assert flags_of(shlex.split(proc.stdout.splitlines()[0]))[1]["ernie_config_path"] == "/c.json"
    # the Chinese scripts have no paper config: a clear error (not a dry run)
    zh = os.path.join(REPO, "script", "zh_task", "ernie_base", "run_lcqmc.sh")
    env.pop("ERNIE_DRY_RUN")
    proc = subprocess.run(["sh", zh], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: %s has no ernie_config.json: set ERNIE_CONFIG to the model's config" % model
    # missing data or model files are named before anything runs
    proc = subprocess.run(["sh", glue], capture_output=True, text=True, env=dict(env, DATA_DIR="/no/such/dir"))
    assert proc.returncode == 1 and "error: /no/such/dir does not exist (the SST-2 data; set DATA_DIR" in proc.stderr
    proc = subprocess.run(["sh", glue], capture_output=True, text=True, env=dict(env, MODEL_PATH="/no/model"))
    assert proc.returncode == 1 and "error: /no/model/params does not exist" in proc.stderr
