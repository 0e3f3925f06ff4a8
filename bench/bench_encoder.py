"""Static-graph ERNIE (this repository) vs paddlenlp's dygraph ERNIE: same weights, same inputs, same run.

    python bench/bench_encoder.py --config base [--batch_size 8 --seq_len 128 --warmup 2 --steps 10]
                                  [--fwd_warmup N --fwd_steps N] [--only fwd|train] [--json OUT]

Four variants, each in its own subprocess (so the peak RSS is that variant's own):

  static fwd     ernie.modeling.ErnieModel built with is_training=False (no dropout), Executor.run
                 fetching the sequence and pooled outputs;
  dygraph fwd    paddlenlp.transformers.ErnieModel in eval() under paddle.no_grad(), outputs to numpy;
  static train   ErnieModel(is_training=True) + the ERNIE 1.0 heads (knowledge_masking + next_sent tasks: MLM + NSP) + AdamW.minimize,
                 one Executor.run per step fetching the loss;
  dygraph train  paddlenlp ErnieForPretraining + ErniePretrainingCriterion, loss.backward(),
                 AdamW.step(), clear_grad(), loss to a Python float.

Both sides: AdamW(lr 1e-4, beta1 0.9, beta2 0.98, epsilon 1e-6, weight decay 0.01 on all but
biases and layer-norm parameters, ClipGradByGlobalNorm(1.0)); dropout as in the config (0.1);
the layer-norm epsilon of the config (paddlenlp's 1e-12 is overridden); the attention bias
(mask @ mask^T - 1) * 10000 computed inside the step from input_mask in both.  Weights are
synthetic (seeded by parameter name, identical in both processes), batches are full-length random
ids with 15% of the tokens as masked-LM targets, the same in every variant.  Warm-up steps are not
timed; a step includes feeding numpy arrays and fetching outputs as numpy in both.

Sanity check before the numbers count: the forward variants save their outputs on a check batch,
and the training variants their dropout-free loss on it before any update; the parent compares
them (max abs difference, relative for the loss) against --tol and exits with status 1 if they
disagree (the comparison would not be apples to apples).  Both sides run with the project's
CPU defaults (``ernie.cpu_setup``: MKL code path and thread counts, imported by every worker before
Paddle), which are recorded.

Efficiency: each variant's model FLOPs (``_common.encoder_flops``: the matrix products, backward as
twice the forward), the GFLOP/s achieved at the median step time, and the fraction of the machine's
fp32 matmul peak, measured in the same run before and after the variants (the larger of a numpy
2048^3 sgemm over all cores with OpenBLAS's own kernel choice and the same product in Paddle).
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _common  # noqa: E402
from ernie import cpu_setup  # noqa: E402  (no paddle import; sets the CPU kernel/thread defaults)
from ernie.tasks import TaskSet  # noqa: E402  (does not import paddle either)

VARIANTS = ("static-fwd", "dygraph-fwd", "static-train", "dygraph-train")
LEARNING_RATE = 1e-4
ADAM = dict(beta1=0.9, beta2=0.98, epsilon=1e-6, weight_decay=0.01)
CLIP_NORM = 1.0
ENCODER_FEEDS = ("src_ids", "pos_ids", "sent_ids", "task_ids", "input_mask")


# ============================================================================== worker side
def _batches(cfg, args, n):
    """The timed/warm-up batches (seeds seed..seed+n-1) and the check batch (a seed of its own)."""
    make = _common.pretraining_batch
    feeds = [make(cfg, args.batch_size, args.seq_len, args.mask_ratio, seed=args.seed + i) for i in range(n)]
    check = make(cfg, args.batch_size, args.seq_len, args.mask_ratio, seed=args.seed + 100003)
    return feeds, check


def _static_build(cfg, args, training):
    """Build the static program(s), run startup, load the synthetic weights.

    Returns (exe, program, fetch Values, feed names, build_check() -> (check program, fetch Values)).
    """
    # paddle and the modules that import it load only in the worker process, after the parent set its
    # CPU threads (cpu_setup) in the environment the worker inherits: a deliberate local import
    import paddle

    from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
    from ernie.runtime import create_executor

    specs = {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64"), "labels": ([-1, 1], "int64")}

    def build(is_training, with_loss):
        main, startup = paddle.static.Program(), paddle.static.Program()
        main.random_seed = startup.random_seed = args.seed
        with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
            names = encoder_input_names(cfg) + (list(specs) if with_loss else [])
            inputs = create_inputs(names, specs)
            model = ErnieModel(inputs, cfg, is_training=is_training)
            if with_loss:
                loss, metrics = TaskSet(["knowledge_masking", "next_sent"]).build_heads(model, inputs)
                lm_loss = metrics["knowledge_masking_loss"]
                fetch = [loss, lm_loss]
                if is_training:
                    opt = paddle.optimizer.AdamW(
                        learning_rate=LEARNING_RATE, apply_decay_param_fun=_common.is_decayed,
                        grad_clip=paddle.nn.ClipGradByGlobalNorm(CLIP_NORM), **ADAM)
                    opt.minimize(loss)
            else:
                fetch = [model.get_sequence_output(), model.get_pooled_output()]
        return main, startup, model, fetch, names

    exe = create_executor(paddle.CPUPlace())
    main, startup, model, fetch, names = build(training, with_loss=training)
    exe.run(startup)
    scope, place = paddle.static.global_scope(), paddle.CPUPlace()
    for name, value in model.params.params.items():
        tensor = scope.find_var(name).get_tensor()
        tensor.set(_common.synthetic_weight(name, list(value.shape), seed=args.seed), place)

    def build_check():
        """A dropout-free loss program sharing the parameters by name (its startup is not run)."""
        program, _, _, fetch, _ = build(False, with_loss=True)
        return program, fetch
    return exe, main, fetch, names, build_check


def _static_worker(cfg, args, training):
    import gc

    import numpy as np
    import paddle   # only in the worker (see _static_build)

    from ernie.runtime import create_executor
    t0 = time.perf_counter()
    exe, main, fetch, names, build_check = _static_build(cfg, args, training)
    build_s = time.perf_counter() - t0
    n = args.warmup + args.steps
    feeds, check = _batches(cfg, args, n)
    feeds = [{k: f[k] for k in names} for f in feeds]
    check = {k: check[k] for k in names}
    out = {}
    if training:
        # Own executor, closed after: the interpreter of a program keeps its buffers, which
        # would otherwise add the check program's activations to the training peak RSS.
        check_prog, check_fetch = build_check()
        check_exe = create_executor(paddle.CPUPlace())
        loss, lm = check_exe.run(check_prog, feed=check, fetch_list=check_fetch)
        check_exe.close()
        del check_exe
        gc.collect()
        out["check_loss"], out["check_lm_loss"] = float(loss), float(lm)

        def step(i):
            loss, _ = exe.run(main, feed=feeds[i], fetch_list=fetch)
            return float(loss)
    else:
        seq, pooled = exe.run(main, feed=check, fetch_list=fetch)
        np.savez(args.check_file, seq=seq, pooled=pooled)

        def step(i):
            exe.run(main, feed=feeds[i], fetch_list=fetch)
    return _common.measure_steps(out, step, args.warmup, args.steps, build_s, training)


def _paddlenlp_config(cfg, training):
    from paddlenlp.transformers import ErnieConfig as PNConfig
    return PNConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
                    num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
                    intermediate_size=cfg.ffn_size, hidden_act=cfg.hidden_act,
                    max_position_embeddings=cfg.max_position_embeddings,
                    type_vocab_size=cfg.sent_vocab_size, use_task_id=cfg.use_task_id,
                    task_type_vocab_size=max(cfg.task_type_vocab_size, 1), task_id=0, pad_token_id=0,
                    hidden_dropout_prob=cfg.hidden_dropout_prob if training else 0.0,
                    attention_probs_dropout_prob=cfg.attention_probs_dropout_prob if training else 0.0)


def _dygraph_build(cfg, args, training):
    """paddlenlp model with our synthetic weights copied in, parameter by parameter."""
    import paddle
    from paddlenlp.transformers import ErnieForPretraining, ErnieModel as PNModel

    paddle.seed(args.seed)
    pn_cfg = _paddlenlp_config(cfg, training)
    model = ErnieForPretraining(pn_cfg) if training else PNModel(pn_cfg)
    mapping = _common.paddlenlp_name_map(cfg, pretraining=training)
    params = dict(model.named_parameters())
    if set(params) != set(mapping):
        raise RuntimeError("paddlenlp parameter names do not match the ERNIE mapping: only paddlenlp %s, only mapping %s"
                           % (sorted(set(params) - set(mapping)), sorted(set(mapping) - set(params))))
    for pn_name, p in params.items():
        p.set_value(_common.synthetic_weight(mapping[pn_name], list(p.shape), seed=args.seed))
    for layer in model.sublayers():   # paddlenlp forces 1e-12; use the config's epsilon as ours does
        if isinstance(layer, paddle.nn.LayerNorm):
            layer._epsilon = cfg.layer_norm_eps
    opt = None
    if training:
        decay = {p.name for pn_name, p in params.items() if _common.is_decayed(mapping[pn_name])}
        opt = paddle.optimizer.AdamW(learning_rate=LEARNING_RATE, parameters=list(params.values()),
                                     apply_decay_param_fun=lambda name: name in decay,
                                     grad_clip=paddle.nn.ClipGradByGlobalNorm(CLIP_NORM), **ADAM)
    return model, opt


def _dygraph_inputs(cfg, feed):
    """numpy feed -> paddlenlp keyword arguments; the attention bias as in the static program."""
    import paddle
    t = {k: paddle.to_tensor(v) for k, v in feed.items()}
    mask = t["input_mask"]
    bias = paddle.unsqueeze(paddle.scale(paddle.matmul(mask, mask, transpose_y=True), scale=10000.0,
                                         bias=-1.0, bias_after_scale=False), 1)
    kwargs = dict(input_ids=t["src_ids"], token_type_ids=t["sent_ids"], position_ids=t["pos_ids"],
                  attention_mask=bias)
    return kwargs, t


def _dygraph_worker(cfg, args, training):
    import numpy as np
    import paddle
    from paddlenlp.transformers.ernie.modeling import ErniePretrainingCriterion

    t0 = time.perf_counter()
    model, opt = _dygraph_build(cfg, args, training)
    build_s = time.perf_counter() - t0
    feeds, check = _batches(cfg, args, args.warmup + args.steps)
    out = {}
    if training:
        criterion = ErniePretrainingCriterion(with_nsp_loss=True)
        # ErnieForPretraining.forward takes no task_type_ids: with use_task_id it embeds
        # config.task_id (0) everywhere, which is what the batches hold.

        def loss_of(feed):
            kwargs, t = _dygraph_inputs(cfg, feed)
            scores, nsp = model(**kwargs, masked_positions=paddle.reshape(t["mask_pos"], [-1]))
            lm, ns = criterion(scores, nsp, t["mask_label"], t["labels"])
            return lm + ns, lm

        model.eval()
        with paddle.no_grad():
            loss, lm = loss_of(check)
        out["check_loss"], out["check_lm_loss"] = float(loss), float(lm)
        model.train()

        def step(i):
            loss, _ = loss_of(feeds[i])
            loss.backward()
            opt.step()
            opt.clear_grad()
            return float(loss)
    else:
        model.eval()

        def forward(feed):
            kwargs, t = _dygraph_inputs(cfg, feed)
            if cfg.use_task_id:
                kwargs["task_type_ids"] = t["task_ids"]
            with paddle.no_grad():
                seq, pooled = model(**kwargs)
            return seq.numpy(), pooled.numpy()

        seq, pooled = forward(check)
        np.savez(args.check_file, seq=seq, pooled=pooled)

        def step(i):
            forward(feeds[i])
    return _common.measure_steps(out, step, args.warmup, args.steps, build_s, training)


def run_variant(args):
    """Worker entry: run one variant, write its JSON result to ``args.result``."""
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    cfg = _common.load_config(args.config)
    side, kind = args.worker.split("-")
    training = kind == "train"
    if not training:
        args.warmup, args.steps = _fwd_counts(args)
    if side == "static":
        import paddle
        paddle.enable_static()
        out = _static_worker(cfg, args, training)
    else:
        out = _dygraph_worker(cfg, args, training)
    out.update(variant=args.worker, peak_rss_mb=_common.peak_rss_mb(), warmup=args.warmup,
               cpu_setup=cpu_setup.applied(), **_common.paddle_info())
    _common.write_json(args.result, out)


# ============================================================================== parent side
def _fwd_counts(args):
    return (args.warmup if args.fwd_warmup is None else args.fwd_warmup,
            args.steps if args.fwd_steps is None else args.fwd_steps)


def _worker_argv(args, variant, check_file):
    argv = ["--config", args.config, "--batch_size", str(args.batch_size), "--seq_len", str(args.seq_len),
            "--mask_ratio", str(args.mask_ratio), "--warmup", str(args.warmup), "--steps", str(args.steps),
            "--seed", str(args.seed), "--worker", variant, "--check_file", check_file]
    if args.fwd_warmup is not None:
        argv += ["--fwd_warmup", str(args.fwd_warmup)]
    if args.fwd_steps is not None:
        argv += ["--fwd_steps", str(args.fwd_steps)]
    return argv


def compare(results, check_files, tol):
    """Sanity checks between static and dygraph: list of dicts (what, diff, ok)."""
    import numpy as np
    checks = []
    if "static-fwd" in results and "dygraph-fwd" in results:
        a, b = np.load(check_files["static-fwd"]), np.load(check_files["dygraph-fwd"])
        for key in ("seq", "pooled"):
            diff = float(np.abs(a[key] - b[key]).max())
            checks.append({"what": "forward %s output, max abs diff" % key, "diff": diff, "ok": diff <= tol})
    if "static-train" in results and "dygraph-train" in results:
        for key in ("check_loss", "check_lm_loss"):
            x, y = results["static-train"][key], results["dygraph-train"][key]
            diff = abs(x - y) / max(1.0, abs(x))
            checks.append({"what": "dropout-free %s %.6f vs %.6f, rel diff" % (key[6:], x, y),
                           "diff": diff, "ok": diff <= tol})
    return checks


def format_summary(report):
    """The printed summary block (a table, the speed-ups and the checks)."""
    a = report["args"]
    m = report["machine"]
    lines = ["", "=" * 96,
             "bench_encoder: config %s (L=%d H=%d heads=%d V=%d act=%s), batch %d x seq %d, %d masked tokens"
             % (a["config"], report["model"]["num_hidden_layers"], report["model"]["hidden_size"],
                report["model"]["num_attention_heads"], report["model"]["vocab_size"],
                report["model"]["hidden_act"], a["batch_size"], a["seq_len"], report["masked_tokens"]),
             "machine: %s, %s usable CPUs, load avg before %s after %s" % (
                 m["cpu"], m["usable_cpus"], _fmt_load(report["loadavg_before"]), _fmt_load(report["loadavg_after"])),
             "paddle %s, paddlenlp %s, flags %s, thread env %s" % (
                 report.get("paddle"), report.get("paddlenlp"), report.get("flags"),
                 {k: v for k, v in m["thread_env"].items() if v is not None} or "unset"),
             "-" * 96,
             "cpu settings: %s" % _fmt_cpu(report.get("cpu_setup")),
             "fp32 sgemm peak (%d^3, best of 7, before/after): %s" % (a["peak_n"], _fmt_peak(report)),
             "-" * 96,
             "%-14s %6s %26s %9s %9s %8s %7s %9s %7s" % ("variant", "steps", "ms/step median (min-max)",
                                                         "sent/s", "tokens/s", "GFLOP/s", "of peak",
                                                         "peak RSS", "build"),
             ]
    for v in VARIANTS:
        r = report["results"].get(v)
        if r is None:
            continue
        t = r["timing"]
        frac = "%.3f" % r["fraction_of_peak"] if r.get("fraction_of_peak") is not None else "n/a"
        lines.append("%-14s %3d+%-2d %10.1f (%.1f-%.1f) %9.1f %9.0f %8.1f %7s %6.0f MB %6.1fs" % (
            v.replace("-", " "), r["warmup"], t["n"], t["median_ms"], t["min_ms"], t["max_ms"],
            r["sentences_per_s"], r["tokens_per_s"], r["gflops"], frac, r["peak_rss_mb"], r["build_s"]))
    lines.append("-" * 96)
    for kind, s in report["speedup"].items():
        lines.append("speed-up static/dygraph (%s): %.2fx  (dygraph median / static median)" % (kind, s))
    for c in report["checks"]:
        lines.append("check %-4s %s = %.2e (tol %.0e)" % ("ok" if c["ok"] else "FAIL", c["what"], c["diff"], a["tol"]))
    lines.append("=" * 96)
    return "\n".join(lines)


def _fmt_cpu(applied):
    if not applied:
        return "n/a"
    eff = {k: v for k, v in applied["effective"].items() if v is not None}
    return "MKL path %s, %s%s" % (applied["mkl_path"], eff or "Paddle defaults",
                                  "" if applied["enabled"] else " (ERNIE_CPU_TUNING=0)")


def _fmt_peak(report):
    runs = report.get("sgemm_peak_runs") or []
    if not runs:
        return "not measured (--skip_peak)"
    return "%.0f GFLOP/s (numpy %s, paddle %s)" % (
        report["sgemm_peak"]["peak_gflops"], "/".join("%.0f" % p["numpy_gflops"] for p in runs),
        "/".join("%.0f" % p["paddle_gflops"] for p in runs))


def _fmt_load(load):
    return "n/a" if not load else "%.2f" % load[0]


def orchestrate(args):
    variants = [v for v in VARIANTS if args.only == "all" or v.endswith(args.only)]
    cfg = _common.load_config(args.config)       # fail fast on a bad config, before any worker
    fwd_warmup, fwd_steps = _fwd_counts(args)
    for what, w, s in (("--warmup/--steps", args.warmup, args.steps), ("--fwd_warmup/--fwd_steps", fwd_warmup, fwd_steps)):
        if s < 1 or w < 0:
            sys.exit("bench_encoder: %s must be >= 0 / >= 1, got %d / %d" % (what, w, s))
    if args.seq_len > cfg.max_position_embeddings:
        sys.exit("bench_encoder: --seq_len %d exceeds max_position_embeddings %d of config %s"
                 % (args.seq_len, cfg.max_position_embeddings, args.config))
    machine = _common.machine_info()
    peaks = [] if args.skip_peak else [_common.measure_machine_peak(n=args.peak_n)]
    masked = max(1, int(round(args.mask_ratio * args.batch_size * args.seq_len)))
    results, check_files = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_encoder_") as tmp:
        for v in variants:
            check_files[v] = os.path.join(tmp, v + ".npz")
            print("bench_encoder: running %s ..." % v, file=sys.stderr, flush=True)
            r = _common.run_worker(os.path.abspath(__file__), _worker_argv(args, v, check_files[v]),
                                   timeout=args.timeout)
            sec = r["timing"]["median_ms"] / 1000.0
            r["sentences_per_s"] = args.batch_size / sec
            r["tokens_per_s"] = args.batch_size * args.seq_len / sec
            r["model_gflop"] = _common.encoder_flops(cfg, args.batch_size, args.seq_len, masked,
                                                     training=v.endswith("train")) / 1e9
            r["gflops"] = r["model_gflop"] / sec
            results[v] = r
        checks = compare(results, check_files, args.tol)
    if peaks:   # measured before and after the variants: the larger is the machine's peak
        peaks.append(_common.measure_machine_peak(n=args.peak_n))
    peak = max(peaks, key=lambda p: p["peak_gflops"]) if peaks else None
    for r in results.values():
        r["fraction_of_peak"] = r["gflops"] / peak["peak_gflops"] if peak else None
    speedup = {}
    for kind in ("fwd", "train"):
        s, d = results.get("static-" + kind), results.get("dygraph-" + kind)
        if s and d:
            speedup[kind] = d["timing"]["median_ms"] / s["timing"]["median_ms"]
    first = next(iter(results.values()))
    report = {"args": vars(args), "machine": machine, "loadavg_before": machine["loadavg"],
              "loadavg_after": _common.machine_info()["loadavg"],
              "paddle": first.get("paddle"), "paddlenlp": first.get("paddlenlp"), "flags": first.get("flags"),
              "model": {k: getattr(cfg, k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                                      "vocab_size", "hidden_act", "ffn_size", "layer_norm_eps",
                                                      "hidden_dropout_prob", "attention_probs_dropout_prob")},
              "masked_tokens": masked, "sgemm_peak": peak, "sgemm_peak_runs": peaks,
              "cpu_setup": first.get("cpu_setup"),
              "optimizer": dict(ADAM, name="AdamW", learning_rate=LEARNING_RATE, clip_global_norm=CLIP_NORM),
              "results": results, "speedup": speedup, "checks": checks,
              "checks_ok": all(c["ok"] for c in checks)}
    print(format_summary(report), flush=True)
    if args.json:
        _common.write_json(args.json, report)
    return report


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="base",
                   help="tiny (2 layers, hidden 64), demo (base with 4 layers), base (config/ernie_config.json) "
                        "or a path to an ERNIE JSON config")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--seq_len", type=int, default=128)
    p.add_argument("--mask_ratio", type=float, default=0.15, help="fraction of tokens that are masked-LM targets")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing (training; forward too unless --fwd_warmup)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (training; forward too unless --fwd_steps)")
    p.add_argument("--fwd_warmup", type=int, help="untimed forward steps (default --warmup)")
    p.add_argument("--fwd_steps", type=int, help="timed forward steps (default --steps)")
    p.add_argument("--only", choices=("all", "fwd", "train"), default="all", help="which measurements to run")
    p.add_argument("--json", metavar="OUT", help="also write the full results as JSON here")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic weights, batches and dropout")
    p.add_argument("--tol", type=float, default=1e-4, help="sanity-check tolerance (static vs dygraph outputs)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per variant subprocess")
    p.add_argument("--skip_peak", action="store_true",
                   help="do not measure the machine's fp32 sgemm peak (no fraction-of-peak column)")
    p.add_argument("--peak_n", type=int, default=_common.SGEMM_N,
                   help="size n of the n^3 sgemm that measures the peak (smaller ones understate it; for tests)")
    # internal: set by the parent for its worker subprocesses
    p.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--check_file", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        if not (args.result and args.check_file):
            sys.exit("bench_encoder: --worker needs --result and --check_file (it is run by the parent process)")
        run_variant(args)
        return 0
    try:
        report = orchestrate(args)
    except (RuntimeError, OSError, ValueError) as e:   # worker failure, bad config file
        sys.exit("bench_encoder: %s" % e)
    if not report["checks_ok"]:
        print("bench_encoder: static and dygraph outputs disagree beyond --tol: the timings do not compare "
              "the same computation", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
