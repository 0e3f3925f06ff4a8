"""Helpers shared by the benchmarks: configs, timing, peak memory, one subprocess per variant,
synthetic weights and batches, and the ERNIE <-> paddlenlp parameter-name mapping.

Nothing here imports paddle at module level, so an orchestrating parent process stays small
(its own memory never shows up in a variant's numbers, which are measured in the child).
"""
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

from ernie import atomic_write
from ernie.config import ErnieConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Named configs for --config.  "base" is the shipped ERNIE 1.0 zh base config; "demo" is the same
# model cut to 4 layers (a mid-size point that runs in seconds); "tiny" is for tests.
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=1000,
            max_position_embeddings=512, type_vocab_size=2, hidden_act="relu",
            hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02)
CONFIG_NAMES = ("tiny", "demo", "base")


def load_config(spec):
    """``tiny`` | ``demo`` | ``base`` | path to an ERNIE JSON config -> ``ernie.config.ErnieConfig``."""
    if spec == "tiny":
        return ErnieConfig(TINY, source="<bench tiny>")
    if spec in ("base", "demo"):
        cfg = ErnieConfig.from_json(os.path.join(REPO, "config", "ernie_config.json"))
        return cfg if spec == "base" else cfg.replace(num_hidden_layers=4)
    return ErnieConfig.from_json(spec)


# ------------------------------------------------------------------------------------------ timing
def summarize(seconds):
    """Summary of per-step wall times (seconds) -> dict of ms: median, min, max, mean, n, all."""
    ms = [s * 1000.0 for s in seconds]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
            "mean_ms": statistics.fmean(ms), "n": len(ms), "all_ms": [round(m, 3) for m in ms]}


def time_steps(step, warmup, steps):
    """Call ``step(i)`` ``warmup`` times untimed, then ``steps`` times timed (``i`` counts all calls).

    Returns (summary dict from ``summarize``, list of the timed calls' return values).
    """
    if steps < 1 or warmup < 0:
        raise ValueError("need steps >= 1 and warmup >= 0, got steps=%d warmup=%d" % (steps, warmup))
    for i in range(warmup):
        step(i)
    times, results = [], []
    for i in range(warmup, warmup + steps):
        start = time.perf_counter()
        results.append(step(i))
        times.append(time.perf_counter() - start)
    return summarize(times), results


# ------------------------------------------------------------------------------------------ memory
def measure_steps(out, step, warmup, steps, build_s, training):
    """``out`` updated with the RSS after the build, ``step``'s timing (``time_steps``), ``build_s`` and, when
    ``training``, the losses ``step`` returned."""
    rss_build = current_rss_mb()
    timing, results = time_steps(step, warmup, steps)
    out.update(timing=timing, build_s=build_s, rss_after_build_mb=rss_build)
    if training:
        out["losses"] = results
    return out


def peak_rss_mb():
    """High-water resident set size of this process in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def current_rss_mb():
    """Resident set size now in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------------ subprocesses
def command_flags(pairs):
    """[(flag, value), ...] -> [flag, value, ...] (a command line's arguments)."""
    return [word for pair in pairs for word in pair]


def run_worker(script, argv, timeout=None, env=None):
    """Run ``python script *argv --result FILE`` in a fresh process and return the JSON it wrote.

    One process per variant makes ``ru_maxrss`` a per-variant peak and keeps the variants from
    sharing caches, thread pools or the allocator.  The child's stderr is passed through
    only when it fails, so the summary stays readable.
    """
    fd, result = tempfile.mkstemp(prefix="bench_", suffix=".json")
    os.close(fd)
    try:
        cmd = [sys.executable, script] + list(argv) + ["--result", result]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              env=env, cwd=REPO, text=True)
        if proc.returncode != 0:
            raise RuntimeError("worker failed (exit %d): %s\n--- stdout\n%s\n--- stderr (tail)\n%s"
                               % (proc.returncode, " ".join(cmd), proc.stdout[-4000:], proc.stderr[-8000:]))
        with open(result) as f:
            return json.load(f)
    finally:
        os.unlink(result)


def write_json(path, obj):
    """Write ``obj`` as indented JSON atomically (``ernie.atomic_write``)."""
    atomic_write.write_json(path, obj, indent=2)


# ----------------------------------------------------------------------------------- environment
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CPU_NUM")
PADDLE_FLAGS = ("FLAGS_paddle_num_threads", "FLAGS_use_mkldnn", "FLAGS_enable_pir_api",
                "FLAGS_enable_pir_in_executor", "FLAGS_new_executor_serial_run")


def best_evaluation(record):
    """The best evaluation of a fine-tuning run's ``result.json`` dict (``ernie.cli.finetune.run.RunRecord``),
    or None when the run did not finish (``"finished": false``: killed or crashed) or has no evaluation.
    A record without the field (written before it existed) counts as finished here; callers that know
    better decide before."""
    if record.get("finished") is False or record.get("best") is None:
        return None
    return record["evaluations"][record["best"]]


def machine_info():
    """Facts about the machine and process that affect timings (no paddle import)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "usable_cpus": usable, "loadavg": load,
            "python": platform.python_version(), "platform": platform.platform(),
            "thread_env": {k: os.environ.get(k) for k in THREAD_ENV}}


def paddle_info():
    """Paddle/paddlenlp versions and the threading/IR flags in effect (imports paddle)."""
    import paddle
    flags = {}
    for name in PADDLE_FLAGS:
        try:
            flags.update(paddle.get_flags([name]))
        except (ValueError, RuntimeError):
            flags[name] = None
    info = {"paddle": paddle.__version__, "flags": flags}
    try:   # the installed version, without importing paddlenlp (4-5 s) into static-only workers
        info["paddlenlp"] = importlib.metadata.version("paddlenlp")
    except importlib.metadata.PackageNotFoundError:
        info["paddlenlp"] = None
    return info


# --------------------------------------------------------------------------- weights and batches
def synthetic_weight(name, shape, seed=0, std=0.02):
    """Deterministic float32 weights for parameter ``name`` (ERNIE name), the same in every process.

    Seeded by the name, so any subset of parameters can be generated in any order, one at a time
    (nothing like a second copy of the model is ever held).  Layer-norm scales are 1 + noise,
    everything else (biases too) N(0, std): non-trivial values everywhere, so a wrong mapping or a
    missing bias shows in the sanity check.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    w = rng.standard_normal(size=tuple(shape), dtype=np.float32) * np.float32(std)
    if name.endswith("_layer_norm_scale"):
        w += np.float32(1.0)
    return w


def pretraining_batch(config, batch_size, seq_len, mask_ratio=0.15, seed=0):
    """A full-length (no padding) ERNIE pre-training batch of random ids, as numpy feeds.

    Token ids are drawn from [1, vocab_size): 0 is [PAD], which paddlenlp's embedding zeroes.
    Returns a dict with src_ids, pos_ids, sent_ids (first half 0, second half 1), task_ids
    (zeros, when ``config.use_task_id``) int64 [B, S]; input_mask float32 [B, S, 1] (ones);
    mask_pos int64 [M, 1] (flat indices into B*S, M = round(mask_ratio*B*S), at least 1);
    mask_label int64 [M, 1] (the original ids there); labels int64 [B, 1].
    """
    if seq_len > config.max_position_embeddings:
        raise ValueError("seq_len %d exceeds max_position_embeddings %d of the config"
                         % (seq_len, config.max_position_embeddings))
    rng = np.random.default_rng(seed)
    B, S = batch_size, seq_len
    src = rng.integers(1, config.vocab_size, size=(B, S), dtype=np.int64)
    sent = np.zeros((B, S), np.int64)
    sent[:, S // 2:] = 1
    n_mask = max(1, int(round(mask_ratio * B * S)))
    pos = np.sort(rng.choice(B * S, n_mask, replace=False)).astype(np.int64)
    feed = {"src_ids": src, "pos_ids": np.tile(np.arange(S, dtype=np.int64), (B, 1)), "sent_ids": sent,
            "input_mask": np.ones((B, S, 1), np.float32),
            "mask_pos": pos.reshape(-1, 1), "mask_label": src.reshape(-1)[pos].reshape(-1, 1),
            "labels": rng.integers(0, 2, size=(B, 1), dtype=np.int64)}
    if config.use_task_id:
        feed["task_ids"] = np.zeros((B, S), np.int64)
    return feed


# ------------------------------------------------------------------------ paddlenlp name mapping
def paddlenlp_name_map(config, pretraining=False):
    """{paddlenlp parameter name: ERNIE parameter name} for paddlenlp's dygraph ERNIE.

    ``pretraining=False``: ``paddlenlp.transformers.ErnieModel`` names; ``pretraining=True``:
    ``ErnieForPretraining`` names (base model under ``ernie.``, heads under ``cls.``; the tied
    decoder weight is the word embedding and has no name of its own).  The mapping is the
    converter's (``ernie.cli.convert_paddlenlp``); both sides store Linear weights as [in, out].
    """
    # local: ernie.cli.convert_paddlenlp imports paddle, which the benches load only in their workers
    from ernie.cli.convert_paddlenlp import ernie_names, paddlenlp_name
    prefix = "ernie." if pretraining else ""
    pairs = ((paddlenlp_name(name, prefix), name) for name in ernie_names(config, with_heads=pretraining))
    return {pn_name: name for pn_name, name in pairs if pn_name is not None}


def is_decayed(ernie_name):
    """AdamW weight decay applies to every parameter but biases and layer-norm parameters."""
    return not (ernie_name.endswith(".b_0") or "layer_norm" in ernie_name)


# ------------------------------------------------------------------------------ efficiency (MFU)
def encoder_flops(config, batch_size, seq_len, masked_tokens, training):
    """Model FLOPs of one ERNIE pre-training step (MLM + NSP) or one encoder forward.

    Counts the matrix products only (2 FLOPs per multiply-add), as nanoGPT's MFU does: per token
    and layer the Q/K/V/output projections (4·2H²), the FFN (2·2HF) and the attention products
    QKᵀ and AV (2·2LH); the pooler (2H² per sequence); with ``training`` also the masked-LM
    transform (2H²) and output layer (2HV) per masked token and the next-sentence layer (2·2H per
    sequence), and the backward pass as twice the forward (3x in all).  Element-wise work
    (softmax, layer norm, dropout, Adam) is not counted: it is overhead on the way to the peak.
    """
    H, F, V, n = config.hidden_size, config.ffn_size, config.vocab_size, config.num_hidden_layers
    tokens = batch_size * seq_len
    per_token_layer = 2 * (4 * H * H + 2 * H * F) + 2 * 2 * seq_len * H
    forward = tokens * n * per_token_layer + batch_size * 2 * H * H
    if not training:
        return forward
    forward += masked_tokens * 2 * (H * H + H * V) + batch_size * 2 * 2 * H
    return 3 * forward


SGEMM_N = 2048


def sgemm_peak_numpy(n=SGEMM_N, repeats=7):
    """Best GFLOP/s of an n³ float32 numpy matmul on all cores (call in a fresh process)."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = max(best, 2.0 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def sgemm_peak_paddle(n=SGEMM_N, repeats=7):
    """Best GFLOP/s of an n³ float32 ``paddle.matmul`` with the settings in force (imports paddle)."""
    import paddle
    a = paddle.to_tensor(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    b = paddle.to_tensor(np.random.default_rng(1).standard_normal((n, n), dtype=np.float32))
    paddle.matmul(a, b).numpy()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        paddle.matmul(a, b).numpy()
        best = max(best, 2.0 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def numpy_peak_env():
    """The environment for the numpy peak: OpenBLAS's own kernel choice for this processor.

    Some machines set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS builds; they hold a
    current numpy to an older, slower kernel, which would understate the machine's peak.
    """
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    return env


def measure_machine_peak(timeout=600, n=SGEMM_N):
    """{numpy_gflops, paddle_gflops, peak_gflops (the larger), numpy kernel}: each in its own process."""
    code_np = ("import json,sys; sys.path.insert(0, %r); from bench import _common; "
               "info = None\ntry:\n    from threadpoolctl import threadpool_info\n"
               "    info = [i.get('architecture') for i in threadpool_info() if i.get('user_api') == 'blas']\n"
               "except ImportError:\n    pass\n"
               "print(json.dumps({'gflops': _common.sgemm_peak_numpy(%d), 'kernel': info}))" % (REPO, n))
    code_pd = ("import json,sys; sys.path.insert(0, %r); import ernie; from bench import _common; "
               "print(json.dumps({'gflops': _common.sgemm_peak_paddle(%d)}))" % (REPO, n))
    out = {}
    for key, code, env in (("numpy", code_np, numpy_peak_env()), ("paddle", code_pd, None)):
        proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, env=env, cwd=REPO)
        if proc.returncode != 0:
            raise RuntimeError("sgemm peak (%s) failed: %s" % (key, proc.stderr[-2000:]))
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        out[key + "_gflops"] = res["gflops"]
        if "kernel" in res:
            out["numpy_kernel"] = res["kernel"]
    out["peak_gflops"] = max(out["numpy_gflops"], out["paddle_gflops"])
    out["sgemm_n"] = n
    return out
