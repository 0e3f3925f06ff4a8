"""Multi-process data parallelism for the static (PIR) training program.

Paddle 3's fleet static meta-optimizers do not build under PIR, so data
parallelism is written into the program by hand:

1. ``init_distributed()`` joins the process group.  It must run while Paddle
   is still in dynamic mode, i.e. **before** ``paddle.enable_static()``:
   ``init_parallel_env`` only creates the collective communicators in dynamic
   mode, and a static program built without them fails at its first
   collective op (``NCCLCommContext is nullptr ...``, even on CPU/gloo).
2. ``allreduce_gradients`` is the hook between ``opt.backward`` and
   ``opt.apply_gradients``: every gradient is sum-all-reduced across ranks and
   scaled by ``1/nranks``, so each rank applies the mean gradient (clipping and
   the update then run identically on every rank).
3. ``broadcast_parameters`` runs once after the startup program and any
   checkpoint load, copying rank 0's persistable variables to every rank.
4. ``all_reduce_values`` / ``barrier`` for host-side agreement between ranks.

All ranks must run the training program the same number of times: every run
contains collectives, and a rank that stops early (e.g. its reader ran out)
leaves the others blocked.  Let the ranks agree before each run, e.g.
``all_reduce_values([have_batch], "min")``, or give every rank the same number
of batches.

Every rank feeds its own shard of the data and the applied gradient is the
mean of the per-rank gradients.  That equals the gradient of the mean loss over
all ranks' data only when every shard carries the same weight (for the masked
LM: the same number of masked tokens per rank); otherwise it is the usual
data-parallel approximation (the original's ParallelExecutor did the same).

Launching (one process per rank; the launcher sets ``PADDLE_TRAINER_ID``,
``PADDLE_TRAINERS_NUM``, ``PADDLE_TRAINER_ENDPOINTS``,
``PADDLE_CURRENT_ENDPOINT``, ``PADDLE_MASTER`` and, on CPU,
``PADDLE_DISTRI_BACKEND=gloo``)::

    # CPU, gloo, 2 processes on this machine (``--devices`` does not work on CPU)
    python -m paddle.distributed.launch --nproc_per_node 2 --log_dir log train.py ...
    # GPU, NCCL, one process per GPU (FLAGS_selected_gpus is set per process)
    python -m paddle.distributed.launch --gpus 0,1,2,3 --log_dir log train.py ...
    # several nodes: the same command on every node, naming the same master
    python -m paddle.distributed.launch --nnodes 2 --master 10.0.0.1:8090 \\
        --gpus 0,1,2,3 --log_dir log train.py ...

Launcher quirks (Paddle 3.3.1): each rank's stdout/stderr goes to
``<log_dir>/workerlog.<rank>`` (``--log_dir`` defaults to ``./log``) and is
*appended to* across jobs unless ``--log_overwrite true``; a failing worker is
restarted up to ``--max_restart`` (default 3) times before the job fails
(``--max_restart 0`` fails fast); ports are drawn at random from the
``PORT_RANGE`` environment variable (default ``35100:64000``); joining the
TCP store typically costs ~3 s at start-up.  Use ``device_place(use_cuda)``
for the executor: every rank has its own GPU.  A single process run without
the launcher is ``nranks == 1`` and every function here is then a no-op (or
the identity).

A rank that dies: gloo reports it to the others only as ``RuntimeError:
std::exception`` from their next collective (the peer's sockets closed), and
Paddle's launcher, which checks its workers once a second, reports whichever
failed rank it finds first, often the survivor.  So ``init_distributed``
exchanges every rank's pid, host and local rank, and the entry points run
inside :func:`rank_failures_reported`: a rank that stops with an error leaves
an exit note (its error message, or exit status) in the job's TCP store; a
rank whose collective fails looks for the rank that stopped (its note; else,
on the same host, whether its pid still runs and, when not yet reaped, its
exit status or signal) and ends with ``<prog>: error: rank 0 of 2 stops:
another rank stopped ... rank 1 (...) ...`` naming that rank's ``workerlog``;
under the launcher it then waits until the launcher has collected the dead
rank, and ``LAUNCHER_GRACE_S`` seconds more, before exiting, so that the
launcher reports the dead rank (with its exit code) as the job's failure.
"""
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import zlib

import numpy as np
import paddle
import paddle.distributed as dist
from paddle import _C_ops
from paddle.base import core
from paddle.distributed import ParallelEnv, ReduceOp
from paddle.pir.core import create_persistable_value
from paddle.static.pir_io import get_pir_parameters

from ernie.checkpoint import LR_VAR

ENV_RANK = "PADDLE_TRAINER_ID"
ENV_NRANKS = "PADDLE_TRAINERS_NUM"
ENV_ENDPOINTS = "PADDLE_TRAINER_ENDPOINTS"

# Ring 0 is the global communicator created by ``init_parallel_env``.
_GLOBAL_RING = 0
_state = {"initialized": False, "rank": None, "nranks": None, "peers": None}
_reduce_programs = {}          # (size, op) -> (program, fetch Value)


logger = logging.getLogger(__name__)


class DistributedError(RuntimeError):
    """The distributed environment is misconfigured or used in the wrong order."""


def _env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise DistributedError("environment variable %s=%r is not an integer" % (name, raw)) from None


def env_rank_and_size():
    """(rank, nranks) as set by ``paddle.distributed.launch``; (0, 1) without it.

    Checks that the variables agree with each other (a hand-written
    environment is a common source of hangs).
    """
    nranks = _env_int(ENV_NRANKS, 1)
    rank = _env_int(ENV_RANK, 0)
    if nranks < 1:
        raise DistributedError("%s=%d: the number of ranks must be >= 1" % (ENV_NRANKS, nranks))
    if not 0 <= rank < nranks:
        raise DistributedError("%s=%d is outside [0, %s=%d)" % (ENV_RANK, rank, ENV_NRANKS, nranks))
    endpoints = os.environ.get(ENV_ENDPOINTS, "").strip()
    if nranks > 1:
        if not endpoints:
            raise DistributedError("%s=%d but %s is not set: start the job with "
                                   "python -m paddle.distributed.launch" % (ENV_NRANKS, nranks, ENV_ENDPOINTS))
        count = len([e for e in endpoints.split(",") if e.strip()])
        if count != nranks:
            raise DistributedError("%s lists %d endpoints but %s=%d"
                                   % (ENV_ENDPOINTS, count, ENV_NRANKS, nranks))
    return rank, nranks


def init_distributed():
    """Join the launcher's process group; returns ``(rank, nranks)``.

    With one rank (no launcher) nothing is initialised.  Must be called before
    ``paddle.enable_static()`` (checked in every case, so that a single-process
    run catches the ordering mistake a multi-process run would hit).  Calling
    it again returns the same values.
    """
    if _state["initialized"]:
        return _state["rank"], _state["nranks"]
    if not paddle.in_dynamic_mode():
        raise DistributedError(
            "init_distributed() must be called before paddle.enable_static(): Paddle only creates the "
            "collective communicators in dynamic mode, and the collective ops of a static program built "
            "afterwards fail at run time")
    rank, nranks = env_rank_and_size()
    if nranks > 1:
        dist.init_parallel_env()
        got = (dist.get_rank(), dist.get_world_size())
        if got != (rank, nranks):
            raise DistributedError("paddle.distributed reports rank %d of %d but the environment says %d of %d"
                                   % (got[0], got[1], rank, nranks))
    _state.update(initialized=True, rank=rank, nranks=nranks)
    if nranks > 1:
        _state["peers"] = _exchange_peers(rank, nranks)
    return rank, nranks


def get_rank():
    """This process's rank (from ``init_distributed`` or, before it, the environment)."""
    return _state["rank"] if _state["initialized"] else env_rank_and_size()[0]


def get_world_size():
    """Number of ranks (from ``init_distributed`` or, before it, the environment)."""
    return _state["nranks"] if _state["initialized"] else env_rank_and_size()[1]


def is_main_process():
    """True on rank 0: the rank that logs, validates and saves checkpoints."""
    return get_rank() == 0


def device_place(use_cuda):
    """This rank's place: ``CUDAPlace(<its launcher-assigned GPU>)`` or ``CPUPlace()``.

    The launcher gives each process its GPU through ``FLAGS_selected_gpus``
    (it does not restrict ``CUDA_VISIBLE_DEVICES``), so ``CUDAPlace(0)`` would
    put every rank on the first GPU.
    """
    if not use_cuda:
        return paddle.CPUPlace()
    if not paddle.is_compiled_with_cuda():
        raise DistributedError("use_cuda was requested but the installed PaddlePaddle is a CPU-only build")
    return paddle.CUDAPlace(ParallelEnv().device_id)


def _all_reduce_sum(value):
    """Append an in-place sum all-reduce of ``value`` over the global ring; returns its result.

    ``paddle.distributed.all_reduce`` emits the same op but returns nothing in
    static mode; using the op's own result makes every later reader depend on
    the reduction explicitly rather than on in-place aliasing.
    """
    return _C_ops.all_reduce_(value, _GLOBAL_RING, ReduceOp.SUM)


def _buckets(params_grads, bucket_bytes):
    """Indices of the non-None gradients, grouped by dtype into buckets of at most ``bucket_bytes``.

    A gradient larger than ``bucket_bytes`` gets a bucket of its own.
    """
    buckets, current = [], {}          # current: dtype -> [indices, bytes] of its open bucket
    for i, (_, g) in enumerate(params_grads):
        if g is None:
            continue
        size = int(np.prod(g.shape)) * paddle.core.size_of_dtype(g.dtype)
        cur = current.get(g.dtype)
        if cur is None or cur[1] + size > bucket_bytes:
            cur = current[g.dtype] = [[], 0]
            buckets.append(cur[0])
        cur[0].append(i)
        cur[1] += size
    return buckets


# Gradient fusion default: gradients of up to 1 MiB (biases, layer norms, small
# matrices) are packed into 1 MiB buffers; bigger ones are sent alone.  Each
# gloo message costs ~1.4 ms here whatever its size, while copying large
# gradients into a buffer costs more than it saves (measured: tiny model 40 ->
# 13 ms/step; 2-layer H=768 model no worse than unfused; 32 MiB buckets slower).
DEFAULT_FUSE_MB = 1.0


def allreduce_gradients(params_grads, nranks, fuse_mb=DEFAULT_FUSE_MB):
    """Average gradients over ranks inside the program being built.

    Args:
        params_grads: list of ``(parameter, gradient)`` Values from
            ``opt.backward(loss)``; ``None`` gradients are passed through.
        nranks: number of ranks; with 1 the list is returned unchanged.
        fuse_mb: 0 all-reduces each gradient on its own; > 0 concatenates
            gradients of one dtype into flat buffers of up to ``fuse_mb`` MiB
            and all-reduces each buffer once (fewer messages; a gradient
            larger than ``fuse_mb`` is sent on its own, without copying).
    Returns:
        a new list of ``(parameter, mean gradient)`` for ``opt.apply_gradients``.
    Must be called inside the ``program_guard`` of the training program and
    after ``init_distributed()``.
    """
    params_grads = list(params_grads)
    if nranks <= 1:
        return params_grads
    if not _state["initialized"] or _state["nranks"] != nranks:
        raise DistributedError("allreduce_gradients(nranks=%d) needs init_distributed() first (state: %s)"
                               % (nranks, "not initialised" if not _state["initialized"]
                                  else "%d ranks" % _state["nranks"]))
    scale = 1.0 / nranks
    out = list(params_grads)
    if fuse_mb <= 0:
        for i, (p, g) in enumerate(params_grads):
            if g is not None:
                out[i] = (p, paddle.scale(_all_reduce_sum(g), scale=scale))
        return out
    for bucket in _buckets(params_grads, int(fuse_mb * (1 << 20))):
        grads = [params_grads[i][1] for i in bucket]
        if len(grads) == 1:
            out[bucket[0]] = (params_grads[bucket[0]][0], paddle.scale(_all_reduce_sum(grads[0]), scale=scale))
            continue
        sizes = [int(np.prod(g.shape)) for g in grads]
        flat = paddle.concat([paddle.reshape(g, [-1]) for g in grads])
        flat = paddle.scale(_all_reduce_sum(flat), scale=scale)
        for i, g, part in zip(bucket, grads, paddle.split(flat, sizes)):
            out[i] = (params_grads[i][0], paddle.reshape(part, list(g.shape)))
    return out


def _persistables(program, include_optimizer_state):
    """(parameters, other persistables) Values of ``program`` to synchronise."""
    params, others = get_pir_parameters(program)
    # The learning-rate variable is rewritten from the Python scheduler before every run.
    others = [v for v in others if not LR_VAR.match(v.name)] if include_optimizer_state else []
    return params, others


def broadcast_parameters(exe, program, nranks, root=0, include_optimizer_state=True, scope=None):
    """Overwrite every rank's persistable variables of ``program`` with rank ``root``'s.

    Run it on every rank (it is collective) after the startup program and any
    checkpoint load.  Parameters are always sent; with
    ``include_optimizer_state`` so are the other persistables (Adam moments,
    beta powers, loss-scaling state), which makes a checkpoint loaded on
    ``root`` alone sufficient.  The learning-rate variable is skipped (it is
    fed from the scheduler).  Returns the names broadcast ([] with one rank).

    How: a throw-away program re-declares each variable by name (so it reads
    and writes the scope's tensor in place) and broadcasts it.
    """
    if nranks <= 1:
        return []
    if not _state["initialized"] or _state["nranks"] != nranks:
        raise DistributedError("broadcast_parameters(nranks=%d) needs init_distributed() first" % nranks)
    if not 0 <= root < nranks:
        raise DistributedError("broadcast root %d is outside [0, %d)" % (root, nranks))
    params, others = _persistables(program, include_optimizer_state)
    sync, startup = paddle.static.Program(), paddle.static.Program()
    names = []
    with paddle.static.program_guard(sync, startup):
        for p in params:
            v = paddle.static.create_parameter(list(p.shape), p.dtype, attr=paddle.ParamAttr(name=p.name))
            dist.broadcast(v, src=root)
            names.append(p.name)
        for o in others:
            v = create_persistable_value(o.dtype, list(o.shape), o.name,
                                         initializer=paddle.nn.initializer.Constant(0.0))
            dist.broadcast(v, src=root)
            names.append(o.name)
    if scope is None:
        exe.run(sync)
    else:
        with paddle.static.scope_guard(scope):
            exe.run(sync)
    return names


_REDUCE_OPS = ("sum", "max", "min")


def all_reduce_values(values, op="sum", exe=None):
    """Reduce a small host array across ranks; every rank gets the result (float64 numpy array).

    For decisions all ranks must take together, e.g. stopping when any rank's
    reader is exhausted (``all_reduce_values([has_batch], "min")``: a rank
    that stops alone leaves the others blocked in their next all-reduce), or
    for averaging logged metrics.  Collective: every rank must call it with
    the same shape and op.  With one rank the values come back unchanged.
    In static mode it runs a small cached program (``exe`` defaults to an
    executor on this rank's expected place); in dynamic mode it uses
    ``paddle.distributed.all_reduce``.
    """
    if op not in _REDUCE_OPS:
        raise ValueError("unknown reduction %r: choose one of %s" % (op, ", ".join(_REDUCE_OPS)))
    arr = np.array(values, dtype="float64").reshape(-1)
    if get_world_size() <= 1:
        return arr
    if not _state["initialized"]:
        raise DistributedError("all_reduce_values() needs init_distributed() first")
    reduce_op = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}[op]
    if paddle.in_dynamic_mode():
        t = paddle.to_tensor(arr)
        dist.all_reduce(t, op=reduce_op)
        return t.numpy()
    key = (arr.size, op)
    if key not in _reduce_programs:
        prog, startup = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(prog, startup):
            x = paddle.static.data("reduce_values", [arr.size], "float64")
            _reduce_programs[key] = (prog, _C_ops.all_reduce_(x, _GLOBAL_RING, reduce_op))
    prog, fetch = _reduce_programs[key]
    exe = exe or paddle.static.Executor()
    return np.asarray(exe.run(prog, feed={"reduce_values": arr}, fetch_list=[fetch])[0], dtype="float64")


def barrier(exe=None):
    """Block until every rank has called ``barrier`` (no-op with one rank).

    ``paddle.distributed.barrier`` only works in dynamic mode (its static path
    emits a legacy op that PIR cannot build); in static mode this is a
    one-element sum all-reduce, which cannot finish before every rank joins.
    """
    nranks = get_world_size()
    if nranks <= 1:
        return
    if not _state["initialized"]:
        raise DistributedError("barrier() needs init_distributed() first")
    got = all_reduce_values([1.0], "sum", exe)
    if int(round(got[0])) != nranks:
        raise DistributedError("barrier: %s ranks answered, expected %d" % (got[0], nranks))


# ------------------------------------------------------------------ a rank that stops
# The launcher checks its workers once a second and reports the first failed one it finds: a
# survivor waits until the launcher has collected the dead rank of its host (up to
# LAUNCHER_REAP_WAIT_S), and then this long, before exiting, so that the report names the dead rank.
LAUNCHER_GRACE_S = 2.0
LAUNCHER_REAP_WAIT_S = 30.0
# How long a rank whose collective failed looks for the rank that stopped (its note or its exit).
PEER_WAIT_S = 5.0
# Store operations run in a thread with this time limit: the store lives in rank 0's process, and
# a client of a dead store can block.
STORE_TIMEOUT_S = 2.0
_NOTE_KEY = "ernie/exit_note/%d"
_NOTE_FLAG = "ernie/exit_note_set/%d"
_NOTE_CHARS = 600


def _host_key():
    """A number equal for processes that share this host's pid namespace (crc32 of hostname and namespace)."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return zlib.crc32(("%s/%d" % (socket.gethostname(), ns)).encode())


def _exchange_peers(rank, nranks):
    """Every rank's ``{"pid", "host", "local_rank"}`` (one sum all-reduce, in dynamic mode)."""
    local_rank = _env_int("PADDLE_LOCAL_RANK", _env_int("PADDLE_RANK_IN_NODE", rank))
    table = np.zeros((3, nranks), "float64")
    table[:, rank] = (os.getpid(), _host_key(), local_rank)
    table = all_reduce_values(table, "sum").reshape(3, nranks)
    return [{"pid": int(table[0, r]), "host": int(table[1, r]), "local_rank": int(table[2, r])}
            for r in range(nranks)]


def _with_time_limit(fn, timeout=STORE_TIMEOUT_S):
    """``fn()``'s result, or None when it raised or did not finish within ``timeout`` seconds."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except Exception:          # e.g. a store whose server is gone: no note
            pass
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return box.get("value")


def _store():
    return core.create_or_get_global_tcp_store()


def leave_exit_note(text):
    """Tell the other ranks why this rank stops (best effort; only in a multi-rank job)."""
    if not _state["initialized"] or _state["nranks"] <= 1:
        return
    rank = _state["rank"]

    def write():
        store = _store()
        store.set(_NOTE_KEY % rank, text[:_NOTE_CHARS])
        store.add(_NOTE_FLAG % rank, 1)
        return True
    _with_time_limit(write)


def read_exit_note(rank):
    """The exit note rank ``rank`` left, or None (no note, or the store cannot be reached)."""
    def read():
        store = _store()
        if store.add(_NOTE_FLAG % rank, 0) <= 0:      # adding 0 reads the counter without blocking
            return None
        return bytes(store.get(_NOTE_KEY % rank)).decode("utf-8", "replace")
    return _with_time_limit(read)


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


def process_state(pid):
    """``(alive, how it ended or None)`` of a process of this host, by its pid.

    A process that ended but is not yet reaped by its parent (the launcher) is a zombie whose exit
    status can still be read (``/proc/<pid>/stat`` field 52).
    """
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False, None
    if fields[0] != "Z":
        return True, None
    try:
        status = int(fields[49])
    except (IndexError, ValueError):
        return False, None
    if status & 0x7F:
        return False, "was killed by %s" % _signal_name(status & 0x7F)
    return False, "exited with status %d" % (status >> 8)


def _wait_until_collected(pids, timeout=LAUNCHER_REAP_WAIT_S):
    """Wait until none of ``pids`` exists any more, not even unreaped (at most ``timeout`` seconds)."""
    end = time.time() + timeout
    while any(os.path.exists("/proc/%d" % pid) for pid in pids) and time.time() < end:
        time.sleep(0.1)


def _endpoint(rank):
    endpoints = [e.strip() for e in os.environ.get(ENV_ENDPOINTS, "").split(",") if e.strip()]
    return endpoints[rank] if rank < len(endpoints) else "?"


def peer_report():
    """``(stopped, lines)``: the other ranks known to have stopped, and one line about each other rank."""
    me, peers = _state["rank"], _state["peers"] or []
    here = peers[me]["host"] if peers else None
    log_dir = os.environ.get("PADDLE_LOG_DIR")
    stopped, lines = [], []
    for r, peer in enumerate(peers):
        if r == me:
            continue
        note = read_exit_note(r)
        same_host = peer["host"] == here
        where = "pid %d on this host" % peer["pid"] if same_host else "endpoint %s" % _endpoint(r)
        alive, how = process_state(peer["pid"]) if same_host else (None, None)
        if note is not None:
            text = "rank %d (%s) stopped: %s" % (r, where, note)
        elif how is not None:
            text = "rank %d (%s) %s" % (r, where, how)
        elif alive is False:
            text = ("rank %d (%s) is no longer running and left no exit note: it was killed by a signal it "
                    "cannot handle (SIGKILL: kill -9, the out-of-memory killer) or crashed in native code; "
                    "the launcher's output gives its exit code" % (r, where))
        elif alive:
            text = "rank %d (%s) is still running" % (r, where)
        else:
            text = "rank %d (%s) left no exit note (it may still be running)" % (r, where)
        if same_host and log_dir:
            text += "; its log: %s" % os.path.join(log_dir, "workerlog.%d" % peer["local_rank"])
        if note is not None or how is not None or alive is False:
            stopped.append(r)
        lines.append(text)
    return stopped, lines


def describe_exit(exc):
    """How an exception ends a process, in one line (the text of an exit note)."""
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or isinstance(code, int):
            return "exit status %d" % (code or 0)
        return str(code)
    text = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, text[0] if text else "")


@contextlib.contextmanager
def rank_failures_reported(prog):
    """Run an entry point's work so that a rank that stops is named on the other ranks.

    With one rank (or before ``init_distributed``) it does nothing.  Otherwise an error or exit of
    this rank leaves its exit note for the others; and when this rank gets a ``RuntimeError`` or
    ``OSError`` from Paddle (what a failed gloo / NCCL collective raises) and another rank is found
    to have stopped, it prints ``<prog>: error: ...`` naming that rank and why, waits (under Paddle's
    launcher) until the launcher has collected the dead rank and ``LAUNCHER_GRACE_S`` seconds more,
    and exits with status 1.  When no stopped rank is found within ``PEER_WAIT_S`` seconds, the
    other ranks' states are logged and the error goes on unchanged.
    """
    try:
        yield
    except (RuntimeError, OSError) as e:
        # what Paddle raises for a failed collective (gloo: RuntimeError; NCCL: OSError), not this
        # project's own errors
        if not (_state["initialized"] and _state["nranks"] > 1) or \
                type(e).__module__.split(".")[0] in ("ernie", "reader"):
            if _state["initialized"] and _state["nranks"] > 1:
                leave_exit_note(describe_exit(e))
            raise
        end = time.time() + PEER_WAIT_S
        while True:
            stopped, lines = peer_report()
            if stopped or time.time() >= end:
                break
            time.sleep(0.2)
        if not stopped:
            leave_exit_note(describe_exit(e))
            logger.error("rank %d of %d: %s; the other ranks: %s", _state["rank"], _state["nranks"],
                         describe_exit(e), "; ".join(lines))
            raise
        message = ("rank %d of %d stops: another rank stopped, and the collective operation waiting for it "
                   "failed (%s):\n  %s" % (_state["rank"], _state["nranks"], describe_exit(e), "\n  ".join(lines)))
        leave_exit_note("stopped because rank %s stopped" % ", ".join(str(r) for r in stopped))
        sys.stderr.write("%s: error: %s\n" % (prog, message))
        sys.stderr.flush()
        if os.environ.get("PADDLE_LOG_DIR") is not None:        # under paddle.distributed.launch
            _wait_until_collected([_state["peers"][r]["pid"] for r in stopped
                                   if _state["peers"][r]["host"] == _state["peers"][_state["rank"]]["host"]])
            time.sleep(LAUNCHER_GRACE_S)
        raise SystemExit(1) from e
    except BaseException as e:
        if _state["initialized"] and _state["nranks"] > 1:
            leave_exit_note(describe_exit(e))
        raise
