"""The package layers depend one way: reader (online data) <- ernie library (model, tasks, training)
<- ernie.prepare (offline tools) and ernie.cli (command-line drivers).  Checked on the source with ast,
counting every import, also those inside functions."""
import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = ("ernie.cli", "ernie.prepare")


def project_modules():
    mods = {}
    for pkg in ("ernie", "reader"):
        for root, _, files in os.walk(os.path.join(REPO, pkg)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(root, f)
                    name = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                    mods[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return mods


def imports_of(path, mods, top_level_only=False):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + ["%s.%s" % (node.module, a.name) for a in node.names]
        else:
            continue
        out.update(n for n in names if n in mods)
    return out


def layer(module):
    if module.startswith(TOP):
        return 2
    return 1 if module.startswith("ernie") else 0


def test_no_module_imports_a_layer_above_it():
    mods = project_modules()
    wrong = []
    for name, path in sorted(mods.items()):
        for dep in sorted(imports_of(path, mods)):
            if layer(dep) > layer(name):
                wrong.append("%s imports %s" % (name, dep))
    assert not wrong, "\n".join(wrong)
    assert {"ernie.cli.pretrain", "ernie.prepare.build_task_data", "reader.text_units"} <= set(mods)


def test_no_import_cycle_between_modules():
    mods = project_modules()
    graph = {name: {d for d in imports_of(path, mods, top_level_only=True) if d != name and d in mods
                    and not name.startswith(d + ".")}        # a package's __init__ is imported first anyway
             for name, path in mods.items()}
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[n] = 2
    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "\n".join(cycles)
