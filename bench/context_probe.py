"""Does this toolkit's encoder learn to use context as fast as PaddleNLP's ERNIE?  A synthetic masked-LM probe.

    python bench/context_probe.py --work /tmp/context_probe [--steps 600] [--impls static,paddlenlp]
                                  [--batch_size 32] [--json OUT]

The sequences follow one fixed random permutation of 1,000 token ids (each token determines the next), so
a masked token is predictable exactly from either neighbour and not at all from token frequencies:
masked-LM accuracy starts at chance (1/1,000) and rises only once the attention has learned to look at the
neighbouring positions, the step that pre-training on real text must take before its masked LM is more
than a model of word frequencies.  The same model (4 layers, hidden 128, 4 heads, FFN 512, GELU, dropout
0.1, task embedding on), masking (15 % of the tokens; 80 % [MASK], 10 % a random token, 10 % kept),
batch and optimiser (AdamW 1e-3, beta2 0.98, epsilon 1e-6, 10 % warm-up then linear decay, weight decay
0.01 outside biases and layer norms, global-norm clip 1.0) are trained twice on the same data:

* ``static``: this toolkit's ``train.py`` (static graph), the masked LM + next sentence task configuration
  of the transfer study's character-masking arm;
* ``paddlenlp``: PaddleNLP's ``ErnieForMaskedLM`` in dynamic graph, with the training loop below (its own
  masking draws, so the two runs see different masks of the same sequences).

Printed, and written to --json: masked-LM validation accuracy every --eval_steps updates for each.
Runs one after the other with the same threads (OpenMP one; MKL the toolkit's default, one per core): 600
updates take about 4 minutes for train.py, 6 for PaddleNLP.
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")       # OpenMP on one thread (set before paddle loads); MKL: the default

import numpy as np  # noqa: E402
import paddle  # noqa: E402
from paddlenlp.transformers import ErnieConfig, ErnieForMaskedLM  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench._common import machine_info, write_json  # noqa: E402
from bench.task_learnability import parse_log  # noqa: E402

SPECIAL = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
CHAIN = 1000                      # token ids len(SPECIAL) .. len(SPECIAL)+CHAIN-1 form the chain
MODEL = dict(vocab_size=len(SPECIAL) + CHAIN, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
             intermediate_size=512, hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
             max_position_embeddings=128, type_vocab_size=2, task_type_vocab_size=8, use_task_id=True,
             initializer_range=0.02)


def make_data(work, train_lines=20000, valid_lines=400, seed=0):
    """Vocabulary, model config and ERNIE 1.0 id-format train/valid files of chain sequences (two segments of
    20-60 tokens each); returns {name: path}."""
    rng = random.Random(seed)
    perm = list(range(CHAIN))
    rng.shuffle(perm)

    def segment():
        t, out = rng.randrange(CHAIN), []
        for _ in range(rng.randint(20, 60)):
            out.append(len(SPECIAL) + t)
            t = perm[t]
        return out

    def line():
        a, b = segment(), segment()
        ids = [1] + a + [2] + b + [2]
        sent = [0] * (len(a) + 2) + [1] * (len(b) + 1)
        units = [-1] + [0] * len(a) + [-1] + [0] * len(b) + [-1]      # every token its own masking unit
        fields = [ids, sent, range(len(ids)), units]
        return ";".join(" ".join(map(str, f)) for f in fields) + ";%d\n" % rng.randint(0, 1)

    os.makedirs(work, exist_ok=True)
    paths = {"vocab": os.path.join(work, "vocab.txt"), "model": os.path.join(work, "model_config.json")}
    with open(paths["vocab"], "w", encoding="utf-8") as f:
        f.writelines("%s\t%d\n" % (tok, i) for i, tok in enumerate(SPECIAL + ["t%d" % k for k in range(CHAIN)]))
    with open(paths["model"], "w", encoding="utf-8") as f:
        json.dump(MODEL, f)
    for split, n in (("train", train_lines), ("valid", valid_lines)):
        data = os.path.join(work, "chain.%s.gz" % split)
        with gzip.open(data, "wt", encoding="utf-8") as f:
            f.writelines(line() for _ in range(n))
        paths[split] = data
        paths[split + "_filelist"] = os.path.join(work, "%s_filelist" % split)
        with open(paths[split + "_filelist"], "w", encoding="utf-8") as f:
            f.write("%s\t0.0\n" % data)                                  # mask_word_prob 0: token masking
    return paths


def run_static(args, paths):
    """[(step, masked-LM validation accuracy)] of train.py on the chain data."""
    log, config = os.path.join(args.work, "static.log"), os.path.join(args.work, "task_config.json")
    task = {"name": "knowledge_masking", "heads": ["next_sent"], "id": 0, "iterations": args.steps,
            "train_filelist": paths["train_filelist"], "valid_filelist": paths["valid_filelist"]}
    write_json(config, {"strategy": "multitask", "lr_schedule": "global", "tasks": [task], "vocab_path": paths["vocab"]})
    cmd = [sys.executable, "train.py", "--use_cuda", "false", "--task_config", config, "--vocab_path", paths["vocab"],
           "--ernie_config_path", paths["model"], "--checkpoints", os.path.join(args.work, "static_ckpt"),
           "--overwrite_checkpoints", "true", "--batch_size", str(args.batch_size), "--in_tokens", "false",
           "--max_seq_len", "128", "--learning_rate", "1e-3", "--lr_scheduler", "linear_warmup_decay",
           "--warmup_steps", str(args.steps // 10), "--weight_decay", "0.01",
           "--validation_steps", str(args.eval_steps), "--save_steps", str(10 * args.steps), "--skip_steps", "50",
           "--generate_neg_sample", "false", "--random_seed", "1"]
    with open(log, "w", encoding="utf-8") as f:
        subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, check=True)
    with open(log, encoding="utf-8") as f:
        return [(v["step"], v["valid_acc"]) for v in parse_log(f.read(), "knowledge_masking")]


def read_lines(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [[list(map(int, field.split())) for field in line.split(";")[:2]] for line in f]


def run_paddlenlp(args, paths):
    """[(step, masked-LM validation accuracy)] of PaddleNLP's ErnieForMaskedLM trained in dynamic graph."""
    paddle.seed(1)
    rng = np.random.RandomState(1)
    train, valid = read_lines(paths["train"]), read_lines(paths["valid"])
    first, vocab = len(SPECIAL), MODEL["vocab_size"]

    def batch(examples):
        width = max(len(ids) for ids, _ in examples)
        ids = np.zeros((len(examples), width), "int64")
        sent, labels = np.zeros_like(ids), np.full_like(ids, -100)
        bias = np.full((len(examples), 1, 1, width), -1e4, "float32")     # additive attention mask
        for i, (tokens, segments) in enumerate(examples):
            t, n = np.array(tokens), len(tokens)
            masked = (rng.rand(n) < 0.15) & (t >= first)
            labels[i, :n][masked] = t[masked]
            r, shown = rng.rand(n), t.copy()
            shown[masked & (r < 0.8)] = SPECIAL.index("[MASK]")
            swap = masked & (r >= 0.8) & (r < 0.9)
            shown[swap] = rng.randint(first, vocab, swap.sum())
            ids[i, :n], sent[i, :n], bias[i, ..., :n] = shown, segments, 0.0
        return [paddle.to_tensor(x) for x in (ids, sent, bias, labels)]

    model = ErnieForMaskedLM(ErnieConfig(**MODEL))
    warmup = args.steps // 10
    schedule = paddle.optimizer.lr.LambdaDecay(
        1e-3, lambda s: s / warmup if s < warmup else max(0.0, (args.steps - s) / (args.steps - warmup)))
    decayed = {p.name for n, p in model.named_parameters() if "bias" not in n and "norm" not in n}
    opt = paddle.optimizer.AdamW(schedule, parameters=model.parameters(), weight_decay=0.01, beta2=0.98,
                                 epsilon=1e-6, apply_decay_param_fun=lambda name: name in decayed,
                                 grad_clip=paddle.nn.ClipGradByGlobalNorm(1.0))
    loss_fn = paddle.nn.CrossEntropyLoss(ignore_index=-100)

    def evaluate():
        model.eval()
        right = total = 0
        with paddle.no_grad():
            for i in range(0, len(valid), args.batch_size):
                ids, sent, bias, labels = batch(valid[i:i + args.batch_size])
                logits = model(ids, token_type_ids=sent, attention_mask=bias)
                real = labels != -100
                right += int(((logits.argmax(-1) == labels) & real).sum())
                total += int(real.sum())
        model.train()
        return right / total

    curve = []
    for step in range(1, args.steps + 1):
        ids, sent, bias, labels = batch([train[rng.randint(len(train))] for _ in range(args.batch_size)])
        logits = model(ids, token_type_ids=sent, attention_mask=bias)
        loss = loss_fn(logits.reshape([-1, vocab]), labels.reshape([-1]))
        loss.backward()
        opt.step()
        opt.clear_grad()
        schedule.step()
        if step % args.eval_steps == 0:
            curve.append((step, evaluate()))
            print("paddlenlp step %d: valid masked-LM acc %.4f" % curve[-1], flush=True)
    return curve


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True, help="directory for the data, logs and checkpoints")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--eval_steps", type=int, default=100)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--impls", default="static,paddlenlp")
    p.add_argument("--json", help="write the curves here")
    args = p.parse_args(argv)
    paths = make_data(args.work)
    runners = {"static": run_static, "paddlenlp": run_paddlenlp}
    out = {"steps": args.steps, "batch_size": args.batch_size, "chance": 1.0 / CHAIN, "curves": {}, "wall_s": {},
           "machine": machine_info()}
    for impl in args.impls.split(","):
        start = time.time()
        out["curves"][impl] = runners[impl](args, paths)
        out["wall_s"][impl] = round(time.time() - start, 1)
    steps = sorted({s for curve in out["curves"].values() for s, _ in curve})
    print("step  " + "  ".join("%9s" % impl for impl in out["curves"]))
    for s in steps:
        print("%4d  " % s + "  ".join("%9s" % ("%.4f" % dict(c)[s] if s in dict(c) else "-")
                                        for c in out["curves"].values()))
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
