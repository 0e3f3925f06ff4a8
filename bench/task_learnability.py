"""Does each ERNIE 2.0 pre-training task learn on its own?  One task, its demo data, a tiny model, CPU.

    python bench/task_learnability.py --lang zh --task sentence_distance
    python bench/task_learnability.py --lang zh --task knowledge_masking          # also the KM init below
    python bench/task_learnability.py --lang zh --task sentence_distance \\
        --init_pretraining_params output/task_learnability/zh_knowledge_masking/checkpoints/step_600
    python bench/task_learnability.py --lang en --task capitalization --dry_run   # print the command only

For one task of ``data/tasks/<lang>`` this

1. computes the trivial baselines of the validation set (:func:`baselines`,
   fitted on the training file, scored on the validation file: nothing is
   tuned on the validation set);
2. trains the task alone with ``train.py --task_config
   data/tasks/single_task/<lang>_<task>.json`` (one stream, one stage, 600
   iterations) and the tiny model ``data/tasks/single_task/tiny_<lang>_config.json``
   (2 layers, hidden 64, 4 heads), from scratch or from
   ``--init_pretraining_params`` -- the exact command is printed and
   recorded, and is the documented command of ``docs/task_results.md``;
3. reads the validation accuracy of the end of the stage
   (``<checkpoints>/stage_summaries.json``) and every intermediate
   validation line of the log, and prints one summary line (``--json``: all
   of it as JSON).

This file holds no training logic: training is ``train.py``'s.

Baselines (accuracy on the validation set):

* ``majority``: always the most frequent training class (token tasks: over
  labelled tokens; knowledge_masking: the most frequent masked target token
  of the training file, i.e. the best unigram-frequency predictor, scored on
  the validation file's masked targets with the reader's seeded masking,
  the very targets the validation of ``train.py`` scores);
* ``given_n`` (sentence_reordering): the most frequent training class among
  samples with the same number of segments, which the [SEP]s show;
* ``token_lookup`` (token-level tasks): the most frequent training label of
  the token id, ignoring context (unseen ids: the majority class) -- what
  the token alone tells, without its sentence or document;
* ``majority_valid`` / ``given_n_valid``: the same rules fitted on the
  validation set itself (best in hindsight); ``chance`` = the larger of the
  train-fitted and the hindsight version: the number to beat.
"""
import argparse
import collections
import json
import os
import re
import shlex
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from ernie.tasks import TaskSet  # noqa: E402

SINGLE = os.path.join("data", "tasks", "single_task")

# train.py flags of every run (the recipe of docs/task_results.md)
RECIPE = [("--batch_size", "32"), ("--in_tokens", "false"), ("--max_seq_len", "128"),
          ("--learning_rate", "1e-3"), ("--lr_scheduler", "linear_warmup_decay"), ("--warmup_steps", "60"),
          ("--weight_decay", "0.01"), ("--use_cuda", "false"), ("--skip_steps", "100"),
          ("--validation_steps", "200"), ("--validate_at_start", "true"), ("--save_steps", "0"),
          ("--random_seed", "1")]

VALID_RE = re.compile(r"\[validation_set\] stage: \S+, step: (\d+), task: (\w+), task_id: \d+, loss: ([\d.eE+-]+|nan), "
                      r"acc: ([\d.eE+-]+|nan)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--lang", choices=("zh", "en"))
    p.add_argument("--task", help="a task with a data/tasks/single_task/<lang>_<task>.json")
    p.add_argument("--init_pretraining_params",
                   help="start the encoder from these parameters (e.g. the checkpoint of a knowledge_masking run)")
    p.add_argument("--out",
                   help="run directory (log, checkpoints); default output/task_learnability/<lang>_<task>[_km]")
    p.add_argument("--data_dir",
                   help="task data built by ernie.prepare.build_task_data (e.g. the full demo corpus with --dupe_factor) "
                        "instead of data/tasks/<lang>; the run configuration is rewritten into the run directory")
    p.add_argument("--iterations_scale", type=float, default=1.0, help="passed to train.py (600 iterations x F)")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs train.py")
    p.add_argument("--train_flags", default="",
                   help="train.py flags overriding or extending the recipe, e.g. '--learning_rate 3e-3 --epoch 5'")
    p.add_argument("--dry_run", action="store_true", help="print the baselines and the command, train nothing")
    p.add_argument("--json", help="write the summary as JSON here")
    p.add_argument("--table", nargs="+", metavar="JSON", help="print the markdown table of these --json summaries")
    args = p.parse_args(argv)
    if not args.table and not (args.lang and args.task):
        p.error("--lang and --task are required (or --table)")
    return args


# --------------------------------------------------------------------------- baselines

def load_run_config(lang, task):
    path = os.path.join(SINGLE, "%s_%s.json" % (lang, task))
    if not os.path.exists(os.path.join(REPO, path)):
        have = sorted(n[3:-5] for n in os.listdir(os.path.join(REPO, SINGLE)) if n.startswith(lang + "_"))
        sys.exit("no %s (tasks with a single-task configuration for %s: %s)" % (path, lang, ", ".join(have)))
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return path, json.load(f)


def redirect_data(config, data_dir, task, out):
    """The run configuration with its file lists in ``data_dir`` and the task options of its tasks.json,
    written to ``<out>/task_config.json``; returns (path, config)."""
    (spec,) = config["tasks"]
    for key in ("train_filelist", "valid_filelist"):
        path = os.path.join(data_dir, os.path.basename(spec[key]))
        if not os.path.exists(os.path.join(REPO, path)):
            sys.exit("--data_dir %s has no %s" % (data_dir, os.path.basename(path)))
        spec[key] = path
    with open(os.path.join(REPO, data_dir, "tasks.json"), encoding="utf-8") as f:
        built = {t["name"]: t for t in json.load(f)["tasks"]}
    if task not in built:
        sys.exit("%s/tasks.json has no task %s" % (data_dir, task))
    options = {k: v for k, v in built[task].items() if k not in ("name", "id")}
    if options:
        spec["options"] = options
    config["description"] = "%s alone on %s (bench/task_learnability.py --data_dir)" % (task, data_dir)
    os.makedirs(os.path.join(REPO, out), exist_ok=True)
    path = os.path.join(out, "task_config.json")
    with open(os.path.join(REPO, path), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
    return path, config


def make_reader(taskset, filelist, vocab_path, voc_size, is_test, seed=1):
    return taskset.reader(os.path.join(REPO, filelist), os.path.join(REPO, vocab_path), batch_size=32,
                          in_tokens=False, max_seq_len=128, random_seed=seed, epoch=1, voc_size=voc_size,
                          is_test=is_test)


def collect(taskset, reader):
    """Every label of a file as the model sees it: [(label, key)]; key = the token id (token tasks), the
    number of [SEP]s (sentence tasks), None (knowledge masking: the label is the masked target id)."""
    task = taskset.tasks[0]
    out = []
    for b in reader.batches():
        if task.name == "knowledge_masking":
            out += [(int(t), None) for t in np.asarray(b["mask_label"]).reshape(-1)]
        elif task.level == "token":
            lab = np.asarray(b[task.feed_name])
            keep = lab >= 0
            out += list(zip(lab[keep].tolist(), np.asarray(b["src_ids"])[keep].tolist()))
        else:
            lab = np.asarray(b[task.feed_name]).reshape(-1)
            seps = (np.asarray(b["src_ids"]) == reader.sep_id).sum(axis=1).reshape(-1)
            out += [(int(y), int(n)) for y, n in zip(lab, seps) if y >= 0]
    return out


def _keyed_best(items):
    by_key = collections.defaultdict(collections.Counter)
    for y, k in items:
        by_key[k][y] += 1
    return {k: c.most_common(1)[0][0] for k, c in by_key.items()}


def baselines(task, train, valid):
    """{name: accuracy on ``valid``} of the trivial predictors (see the module doc).

    ``majority`` / ``given_n`` are fitted on ``train``; ``majority_valid`` / ``given_n_valid`` are the
    same predictors fitted on ``valid`` itself (the best constant / best per-segment-count guess in
    hindsight: an upper bound of what a trivial rule can score there); ``chance`` is the larger of the
    two, the number to beat.  ``token_lookup`` is fitted on ``train`` only (fitted on the validation
    set it would be a memoriser, not a baseline).
    """
    top = collections.Counter(y for y, _ in train).most_common(1)[0][0]
    top_valid = collections.Counter(y for y, _ in valid).most_common(1)[0][0]
    res = {"majority": float(np.mean([y == top for y, _ in valid])),
           "majority_valid": float(np.mean([y == top_valid for y, _ in valid]))}
    res["chance"] = max(res["majority"], res["majority_valid"])
    if task.name == "knowledge_masking":
        return res
    if task.level == "token":
        best = _keyed_best(train)
        res["token_lookup"] = float(np.mean([y == best.get(k, top) for y, k in valid]))
    elif task.name == "sentence_reordering":
        best, best_valid = _keyed_best(train), _keyed_best(valid)
        res["given_n"] = float(np.mean([y == best.get(k, top) for y, k in valid]))
        res["given_n_valid"] = float(np.mean([y == best_valid[k] for y, k in valid]))
        res["chance"] = max(res["given_n"], res["given_n_valid"])
    return res


def task_baselines(config, model_config):
    """(baselines dict, number of validation items) of the run configuration's single task."""
    (spec,) = config["tasks"]
    taskset = TaskSet([dict(spec.get("options", {}), name=spec["name"], id=spec["id"])])
    voc_size = model_config["vocab_size"]
    # is_test readers: files as listed, seeded masks (knowledge masking: the targets train.py validates on)
    train = collect(taskset, make_reader(taskset, spec["train_filelist"], config["vocab_path"], voc_size, True))
    valid = collect(taskset, make_reader(taskset, spec["valid_filelist"], config["vocab_path"], voc_size, True))
    return baselines(taskset.tasks[0], train, valid), len(valid), taskset.tasks[0]


# --------------------------------------------------------------------------- the run

def command(args, config_path, model_path, vocab_path, out):
    cmd = [args.python, "train.py", "--task_config", config_path, "--ernie_config_path", model_path,
           "--vocab_path", vocab_path]
    extra = shlex.split(args.train_flags)
    if len(extra) % 2 or any(not f.startswith("--") for f in extra[::2]):
        sys.exit("--train_flags must be '--flag value' pairs, got %r" % args.train_flags)
    recipe = collections.OrderedDict(RECIPE)
    recipe.update(zip(extra[::2], extra[1::2]))
    for flag, value in recipe.items():
        cmd += [flag, value]
    cmd += ["--checkpoints", os.path.join(out, "checkpoints")]
    if args.iterations_scale != 1.0:
        cmd += ["--iterations_scale", repr(args.iterations_scale)]
    if args.init_pretraining_params:
        cmd += ["--init_pretraining_params", args.init_pretraining_params]
    return cmd


def parse_log(text, task):
    """[{step, valid_loss, valid_acc}] of the log's validation lines of ``task``."""
    return [{"step": int(m.group(1)), "valid_loss": float(m.group(3)), "valid_acc": float(m.group(4))}
            for m in VALID_RE.finditer(text) if m.group(2) == task]


def render_table(paths):
    """Markdown rows (one per summary): the majority class (the chance level: the better of the
    train-fitted and the hindsight constant), the strongest text-blind rule where one exists
    (token_lookup: the token's most frequent label; given_n: the best class per segment count), the
    accuracy reached and its margin over the majority class."""
    rows = ["| task | lang | classes | valid items | chance (majority class) | text-blind rule | valid acc "
            "| vs chance | updates | train.py wall time |", "|---|---|---|---|---|---|---|---|---|---|"]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        b = r["baselines"]
        chance = max(b["majority"], b["majority_valid"])
        if "token_lookup" in b:
            rule = "token lookup %.3f" % b["token_lookup"]
        elif "given_n" in b:
            rule = "segment count %.3f" % max(b["given_n"], b["given_n_valid"])
        else:
            rule = "–"
        rows.append("| %s | %s | %s | %d | %.3f | %s | **%.3f** | %+.3f | %d | %.0f s |"
                    % (r["task"], r["lang"], r["num_classes"], r["valid_items"], chance, rule,
                       r["final_valid_acc"], r["final_valid_acc"] - chance, r["steps"], r["wall_s"]))
    return "\n".join(rows)


def main(argv=None):
    args = parse_args(argv)
    if args.table:
        print(render_table(args.table))
        return None
    config_path, config = load_run_config(args.lang, args.task)
    out = args.out or os.path.join("output", "task_learnability",
                                   "%s_%s%s" % (args.lang, args.task, "_km" if args.init_pretraining_params else ""))
    if args.data_dir:
        config_path, config = redirect_data(config, args.data_dir, args.task, out)
    model_path = os.path.join(SINGLE, "tiny_%s_config.json" % args.lang)
    with open(os.path.join(REPO, model_path), encoding="utf-8") as f:
        model_config = json.load(f)
    t0 = time.time()
    base, n_valid, task = task_baselines(config, model_config)
    print("baselines on the %d validation items: %s (%.1f s)"
          % (n_valid, ", ".join("%s %.4f" % kv for kv in base.items()), time.time() - t0), flush=True)
    cmd = command(args, config_path, model_path, config["vocab_path"], out)
    shown = " ".join(shlex.quote(c) for c in ["python"] + cmd[1:])
    print("command: %s" % shown, flush=True)
    summary = {"task": args.task, "lang": args.lang, "num_classes": task.num_classes or model_config["vocab_size"],
               "valid_items": n_valid, "baselines": base, "command": shown, "config": config_path,
               "model_config": model_path, "init": args.init_pretraining_params or "scratch"}
    if args.dry_run:
        return summary
    os.makedirs(os.path.join(REPO, out), exist_ok=True)
    log_path = os.path.join(REPO, out, "train.log")
    load_start = os.getloadavg()
    t1 = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - t1
    with open(log_path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if rc != 0:
        sys.exit("train.py failed (exit %d); its log: %s\n%s" % (rc, log_path, text[-3000:]))
    with open(os.path.join(REPO, out, "checkpoints", "stage_summaries.json"), encoding="utf-8") as f:
        stages = json.load(f)
    curve = parse_log(text, args.task)
    (row,) = [t for t in stages[-1]["tasks"] if t["task"] == args.task]
    final = {"step": stages[-1]["end_step"], "valid_acc": row["valid_acc"], "valid_loss": row["valid_loss"]}
    if not curve or curve[-1]["step"] != final["step"] or abs(curve[-1]["valid_acc"] - final["valid_acc"]) > 1e-4:
        sys.exit("%s: the last validation line %s disagrees with stage_summaries.json %s" % (log_path, curve[-1:], final))
    summary.update({"final_valid_acc": final["valid_acc"], "final_valid_loss": final["valid_loss"],
                    "steps": final["step"], "wall_s": round(wall, 1), "curve": curve, "stage_summaries": stages,
                    "load_avg_start": load_start, "load_avg_end": os.getloadavg(), "log": log_path})
    print("== %s (%s, %s): valid acc %.4f after %d steps (%.0f s); baselines: %s"
          % (args.task, args.lang, summary["init"], final["valid_acc"], final["step"], wall,
             ", ".join("%s %.4f" % kv for kv in base.items())), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    main()
