"""ernie.distributed: hand-built static data parallelism, checked with two real CPU (gloo) processes.

The launched job (tests/dist_worker.py) trains a tiny ERNIE pre-training program
for a few AdamW steps on two ranks, each on half of every batch, and is compared
with one process trained on the whole batches.
"""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import REPO
from ernie import distributed

WORKER = os.path.join(REPO, "tests", "dist_worker.py")
# Per-gradient all-reduce, fused buffers of 2 KiB (several buckets), the 1 MiB default (one bucket
# here), and float16 loss scaling (fp32 compute) where the hook sees scaled gradients.
RUNS = ["fuse0", "fuse0.002", "fuse1", "amp16"]
LAUNCH_TIMEOUT = 150


def _clean_env():
    """The test process's environment without any launcher variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PADDLE_")}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(cmd, log_dir, timeout=LAUNCH_TIMEOUT):
    """Run ``cmd`` in its own process group; kill the whole group on timeout."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=_clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("%s did not finish in %d s; worker logs in %s" % (" ".join(cmd), timeout, log_dir))
    text = out.decode("utf-8", "replace")
    if proc.returncode != 0:
        logs = ""
        for name in sorted(os.listdir(log_dir)) if os.path.isdir(log_dir) else []:
            if name.startswith("workerlog"):
                with open(os.path.join(log_dir, name), encoding="utf-8", errors="replace") as f:
                    logs += "\n--- %s ---\n%s" % (name, f.read()[-3000:])
        pytest.fail("%s failed (rc %d):\n%s%s" % (" ".join(cmd), proc.returncode, text[-3000:], logs))
    return text


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """Run the 2-rank job and the single-process reference once; returns the output dir."""
    out = tmp_path_factory.mktemp("dist")
    log_dir = str(out / "log")
    _run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--max_restart", "0",
          "--log_dir", log_dir, WORKER, "--out", str(out), "--runs"] + RUNS, log_dir)
    _run([sys.executable, WORKER, "--out", str(out), "--runs"] + RUNS, log_dir)
    return out


def _load(job, name):
    with np.load(job / name) as z:
        return {k: z[k] for k in z.files}


def _done(job, tag):
    with open(job / ("done_%s.json" % tag), encoding="utf-8") as f:
        return json.load(f)


def test_ranks_report_themselves(job):
    r0, r1, single = _done(job, "rank0"), _done(job, "rank1"), _done(job, "single")
    assert (r0["rank"], r0["nranks"], r0["main"]) == (0, 2, True)
    assert (r1["rank"], r1["nranks"], r1["main"]) == (1, 2, False)
    assert (single["rank"], single["nranks"], single["main"]) == (0, 1, True)
    kinds = {run["optimizer"] for d in (r0, r1, single) for run in d["runs"]}
    assert len(kinds) == 1
    print("optimizer used by the worker:", kinds.pop())


def test_all_reduce_values(job):
    # rank r contributed [r + 1.5, -r, 2**-30 * (r + 1)]
    expected = {"sum": [4.0, -1.0, 3 * 2.0 ** -30], "max": [2.5, 0.0, 2 * 2.0 ** -30],
                "min": [1.5, -1.0, 2.0 ** -30]}
    for tag in ("rank0", "rank1"):
        got = _done(job, tag)["reduced"]
        assert got["dygraph_sum"] == expected["sum"]
        for op, want in expected.items():
            assert got["static_" + op] == want, (tag, op)
    single = _done(job, "single")["reduced"]
    assert single["static_sum"] == single["static_min"] == [1.5, 0.0, 2.0 ** -30]


def test_broadcast_makes_rank1_start_from_rank0(job):
    init0, init1 = _load(job, "init_rank0.npz"), _load(job, "init_rank1.npz")
    # Different program seeds: every randomly initialised parameter differs before the broadcast.
    random_init = [k for k in init0 if not np.array_equal(init0[k], init1[k])]
    assert "word_embedding" in random_init and len(random_init) >= 10
    synced0, synced1 = _load(job, "synced_rank0.npz"), _load(job, "synced_rank1.npz")
    assert sorted(synced0) == sorted(synced1)
    assert set(init0) < set(synced0)                    # optimizer state is included
    assert any("moment1" in k for k in synced0)
    for k in synced0:
        np.testing.assert_array_equal(synced1[k], synced0[k], err_msg=k)
    for k in init0:                                      # rank 0 kept its own values
        np.testing.assert_array_equal(synced0[k], init0[k], err_msg=k)
    # rank 1 had overwritten one Adam moment with ones; the broadcast restored rank 0's zeros.
    moments = sorted(k for k in synced1 if "moment1" in k)
    assert not np.any(synced1[moments[0]])
    assert _done(job, "rank0")["runs"][0]["broadcast"] == len(synced0)
    assert _done(job, "single")["runs"][0]["broadcast"] == 0
    # float16 loss scaling adds persistables (scale, good/bad step counters, int32 included): sent too.
    runs = {r["label"]: r["broadcast"] for r in _done(job, "rank1")["runs"]}
    assert runs["amp16"] > runs["fuse0"]


@pytest.mark.parametrize("run", RUNS)
def test_averaged_gradients_equal_full_batch_gradients(job, run):
    """The grad hook's output on each rank is the gradient of the whole batch (mean of the halves)."""
    g0, g1 = _load(job, "grads_rank0_%s.npz" % run), _load(job, "grads_rank1_%s.npz" % run)
    single = _load(job, "grads_single_%s.npz" % run)
    assert sorted(g0) == sorted(single) and len(single) >= 40
    for k in single:
        np.testing.assert_array_equal(g1[k], g0[k], err_msg=k)
        assert g0[k].shape == single[k].shape, k
        np.testing.assert_allclose(g0[k], single[k], rtol=1e-4, atol=1e-7, err_msg=k)
    # The halves alone would be far off: the check above has teeth.
    assert max(np.abs(single[k]).max() for k in single) > 1e-3


@pytest.mark.parametrize("run", RUNS)
def test_two_ranks_train_like_one_process_on_the_whole_batch(job, run):
    f0, f1 = _load(job, "final_rank0_%s.npz" % run), _load(job, "final_rank1_%s.npz" % run)
    single = _load(job, "final_single_%s.npz" % run)
    init = _load(job, "init_rank0.npz")
    assert sorted(f0) == sorted(f1) == sorted(single) == sorted(init)
    for k in single:
        np.testing.assert_array_equal(f1[k], f0[k], err_msg=k)
        np.testing.assert_allclose(f0[k], single[k], rtol=0, atol=1e-5, err_msg=k)
    # Training moved the parameters much more than the tolerance.
    assert max(np.abs(single[k] - init[k]).max() for k in single) > 1e-2
    # Each rank's loss is its half's mean; their mean is the full-batch loss.
    losses = [np.array(r["losses"]) for r in
              (_done(job, "rank0")["runs"][RUNS.index(run)], _done(job, "rank1")["runs"][RUNS.index(run)])]
    full = np.array(_done(job, "single")["runs"][RUNS.index(run)]["losses"])
    np.testing.assert_allclose((losses[0] + losses[1]) / 2, full, rtol=1e-5)
    assert np.abs(losses[0] - losses[1]).max() > 1e-4       # the ranks did see different rows


# --- in-process checks (no launcher) -------------------------------------------------------------

@pytest.fixture
def fresh_state(monkeypatch):
    """A clean ernie.distributed state and no launcher variables; restored afterwards."""
    for k in list(os.environ):
        if k.startswith("PADDLE_"):
            monkeypatch.delenv(k)
    saved = dict(distributed._state)
    distributed._state.update(initialized=False, rank=None, nranks=None)
    yield monkeypatch
    distributed._state.clear()
    distributed._state.update(saved)


def test_single_process_init_is_a_noop(fresh_state):
    import paddle.distributed as dist
    assert distributed.init_distributed() == (0, 1)
    assert not dist.is_initialized()                 # no process group was created
    assert (distributed.get_rank(), distributed.get_world_size(), distributed.is_main_process()) == (0, 1, True)
    assert distributed.init_distributed() == (0, 1)   # idempotent
    distributed.barrier()                             # nothing to wait for
    pg = [("p", "g"), ("q", None)]
    assert distributed.allreduce_gradients(pg, 1) == pg
    assert distributed.broadcast_parameters(None, None, 1) == []
    np.testing.assert_array_equal(distributed.all_reduce_values([1, 2.5], "max"), [1.0, 2.5])
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        distributed.all_reduce_values([1.0], "avg")


def test_init_after_enable_static_is_a_clear_error(fresh_state):
    paddle.enable_static()
    try:
        with pytest.raises(distributed.DistributedError, match=r"before paddle\.enable_static\(\)"):
            distributed.init_distributed()
    finally:
        paddle.disable_static()
    assert not distributed._state["initialized"]


@pytest.mark.parametrize("env, message", [
    ({"PADDLE_TRAINERS_NUM": "2", "PADDLE_TRAINER_ID": "2",
      "PADDLE_TRAINER_ENDPOINTS": "127.0.0.1:1,127.0.0.1:2"},
     r"PADDLE_TRAINER_ID=2 is outside \[0, PADDLE_TRAINERS_NUM=2\)"),
    ({"PADDLE_TRAINERS_NUM": "3", "PADDLE_TRAINER_ID": "0",
      "PADDLE_TRAINER_ENDPOINTS": "127.0.0.1:1,127.0.0.1:2"}, r"lists 2 endpoints but PADDLE_TRAINERS_NUM=3"),
    ({"PADDLE_TRAINERS_NUM": "2", "PADDLE_TRAINER_ID": "1"}, r"PADDLE_TRAINER_ENDPOINTS is not set"),
    ({"PADDLE_TRAINERS_NUM": "two"}, r"PADDLE_TRAINERS_NUM='two' is not an integer"),
])
def test_bad_launcher_environment(fresh_state, env, message):
    for k, v in env.items():
        fresh_state.setenv(k, v)
    with pytest.raises(distributed.DistributedError, match=message):
        distributed.init_distributed()
    assert not distributed._state["initialized"]


def test_collectives_need_init(fresh_state):
    with pytest.raises(distributed.DistributedError, match="init_distributed"):
        distributed.allreduce_gradients([("p", "g")], 2)
    with pytest.raises(distributed.DistributedError, match="init_distributed"):
        distributed.broadcast_parameters(None, None, 2)


def test_fusion_buckets_group_by_dtype_and_size(static_mode):
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup):
        g = [paddle.static.data("g%d" % i, shape, dtype) for i, (shape, dtype) in enumerate(
            [([100], "float32"), ([50, 2], "float32"), ([300], "float32"), ([10], "float64"), ([20], "float32")])]
    pg = [("p%d" % i, v) for i, v in enumerate(g)]
    pg.insert(2, ("unused", None))
    # 400 + 400 bytes fit in 800; the 1200-byte gradient gets a bucket of its own; float64 apart.
    assert distributed._buckets(pg, 800) == [[0, 1], [3], [4], [5]]
    assert distributed._buckets(pg, 1 << 20) == [[0, 1, 3, 5], [4]]
