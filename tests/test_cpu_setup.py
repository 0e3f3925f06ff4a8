"""ernie.cpu_setup: the CPU kernel path and thread defaults, decided from the processor and the environment."""
import json
import os
import subprocess
import sys

from conftest import REPO

from ernie import cpu_setup

AVX512 = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "sse4_2"}
AVX2 = {"avx2", "fma", "sse4_2"}


def test_path_by_vendor_and_flags():
    assert cpu_setup.mkl_path("AuthenticAMD", AVX512) == ("7", "AVX-512")
    assert cpu_setup.mkl_path("AuthenticAMD", AVX2) == ("5", "AVX2")
    assert cpu_setup.mkl_path("HygonGenuine", AVX2)[0] == "5"
    # a path whose instructions are missing would die with SIGILL: never chosen
    assert cpu_setup.mkl_path("AuthenticAMD", AVX512 - {"avx512bw"}) == ("5", "AVX2")
    assert cpu_setup.mkl_path("AuthenticAMD", {"sse4_2"})[0] is None
    assert cpu_setup.mkl_path("GenuineIntel", AVX512)[0] is None       # MKL's own choice on Intel
    assert cpu_setup.mkl_path("", AVX512)[0] is None


def test_decide_respects_user_settings_and_opt_out():
    full = cpu_setup.decide({}, "AuthenticAMD", AVX512, cores=4)
    assert full == {"MKL_DEBUG_CPU_TYPE": "7", "MKL_NUM_THREADS": "4", "FLAGS_paddle_num_threads": "4"}
    user = {"MKL_DEBUG_CPU_TYPE": "5", "MKL_NUM_THREADS": "1"}
    assert cpu_setup.decide(user, "AuthenticAMD", AVX512, cores=4) == {"FLAGS_paddle_num_threads": "4"}
    for off in ("0", "false", "OFF"):
        assert cpu_setup.decide({"ERNIE_CPU_TUNING": off}, "AuthenticAMD", AVX512, cores=4) == {}
    # no OMP_NUM_THREADS: Paddle prints a warning at import whenever it is above 1
    assert "OMP_NUM_THREADS" not in full


def test_threads_divided_among_local_processes():
    env = {"PADDLE_LOCAL_SIZE": "2", "PADDLE_TRAINERS_NUM": "8"}
    assert cpu_setup.decide(env, "GenuineIntel", AVX512, cores=2)["MKL_NUM_THREADS"] == "1"
    assert cpu_setup.decide({"PADDLE_TRAINERS_NUM": "4"}, "GenuineIntel", AVX512, cores=16)["MKL_NUM_THREADS"] == "4"
    assert cpu_setup.decide({"PADDLE_LOCAL_SIZE": "junk"}, "GenuineIntel", AVX512, cores=3)["MKL_NUM_THREADS"] == "3"
    assert cpu_setup.decide({"PADDLE_LOCAL_SIZE": "4"}, "GenuineIntel", AVX512, cores=2)["MKL_NUM_THREADS"] == "1"


def test_read_cpuinfo(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 fma avx512f\n\n"
                 "processor\t: 1\nvendor_id\t: Other\nflags\t\t: fpu\n")
    assert cpu_setup.read_cpuinfo(str(f)) == ("AuthenticAMD", {"fpu", "avx2", "fma", "avx512f"})
    assert cpu_setup.read_cpuinfo(str(tmp_path / "missing")) == ("", set())


def test_configure_fills_environment_and_reports(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: %s\n" % " ".join(sorted(AVX2)))
    env = {"MKL_NUM_THREADS": "1"}
    report = cpu_setup.configure(env, cpuinfo=str(f))
    assert env["MKL_DEBUG_CPU_TYPE"] == "5" and env["MKL_NUM_THREADS"] == "1"
    assert report["mkl_path"] == "AVX2" and "MKL_NUM_THREADS" not in report["set_by_ernie"]
    assert report["effective"]["MKL_NUM_THREADS"] == "1"
    cpu_setup.configure()       # restore the record of this process's real settings


def _child(code, **env_changes):
    env = dict(os.environ)
    for k in ("MKL_DEBUG_CPU_TYPE", "MKL_NUM_THREADS", "FLAGS_paddle_num_threads", "ERNIE_CPU_TUNING"):
        env.pop(k, None)
    env.update(env_changes)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


MATMUL = """
import json, numpy as np
import ernie, paddle
from ernie.runtime import create_executor
create_executor()
rng = np.random.default_rng(0)
errs = []
for m, k, n in [(1024, 768, 3072), (37, 129, 65), (1, 5, 7), (300, 64, 1000)]:
    a = rng.standard_normal((m, k)).astype('f4'); b = rng.standard_normal((k, n)).astype('f4')
    ref = a.astype('f8') @ b.astype('f8')
    out = paddle.matmul(paddle.to_tensor(a), paddle.to_tensor(b)).numpy()
    errs.append(float(np.abs(out - ref).max() / np.abs(ref).max()))
import os
print(json.dumps({"errs": errs, "threads": paddle.get_flags(["FLAGS_paddle_num_threads"])["FLAGS_paddle_num_threads"],
                  "mkl": os.environ.get("MKL_DEBUG_CPU_TYPE"), "applied": ernie.cpu_setup.applied()}))
"""


def test_default_settings_give_correct_products_in_a_fresh_process():
    """The settings chosen on this machine run and compute float32 products to float32 accuracy."""
    out = json.loads(_child(MATMUL).stdout.strip().splitlines()[-1])
    assert max(out["errs"]) < 1e-5, out
    assert out["threads"] == cpu_setup.usable_cores()
    vendor, flags = cpu_setup.read_cpuinfo()
    assert out["mkl"] == cpu_setup.mkl_path(vendor, flags)[0]
    assert out["applied"]["enabled"]


def test_opt_out_leaves_paddle_defaults():
    proc = _child(MATMUL, ERNIE_CPU_TUNING="0")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["mkl"] is None and out["threads"] == 1 and not out["applied"]["enabled"]
    assert max(out["errs"]) < 1e-5


def test_import_prints_no_omp_warning():
    proc = _child("import ernie, paddle")
    assert "OMP_NUM_THREADS" not in proc.stderr
