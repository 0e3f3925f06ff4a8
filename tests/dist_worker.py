"""Worker for tests/test_distributed.py: a few AdamW steps of a tiny ERNIE pre-training program.

    # two data-parallel ranks, each on half of every batch
    python -m paddle.distributed.launch --nproc_per_node 2 --log_dir LOG tests/dist_worker.py --out DIR
    # the single-process reference on the whole batch
    python tests/dist_worker.py --out DIR

Writes to DIR (``<tag>`` is ``rank<r>`` or ``single``):
  init_<tag>.npz       parameters right after the startup program (before any broadcast)
  synced_<tag>.npz     every persistable after ``broadcast_parameters`` (same as init when single)
  grads_<tag>_<run>.npz  the (averaged) gradients applied at the first step (the tested
                       grad_hook's output), for each run (see --runs)
  final_<tag>_<run>.npz  parameters after training
  done_<tag>.json      what ran (rank, nranks, optimizer, number of variables broadcast,
                       losses) and the results of all_reduce_values

Rank r initialises with program seed ``--seed + 100*r`` so that only the
broadcast can make the ranks agree; rank 1 also perturbs one Adam moment
before the broadcast to check that optimizer state is sent too.
"""
import argparse
import contextlib
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import paddle  # noqa: E402

from ernie import distributed  # noqa: E402

ROWS, SEQ_LEN, MASKS_PER_ROW, STEPS = 4, 8, 2, 3
PRETRAIN_SPECS = {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64"), "labels": ([-1, 1], "int64")}
MASK_ID = 3


def tiny_config():
    from ernie.config import ErnieConfig
    return ErnieConfig(dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, vocab_size=50,
                            max_position_embeddings=16, type_vocab_size=2, hidden_act="gelu",
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                            initializer_range=0.02), source="<dist_worker>")


def full_batch(step, config):
    """A fixed batch for ``step``: every row has exactly MASKS_PER_ROW masked tokens."""
    rng = np.random.RandomState(1000 + step)
    lengths = [SEQ_LEN, SEQ_LEN - 2, SEQ_LEN - 1, SEQ_LEN - 3][:ROWS]
    src = rng.randint(5, config.vocab_size, size=(ROWS, SEQ_LEN)).astype("int64")
    pos = np.tile(np.arange(SEQ_LEN, dtype="int64"), (ROWS, 1))
    sent = np.zeros((ROWS, SEQ_LEN), "int64")
    mask = np.zeros((ROWS, SEQ_LEN, 1), "float32")
    cols = []
    for i, n in enumerate(lengths):
        mask[i, :n] = 1.0
        src[i, n:] = 0
        sent[i, n // 2:n] = 1
        cols.append(np.sort(rng.choice(np.arange(1, n), MASKS_PER_ROW, replace=False)))
    labels = rng.randint(0, 2, size=(ROWS, 1)).astype("int64")
    return dict(src=src, pos=pos, sent=sent, mask=mask, cols=cols, labels=labels)


def feed_for(batch, rows):
    """Feed dict for the given rows; mask_pos is re-based onto the selected rows."""
    src = batch["src"][rows].copy()
    mask_pos, mask_label = [], []
    for local, row in enumerate(rows):
        for c in batch["cols"][row]:
            mask_label.append(src[local, c])
            src[local, c] = MASK_ID
            mask_pos.append(local * SEQ_LEN + c)
    return {"src_ids": src, "pos_ids": batch["pos"][rows], "sent_ids": batch["sent"][rows],
            "input_mask": batch["mask"][rows], "labels": batch["labels"][rows],
            "mask_pos": np.array(mask_pos, "int64").reshape(-1, 1),
            "mask_label": np.array(mask_label, "int64").reshape(-1, 1)}


def make_optimizer(nranks, fuse_mb, captured, amp16=False):
    """The hook (kept in ``captured`` to be fetched) and the optimizer-building function.

    The optimizer is ``ernie.optimization.build_optimizer`` (the trainer's) when
    it exists, else plain AdamW with the same hook between backward and update.
    Either way: AdamW, weight decay 0.01, global-norm clip 0.5 (active here, so
    clipping must see the averaged gradient to match the single process).
    ``amp16``: float16 AMP with dynamic loss scaling, every compute op
    black-listed (CPU has no float16 matmul), so the hook sees scaled gradients.
    """
    def hook(params_grads):
        out = distributed.allreduce_gradients(params_grads, nranks, fuse_mb=fuse_mb)
        captured.extend((p.name, g) for p, g in out if g is not None)
        return out

    try:
        from ernie import optimization
    except ImportError:
        optimization = None
    if optimization is not None:
        amp = optimization.AmpConfig("float16", custom_black_list=optimization.FP32_COMPUTE_BLACK_LIST) \
            if amp16 else None

        def build_opt(loss):
            sched = optimization.lr_scheduler("noam_decay", 0.01, warmup_steps=2, num_train_steps=STEPS)
            optimization.build_optimizer(loss, sched, weight_decay=0.01, grad_clip_norm=0.5, grad_hook=hook,
                                         amp=amp)
            return sched
        return "ernie.optimization.build_optimizer", build_opt, amp, optimization.amp_guard
    if amp16:
        raise SystemExit("the amp16 run needs ernie.optimization")

    def build_plain(loss):
        opt = paddle.optimizer.AdamW(learning_rate=0.01, weight_decay=0.01,
                                     grad_clip=paddle.nn.ClipGradByGlobalNorm(0.5))
        opt.apply_gradients(hook(opt.backward(loss)))
        return None
    return "paddle.optimizer.AdamW", build_plain, None, None


def build(config, nranks, seed, fuse_mb, amp16=False):
    """(main, startup, loss, [(param name, applied gradient)], lr scheduler or None, optimizer kind)."""
    from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
    from ernie.tasks import TaskSet
    main, startup = paddle.static.Program(), paddle.static.Program()
    main.random_seed = 1          # no dropout: the main program draws nothing
    startup.random_seed = seed
    grads = []
    kind, build_opt, amp, amp_guard = make_optimizer(nranks, fuse_mb, grads, amp16)
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        inputs = create_inputs(encoder_input_names(config))
        extra = create_inputs(list(PRETRAIN_SPECS), PRETRAIN_SPECS)
        with amp_guard(amp) if amp_guard else contextlib.nullcontext():
            model = ErnieModel(inputs, config, is_training=True)
            loss, _ = TaskSet(["knowledge_masking", "next_sent"]).build_heads(model, extra)   # ERNIE 1.0's heads
        sched = build_opt(loss)
    return main, startup, loss, grads, sched, kind


def snapshot(program, scope, params_only=True):
    from ernie.checkpoint import program_variables
    params, others = program_variables(program)
    names = params if params_only else params + others
    return {n: np.array(scope.find_var(n).get_tensor()) for n in names}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", nargs="+", default=["fuse0", "fuse0.002", "fuse1", "amp16"],
                        help="fuse<F>: fp32 with allreduce_gradients(fuse_mb=F); amp16: float16 loss "
                             "scaling (fp32 compute) with the default fusion")
    args = parser.parse_args()

    rank, nranks = distributed.init_distributed()     # before enable_static
    values = [rank + 1.5, -rank, 2.0 ** -30 * (rank + 1)]
    reduced = {"dygraph_sum": distributed.all_reduce_values(values, "sum").tolist()}
    paddle.enable_static()
    for op in ("sum", "max", "min"):
        reduced["static_" + op] = distributed.all_reduce_values(values, op).tolist()
    tag = "single" if nranks == 1 else "rank%d" % rank
    config = tiny_config()
    exe = paddle.static.Executor(paddle.CPUPlace())
    done = {"rank": rank, "nranks": nranks, "main": distributed.is_main_process(), "runs": [],
            "reduced": reduced}
    for k, label in enumerate(args.runs):
        amp16 = label == "amp16"
        fuse_mb = distributed.DEFAULT_FUSE_MB if amp16 else float(label[len("fuse"):])
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            main_prog, startup, loss, grads, sched, kind = build(config, nranks, args.seed + 100 * rank, fuse_mb,
                                                                 amp16)
            exe.run(startup)
            if k == 0:
                np.savez(os.path.join(args.out, "init_%s.npz" % tag), **snapshot(main_prog, scope))
            if rank == 1:   # optimizer state that only the broadcast can repair
                name = sorted(n for n in snapshot(main_prog, scope, False) if "moment1" in n)[0]
                t = scope.find_var(name).get_tensor()
                t.set(np.ones(np.array(t).shape, "float32"), paddle.CPUPlace())
            sent = distributed.broadcast_parameters(exe, main_prog, nranks)
            if k == 0:
                np.savez(os.path.join(args.out, "synced_%s.npz" % tag), **snapshot(main_prog, scope, False))
            rows = list(range(ROWS)) if nranks == 1 else \
                list(range(rank * ROWS // nranks, (rank + 1) * ROWS // nranks))
            losses = []
            for step in range(STEPS):
                fetch = [loss] + ([g for _, g in grads] if step == 0 else [])
                out = exe.run(main_prog, feed=feed_for(full_batch(step, config), rows), fetch_list=fetch)
                losses.append(float(np.asarray(out[0])))
                if sched is not None:
                    sched.step()
                if step == 0:   # the gradients the optimizer applied at the first step
                    np.savez(os.path.join(args.out, "grads_%s_%s.npz" % (tag, label)),
                             **{name: np.asarray(v) for (name, _), v in zip(grads, out[1:])})
            distributed.barrier(exe)
            np.savez(os.path.join(args.out, "final_%s_%s.npz" % (tag, label)), **snapshot(main_prog, scope))
            done["runs"].append({"label": label, "fuse_mb": fuse_mb, "optimizer": kind, "broadcast": len(sent),
                                 "losses": losses})
    with open(os.path.join(args.out, "done_%s.json" % tag), "w", encoding="utf-8") as f:
        json.dump(done, f)
    print("worker %s done" % tag)


if __name__ == "__main__":
    main()
