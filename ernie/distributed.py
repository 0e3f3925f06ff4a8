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
"""
import os

import numpy as np
import paddle

ENV_RANK = "PADDLE_TRAINER_ID"
ENV_NRANKS = "PADDLE_TRAINERS_NUM"
ENV_ENDPOINTS = "PADDLE_TRAINER_ENDPOINTS"

# Ring 0 is the global communicator created by ``init_parallel_env``.
_GLOBAL_RING = 0
_state = {"initialized": False, "rank": None, "nranks": None}
_reduce_programs = {}          # (size, op) -> (program, fetch Value)


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
        import paddle.distributed as dist
        dist.init_parallel_env()
        got = (dist.get_rank(), dist.get_world_size())
        if got != (rank, nranks):
            raise DistributedError("paddle.distributed reports rank %d of %d but the environment says %d of %d"
                                   % (got[0], got[1], rank, nranks))
    _state.update(initialized=True, rank=rank, nranks=nranks)
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
    from paddle.distributed import ParallelEnv
    return paddle.CUDAPlace(ParallelEnv().device_id)


def _all_reduce_sum(value):
    """Append an in-place sum all-reduce of ``value`` over the global ring; returns its result.

    ``paddle.distributed.all_reduce`` emits the same op but returns nothing in
    static mode; using the op's own result makes every later reader depend on
    the reduction explicitly rather than on in-place aliasing.
    """
    from paddle import _C_ops
    from paddle.distributed import ReduceOp
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
    from ernie.checkpoint import LR_VAR
    from paddle.static.pir_io import get_pir_parameters
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
    import paddle.distributed as dist
    from paddle.pir.core import create_persistable_value
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
    import paddle.distributed as dist
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
            from paddle import _C_ops
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
