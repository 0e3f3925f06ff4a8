"""Every file, module and section the documentation cites exists in the repository, no document names a
path outside it, and every command the README tells a user to run exists (its Python entry points answer
``--help``).

What is checked, and where it is looked for:

* repository paths (``ernie/cli/pretrain.py``, ``docs/x.md``, ``script/en_glue/ernie_{base,large}/<TASK>/task.sh``):
  in the Markdown files (README.md, docs/, bench/, data/, script/, tests/fixtures/), the comments of the
  shell scripts and the comments and docstrings of the Python files.  A path counts when it starts with one
  of the repository's top-level folders; ``{a,b}`` is expanded and ``<NAME>``, ``step_N`` placeholders and
  ``*`` match anything, so the path must match at least one file or folder.  The few paths that name
  something outside the repository on purpose are listed, with the reason, in ``NOT_IN_REPOSITORY``.
* Markdown links: the target (relative to the linking file) exists, and a ``#section`` of a Markdown
  file is one of its headings.
* modules: ``python -m ernie.x.y`` anywhere (also in the strings of the Python code: messages telling a
  user what to run), and dotted names ``ernie.x.y[.attr]`` (everywhere) and ``reader.x[.attr]`` (in the
  Markdown files; in code ``reader`` is often a variable) name a module file of the repository (and the
  attribute occurs in it).
* no document (Markdown, shell or Python comments and docstrings) names ``/work/...`` or ``../shared`` /
  ``shared/reference``: the repository's documentation stands alone.
* the README's commands (``python X.py``, ``python -m M``, ``python bench/X.py``, ``sh script/...``)
  exist, and each Python entry point prints its usage for ``--help`` (all in one subprocess).
"""
import ast
import glob
import io
import json
import os
import re
import subprocess
import sys
import tokenize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_FOLDERS = ("ernie", "reader", "script", "config", "data", "tests", "bench", "docs")

# Paths that documents name on purpose although they are not in the repository, with why.
NOT_IN_REPOSITORY = {
    "data/Rdata.rdb/.rdx": "a file inside the janeaustenr Debian package (data/tasks/README.md), not ours",
    "tests/test_x.py": "an example node id in a docstring of tests/before_after.py",
}

PATH_RE = re.compile(r"(?<![\w./$~-])((?:%s)/[\w.{},*<>+/-]*[\w}>*/])" % "|".join(TOP_FOLDERS))
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MODULE_RE = re.compile(r"python3? -m ((?:ernie|reader|bench|tests)(?:\.\w+)+)")
DOTTED_RE = re.compile(r"(?<![\w./-])((?:ernie|reader)(?:\.[A-Za-z_]\w*)+)(?![\w(])")
# PaddleNLP's parameter names (its ErnieModel's attribute is "ernie"), named by the converter's comments
PADDLENLP_NAME = re.compile(r"ernie\.(embeddings|encoder|pooler)\.")
OUTSIDE_RE = re.compile(r"(?<![\w.-])/work/|\.\./shared\b|\bshared/reference\b")


def repository_files():
    """The repository's files: git's tracked and not-ignored ones in a checkout (so that outputs of runs,
    prepared data and downloaded models in ignored folders are left out), else every file below REPO."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, check=True).stdout.decode("utf-8")
        return sorted(p for p in set(out.split("\0")) if p and os.path.isfile(os.path.join(REPO, p)))
    except (OSError, subprocess.CalledProcessError):
        files = []
        for root, dirs, names in os.walk(REPO):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            files.extend(os.path.relpath(os.path.join(root, n), REPO) for n in names)
        return sorted(files)


def markdown_files():
    return [p for p in repository_files() if p.endswith(".md")]


def shell_files():
    return [p for p in repository_files() if p.endswith(".sh")]


def python_files():
    return [p for p in repository_files() if p.endswith(".py") and p != "tests/test_docs_references.py"]


def _read(rel):
    with open(os.path.join(REPO, rel), encoding="utf-8") as f:
        return f.read()


def shell_comments(rel):
    """(line number, text) of every comment of a shell script (also the ones after code on a line)."""
    out = []
    for number, line in enumerate(_read(rel).splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("#"):
            out.append((number, stripped))
        elif " # " in line:
            out.append((number, line.split(" # ", 1)[1]))
    return out


def python_text(rel):
    """(line number, text) of every comment and docstring of a Python file (a string that is a statement of
    its own; strings inside code are data, e.g. store keys, and may name files a run writes)."""
    out = []
    previous = tokenize.NEWLINE
    tokens = list(tokenize.generate_tokens(io.StringIO(_read(rel)).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.COMMENT:
            out.append((tok.start[0], tok.string))
        elif tok.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) \
                and i + 1 < len(tokens) and tokens[i + 1].type in (tokenize.NEWLINE, tokenize.COMMENT):
            out.extend((tok.start[0] + k, line) for k, line in enumerate(tok.string.splitlines()))
        if tok.type not in (tokenize.NL, tokenize.COMMENT):
            previous = tok.type
    return out


def python_strings(rel):
    """(line number, value) of every string of a Python file, adjacent literals joined (``"python -m ernie."
    "prepare.x"``): the messages and usage lines that tell a user what to run."""
    out, parts, start = [], [], 0
    for tok in tokenize.generate_tokens(io.StringIO(_read(rel)).readline):
        if tok.type == tokenize.STRING:
            try:
                value = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):
                value = tok.string                     # an f-string: its text is close enough
            if not parts:
                start = tok.start[0]
            parts.append(value if isinstance(value, str) else "")
        elif tok.type not in (tokenize.NL, tokenize.COMMENT, tokenize.NEWLINE) and parts:
            out.append((start, "".join(parts)))
            parts = []
    return out


def documents():
    """(file, line number, text) of every piece of documentation in the repository."""
    for rel in markdown_files():
        for number, line in enumerate(_read(rel).splitlines(), 1):
            yield rel, number, line
    for rel in shell_files():
        for number, text in shell_comments(rel):
            yield rel, number, text
    for rel in python_files():
        for number, text in python_text(rel):
            yield rel, number, text


def expand_braces(text):
    match = re.search(r"\{([^{}]*)\}", text)
    if not match:
        return [text]
    out = []
    for choice in match.group(1).split(","):
        out.extend(expand_braces(text[:match.start()] + choice + text[match.end():]))
    return out


def _as_glob(path):
    path = re.sub(r"<[^<>]*>", "*", path)
    # step_N, run<k>, ...: an upper-case placeholder after "_" stands for a number
    path = re.sub(r"_N\b", "_*", path)
    return glob.escape(path).replace("[*]", "*")


def path_exists(path, base_dir=""):
    """Whether a cited path (relative to the repository root, or to base_dir) names something that exists."""
    path = path.rstrip(".,;:")
    if path in NOT_IN_REPOSITORY:
        return True
    for candidate in expand_braces(path):
        for base in {REPO, os.path.join(REPO, base_dir)}:
            pattern = os.path.join(base, _as_glob(candidate))
            if glob.glob(pattern) or glob.glob(pattern.rstrip("/")):
                return True
    return False


def cited_paths(text):
    for match in PATH_RE.finditer(text):
        path = match.group(1)
        if "..." in path or "…" in path:
            continue
        # a path cut at a line end, or one written with a placeholder folder of the reader's choosing
        yield path


def heading_slugs(rel):
    """GitHub's anchors of a Markdown file's headings."""
    slugs = set()
    in_code = False
    for line in _read(rel).splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slugs.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return slugs


def module_file(dotted):
    """The repository file of the longest module prefix of a dotted name, and the rest of the name."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        base = os.path.join(REPO, *parts[:n])
        for candidate in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate, parts[n:]
    return None, parts


def module_name_ok(dotted):
    """Whether a dotted name is a module of the repository, or a name that occurs in one."""
    path, rest = module_file(dotted)
    if path is None:
        return False
    if not rest:
        return True
    with open(path, encoding="utf-8") as f:
        return re.search(r"\b%s\b" % re.escape(rest[0]), f.read()) is not None


# ---------------------------------------------------------------------------------------------------------
# the checks

CODE_COMMAND_RE = re.compile(r"\b(?:python3?|sh)\s+((?:%s)/[\w./-]+\.(?:py|sh))\b" % "|".join(TOP_FOLDERS))


def find_bad_paths():
    bad = []
    for rel, number, text in documents():
        base = os.path.dirname(rel)
        for path in cited_paths(text):
            if not path_exists(path, base):
                bad.append("%s:%d: %s" % (rel, number, path))
    for rel in python_files():                 # commands the code prints: "sh script/x.sh", "python bench/y.py"
        for number, text in python_strings(rel):
            for path in CODE_COMMAND_RE.findall(text):
                if not os.path.isfile(os.path.join(REPO, path)):
                    bad.append("%s:%d: %s" % (rel, number, path))
    return bad


def find_bad_links():
    bad = []
    for rel in markdown_files():
        base = os.path.dirname(rel)
        for number, line in enumerate(_read(rel).splitlines(), 1):
            for target in LINK_RE.findall(line):
                if re.match(r"[a-z]+:", target):          # http:, https:, mailto:
                    continue
                target, _, anchor = target.partition("#")
                linked = os.path.normpath(os.path.join(base, target)) if target else rel
                if not os.path.exists(os.path.join(REPO, linked)):
                    bad.append("%s:%d: link to %s" % (rel, number, target))
                elif anchor and linked.endswith(".md") and anchor not in heading_slugs(linked):
                    bad.append("%s:%d: no section #%s in %s" % (rel, number, anchor, linked))
    return bad


def find_bad_modules():
    bad = []
    code_strings = [(rel, number, text, False) for rel in python_files() for number, text in python_strings(rel)]
    for rel, number, text, is_doc in [d + (True,) for d in documents()] + code_strings:
        for module in MODULE_RE.findall(text):
            path, rest = module_file(module)
            if path is None or rest:
                bad.append("%s:%d: python -m %s" % (rel, number, module))
        if not is_doc:
            continue
        for dotted in DOTTED_RE.findall(text):
            # in code, "reader.x" is as often a variable named reader: there only ernie.* names count
            if dotted.endswith((".py", ".md", ".json", ".sh", ".txt")) or PADDLENLP_NAME.match(dotted) or \
                    (not rel.endswith(".md") and not dotted.startswith("ernie.")):
                continue
            if not module_name_ok(dotted):
                bad.append("%s:%d: %s" % (rel, number, dotted))
    return bad


def find_outside_references():
    bad = []
    for rel, number, text in documents():
        if OUTSIDE_RE.search(text):
            bad.append("%s:%d: %s" % (rel, number, text.strip()[:120]))
    return bad


def test_cited_paths_exist():
    assert find_bad_paths() == []


def test_markdown_links_and_sections_exist():
    assert find_bad_links() == []


def test_cited_modules_exist():
    assert find_bad_modules() == []


def test_no_reference_outside_the_repository():
    assert find_outside_references() == []


def test_the_checks_fail_on_bad_references(tmp_path, monkeypatch):
    """The extraction finds a planted bad path, link, section, module and outside path, in a document and
    in a message of the code."""
    doc = tmp_path / "docs" / "planted.md"
    doc.parent.mkdir()
    doc.write_text("See `ernie/cli/no_such_driver.py` and [x](architecture.md#no-such-section), [y](gone.md),\n"
                   "run `python -m ernie.prepare.no_such_tool`, read /work/notes/x.md or ../shared/y.\n"
                   "Fine: `ernie/cli/pretrain.py`, https://example.org/ernie/x.py, "
                   "`script/en_glue/ernie_{base,large}/<TASK>/task.sh`.\n", encoding="utf-8")
    (tmp_path / "docs" / "architecture.md").write_text("# Architecture\n## Layers\n", encoding="utf-8")
    for folder in ("ernie/cli", "ernie/prepare", "script/en_glue/ernie_base/SST-2",
                   "script/en_glue/ernie_large/SST-2"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "ernie/__init__.py").write_text("")
    (tmp_path / "ernie/cli/pretrain.py").write_text('MESSAGE = ("next: python -m reader."\n'
                                                    '           "prepare_finetune_data, sh script/gone.sh")\n')
    (tmp_path / "script/en_glue/ernie_base/SST-2/task.sh").write_text("")
    (tmp_path / "script/en_glue/ernie_large/SST-2/task.sh").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "REPO", str(tmp_path))
    assert find_bad_paths() == ["docs/planted.md:1: ernie/cli/no_such_driver.py",
                                "ernie/cli/pretrain.py:1: script/gone.sh"]
    assert find_bad_links() == ["docs/planted.md:1: no section #no-such-section in docs/architecture.md",
                                "docs/planted.md:1: link to gone.md"]
    assert find_bad_modules() == ["docs/planted.md:2: python -m ernie.prepare.no_such_tool",
                                  "docs/planted.md:2: ernie.prepare.no_such_tool",
                                  "ernie/cli/pretrain.py:1: python -m reader.prepare_finetune_data"]
    assert len(find_outside_references()) == 1


# ---------------------------------------------------------------------------------------------------------
# the README's layout section

LAYOUT_PACKAGES = ("reader/", "ernie/", "ernie/prepare/", "ernie/cli/")


def layout_entries(readme_text):
    """The folders and files the code block of the README's "## Layout" section lists, as repository paths.

    A line starting in column 0 names a top-level folder (``ernie/prepare/`` counts as one) or root files;
    an indented line names files or subfolders of that folder before its description (two or more spaces
    apart; several names separated by commas); deeper indented lines continue a description."""
    section = readme_text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    entries, folder = set(), ""
    for line in block.splitlines()[1:]:
        indent = len(line) - len(line.lstrip(" "))
        names = re.split(r"\s{2,}", line.strip())[0] if line.strip() else ""
        if not names or indent >= 8:
            continue
        if indent == 0 and names.endswith("/"):
            folder = names
            entries.add(folder)
        elif indent == 0:
            folder = ""
            entries.update(re.findall(r"[\w.-]+\.py\b", line))
        else:
            entries.update(folder + name.strip() for name in names.split(","))
    return entries


def layout_expected(files):
    """What the layout section must list: the top-level folders and root Python files, and every module and
    subpackage of the packages."""
    expected = set()
    for path in files:
        parts = path.split("/")
        if len(parts) == 1:
            if path.endswith(".py"):
                expected.add(path)
            continue
        if not parts[0].startswith("."):
            expected.add(parts[0] + "/")
        for package in LAYOUT_PACKAGES:
            if path.startswith(package) and path.endswith(".py"):
                rest = path[len(package):].split("/")
                if len(rest) == 1 and rest[0] != "__init__.py":
                    expected.add(path)
                elif len(rest) > 1 and package + rest[0] + "/" not in LAYOUT_PACKAGES:
                    expected.add(package + rest[0] + "/")
    return expected


def test_readme_layout_matches_the_tree():
    files = repository_files()
    listed = layout_entries(_read("README.md"))
    assert "ernie/cli/pretrain.py" in listed and "reader/" in listed
    assert sorted(p for p in listed if not os.path.exists(os.path.join(REPO, p))) == []
    assert sorted(layout_expected(files) - listed) == []


def test_layout_check_sees_a_missing_module():
    text = "x\n## Layout\n\n```\nernie/   lib\n  trainer.py   loop\n                 more\n" \
           "train.py  run_mrc.py\n```\n## Next\n"
    assert layout_entries(text) == {"ernie/", "ernie/trainer.py", "train.py", "run_mrc.py"}
    expected = layout_expected(["ernie/trainer.py", "ernie/scheduler.py", "ernie/__init__.py",
                                "ernie/tasks/base.py", "train.py", ".ci/run", "setup.py"])
    assert expected - layout_entries(text) == {"ernie/scheduler.py", "ernie/tasks/", "setup.py"}


def test_readme_contents_lists_every_section():
    text = _read("README.md")
    contents = text.split("\n## Contents\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"\]\(#([^)]+)\)", contents)
    sections = [re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^## (.+)$", text, re.M) if h.strip() not in ("Quick start", "Contents")]
    assert listed == sections


# ---------------------------------------------------------------------------------------------------------
# the README's commands

README_COMMAND_RE = re.compile(
    r"(?:^|[\s`(;&|])(?:python3?|sh)\s+(-m\s+[\w.]*\w(?![\w.<])|[\w./-]+\.(?:py|sh))")


def readme_commands():
    """The python/sh commands of README.md: ('-m', module) or ('file', path)."""
    found = []
    for line in _read("README.md").splitlines():
        for target in README_COMMAND_RE.findall(line):
            kind = ("-m", target.split()[1]) if target.startswith("-m") else ("file", target)
            if kind not in found:
                found.append(kind)
    return found


def repo_entry_points():
    out = []
    for kind, target in readme_commands():
        if kind == "-m" and not target.startswith(("ernie.", "reader.", "bench.")):
            continue          # pip, paddle.distributed.launch: not ours
        out.append((kind, target))
    return out


def test_readme_commands_exist():
    """Every python/sh command of the README names an existing module or file; shell scripts parse."""
    commands = repo_entry_points()
    assert ("file", "train.py") in commands and ("-m", "ernie.prepare.build_task_data") in commands
    missing = []
    for kind, target in commands:
        if kind == "-m":
            path, rest = module_file(target)
            if path is None or rest:
                missing.append("python -m " + target)
        elif not os.path.isfile(os.path.join(REPO, target)):
            missing.append(target)
        elif target.endswith(".sh"):
            check = subprocess.run(["sh", "-n", target], cwd=REPO, capture_output=True, text=True)
            if check.returncode:
                missing.append("%s: %s" % (target, check.stderr.strip()))
    assert missing == []


HELP_RUNNER = r"""
import contextlib, io, json, runpy, sys
results = {}
for kind, target in json.loads(sys.argv[1]):
    out = io.StringIO()
    sys.argv = [target, "--help"]
    code = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if kind == "-m":
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(target, run_name="__main__")
    except SystemExit as e:
        code = e.code
    except BaseException as e:
        code = "%s: %s" % (type(e).__name__, e)
    results[target] = [code, out.getvalue()[:400]]
print(json.dumps(results))
"""


def test_readme_python_entry_points_answer_help():
    """Each Python command of the README prints its usage and exits 0 for --help (one process for all)."""
    commands = [c for c in repo_entry_points() if c[0] == "-m" or c[1].endswith(".py")]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", HELP_RUNNER, json.dumps(commands)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    failed = {t: r for t, r in results.items() if r[0] not in (0, None) or "usage" not in r[1].lower()}
    assert failed == {}
    assert set(results) == {t for _, t in commands}
