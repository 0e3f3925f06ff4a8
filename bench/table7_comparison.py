"""The shape of the paper's Table 7 on a 2-core CPU: continual learning vs multi-task learning vs
continual multi-task learning (ERNIE 2.0), then fine-tuning each result on real labelled data.

    python bench/table7_comparison.py --work /tmp/table7                 # everything (about an hour)
    python bench/table7_comparison.py --work /tmp/table7 --dry_run       # print the commands only
    python bench/table7_comparison.py --table /tmp/table7/results.json   # the markdown table again

1. Pre-training, once per strategy, from the same random initialisation (seed 1): the four tasks of
   Table 7 (knowledge masking, capitalization prediction, token-document relation, sentence
   reordering) from ``config/ernie2_table7.json`` on the English demo task data, with
   ``--iterations_scale`` shrinking the paper's 50,000 iterations per task (default 0.006: 300 per
   task, 1,200 updates per strategy; every strategy makes exactly the same number of updates of each
   task, only their order and mixing differ), on the small model written to ``<work>/model_config.json``
   (2 layers, hidden 64, 4 heads, task embedding on).  All through ``train.py --task_config ...
   --strategy S``: this file holds no training logic.
2. Fine-tuning: every pre-trained model, and the same architecture randomly initialised, fine-tuned
   with ``run_classifier.py`` on Rotten Tomatoes (English movie-review polarity, the source of SST-2;
   fetched at preparation time by ``python -m ernie.prepare.finetune_data --task rotten_tomatoes``,
   never committed) with several seeds; the dev accuracy of each run's best evaluation and the test
   accuracy at that point.
3. ``<work>/results.json`` and the markdown table (``--table``): per strategy, the final validation
   accuracy of each pre-training task after the last stage (forgetting shows here) and the fine-tuning
   mean +- standard deviation over seeds.

Everything is seeded, so a rerun reproduces the numbers up to floating-point summation order.
"""
import argparse
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

from bench._common import best_evaluation, command_flags  # noqa: E402

STRATEGIES = ("continual", "multitask", "continual_multitask")
STRATEGY_NAMES = {"continual": "continual learning", "multitask": "multi-task learning",
                  "continual_multitask": "continual multi-task learning (ERNIE 2.0)", "random": "no pre-training"}
TASK_CONFIG = "config/ernie2_table7.json"
VOCAB = "data/tasks/en/vocab.txt"
TASKS = ("knowledge_masking", "capitalization", "token_document_relation", "sentence_reordering")
SHORT = {"knowledge_masking": "KM", "capitalization": "CP", "token_document_relation": "TDR",
         "sentence_reordering": "SR"}

MODEL_CONFIG = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256,
                "vocab_size": 6000, "max_position_embeddings": 128, "type_vocab_size": 2, "use_task_id": True,
                "task_type_vocab_size": 4, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02}

PRETRAIN_FLAGS = [("--batch_size", "32"), ("--in_tokens", "false"), ("--max_seq_len", "128"),
                  ("--learning_rate", "1e-3"), ("--lr_scheduler", "linear_warmup_decay"), ("--warmup_steps", "30"),
                  ("--weight_decay", "0.01"), ("--use_cuda", "false"), ("--skip_steps", "100"),
                  ("--validation_steps", "0"), ("--save_steps", "0"), ("--random_seed", "1")]


def finetune_flags(lr, epoch):
    return [("--use_cuda", "false"), ("--for_cn", "false"), ("--do_lower_case", "true"), ("--do_train", "true"),
            ("--do_val", "true"), ("--do_test", "true"), ("--verbose", "false"), ("--epoch", str(epoch)),
            ("--learning_rate", lr), ("--batch_size", "32"), ("--max_seq_len", "64"),
            ("--warmup_proportion", "0.1"), ("--weight_decay", "0.01"), ("--num_labels", "2"),
            ("--metric", "simple_accuracy"), ("--skip_steps", "100"), ("--save_steps", "0"),
            ("--validation_steps", "0"), ("--max_checkpoints", "1"), ("--task_id", "0")]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--work", help="output directory (data, checkpoints, logs, results.json); outside the repository")
    p.add_argument("--iterations_scale", type=float, default=0.006,
                   help="x the paper's 50,000 iterations per task (0.006: 300 per task, 1,200 updates per strategy)")
    p.add_argument("--seeds", default="1,2,3", help="fine-tuning seeds")
    p.add_argument("--finetune_lr", default="5e-4", help="fine-tuning learning rate (every model the same)")
    p.add_argument("--finetune_epoch", type=int, default=2)
    p.add_argument("--data_dir",
                   help="prepared rotten_tomatoes directory (default <work>/data/rotten_tomatoes, prepared if absent)")
    p.add_argument("--strategies", default=",".join(STRATEGIES + ("random",)),
                   help="which rows to run ('random' = fine-tuning from a random initialisation)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--table", metavar="RESULTS_JSON", help="print the markdown table of a results.json and exit")
    args = p.parse_args(argv)
    if not args.table and not args.work:
        p.error("--work is required (or --table)")
    return args


def run_logged(cmd, log_path, dry_run):
    shown = " ".join(shlex.quote(c) for c in ["python"] + cmd[1:])
    print("$ %s > %s" % (shown, log_path), flush=True)
    if dry_run:
        return 0.0
    t0 = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    if rc != 0:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            sys.exit("failed (exit %d); the end of %s:\n%s" % (rc, log_path, f.read()[-3000:]))
    return time.time() - t0


def last_step_dir(ckpt_dir):
    steps = [int(m.group(1)) for m in (re.fullmatch(r"step_(\d+)", n) for n in os.listdir(ckpt_dir)) if m]
    if not steps:
        sys.exit("no step_* checkpoint in %s" % ckpt_dir)
    return os.path.join(ckpt_dir, "step_%d" % max(steps))


def pretrain(args, strategy, model_config):
    out = os.path.join(args.work, "pretrain", strategy)
    cmd = [args.python, "train.py", "--task_config", TASK_CONFIG, "--strategy", strategy,
           "--iterations_scale", repr(args.iterations_scale), "--ernie_config_path", model_config,
           "--vocab_path", VOCAB, "--checkpoints", out] + command_flags(PRETRAIN_FLAGS)
    if not args.dry_run:
        os.makedirs(out, exist_ok=True)
    wall = run_logged(cmd, os.path.join(args.work, "log", "pretrain_%s.log" % strategy), args.dry_run)
    if args.dry_run:
        return {"wall_s": 0.0, "params": os.path.join(out, "step_<last>")}
    with open(os.path.join(out, "stage_summaries.json"), encoding="utf-8") as f:
        stages = json.load(f)
    final = {t["task"]: t["valid_acc"] for t in stages[-1]["tasks"]}
    # each task's accuracy at the end of the stage that introduced it: compared with `final`, forgetting
    introduced = {}
    for stage in stages:
        for t in stage["tasks"]:
            introduced.setdefault(t["task"], t["valid_acc"])
    updates = {t["task"]: t["task_steps"] for t in stages[-1]["tasks"]}
    return {"wall_s": round(wall, 1), "stages": len(stages), "end_step": stages[-1]["end_step"],
            "final_valid_acc": final, "valid_acc_when_introduced": introduced, "updates": updates,
            "params": last_step_dir(out)}


def finetune(args, name, seed, model_config, data_dir, params):
    out = os.path.join(args.work, "finetune", name, "seed%d" % seed)
    cmd = [args.python, "run_classifier.py", "--ernie_config_path", model_config, "--vocab_path", VOCAB,
           "--train_set", os.path.join(data_dir, "train.tsv"), "--dev_set", os.path.join(data_dir, "dev.tsv"),
           "--test_set", os.path.join(data_dir, "test.tsv"), "--test_save", os.path.join(out, "test_out.tsv"),
           "--checkpoints", os.path.join(out, "ckpt"), "--random_seed", str(seed)]
    cmd += command_flags(finetune_flags(args.finetune_lr, args.finetune_epoch))
    if params:
        cmd += ["--init_pretraining_params", params]
    if not args.dry_run:
        os.makedirs(out, exist_ok=True)
    wall = run_logged(cmd, os.path.join(args.work, "log", "finetune_%s_seed%d.log" % (name, seed)), args.dry_run)
    if args.dry_run:
        return {}
    with open(os.path.join(out, "ckpt", "result.json"), encoding="utf-8") as f:
        record = json.load(f)
    best = best_evaluation(record)
    if best is None:
        raise SystemExit("%s: the run did not finish (no best evaluation)" % os.path.join(out, "ckpt", "result.json"))
    return {"seed": seed, "wall_s": round(wall, 1), "record": os.path.join(out, "ckpt", "result.json"),
            "best_step": best["step"], "dev_acc": _acc(best["dev"]), "test_acc": _acc(best["test"])}


def _acc(section):
    """The accuracy of a result.json section (a {metric: value} dict, or {file: {metric: value}})."""
    if section is None:
        return None
    if "acc" in section:
        return float(section["acc"])
    for value in section.values():
        if isinstance(value, dict):
            found = _acc(value)
            if found is not None:
                return found
    return None


def render_table(results):
    rows = ["| strategy | pre-training updates | " + " | ".join("%s valid acc (end / when introduced)" % SHORT[t]
                                                             for t in TASKS)
            + " | RT dev acc | RT test acc | runs |",
            "|---|---|" + "---|" * len(TASKS) + "---|---|---|"]
    for name, r in results["rows"].items():
        pre = r.get("pretrain")
        cells = []
        for t in TASKS:
            if pre:
                # continual learning does not train (nor validate) earlier tasks in its last stage
                end = pre["final_valid_acc"].get(t)
                cells.append("%s / %.3f" % ("–" if end is None else "%.3f" % end, pre["valid_acc_when_introduced"][t]))
            else:
                cells.append("–")
        dev = [f["dev_acc"] for f in r["finetune"]]
        test = [f["test_acc"] for f in r["finetune"]]
        rows.append("| %s | %s | %s | %s | %s | %d |"
                    % (STRATEGY_NAMES[name], pre["end_step"] if pre else 0, " | ".join(cells),
                       _mean_std(dev), _mean_std(test), len(dev)))
    return "\n".join(rows)


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return "%.4f ± %.4f" % (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)


def main(argv=None):
    args = parse_args(argv)
    if args.table:
        with open(args.table, encoding="utf-8") as f:
            print(render_table(json.load(f)))
        return None
    args.work = os.path.abspath(args.work)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    names = [s for s in args.strategies.split(",") if s]
    unknown = [s for s in names if s not in STRATEGY_NAMES]
    if unknown:
        sys.exit("unknown strategy %s (choose from %s)" % (unknown, ", ".join(STRATEGY_NAMES)))
    os.makedirs(os.path.join(args.work, "log"), exist_ok=True)
    model_config = os.path.join(args.work, "model_config.json")
    with open(model_config, "w", encoding="utf-8") as f:
        json.dump(MODEL_CONFIG, f, indent=1)
    data_dir = args.data_dir or os.path.join(args.work, "data", "rotten_tomatoes")
    if not os.path.exists(os.path.join(data_dir, "train.tsv")):
        if args.data_dir:
            sys.exit("no train.tsv in --data_dir %s" % data_dir)
        run_logged([args.python, "-m", "ernie.prepare.finetune_data", "--task", "rotten_tomatoes", "--output_dir",
                    os.path.join(args.work, "data")], os.path.join(args.work, "log", "prepare.log"), args.dry_run)
    results = {"command": " ".join(shlex.quote(a) for a in ["python", "bench/table7_comparison.py"] +
                                   (argv if argv is not None else sys.argv[1:])),
               "iterations_scale": args.iterations_scale, "model_config": MODEL_CONFIG,
               "pretrain_flags": dict(PRETRAIN_FLAGS),
               "finetune_flags": dict(finetune_flags(args.finetune_lr, args.finetune_epoch)),
               "load_avg_start": os.getloadavg(), "rows": {}}
    t0 = time.time()
    for name in names:
        row = {}
        if name != "random":
            row["pretrain"] = pretrain(args, name, model_config)
        params = row.get("pretrain", {}).get("params")
        row["finetune"] = [finetune(args, name, s, model_config, data_dir, params) for s in seeds]
        results["rows"][name] = row
        if not args.dry_run:
            print("== %s: %s" % (name, json.dumps(row)[:600]), flush=True)
    if args.dry_run:
        return None
    results["wall_s"] = round(time.time() - t0, 1)
    results["load_avg_end"] = os.getloadavg()
    with open(os.path.join(args.work, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    print(render_table(results))
    return results


if __name__ == "__main__":
    main()
