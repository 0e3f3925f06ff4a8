"""ernie.scheduler + train.py --task_config: allocation (Table 7), strategies, interleaving, stage hand-over,
exact mid-stage resume, task ids, the ERNIE 1.0 configuration train.py builds, and configuration errors."""
import collections
import json
import os
import re

import numpy as np
import pytest
from conftest import REPO

from ernie.cli.pretrain import UsageError, ernie1_task_config, parse_args, run
from ernie.scheduler import ScheduleError, TaskConfig, allocate, build_schedule, interleave

EN = os.path.join(REPO, "data", "tasks", "en")
EN_VOCAB = os.path.join(EN, "vocab.txt")
K = 1000


def en(task, split="train"):
    return os.path.join(EN, "%s.%s_filelist" % (task, split))


def write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def stage_dicts(schedule):
    return [dict(st.allocations) for st in schedule.stages]


# --------------------------------------------------------------------------- allocation and strategies

def test_table7_allocation_from_the_shipped_configuration():
    tc = TaskConfig.from_json(os.path.join(REPO, "config", "ernie2_table7.json"))
    sch = build_schedule(tc)                    # the file's strategy: continual_multitask
    assert sch.strategy == "continual_multitask"
    assert stage_dicts(sch) == [
        {"knowledge_masking": 20 * K},
        {"knowledge_masking": 10 * K, "capitalization": 30 * K},
        {"knowledge_masking": 10 * K, "capitalization": 10 * K, "token_document_relation": 40 * K},
        {"knowledge_masking": 10 * K, "capitalization": 10 * K, "token_document_relation": 10 * K,
         "sentence_reordering": 50 * K}]
    assert sch.total == 200 * K and [st.start for st in sch.stages] == [0, 20 * K, 60 * K, 120 * K]
    # the other two rows of Table 7 from the same file, with the same number of updates
    cont = build_schedule(tc, "continual")
    assert stage_dicts(cont) == [{t: 50 * K} for t in tc.names] and cont.total == 200 * K
    multi = build_schedule(tc, "multitask")
    assert stage_dicts(multi) == [{t: 50 * K for t in tc.names}] and multi.total == 200 * K
    # the rule on the five-stage shipped configurations: 60k per task, 10k per later stage
    for lang in ("zh", "en"):
        five = build_schedule(TaskConfig.from_json(os.path.join(REPO, "config", "ernie2_%s_tasks.json" % lang)))
        first = five.stages[0].tasks[0]
        assert [st.allocations.get(first) for st in five.stages] == [20 * K] + [10 * K] * 4
        assert [st.allocations[st.introduced[0]] for st in five.stages] == [20 * K, 30 * K, 40 * K, 50 * K, 60 * K]


def test_the_rule_generalises():
    # different budgets, two tasks introduced together, three stages: r_t = floor(N_t / 4)
    out = allocate(collections.OrderedDict([("a", 100), ("b", 41), ("c", 9), ("d", 7)]),
                   {"a": 1, "b": 1, "c": 2, "d": 3}, 3)
    assert [dict(s) for s in out] == [{"a": 50, "b": 21}, {"a": 25, "b": 10, "c": 7}, {"a": 25, "b": 10, "c": 2,
                                                                                    "d": 7}]
    assert [dict(s) for s in allocate({"a": 5, "b": 3}, {"a": 1, "b": 1}, 1)] == [{"a": 5, "b": 3}]  # one stage
    with pytest.raises(ScheduleError, match=r"task a: a budget of 3 iterations cannot be spread .* at least 4"):
        allocate({"a": 3}, {"a": 1}, 3)


def _cfg(tmp_path, tasks, **top):
    data = dict(top, tasks=tasks)
    return TaskConfig.from_json(write(tmp_path / "c.json", data))


def test_explicit_stage_iterations_override_the_rule(tmp_path):
    tasks = [dict(name="knowledge_masking", iterations=50, train_filelist=en("knowledge_masking")),
             dict(name="capitalization", stage_iterations=[0, 7, 3], train_filelist=en("capitalization")),
             dict(name="sentence_reordering", iterations=12, train_filelist=en("sentence_reordering"))]
    tc = _cfg(tmp_path, tasks)
    assert tc["capitalization"].iterations == 10
    assert stage_dicts(build_schedule(tc)) == [{"knowledge_masking": 26},
                                               {"knowledge_masking": 12, "capitalization": 7},
                                               {"knowledge_masking": 12, "capitalization": 3,
                                                "sentence_reordering": 12}]
    # other strategies give each task its whole budget
    assert stage_dicts(build_schedule(tc, "continual"))[1] == {"capitalization": 10}
    # a scale applies to explicit allocations too
    scaled = TaskConfig.from_json(str(tmp_path / "c.json"), iterations_scale=2)
    assert stage_dicts(build_schedule(scaled))[1] == {"knowledge_masking": 25, "capitalization": 14}
    for bad, msg in (([5, 5, 0], r"stage_iterations\[0\] = 5, but the task is introduced in stage 2"),
                     ([0, 7], r"must be a list of 3 integers"),
                     ([0, 0, 4], r"must be > 0 in the stage that introduces the task \(stage 2\)"),
                     ([0, -1, 4], r"stage_iterations\[1\] must be an integer >= 0")):
        tasks[1]["stage_iterations"] = bad
        with pytest.raises(ScheduleError, match=msg):
            _cfg(tmp_path, tasks)
    tasks[1].update(stage_iterations=[0, 7, 3], iterations=11)
    with pytest.raises(ScheduleError, match=r"'iterations' 11 differs from the sum 10"):
        _cfg(tmp_path, tasks)


def test_each_strategy_schedule_with_tasks_introduced_together(tmp_path):
    tasks = [dict(name=n, iterations=n_it, train_filelist=en(n)) for n, n_it in
             (("knowledge_masking", 40), ("capitalization", 20), ("sentence_reordering", 30))]
    tc = _cfg(tmp_path, tasks, stages=[["knowledge_masking", "capitalization"], ["sentence_reordering"]])
    assert stage_dicts(build_schedule(tc, "continual_multitask")) == [
        {"knowledge_masking": 27, "capitalization": 14}, {"knowledge_masking": 13, "capitalization": 6,
                                                          "sentence_reordering": 30}]
    assert stage_dicts(build_schedule(tc, "continual")) == [{"knowledge_masking": 40, "capitalization": 20},
                                                            {"sentence_reordering": 30}]
    assert stage_dicts(build_schedule(tc, "multitask")) == [{"knowledge_masking": 40, "capitalization": 20,
                                                             "sentence_reordering": 30}]
    assert {build_schedule(tc, s).total for s in ("continual", "multitask", "continual_multitask")} == {90}
    # the default stages: one task per stage, in file order
    assert [st.introduced for st in build_schedule(_cfg(tmp_path, tasks)).stages] == \
        [["knowledge_masking"], ["capitalization"], ["sentence_reordering"]]


# --------------------------------------------------------------------------- interleaving

def test_interleaving_is_exact_smooth_and_seeded():
    tc = TaskConfig.from_json(os.path.join(REPO, "config", "ernie2_table7.json"), check_data=False)
    sch = build_schedule(tc, seed=3)
    for st in sch.stages:
        seq = sch.sequence(st.index)
        assert collections.Counter(seq) == collections.Counter(st.allocations)   # exact over the stage
    # every prefix is within 2 steps of the proportional share (stage 4: 80k steps, 4 tasks)
    seq = np.array(sch.sequence(3))
    T = len(seq)
    for task, n in sch.stages[3].allocations.items():
        prefix = np.cumsum(seq == task)
        assert np.abs(prefix - np.arange(1, T + 1) * n / T).max() < 2
    alloc = {"a": 7, "b": 3, "c": 11}
    s1, s1b, s2 = interleave(alloc, 1, 0), interleave(alloc, 1, 0), interleave(alloc, 2, 0)
    assert s1 == s1b                                                     # deterministic under the seed
    assert s1 != s2 and collections.Counter(s1) == collections.Counter(s2) == collections.Counter(alloc)
    assert interleave(alloc, 1, 1) != s1                                 # each stage has its own order
    assert interleave({"a": 3}, 0) == ["a", "a", "a"]


# --------------------------------------------------------------------------- bad configurations

def test_bad_configurations_are_clear_errors(tmp_path):
    good = dict(name="capitalization", iterations=5, train_filelist=en("capitalization"))

    def err(tasks, match, **top):
        with pytest.raises(ScheduleError, match=match) as e:
            _cfg(tmp_path, tasks, **top)
        assert str(tmp_path / "c.json") in str(e.value)

    err([dict(good, name="spelling")], r"tasks\[0\] \(spelling\): unknown task 'spelling'; known tasks: "
                                       r"knowledge_masking, capitalization")
    err([dict(good, iterations=0)], r"'iterations' must be a positive integer, got 0")
    err([dict(good, iterations=-3)], r"'iterations' must be a positive integer, got -3")
    err([dict(good, iterations=True)], r"'iterations' must be a positive integer, got True")
    err([{k: v for k, v in good.items() if k != "iterations"}], r"'iterations' .* is required")
    err([{k: v for k, v in good.items() if k != "train_filelist"}], r"no 'train_filelist'")
    err([dict(good, train_filelist="nowhere/list")], r"train_filelist nowhere/list does not exist")
    (tmp_path / "list").write_text("missing.gz\t1.0\n")
    err([dict(good, valid_filelist=str(tmp_path / "list"))],
        r"valid_filelist: .*list:1: data file missing.gz does not exist")
    err([good, dict(good, name="knowledge_masking", id=1, train_filelist=en("knowledge_masking"))],
        r"tasks capitalization and knowledge_masking have the same id 1")
    err([good, dict(good)], r"task capitalization is listed twice")
    err([dict(good, colour="red")], r"unknown key\(s\) colour")
    err([good], r"unknown key\(s\) stagez", stagez=[])
    err([good], r"'strategy' must be one of continual, multitask, continual_multitask", strategy="sequential")
    err([good], r"stages\[0\]: task 'knowledge_masking' is not in 'tasks'", stages=[["knowledge_masking"]])
    err([good, dict(good, name="sentence_reordering", train_filelist=en("sentence_reordering"))],
        r"task\(s\) sentence_reordering appear in no stage", stages=[["capitalization"]])
    err([dict(good, name="sentence_reordering", heads=["sentence_distance"])],
        r"at most one sentence-level task")
    err([dict(good, options={"depth": 2})], r"task capitalization has no option depth")


def test_model_config_and_flags_are_checked_before_training(tmp_path):
    from ernie.config import ErnieConfig
    cfg = write(tmp_path / "c.json", {"tasks": [
        dict(name="knowledge_masking", iterations=4, train_filelist=en("knowledge_masking")),
        dict(name="sentence_reordering", id=9, iterations=4, train_filelist=en("sentence_reordering"))]})
    tc = TaskConfig.from_json(cfg)
    model = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, vocab_size=6000,
                 max_position_embeddings=130, type_vocab_size=2, hidden_act="relu")
    with pytest.raises(ScheduleError, match=r"task id\(s\) of sentence_reordering are >= task_type_vocab_size 8"):
        tc.check_model_config(ErnieConfig(dict(model, use_task_id=True, task_type_vocab_size=8)))
    with pytest.raises(ScheduleError, match=r"2 task streams need the task embedding"):
        tc.check_model_config(ErnieConfig(model))
    tc.check_model_config(ErnieConfig(dict(model, use_task_id=True, task_type_vocab_size=10)))
    # through train.py: the error comes before anything is built or written
    mpath = write(tmp_path / "m.json", dict(model, use_task_id=True, task_type_vocab_size=8))
    ckpt = tmp_path / "ckpt"
    argv = ["--task_config", cfg, "--ernie_config_path", mpath, "--vocab_path", EN_VOCAB, "--max_seq_len", "128",
            "--checkpoints", str(ckpt), "--use_cuda", "false"]
    with pytest.raises(ScheduleError, match=r"task_type_vocab_size 8"):
        run(parse_args(argv))
    assert not ckpt.exists()
    with pytest.raises(UsageError, match=r"--train_filelist is not used with --task_config"):
        run(parse_args(argv + ["--train_filelist", en("capitalization")]))
    with pytest.raises(UsageError, match=r"--strategy and --iterations_scale need --task_config"):
        run(parse_args(["--train_filelist", en("capitalization"), "--strategy", "multitask"]))


# --------------------------------------------------------------------------- training

MODEL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=6000,
             max_position_embeddings=130, type_vocab_size=2, hidden_act="relu", hidden_dropout_prob=0.1,
             attention_probs_dropout_prob=0.1, use_task_id=True, task_type_vocab_size=8)
# ids other than the defaults, to see that the configured ones are fed
TASKS = [dict(name="knowledge_masking", id=5, iterations=8, train_filelist=en("knowledge_masking"),
              valid_filelist=en("knowledge_masking", "valid")),
         dict(name="capitalization", id=2, iterations=8, train_filelist=en("capitalization"),
              valid_filelist=en("capitalization", "valid")),
         dict(name="sentence_reordering", id=7, iterations=8, train_filelist=en("sentence_reordering"))]
LOG_LINE = re.compile(r"^stage: (\d)/3, step: (\d+), task: (\w+), task_id: (\d), task_step: (\d+)/8, loss: [\d.]+, "
                      r"acc: [\d.]+, lr: \S+, speed: [\d.]+ steps/s, tokens/s: \d+$")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sched")
    return root, write(root / "tasks.json", {"tasks": TASKS}), write(root / "model.json", MODEL)


def targs(setup, ckpt, *extra):
    root, cfg, model = setup
    return parse_args(["--task_config", cfg, "--ernie_config_path", model, "--vocab_path", EN_VOCAB,
                       "--max_seq_len", "128", "--batch_size", "6", "--in_tokens", "false", "--skip_steps", "1",
                       "--lr_scheduler", "noam_decay", "--warmup_steps", "2", "--learning_rate", "1e-3",
                       "--save_steps", "1000", "--random_seed", "3", "--use_cuda", "false",
                       "--checkpoints", str(root / ckpt)] + [str(x) for x in extra])


def snapshot(scope, names):
    """{name: numpy copy} of the named scope variables that exist."""
    return {n: np.array(scope.find_var(n).get_tensor()).copy() for n in names if scope.find_var(n) is not None}


@pytest.fixture(scope="module")
def full_run(setup, tmp_path_factory):
    """One uninterrupted continual multi-task run (3 stages, 24 steps), recording the feeds and the scope at
    every stage boundary."""
    from ernie.cli import pretrain
    fed, boundary = [], {}
    real = pretrain.StreamProgram.feed

    def spy(self, batch):
        feed = real(self, batch)
        if getattr(batch, "stage", None) is not None:       # a training batch (not a validation one)
            fed.append((batch.stage, self.name, sorted(set(np.unique(feed["task_ids"]).tolist()))))
        return feed

    def on_stage(event, stage, run):
        boundary[(event, stage)] = snapshot(run.scope, [v.name for v in run.trainer.program.list_vars()])

    pretrain.StreamProgram.feed = spy
    try:
        vdl = setup[0] / "vdl"
        result = run(targs(setup, "full", "--vdl_dir", vdl), on_stage=on_stage)
    finally:
        pretrain.StreamProgram.feed = real
    return result, fed, boundary, vdl


def test_tasks_are_fed_as_scheduled_with_their_ids(full_run):
    result, fed, _, _ = full_run
    sch = result.schedule
    assert stage_dicts(sch) == [{"knowledge_masking": 4}, {"knowledge_masking": 2, "capitalization": 6},
                                {"knowledge_masking": 2, "capitalization": 2, "sentence_reordering": 8}]
    ids = {t["name"]: t["id"] for t in TASKS}
    assert all(got == [ids[task]] for _, task, got in fed)               # every row carries its task's id
    for st in sch.stages:                                                # the scheduled order, step by step
        assert [t for s, t, _ in fed if s == st.index] == sch.sequence(st.index)
    assert result.step == 24 and [s for s, _ in result.history] == list(range(1, 25))
    # the history carries the step's task loss only, and the losses move
    for (step, values), (_, task, _) in zip(result.history, fed):
        assert sorted(values) == sorted([task + "/loss", task + "/acc", "lr"])
    km = [v["knowledge_masking/loss"] for _, v in result.history if "knowledge_masking/loss" in v]
    assert len(set(km)) == len(km) == 8


def test_stage_hand_over_keeps_parameters_and_adam_state(full_run):
    _, _, boundary, _ = full_run
    for stage in (0, 1):
        end, start = boundary[("end", stage)], boundary[("start", stage + 1)]
        assert any(n.endswith("_moment1_0") for n in end) and "word_embedding" in end
        for name, value in end.items():
            if name.startswith("learning_rate"):
                continue                          # rewritten from the task's schedule before each run
            np.testing.assert_array_equal(start[name], value, err_msg=name)
        new = sorted(set(start) - set(end))
        head = {1: "capitalization_fc", 2: "sentence_reordering_fc"}[stage + 1]
        assert new and all(n.startswith(head) or n.startswith("pooled_fc") for n in new), new
    # and training moved the shared encoder in between
    assert not np.array_equal(boundary[("start", 1)]["word_embedding"], boundary[("end", 2)]["word_embedding"])


def test_log_lines_stage_tables_and_visualdl(full_run, setup, caplog):
    result, fed, _, vdl = full_run
    assert [s["stage"] for s in result.summaries] == [1, 2, 3]
    last = result.summaries[-1]
    assert [(t["task"], t["steps"], t["task_steps"], t["budget"]) for t in last["tasks"]] == [
        ("knowledge_masking", 2, 8, 8), ("capitalization", 2, 8, 8), ("sentence_reordering", 8, 8, 8)]
    assert last["tasks"][2]["valid_loss"] is None and last["tasks"][1]["valid_acc"] > 0.5
    km_losses = [v["knowledge_masking/loss"] for s, v in result.history if "knowledge_masking/loss" in v and s > 12]
    assert last["tasks"][0]["mean_train_loss"] == pytest.approx(np.mean(km_losses))
    saved = json.load(open(setup[0] / "full" / "stage_summaries.json"))
    assert [s["rows"] for s in saved] == [s["rows"] for s in result.summaries]
    assert json.load(open(setup[0] / "full" / "schedule.json"))["stages"] == stage_dicts(result.schedule)
    from visualdl.reader.reader import LogReader
    got = collections.defaultdict(list)
    for log in os.listdir(vdl):                       # one VisualDL file per stage
        reader = LogReader(file_path=str(vdl / log))
        for tag in ("train/capitalization/loss", "valid/capitalization/acc", "train/sentence_reordering/loss"):
            try:
                got[tag] += [r.id for r in reader.get_data("scalar", tag)]
            except (KeyError, ValueError):
                pass
    assert sorted(got["train/capitalization/loss"]) == [s for s, v in result.history if "capitalization/loss" in v]
    assert sorted(got["valid/capitalization/acc"]) == [12, 24]
    # the log line format (a short run: the first 5 steps)
    caplog.set_level("INFO")
    run(targs(setup, "log", "--num_train_steps", 5))
    lines = [LOG_LINE.match(r.getMessage()) for r in caplog.records if r.getMessage().startswith("stage: ")]
    ids = {"knowledge_masking": "5", "capitalization": "2"}
    assert [m.groups() for m in lines] == \
        [("1", str(s), "knowledge_masking", "5", str(s)) for s in (1, 2, 3, 4)] + \
        [("2", "5", fed[4][1], ids[fed[4][1]], {"knowledge_masking": "5", "capitalization": "1"}[fed[4][1]])]
    assert any(r.getMessage().startswith("[validation_set] stage: 1/3, step: 4, task: knowledge_masking, task_id: 5,"
                                         " loss: ") for r in caplog.records)
    assert any("| knowledge_masking | 5  | 4/4" in r.getMessage() for r in caplog.records)   # the stage-1 table


def ckpt_files(directory):
    # the tensors and the model config (train_state.json differs, and so does the size list that marks
    # the checkpoint complete)
    return {n: open(os.path.join(directory, n), "rb").read() for n in os.listdir(directory)
            if n not in ("train_state.json", "checkpoint_complete.json")}


def test_resume_mid_stage_equals_the_uninterrupted_run(full_run, setup):
    result, _, _, _ = full_run
    root = setup[0]
    first = run(targs(setup, "part", "--num_train_steps", 7))      # stops inside stage 2
    assert first.step == 7 and sorted(os.listdir(root / "part"))[-1] == "step_7"
    state = json.load(open(root / "part" / "step_7" / "train_state.json"))
    assert (state["reader"]["stage"], state["reader"]["position"]) == (1, 3)
    assert state["extra"]["stage"] == 1 and state["scheduler"]["lr_schedule"] == "per_task"
    second = run(targs(setup, "rest", "--init_checkpoint", root / "part" / "step_7"))
    assert first.history + second.history == result.history          # same losses, accuracies, lrs
    assert second.summaries == result.summaries[1:]                   # the resumed stage's table included
    a, b = ckpt_files(root / "full" / "step_24"), ckpt_files(root / "rest" / "step_24")
    assert sorted(a) == sorted(b) and all(a[n] == b[n] for n in a), [n for n in a if a[n] != b[n]]
    # another strategy cannot continue this checkpoint
    with pytest.raises(ScheduleError, match=r"written by another schedule"):
        run(targs(setup, "bad", "--init_checkpoint", root / "part" / "step_7", "--strategy",
                              "multitask"))


def test_continual_strategy_trains_one_task_per_stage(setup):
    seen = {}

    def on_stage(event, stage, run):
        seen[(event, stage)] = snapshot(run.scope, ["capitalization_fc.w_0", "word_embedding",
                                                    "mask_lm_out_fc.b_0"])

    result = run(targs(setup, "cont", "--strategy", "continual", "--iterations_scale", 0.5),
                             on_stage=on_stage)
    assert stage_dicts(result.schedule) == [{"knowledge_masking": 4}, {"capitalization": 4},
                                            {"sentence_reordering": 4}]
    assert result.step == 12
    # stage 3 trains neither the capitalization head nor the masked-LM bias; the encoder moves
    np.testing.assert_array_equal(seen[("start", 2)]["capitalization_fc.w_0"],
                                  seen[("end", 2)]["capitalization_fc.w_0"])
    np.testing.assert_array_equal(seen[("start", 1)]["mask_lm_out_fc.b_0"], seen[("end", 2)]["mask_lm_out_fc.b_0"])
    assert not np.array_equal(seen[("start", 2)]["word_embedding"], seen[("end", 2)]["word_embedding"])


def test_train_py_without_task_config_builds_the_shipped_ernie1_configuration():
    """train.py without --task_config trains config/ernie1_pretrain.json with the flags' data and budget."""
    shipped = TaskConfig.from_json(os.path.join(REPO, "config", "ernie1_pretrain.json"))
    built = ernie1_task_config(parse_args(["--train_filelist", os.path.join(REPO, "data", "train_filelist"),
                                           "--valid_filelist", os.path.join(REPO, "data", "valid_filelist"),
                                           "--num_train_steps", "200"]))

    def content(tc):
        return (tc.strategy, tc.lr_schedule, tc.stages,
                [(e.name, e.id, e.heads, e.iterations, e.stage, e.stage_iterations, e.options,
                  os.path.abspath(e.train_filelist), os.path.abspath(e.valid_filelist)) for e in tc.tasks])
    assert content(built)[:3] == content(shipped)[:3] == ("multitask", "global", [["knowledge_masking"]])
    assert content(built)[3] == content(shipped)[3]
    (e,) = built.tasks
    assert (e.name, e.heads, e.id) == ("knowledge_masking", ["next_sent"], 0)
    # the stream's task set is ERNIE 1.0's masked LM and next sentence, fed mask_label / mask_pos / labels
    assert built.stream_taskset(e).names == ["knowledge_masking", "next_sent"]
    assert sorted(built.stream_taskset(e).feed_specs()) == ["labels", "mask_label", "mask_pos"]
