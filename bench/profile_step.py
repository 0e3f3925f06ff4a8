"""Where the time of one static pre-training step goes: Paddle's profiler, per operator and per group.

    python bench/profile_step.py --config tiny --batch_size 32 [--seq_len 128 --steps 5] [--json OUT]

Builds the training program of bench_encoder.py (ERNIE + masked LM + next sentence + AdamW with
global-norm clipping; synthetic weights and batches), runs 3 warm-up steps, then ``--steps`` steps
under ``paddle.profiler`` (CPU).  Prints the step time without and with the profiler, the CPU time
per operator type and the share of groups:

  matmul      matmul, addmm and their gradients (the arithmetic the FLOP count measures)
  dropout     dropout and its gradient (Paddle's CPU kernel draws one mt19937 number per element)
  attention   softmax, the attention-bias add/expand and their gradients: passes over the
              [batch, heads, seq, seq] tensors
  norm        layer norm and its gradient
  optimizer   adamw, the global-norm clip (squared_l2_norm, ...), multiply_ (learning-rate/decay)
  other       everything else (embeddings, reshapes, transposes, activations, residual adds, ...)
"""
import argparse
import io
import os
import re
import sys
import time
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _common, bench_encoder  # noqa: E402

GROUPS = (
    ("matmul", re.compile(r"^pd_op\.(matmul|addmm)(_grad)?$")),
    ("dropout", re.compile(r"^pd_op\.dropout(_grad)?$")),
    ("attention", re.compile(r"^pd_op\.(softmax|softmax_grad|expand|add|add_grad)$")),
    ("norm", re.compile(r"^pd_op\.layer_norm(_grad)?$")),
    ("optimizer", re.compile(r"^pd_op\.(adamw_|squared_l2_norm|multiply_|sqrt_|divide_|maximum|add_n|sum)$")),
)
ROW = re.compile(r"^(pd_op\.\S+|builtin\S*)\s+(\d+)\s+([\d.]+) /")


def group_of(op):
    for name, pattern in GROUPS:
        if pattern.match(op):
            return name
    return "other"


def parse_summary(text):
    """{op: (calls, total ms)} from the 'All threads merged' operator table of the profiler summary."""
    ops, active = {}, False
    for line in text.splitlines():
        if "All threads merged" in line:
            active = True
            continue
        if active:
            m = ROW.match(line.strip())
            if m:
                ops[m.group(1)] = (int(m.group(2)), float(m.group(3)))
            elif ops and line.startswith("---"):
                break
    return ops


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="tiny")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_len", type=int, default=128)
    p.add_argument("--mask_ratio", type=float, default=0.15)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args(argv)
    import paddle
    import paddle.profiler as profiler
    paddle.enable_static()
    cfg = _common.load_config(args.config)
    exe, main_prog, fetch, names, _ = bench_encoder._static_build(cfg, args, True)
    feeds, _ = bench_encoder._batches(cfg, args, 3 + 2 * args.steps)
    feeds = [{k: f[k] for k in names} for f in feeds]
    for i in range(3):
        exe.run(main_prog, feed=feeds[i], fetch_list=fetch)
    plain = []
    for i in range(3, 3 + args.steps):
        t = time.perf_counter()
        exe.run(main_prog, feed=feeds[i], fetch_list=fetch)
        plain.append(time.perf_counter() - t)
    prof = profiler.Profiler(targets=[profiler.ProfilerTarget.CPU], on_trace_ready=lambda _: None)  # no trace files
    prof.start()
    t = time.perf_counter()
    for i in range(3 + args.steps, 3 + 2 * args.steps):
        exe.run(main_prog, feed=feeds[i], fetch_list=fetch)
        prof.step()
    profiled_ms = (time.perf_counter() - t) / args.steps * 1000
    prof.stop()
    buf = io.StringIO()
    with redirect_stdout(buf):
        prof.summary(sorted_by=profiler.SortedKeys.CPUTotal, op_detail=False, thread_sep=False, time_unit="ms")
    ops = parse_summary(buf.getvalue())
    if not ops:
        sys.exit("profile_step: could not read the profiler's operator table")
    total = sum(ms for _, ms in ops.values())
    groups = {}
    for op, (_, ms) in ops.items():
        groups[group_of(op)] = groups.get(group_of(op), 0.0) + ms
    step_ms = sorted(plain)[len(plain) // 2] * 1000
    flops = _common.encoder_flops(cfg, args.batch_size, args.seq_len,
                                  max(1, int(round(args.mask_ratio * args.batch_size * args.seq_len))), True)
    print("profile_step: config %s, batch %d x %d: step %.1f ms median (%.1f under the profiler), "
          "%.2f GFLOP of matrix products = %.1f GFLOP/s" % (args.config, args.batch_size, args.seq_len, step_ms,
                                                           profiled_ms, flops / 1e9, flops / 1e9 / (step_ms / 1e3)))
    print("%-12s %10s %7s" % ("group", "ms/step", "share"))
    for name in [g for g, _ in GROUPS] + ["other"]:
        ms = groups.get(name, 0.0) / args.steps
        print("%-12s %10.1f %6.1f%%" % (name, ms, 100.0 * groups.get(name, 0.0) / total))
    print("%-40s %6s %10s" % ("operator", "calls", "ms/step"))
    for op, (calls, ms) in sorted(ops.items(), key=lambda kv: -kv[1][1])[:15]:
        print("%-40s %6d %10.2f" % (op, calls // args.steps, ms / args.steps))
    if args.json:
        _common.write_json(args.json, {"args": vars(args), "step_ms_median": step_ms, "profiled_step_ms": profiled_ms,
                                       "model_gflop": flops / 1e9, "groups_ms_per_step":
                                       {k: v / args.steps for k, v in groups.items()},
                                       "ops_ms_per_step": {k: v[1] / args.steps for k, v in ops.items()},
                                       "machine": _common.machine_info()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
