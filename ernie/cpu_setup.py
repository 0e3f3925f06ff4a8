"""The fast CPU kernel and thread settings, applied when ``ernie`` is imported.

Paddle's CPU wheel does its dense math (matmul, the GEMMs of every fc) in Intel MKL, and on this
project's machines three defaults waste most of the processor (measured on a 2-core AMD EPYC with
AVX-512, ``bench/bench_encoder.py``; details in ``docs/performance.md``):

* MKL picks its slowest code path on processors not made by Intel.  The ``MKL_DEBUG_CPU_TYPE``
  variable, read by the MKL build Paddle ships when its first kernel runs, selects the path
  instead: 7 is the AVX-512 path (2048^3 sgemm: 350 GFLOP/s on both cores, against 35 by default),
  5 the AVX2 path.  It is set only on non-Intel processors, and only to a path whose instructions
  ``/proc/cpuinfo`` lists (a path the processor lacks would crash with an illegal instruction);
  Intel processors get MKL's own choice.
* One thread: Paddle's ``FLAGS_paddle_num_threads`` defaults to 1, and it also sets MKL's and
  OpenMP's thread counts.  All three are set to the cores this process may use
  (``sched_getaffinity``), divided among the processes of a ``paddle.distributed.launch`` run on
  this host.
* oneDNN (``FLAGS_use_mkldnn``) is not used for training: Paddle 3.3's PIR executor fails on the
  ERNIE training program with it (``RuntimeError: std::exception``).

Every variable the user has set is left as it is, and ``ERNIE_CPU_TUNING=0`` turns all of this
off.  Nothing here imports paddle: the variables must be in the environment before Paddle reads
its flags, so ``ernie/__init__.py`` calls :func:`configure` first thing.  :func:`applied` reports
what was decided (the benchmarks record it).
"""
import os

OPT_OUT = "ERNIE_CPU_TUNING"
MKL_PATH_VAR = "MKL_DEBUG_CPU_TYPE"
THREAD_VARS = ("MKL_NUM_THREADS", "FLAGS_paddle_num_threads")

# MKL_DEBUG_CPU_TYPE value -> the instruction-set extensions its code path executes.
MKL_PATHS = (
    ("7", "AVX-512", ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma")),
    ("5", "AVX2", ("avx2", "fma")),
)

_applied = None


def read_cpuinfo(path="/proc/cpuinfo"):
    """(vendor id, set of flags) of the first processor in ``path``; ("", set()) if unreadable."""
    vendor, flags = "", set()
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if vendor and flags:
                    break
    except OSError:
        pass
    return vendor, flags


def mkl_path(vendor, flags):
    """(MKL_DEBUG_CPU_TYPE value, name) for a non-Intel processor with these flags, else (None, reason)."""
    if not vendor:
        return None, "processor unknown"
    if vendor == "GenuineIntel":
        return None, "Intel processor: MKL chooses its own path"
    for value, name, needed in MKL_PATHS:
        if all(f in flags for f in needed):
            return value, name
    return None, "no AVX2/AVX-512 path the processor supports"


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:     # not Linux
        return os.cpu_count() or 1


def local_processes(environ):
    """Processes of one ``paddle.distributed.launch`` job on this host (1 outside a launch)."""
    for var in ("PADDLE_LOCAL_SIZE", "PADDLE_TRAINERS_NUM"):
        try:
            n = int(environ.get(var, ""))
        except ValueError:
            continue
        if n > 0:
            return n
    return 1


def opted_out(environ):
    """Whether ``ERNIE_CPU_TUNING`` says to leave Paddle's defaults (0 / false / off / no)."""
    return environ.get(OPT_OUT, "").strip().lower() in ("0", "false", "off", "no")


def decide(environ, vendor, flags, cores):
    """The settings to add to ``environ``: {variable: value} (nothing the user has set)."""
    if opted_out(environ):
        return {}
    settings = {}
    value, _ = mkl_path(vendor, flags)
    if value is not None and MKL_PATH_VAR not in environ:
        settings[MKL_PATH_VAR] = value
    threads = str(max(1, cores // local_processes(environ)))
    for var in THREAD_VARS:
        if var not in environ:
            settings[var] = threads
    return settings


def configure(environ=None, cpuinfo="/proc/cpuinfo"):
    """Put the fast settings into ``environ`` (default ``os.environ``) where unset; returns :func:`applied`."""
    global _applied
    environ = os.environ if environ is None else environ
    vendor, flags = read_cpuinfo(cpuinfo)
    settings = decide(environ, vendor, flags, usable_cores())
    environ.update(settings)
    _, path_name = mkl_path(vendor, flags)
    _applied = {
        "enabled": not opted_out(environ),
        "set_by_ernie": dict(settings),
        "mkl_path": path_name if environ.get(MKL_PATH_VAR) else "MKL default (%s)" % path_name,
        "effective": {v: environ.get(v) for v in (MKL_PATH_VAR,) + THREAD_VARS},
    }
    return applied()


def applied():
    """What :func:`configure` decided, for logs and benchmark records (None before it ran)."""
    return None if _applied is None else {k: (dict(v) if isinstance(v, dict) else v) for k, v in _applied.items()}
