"""Encoder inference on CPU: the static executor (what ernie_encoder.py runs) against Paddle Inference.

    python bench/bench_inference.py --model_dir MODEL [--batch_size 32 --seq_len 64 --batches 12] [--json OUT]

MODEL holds ``ernie_config.json`` and ``params/`` (e.g. the converted all-MiniLM-L6-v2 of
``python -m ernie.cli.convert_bert --fetch_minilm``).  The inputs are synthetic batches of random ids
with lengths drawn between seq_len/2 and seq_len (padding masked), the same for every variant.

Variants, each in a process of its own (subprocesses, so peak RSS is the variant's own):

  executor        ernie.cli.embed's program run by ``paddle.static.Executor`` (the project's CPU defaults)
  predictor       the same program saved with ``paddle.static.save_inference_model`` and run by a
                  ``paddle.inference`` predictor: IR optimisation on, oneDNN off, the same thread count
  predictor-onednn  as above with ``enable_mkldnn()``

Each variant's pooled and sequence outputs on the first batch are compared with the executor's
(max abs difference, real tokens only); a variant that differs by more than --tol is reported as
WRONG and its speed is not a candidate.  2 untimed batches, then ``--batches`` - 2 timed.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _common  # noqa: E402
from ernie import cpu_setup  # noqa: E402

VARIANTS = ("executor", "predictor", "predictor-onednn")


def synthetic_batches(config, batch_size, seq_len, n, names, seed=0):
    import numpy as np
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        lens = rng.integers(max(1, seq_len // 2), seq_len + 1, size=batch_size)
        mask = (np.arange(seq_len)[None, :] < lens[:, None]).astype("float32")
        src = rng.integers(5, config.vocab_size, size=(batch_size, seq_len)).astype("int64") * mask.astype("int64")
        feed = {"src_ids": src, "pos_ids": np.tile(np.arange(seq_len, dtype="int64"), (batch_size, 1)),
                "sent_ids": np.zeros((batch_size, seq_len), "int64"),
                "task_ids": np.zeros((batch_size, seq_len), "int64"), "input_mask": mask[..., None]}
        out.append(({k: v for k, v in feed.items() if k in names}, lens))
    return out


def worker(args):
    # paddle and the modules that import it load only in the worker process, whose environment carries the
    # CPU thread settings the parent chose: a deliberate local import
    import numpy as np
    import paddle

    from ernie.checkpoint import init_pretraining_params
    from ernie.cli.embed import build_encoder_program
    from ernie.config import ErnieConfig
    from ernie.runtime import create_executor

    paddle.enable_static()
    config = ErnieConfig.from_json(os.path.join(args.model_dir, "ernie_config.json"))
    t0 = time.perf_counter()
    main, startup, names, pooled, sequence = build_encoder_program(config)
    place = paddle.CPUPlace()
    exe = create_executor(place)
    scope = paddle.static.Scope()
    batches = synthetic_batches(config, args.batch_size, args.seq_len, args.batches, names)
    with paddle.static.scope_guard(scope):
        exe.run(startup)
        init_pretraining_params(os.path.join(args.model_dir, "params"), main, scope=scope, place=place)
        if args.worker == "executor":
            def run(feed):
                return exe.run(main, feed=feed, fetch_list=[pooled, sequence])
        else:
            from paddle import inference
            data = {op.attrs()["name"]: op.result(0) for op in main.global_block().ops if op.name() == "pd_op.data"}
            tmp = tempfile.mkdtemp(prefix="bench_inference_")
            prefix = os.path.join(tmp, "encoder")
            paddle.static.save_inference_model(prefix, [data[n] for n in names], [pooled, sequence], exe,
                                               program=main)
            model_file = prefix + (".json" if os.path.exists(prefix + ".json") else ".pdmodel")
            cfg = inference.Config(model_file, prefix + ".pdiparams")
            cfg.disable_gpu()
            threads = int(os.environ.get("FLAGS_paddle_num_threads", "1"))
            cfg.set_cpu_math_library_num_threads(threads)
            if args.worker == "predictor-onednn":
                cfg.enable_mkldnn()
            else:
                cfg.disable_mkldnn()
            cfg.switch_ir_optim(True)
            cfg.disable_glog_info()
            predictor = inference.create_predictor(cfg)
            inputs, outputs = predictor.get_input_names(), predictor.get_output_names()

            def run(feed):
                for name in inputs:
                    predictor.get_input_handle(name).copy_from_cpu(feed[name])
                predictor.run()
                return [predictor.get_output_handle(o).copy_to_cpu() for o in outputs]
        build_s = time.perf_counter() - t0
        first, lens = batches[0]
        cls, seq = run(first)
        np.savez(args.check_file, cls=np.asarray(cls), seq=np.asarray(seq), lens=lens)
        timing, _ = _common.time_steps(lambda i: run(batches[i][0]), 2, args.batches - 2)
    _common.write_json(args.result, {"timing": timing, "build_s": build_s, "peak_rss_mb": _common.peak_rss_mb(),
                                     "cpu_setup": cpu_setup.applied(), **_common.paddle_info()})


def max_diff(ref, other):
    import numpy as np
    d = float(np.abs(ref["cls"] - other["cls"]).max())
    for i, n in enumerate(ref["lens"]):
        d = max(d, float(np.abs(ref["seq"][i, :n] - other["seq"][i, :n]).max()))
    return d


def orchestrate(args):
    import numpy as np
    config = _common.load_config(os.path.join(args.model_dir, "ernie_config.json"))
    results, checks = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_inference_") as tmp:
        files = {}
        for v in VARIANTS:
            files[v] = os.path.join(tmp, v + ".npz")
            print("bench_inference: running %s ..." % v, file=sys.stderr, flush=True)
            argv = ["--model_dir", args.model_dir, "--batch_size", str(args.batch_size), "--seq_len",
                    str(args.seq_len), "--batches", str(args.batches), "--worker", v, "--check_file", files[v]]
            r = _common.run_worker(os.path.abspath(__file__), argv, timeout=args.timeout)
            r["sentences_per_s"] = args.batch_size / (r["timing"]["median_ms"] / 1000.0)
            results[v] = r
        ref = np.load(files["executor"])
        for v in VARIANTS:
            diff = max_diff(ref, np.load(files[v]))
            checks[v] = {"max_abs_diff": diff, "ok": diff <= args.tol}
    print("\n" + "=" * 88)
    print("bench_inference: %s (L=%d H=%d act=%s), batch %d x seq <= %d, %d timed batches"
          % (args.model_dir, config.num_hidden_layers, config.hidden_size, config.hidden_act, args.batch_size,
             args.seq_len, args.batches - 2))
    print("machine: %s; cpu settings %s" % (_common.machine_info()["cpu"], results["executor"]["cpu_setup"]["effective"]))
    print("%-18s %26s %10s %10s %16s" % ("variant", "ms/batch median (min-max)", "sent/s", "peak RSS", "outputs vs executor"))
    for v in VARIANTS:
        t, c = results[v]["timing"], checks[v]
        print("%-18s %10.1f (%.1f-%.1f) %10.1f %7.0f MB %9.1e %s" % (
            v, t["median_ms"], t["min_ms"], t["max_ms"], results[v]["sentences_per_s"], results[v]["peak_rss_mb"],
            c["max_abs_diff"], "ok" if c["ok"] else "WRONG"))
    ok = [v for v in VARIANTS if checks[v]["ok"]]
    fastest = min(ok, key=lambda v: results[v]["timing"]["median_ms"])
    print("fastest correct variant: %s" % fastest)
    print("=" * 88)
    report = {"args": vars(args), "machine": _common.machine_info(), "results": results, "checks": checks,
              "fastest_correct": fastest}
    if args.json:
        _common.write_json(args.json, report)
    return report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model_dir", required=True, help="directory with ernie_config.json and params/")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_len", type=int, default=64)
    p.add_argument("--batches", type=int, default=12, help="batches per variant, the first 2 untimed")
    p.add_argument("--tol", type=float, default=1e-4, help="largest output difference from the executor accepted")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--json")
    p.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--check_file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.batches < 3:
        p.error("--batches must be >= 3 (2 untimed)")
    if args.worker:
        worker(args)
        return 0
    orchestrate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
