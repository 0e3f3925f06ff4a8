"""Run tests against older code and against this tree: which fail before, which pass after.

    python tests/before_after.py --base 6027c7f --out before_after.json \\
        tests/test_run_safety.py tests/test_strict_inputs.py::test_flags_are_checked ...

The base tree is ``git archive <base>`` unpacked into a temporary directory (no worktree is
touched); the test files of the given nodes, and every ``--support`` file, are copied into it from
this tree, so the same test code runs against the old library code.  A name a test module imports
that the base code lacks gets a placeholder (an exception class the old code never raises, or an
object that fails when used), so each test runs and fails on its own instead of the whole module
failing to import; the placeholders are listed.  Each test file runs in its own pytest process
(``-p no:cacheprovider``) with a per-test time limit (``--timeout``, raised as an exception by SIGALRM, so a test that blocks on the old code fails
instead of hanging).  The outcome per test (passed / failed / error / skipped) and the first line of
its failure message go to ``--out`` (JSON) and a Markdown table on stdout.  A test that passes on the
base does not show that its guarantee is new.  Exit status 1 when a test fails on this tree.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PLUGIN = '''
import importlib
import os
import re
import signal
import sys
import types

import pytest

LIMIT = %d
MISSING = re.compile(r"cannot import name '(\\w+)' from '([\\w.]+)'")


class Missing:
    """What a name the base code lacks is replaced by: any use of it fails."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise NotImplementedError("%%s does not exist in the base code" %% self.name)

    def __getattr__(self, attr):
        raise NotImplementedError("%%s does not exist in the base code" %% self.name)


def placeholder(module, name):
    """A class name becomes an exception class the base code never raises; anything else a Missing."""
    value = type(name, (Exception,), {"__module__": module}) if name[:1].isupper() and not name.isupper() \\
        else Missing("%%s.%%s" %% (module, name))
    setattr(sys.modules[module], name, value)
    with open(os.environ["BEFORE_AFTER_STUBS"], "a") as f:
        f.write("%%s.%%s\\n" %% (module, name))


def pytest_pycollect_makemodule(module_path, parent):
    """Import the test module first; each name it imports that the base code lacks gets a placeholder,
    so that its tests run (and fail where they use it) instead of the whole module failing to import."""
    if str(module_path.parent) not in sys.path:
        sys.path.insert(0, str(module_path.parent))
    for _ in range(50):
        try:
            importlib.import_module(module_path.stem)
            return None
        except ModuleNotFoundError as e:
            if not e.name or e.name in sys.modules or "." not in e.name:
                return None
            module = types.ModuleType(e.name)
            sys.modules[e.name] = module
            parent_name, _, child = e.name.rpartition(".")
            setattr(importlib.import_module(parent_name), child, module)
        except ImportError as e:
            m = MISSING.search(str(e))
            if not m:
                return None
            placeholder(m.group(2), m.group(1))
        except Exception:
            return None
    return None


def _timeout(signum, frame):
    raise TimeoutError("before_after: the test ran longer than %%d s (blocked?)" %% LIMIT)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
'''


def test_file(node):
    return node.split("::", 1)[0]


def make_base_tree(base, dest, files):
    """``git archive base`` into ``dest``, then ``files`` (paths relative to the repository) copied from here."""
    archive = subprocess.run(["git", "-C", REPO, "archive", base], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    for rel in files:
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), target)


def node_id(case):
    """pytest node id of a junit-xml testcase (``tests.test_x`` + ``test_y[p]`` -> ``tests/test_x.py::test_y[p]``)."""
    cls, name = case.get("classname", ""), case.get("name", "")
    if not cls:                      # a collection error: name is the module
        return name.replace(".", "/") + ".py"
    parts = cls.split(".")
    path = []
    while parts:                     # classname: module path, then maybe a test class
        path.append(parts.pop(0))
        if os.path.exists(os.path.join(REPO, *path[:-1], path[-1] + ".py")):
            break
    return "/".join(path) + ".py::" + "::".join(parts + [name])


def run_tree(tree, nodes, timeout, log):
    """``({node id: (outcome, first line of the message)}, [names given placeholders])`` of ``nodes`` run in
    ``tree``, one pytest process per test file."""
    results, stubs = {}, []
    by_file = {}
    for node in nodes:
        by_file.setdefault(test_file(node), []).append(node)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "before_after_plugin.py"), "w") as f:
            f.write(PLUGIN % timeout)
        stub_file = os.path.join(tmp, "stubs.txt")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, tmp]), BEFORE_AFTER_STUBS=stub_file)
        for path, file_nodes in by_file.items():
            xml = os.path.join(tmp, "junit.xml")
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "before_after_plugin",
                   "--junitxml", xml, "-o", "junit_family=xunit1"] + file_nodes
            log("%s: %s" % (tree, " ".join(file_nodes)))
            if os.path.exists(xml):
                os.remove(xml)
            subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not os.path.exists(xml):
                results[path] = ("error", "pytest wrote no report")
                continue
            for case in ET.parse(xml).getroot().iter("testcase"):
                outcome, message = "passed", ""
                for tag in ("failure", "error", "skipped"):
                    child = case.find(tag)
                    if child is not None:
                        outcome = {"failure": "failed"}.get(tag, tag)
                        text = child.get("message") or (child.text or "")
                        message = text.strip().splitlines()[0][:300] if text.strip() else ""
                        break
                results[node_id(case)] = (outcome, message)
        if os.path.exists(stub_file):
            with open(stub_file) as f:
                stubs = sorted(set(f.read().split()))
    return results, stubs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nodes", nargs="+", help="test files or node ids, relative to the repository root")
    parser.add_argument("--base", required=True, help="the commit whose library code the tests run against")
    parser.add_argument("--support", nargs="*", default=[],
                        help="more files copied from this tree into the base tree (helpers the tests import)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per test")
    parser.add_argument("--out", help="JSON file for the outcomes")
    args = parser.parse_args(argv)
    log = lambda msg: print("[before_after] %s" % msg, file=sys.stderr, flush=True)   # noqa: E731
    copied = sorted({test_file(n) for n in args.nodes} | set(args.support))
    with tempfile.TemporaryDirectory(prefix="before_after.") as base_tree:
        make_base_tree(args.base, base_tree, copied)
        before, stubs = run_tree(base_tree, args.nodes, args.timeout, log)
    after, _ = run_tree(REPO, args.nodes, args.timeout, log)
    rows = []
    for node in sorted(set(before) | set(after)):
        b, a = before.get(node, ("absent", "")), after.get(node, ("absent", ""))
        rows.append({"test": node, "before": b[0], "before_message": b[1], "after": a[0], "after_message": a[1]})
    if stubs:
        print("Names the base code lacks (placeholders that fail when used): %s\n" % ", ".join(stubs))
    print("| test | before (%s) | after | why it fails before |" % args.base)
    print("|---|---|---|---|")
    for r in rows:
        print("| `%s` | %s | %s | %s |" % (r["test"], r["before"], r["after"],
                                        r["before_message"].replace("|", "\\|") if r["before"] != "passed" else ""))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"base": args.base, "copied_into_base": copied, "placeholders_in_base": stubs,
                       "timeout_s": args.timeout, "tests": rows}, f, indent=1)
    return 1 if any(r["after"] in ("failed", "error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
