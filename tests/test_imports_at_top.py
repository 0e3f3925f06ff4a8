"""The project's own modules are imported at module top, where a reader sees a module's dependencies: an
``import ernie...`` / ``from reader... import`` inside a function or class of ernie/, reader/ or bench/ is
an error unless ALLOWED lists it with its reason (the entry scripts at the root and script/ are checked too)."""
import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = ("ernie", "reader")
SCANNED = ("ernie", "reader", "bench", "script")

PADDLE_IN_WORKER = ("the benchmark loads paddle (and the modules importing it) only in its worker process, whose "
                    "environment carries the CPU thread settings the parent chose")

# (file, imported module): reason.  Shrink it; do not grow it without a reason a reader can check.
ALLOWED = {
    ("bench/bench_encoder.py", "ernie.modeling"): PADDLE_IN_WORKER,
    ("bench/bench_encoder.py", "ernie.runtime"): PADDLE_IN_WORKER,
    ("bench/bench_inference.py", "ernie.checkpoint"): PADDLE_IN_WORKER,
    ("bench/bench_inference.py", "ernie.cli.embed"): PADDLE_IN_WORKER,
    ("bench/bench_inference.py", "ernie.config"): PADDLE_IN_WORKER,
    ("bench/bench_inference.py", "ernie.runtime"): PADDLE_IN_WORKER,
    ("bench/_common.py", "ernie.cli.convert_paddlenlp"): PADDLE_IN_WORKER,
}


def local_project_imports(path):
    """{(imported module, line)} of the project imports inside a function or class body of ``path``."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    found = set()

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            if nested and isinstance(child, ast.Import):
                found.update((a.name, child.lineno) for a in child.names if a.name.split(".")[0] in PROJECT)
            elif nested and isinstance(child, ast.ImportFrom):
                if child.level:      # a relative import is the project's by definition
                    found.add(("." * child.level + (child.module or ""), child.lineno))
                elif child.module.split(".")[0] in PROJECT:
                    found.add((child.module, child.lineno))
            visit(child, inner)
    visit(tree, False)
    return found


def scanned_files():
    yield from sorted(name for name in os.listdir(REPO) if name.endswith(".py"))    # train.py, run_*.py, ...
    for top in SCANNED:
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(root, name), REPO).replace(os.sep, "/")


def all_local_imports():
    return {(path, module): line for path in scanned_files()
            for module, line in local_project_imports(os.path.join(REPO, path))}


def test_project_imports_are_at_module_top():
    wrong = ["%s:%d imports %s inside a function" % (path, line, module)
             for (path, module), line in sorted(all_local_imports().items()) if (path, module) not in ALLOWED]
    assert not wrong, "\n".join(wrong)


def test_every_allowed_local_import_still_exists():
    """An entry whose import moved to the top goes from ALLOWED too (the list only shrinks)."""
    stale = sorted(set(ALLOWED) - set(all_local_imports()))
    assert not stale, stale


def test_the_check_sees_a_local_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import os\nfrom ernie.config import ErnieConfig\n\n\ndef f():\n    from reader.vocab import "
                    "load_vocab\n    import ernie.modeling\n    import json\n\n\nclass C:\n    def g(self):\n"
                    "        from . import sibling\n")
    assert local_project_imports(str(path)) == {("reader.vocab", 6), ("ernie.modeling", 7), (".", 13)}
