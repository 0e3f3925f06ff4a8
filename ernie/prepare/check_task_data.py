"""Line-by-line checks of built ERNIE 2.0 task files: labels, text, and train/validation leakage.

Run as ``python -m ernie.prepare.check_task_data --data_dir data/tasks/zh --vocab_path config/vocab.txt``
(exit status 1 when a check fails, 2 when the files cannot be checked: a missing directory, a vocabulary
without the special tokens, a line that does not parse).  Two levels:

* **the files alone** (:func:`check_files`, always; what ``tests/test_task_data_quality.py`` runs on
  the shipped demo data): every line parses; no segment is without text (a section break
  ``* * *``, punctuation only); the number of segments fits the task (sentence_reordering: the
  segment count its class encodes); capitalization labels sit exactly on the first piece of
  every word with a letter; all pieces of a word share their token_document_relation label and
  punctuation has none; an ir_relevance query and title share a key word exactly when the class
  is 0 or 1 (on the text the model sees); no discourse_relation B still begins with a
  connective; no input carries two labels; no validation input is also a training input.
* **against the raw corpus** (:func:`check_against_raw`, with ``--corpus`` and the build options
  of the files): every segment is located in the raw documents of its split, independently of
  how the builder made it, and the label is recomputed from where it was found:
  chunks (knowledge_masking, capitalization, token_document_relation) are runs of consecutive
  whole sentences of one document, capitalization labels equal the case of the raw words,
  token_document_relation 1 only for words that occur in another sentence of the document
  (English: both directions); sentence_reordering segments are consecutive sentences of one
  paragraph whose shown order gives the written class; sentence_distance's class follows from
  where A and B are (B right after A / same document / another document); discourse_relation's
  A is followed in its paragraph by a sentence that begins with a connective use of a marker of
  the written sense and continues with B; an ir_relevance query is a sentence of the split and
  class 0 pairs it with its own document's title, classes 1 and 2 with another document's;
  no validation document's text is a training document's.

Every finding names the file, the line and the rule; :class:`Report` counts the lines checked
per rule, so a clean result says how much was looked at.
"""
import argparse
import collections
import gzip
import itertools
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List

from ernie.args import reports_errors
from ernie.prepare import corpus as corpus_mod
from ernie.prepare.build_pretrain_data import require_special_tokens
from ernie.prepare.build_task_data import first_line_titles, split_documents
from ernie.tasks import BuildContext, TaskError, TaskSet, get_task, list_tasks, task_specs
from ernie.tasks.base import Segment, has_text, word_items
from ernie.tasks.discourse_relation import SENSES, MarkerMatcher
from ernie.tasks.ir_relevance import IRRelevance
from ernie.tasks.sentence_reordering import permutation_class, segment_count
from reader import text_units
from reader.files import read_json
from reader.pretraining import BadLine
from reader.pretraining_tasks import TaskLineParser, TaskPretrainingReader
from reader.tokenization import BasicTokenizer
from reader.vocab import VocabError, load_vocab


class CheckError(ValueError):
    """The task files cannot be checked: a missing directory or tasks.json, a line that does not parse."""


CHUNK_TASKS = ("knowledge_masking", "capitalization", "token_document_relation")
PAIR_TASKS = ("sentence_distance", "discourse_relation", "ir_relevance", "next_sent")


@dataclass
class Finding:
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self):
        return "%s:%d: %s: %s" % (self.path, self.line, self.rule, self.detail)


@dataclass
class Report:
    findings: List[Finding] = field(default_factory=list)
    checked: Dict[str, int] = field(default_factory=lambda: collections.Counter())

    def add(self, path, line, rule, detail):
        self.findings.append(Finding(path, line, rule, detail))

    def by_rule(self):
        return collections.Counter(f.rule for f in self.findings)

    def summary(self):
        lines = ["%-40s %8d checked, %d failed" % (rule, n, self.by_rule().get(rule, 0))
                 for rule, n in sorted(self.checked.items())]
        return "\n".join(lines)


@dataclass
class Line:
    """A parsed task line split into its segments (token ids / tokens / seg labels / token labels)."""
    path: str
    lineno: int
    task: str
    label: object
    token_ids: list
    segments: list           # [(start, end)] positions of each segment in token_ids (no [CLS]/[SEP])
    seg_labels: list
    token_labels: dict

    def seg_ids(self, k):
        a, b = self.segments[k]
        return self.token_ids[a:b]


def _specs():
    return task_specs([get_task(n) for n in list_tasks()])


def read_task_file(path, sep_id, max_seq_len=512):
    """[Line] of a gzip (or plain) task file; a line that does not parse raises CheckError naming it."""
    parser = TaskLineParser(max_seq_len, 0, _specs(), ())
    opener = gzip.open if path.endswith(".gz") else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                s = parser.parse(raw)
            except BadLine as e:
                raise CheckError("%s:%d: line does not parse (%s): %s" % (path, lineno, e.reason, e.detail)) from None
            ids = list(s.token_ids)
            segs, start = [], 1
            for i in range(1, len(ids)):
                if ids[i] == sep_id:
                    segs.append((start, i))
                    start = i + 1
            extra = s.extra or {}
            out.append(Line(path, lineno, extra.get("task", "knowledge_masking"), extra.get("label", s.label), ids,
                            segs, list(s.seg_labels), dict(extra.get("token_labels", {}))))
    return out


def _words(tokens, segs, lang, start, end):
    return [(start + a, start + b) for a, b in word_items(tokens[start:end], segs[start:end], lang)]


def _piece_text(tokens):
    return "".join(t[2:] if t.startswith("##") else t for t in tokens)


# --------------------------------------------------------------------------- the files alone

def _ir_keywords(line, k, inv, lang):
    """Key words of segment k of an ir_relevance line, with the task's own definition."""
    a, b = line.segments[k]
    seg = Segment(line.token_ids[a:b], line.seg_labels[a:b], [inv[i] for i in line.token_ids[a:b]], [0] * (b - a))
    ctx = type("Ctx", (), {"lang": lang})()
    return IRRelevance.keywords(None, ctx, seg)


def check_files(data_dir, vocab_path, lang=None, report=None):
    """Checks of every ``<task>.{train,valid}.gz`` of ``data_dir`` that need no raw text (module docstring)."""
    report = report or Report()
    vocab = require_special_tokens(load_vocab(vocab_path), vocab_path)
    inv = {i: t for t, i in vocab.items()}
    sep_id, unk_id = vocab["[SEP]"], vocab.get("[UNK]")
    if not os.path.isdir(data_dir):
        raise CheckError("--data_dir %s is not a directory" % data_dir)
    if lang is None:
        lang = tasks_lang(data_dir)
    files = sorted(n for n in os.listdir(data_dir) if n.endswith((".train.gz", ".valid.gz")))
    inputs = {}
    for name in files:
        path = os.path.join(data_dir, name)
        task, split = name.split(".")[:2]
        lines = read_task_file(path, sep_id)
        labels_by_input = collections.defaultdict(set)
        for ln in lines:
            toks = [inv.get(i, "[UNK]") for i in ln.token_ids]
            report.checked["segment_has_text"] += 1
            for k, (a, b) in enumerate(ln.segments):
                if not any(has_text(t) or t == "[UNK]" for t in toks[a:b]):
                    report.add(path, ln.lineno, "segment_has_text", "segment %d is %r" % (k, " ".join(toks[a:b])))
            n = len(ln.segments)
            want = (segment_count(ln.label) if task == "sentence_reordering" else
                    2 if task in PAIR_TASKS else 1 if task in CHUNK_TASKS else None)
            if want is not None:
                report.checked["segment_count"] += 1
                if n != want:
                    report.add(path, ln.lineno, "segment_count", "%d segment(s), the task/class needs %d" % (n, want))
            caps = ln.token_labels.get("capitalization")
            if caps is not None:
                report.checked["capitalization_placement"] += 1
                for i, (t, c) in enumerate(zip(toks, caps)):
                    special = ln.seg_labels[i] == -1
                    labelled = not special and not t.startswith("##") and t != "[UNK]" and any(ch.isalpha() for ch in t)
                    if (c != -1) != labelled:
                        report.add(path, ln.lineno, "capitalization_placement",
                                   "token %d %r has label %d" % (i, t, c))
                        break
            tdr = ln.token_labels.get("token_document_relation")
            if tdr is not None:
                report.checked["token_document_relation_placement"] += 1
                bad = None
                for a, b in ln.segments:
                    if all(x == -1 for x in tdr[a:b]):
                        continue        # text that is not from a document (a title, a query of a file)
                    for wa, wb in _words(toks, ln.seg_labels, lang, a, b):
                        word = toks[wa:wb]
                        labs = set(tdr[wa:wb])
                        punct = not has_text(_piece_text(word)) or unk_id in ln.token_ids[wa:wb]
                        if len(labs) != 1 or (punct and labs != {-1}) or (not punct and -1 in labs):
                            bad = "word %r has labels %s" % (" ".join(word), sorted(labs))
                            break
                    if bad:
                        break
                if bad:
                    report.add(path, ln.lineno, "token_document_relation_placement", bad)
            if task == "ir_relevance" and n == 2:
                report.checked["ir_relevance_keywords"] += 1
                shared = _ir_keywords(ln, 0, inv, lang) & _ir_keywords(ln, 1, inv, lang)
                if bool(shared) != (ln.label in (0, 1)):
                    words = ["".join(_piece_text([inv[i]]) for i in k) for k in sorted(shared)]
                    report.add(path, ln.lineno, "ir_relevance_keywords",
                               "class %s, shared key words %s" % (ln.label, words or "none"))
            if task == "discourse_relation" and n == 2:
                report.checked["discourse_b_has_no_marker"] += 1
                a, b = ln.segments[1]
                text = (" " if lang == "en" else "").join(toks[a:b]).replace(" ##", "")
                found = MarkerMatcher(lang, "extended").match(text)
                if found is not None:
                    report.add(path, ln.lineno, "discourse_b_has_no_marker", "B begins with %r: %s" % (found[0], text[:40]))
            key = tuple(ln.token_ids)
            labels_by_input[key].add(ln.label)
            inputs.setdefault((task, split), {}).setdefault(key, ln.lineno)
        report.checked["one_label_per_input"] += len(lines)
        for ln in lines:
            if len(labels_by_input[tuple(ln.token_ids)]) > 1:
                report.add(path, ln.lineno, "one_label_per_input",
                           "the same input has the labels %s" % sorted(labels_by_input[tuple(ln.token_ids)], key=str))
    for (task, split), keys in sorted(inputs.items()):
        if split != "valid" or (task, "train") not in inputs:
            continue
        train = inputs[(task, "train")]
        report.checked["valid_input_not_in_train"] += len(keys)
        for key, lineno in sorted(keys.items(), key=lambda kv: kv[1]):
            if key in train:
                report.add(os.path.join(data_dir, "%s.valid.gz" % task), lineno, "valid_input_not_in_train",
                           "also line %d of %s.train.gz" % (train[key], task))
    return report


# --------------------------------------------------------------------------- against the raw corpus

class SentenceIndex:
    """The tokenized sentences of one split's documents, searchable by token ids."""

    K = 3

    def __init__(self, ctx):
        self.ctx = ctx
        self.sents = [ctx.sentences(d) for d in range(len(ctx.tok_docs))]
        self.para_of = []
        for d in range(len(ctx.tok_docs)):
            m = {}
            for p, (a, b) in enumerate(ctx.paragraph_ranges(d)):
                for i in range(a, b):
                    m[i] = p
            self.para_of.append(m)
        self.by_head, self.by_tail = collections.defaultdict(list), collections.defaultdict(list)
        for d, sents in enumerate(self.sents):
            for i, s in enumerate(sents):
                self.by_head[tuple(s.ids[:self.K])].append((d, i))
                self.by_tail[tuple(s.ids[-self.K:])].append((d, i))

    def starting(self, ids, whole_end=False):
        """[(d, i, j)]: ``ids`` is a prefix of sentences i, i+1, ... of document d, ending inside sentence j-1
        (``whole_end``: exactly at its end)."""
        out = []
        for d, i in self.by_head.get(tuple(ids[:self.K]), []) if len(ids) >= self.K else self._all_heads(ids):
            pos, j, sents = 0, i, self.sents[d]
            while pos < len(ids) and j < len(sents):
                s = sents[j].ids
                part = ids[pos:pos + len(s)]
                if part != s[:len(part)]:
                    break
                pos += len(part)
                j += 1
                if len(part) < len(s):
                    if whole_end or pos < len(ids):
                        pos = -1
                    break
            if pos == len(ids):
                out.append((d, i, j))
        return out

    def ending(self, ids):
        """[(d, i, j)]: ``ids`` is a suffix of sentences ..., j-1 of document d, starting inside sentence i."""
        out = []
        cands = self.by_tail.get(tuple(ids[-self.K:]), []) if len(ids) >= self.K else self._all_tails(ids)
        for d, last in cands:
            end, j, sents = len(ids), last, self.sents[d]
            while end > 0 and j >= 0:
                s = sents[j].ids
                part = ids[max(0, end - len(s)):end]
                if part != s[len(s) - len(part):]:
                    break
                end -= len(part)
                if end > 0 and len(part) < len(s):
                    break
                j -= 1
            if end == 0:
                out.append((d, j + 1, last + 1))
        return out

    def _all_heads(self, ids):
        return [(d, i) for d, sents in enumerate(self.sents) for i, s in enumerate(sents) if s.ids[:len(ids)] == ids]

    def _all_tails(self, ids):
        return [(d, i) for d, sents in enumerate(self.sents) for i, s in enumerate(sents)
                if len(s.ids) >= len(ids) and s.ids[len(s.ids) - len(ids):] == ids]


def _raw_words(text, lower):
    return [w for w in BasicTokenizer(do_lower_case=lower).tokenize(text) if any(c.isalpha() for c in w)]


def check_against_raw(data_dir, vocab_path, ctxs, analyzer, report=None, markers="extended"):
    """Locate every line of ``data_dir``'s files in the raw documents of its split and recompute its
    labels (module docstring).  ``ctxs``: {"train": BuildContext, "valid": BuildContext} of the build."""
    report = report or Report()
    vocab = load_vocab(vocab_path)
    inv = {i: t for t, i in vocab.items()}
    sep_id = vocab["[SEP]"]
    lang = ctxs["train"].lang
    pos_cut = getattr(analyzer, "pos_cut", None) if lang == "zh" else None
    matcher = MarkerMatcher(lang, markers, pos_cut=pos_cut)
    index = {split: SentenceIndex(ctx) for split, ctx in ctxs.items()}
    # documents of the two splits are disjoint in text
    train_docs = {tuple(s.text for s in ctxs["train"].sentences(d)) for d in range(len(ctxs["train"].tok_docs))}
    for d in range(len(ctxs["valid"].tok_docs)):
        report.checked["valid_document_not_in_train"] += 1
        if tuple(s.text for s in ctxs["valid"].sentences(d)) in train_docs:
            report.add(data_dir, 0, "valid_document_not_in_train", "validation document %d is a training one" % d)
    files = sorted(n for n in os.listdir(data_dir) if n.endswith((".train.gz", ".valid.gz")))
    for name in files:
        path = os.path.join(data_dir, name)
        task, split = name.split(".")[:2]
        idx, ctx = index[split], ctxs[split]
        for ln in read_task_file(path, sep_id):
            rule = "located_in_raw_" + task
            report.checked[rule] += 1
            fail = lambda detail, r=rule: report.add(path, ln.lineno, r, detail)  # noqa: E731
            if task in CHUNK_TASKS:
                hits = idx.starting(ln.seg_ids(0))
                if not hits:
                    fail("the segment is no run of sentences of a %s document" % split)
                    continue
                d, i, j = hits[0]
                _check_chunk_labels(ln, ctx, d, i, j, inv, lang, report)
            elif task == "sentence_reordering":
                places = []
                for k in range(len(ln.segments)):
                    hits = idx.starting(ln.seg_ids(k), whole_end=True)
                    places.append(hits)
                if not all(places):
                    fail("segment %d is no run of whole sentences" % [bool(p) for p in places].index(False))
                    continue
                ok = _reordering_consistent(places, idx, ln.label, permutation_class)
                report.checked["sentence_reordering_class"] += 1
                if not ok:
                    report.add(path, ln.lineno, "sentence_reordering_class",
                               "no placement of the segments in one paragraph gives class %s" % ln.label)
            elif task == "sentence_distance":
                a_hits, b_hits = idx.ending(ln.seg_ids(0)), idx.starting(ln.seg_ids(1))
                if not a_hits or not b_hits:
                    fail("A or B not found in the %s documents" % split)
                    continue
                report.checked["sentence_distance_class"] += 1
                found = set()
                for da, ia, ja in a_hits:
                    for db, ib, jb in b_hits:
                        found.add(2 if da != db else 0 if ib == ja else 1 if (ib > ja or jb < ia) else None)
                if ln.label not in found:
                    report.add(path, ln.lineno, "sentence_distance_class",
                               "written class %s, the raw positions give %s" % (ln.label, sorted(found, key=str)))
            elif task == "discourse_relation":
                a_hits = [h for h in idx.ending(ln.seg_ids(0)) if h[2] - h[1] == 1]
                if not a_hits:
                    fail("A is no sentence of the %s documents" % split)
                    continue
                report.checked["discourse_relation_marker"] += 1
                b = ln.seg_ids(1)
                ok, seen = False, []
                for d, i, _ in a_hits:
                    sents = idx.sents[d]
                    if i + 1 >= len(sents) or idx.para_of[d].get(i + 1) != idx.para_of[d].get(i):
                        continue
                    m = matcher.classify(sents[i + 1].text)
                    seen.append(m)
                    if m is None or m.rejected:
                        continue
                    if ctx.tokenize(m.rest).ids[:len(b)] == b and SENSES[m.marker] == ln.label:
                        ok = True
                if not ok:
                    report.add(path, ln.lineno, "discourse_relation_marker",
                               "the next sentence's marker does not give B and class %s: %s" % (ln.label, seen[:1]))
            elif task == "ir_relevance":
                q_hits = [h for h in idx.starting(ln.seg_ids(0)) if h[2] - h[1] == 1]
                title = ln.seg_ids(1)
                t_docs = [d for d in range(len(ctx.tok_docs))
                          if ctx.tok_docs[d].title and ctx.tokenize(ctx.tok_docs[d].title).ids[:len(title)] == title]
                if not q_hits or not t_docs:
                    fail("query or title not found in the %s documents" % split)
                    continue
                report.checked["ir_relevance_title"] += 1
                own = any(d in t_docs for d, _, _ in q_hits)
                other = any(td != d for d, _, _ in q_hits for td in t_docs)
                if (ln.label == 0 and not own) or (ln.label in (1, 2) and not other):
                    report.add(path, ln.lineno, "ir_relevance_title",
                               "class %s, but the title is %s the query's document's" % (ln.label, "not" if not own else "only"))
    return report


def _reordering_consistent(places, idx, label, permutation_class):
    """Whether some placement of the shown segments (each a run of whole sentences) tiles one window of
    one paragraph whose original order gives the written class."""
    for combo in itertools.product(*places):
        docs = {d for d, _, _ in combo}
        if len(docs) != 1:
            continue
        d = docs.pop()
        order = sorted(range(len(combo)), key=lambda k: combo[k][1])
        spans = [combo[k] for k in order]
        if any(a[2] != b[1] for a, b in zip(spans, spans[1:])):
            continue
        paras = {idx.para_of[d][i] for _, a, b in spans for i in range(a, b)}
        if len(paras) != 1:
            continue
        rank = {k: r for r, k in enumerate(order)}
        if permutation_class(tuple(rank[k] for k in range(len(combo)))) == label:
            return True
    return False


def _check_chunk_labels(ln, ctx, d, i, j, inv, lang, report):
    """Capitalization and token_document_relation labels of a chunk located at sentences [i, j) of document d."""
    sents = ctx.sentences(d)
    a, b = ln.segments[0]
    toks = [inv.get(t, "[UNK]") for t in ln.token_ids]
    caps = ln.token_labels.get("capitalization")
    if caps is not None:
        report.checked["capitalization_raw_case"] += 1
        raw = [w for s in sents[i:j] for w in _raw_words(s.text, False)]
        firsts = [p for p in range(a, b) if not toks[p].startswith("##") and any(c.isalpha() for c in toks[p])]
        # the word-initial tokens and the raw words, both in order ([UNK] words carry no label)
        if len(firsts) != len(raw):
            report.checked["capitalization_unaligned"] += 1
        else:
            for p, w in zip(firsts, raw):
                if caps[p] != -1 and caps[p] != int(w[:1].isupper()):
                    report.add(ln.path, ln.lineno, "capitalization_raw_case",
                               "token %r labelled %d, raw word %r" % (toks[p], caps[p], w))
                    break
    tdr = ln.token_labels.get("token_document_relation")
    if tdr is not None:
        report.checked["token_document_relation_raw"] += 1
        others = [s for k, s in enumerate(sents) if not i <= k < j]
        if lang == "en":
            other_words = {w for s in others for w in _raw_words(s.text, True)}
        else:
            other_text = "".join(s.text for s in others)
        for wa, wb in _words(toks, ln.seg_labels, lang, a, b):
            lab = tdr[wa]
            if lab == -1:
                continue
            word = _piece_text(toks[wa:wb])
            present = word in other_words if lang == "en" else word in other_text
            # English words are compared both ways; a Chinese word (a jieba unit) found inside another word
            # elsewhere may rightly be 0, so only the 1s are checked
            if (lab == 1 and not present) or (lang == "en" and lab == 0 and present):
                report.add(ln.path, ln.lineno, "token_document_relation_raw",
                           "word %r labelled %d, %s elsewhere in the document"
                           % (word, lab, "found" if present else "not found"))
                break


def raw_contexts(corpus, input_format, lang, vocab_path, num_valid_docs, valid_split="spread", entity_dict=None,
                 first_line_title=False, max_seq_len=128):
    """(BuildContexts of the train and valid splits as ``ernie.prepare.build_task_data`` makes them, analyzer)."""
    docs = corpus_mod.load_corpus(corpus, input_format, lang)
    if first_line_title:
        docs = first_line_titles(docs)
    entities = corpus_mod.load_sanguo_entities(entity_dict) if entity_dict else None
    analyzer = text_units.make_analyzer(lang, True, entities, False)
    vocab = load_vocab(vocab_path)
    train_idx, valid_idx = split_documents(len(docs), num_valid_docs, valid_split)
    ctxs = {}
    for split, idx in (("train", train_idx), ("valid", valid_idx)):
        part = [docs[i] for i in idx]
        tok = text_units.tokenize_documents(part, text_units.analyze_documents(part, analyzer), vocab)
        ctxs[split] = BuildContext(tok, lang, vocab, max_seq_len, analyzer=analyzer, split=split)
    return ctxs, analyzer


def masked_target_baseline(filelist, vocab_path, batch_size=512, in_tokens=True, max_seq_len=128, random_seed=1,
                           voc_size=0):
    """What a model that ignores the context scores on a validation set's masked targets, read exactly as
    the pre-training validation reads them (the same seeded masks): {"targets": M, "most_frequent": (token,
    share), "unigram_entropy": nats of the targets' own distribution}.  The defaults are the CPU demo's."""

    ts = TaskSet(["knowledge_masking"], require_labels=False)
    reader = TaskPretrainingReader(filelist, vocab_path, parser_factory=ts.line_parser, batch_hook=ts.add_feeds,
                                   batch_size=batch_size, in_tokens=in_tokens, max_seq_len=max_seq_len,
                                   random_seed=random_seed, voc_size=voc_size, shuffle_files=True, epoch=1,
                                   is_test=True)
    counts = collections.Counter()
    for batch in reader.batches():
        counts.update(int(x) for x in batch["mask_label"].reshape(-1))
    total = sum(counts.values())
    if not total:
        raise TaskError("%s: no masked target" % filelist)
    vocab = {}
    with open(vocab_path, encoding="utf-8") as f:
        for k, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            vocab[int(parts[1]) if len(parts) > 1 else k] = parts[0]
    top, n = counts.most_common(1)[0]
    return {"targets": total, "most_frequent": (vocab.get(top, top), n, n / total),
            "unigram_entropy": -sum(c / total * math.log(c / total) for c in counts.values())}


def tasks_lang(data_dir):
    """The language of the build in ``data_dir`` (its tasks.json)."""
    config = read_json(os.path.join(data_dir, "tasks.json"), "task configuration", CheckError, expect=dict)
    if config.get("lang") not in ("zh", "en"):
        raise CheckError("%s: lang is %r, not zh or en" % (os.path.join(data_dir, "tasks.json"), config.get("lang")))
    return config["lang"]


@reports_errors(CheckError, VocabError, corpus_mod.CorpusError, TaskError, status=2)
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m ernie.prepare.check_task_data", description=__doc__.split("\n")[0])
    p.add_argument("--data_dir", help="directory of <task>.{train,valid}.gz and tasks.json")
    p.add_argument("--masked_target_baseline", metavar="VALID_FILELIST",
                   help="only print what a model ignoring the context scores on this knowledge-masking validation "
                        "set, masked as the CPU demo's validation masks it (512-token batches, max_seq_len 128, "
                        "seed 1, vocab_size 6000)")
    p.add_argument("--vocab_path", required=True)
    p.add_argument("--corpus", nargs="+", help="the raw corpus of the build (enables the raw-text checks)")
    p.add_argument("--input_format", default="one_doc_per_file")
    p.add_argument("--lang", choices=("zh", "en"))
    p.add_argument("--entity_dict")
    p.add_argument("--num_valid_docs", type=int, default=0)
    p.add_argument("--valid_split", default="spread")
    p.add_argument("--first_line_title", action="store_true")
    p.add_argument("--max_seq_len", type=int, default=128)
    p.add_argument("--show", type=int, default=20, help="print at most this many findings per rule")
    args = p.parse_args(argv)
    if args.masked_target_baseline:
        r = masked_target_baseline(args.masked_target_baseline, args.vocab_path, voc_size=6000)
        tok, n, share = r["most_frequent"]
        print("masked targets: %d; most frequent: %r, %d of them = %.6f; unigram entropy of the targets: %.4f nats"
              % (r["targets"], tok, n, share, r["unigram_entropy"]))
        return 0
    if not args.data_dir:
        p.error("--data_dir is required")
    report = check_files(args.data_dir, args.vocab_path, args.lang)
    if args.corpus:
        lang = args.lang or tasks_lang(args.data_dir)
        ctxs, analyzer = raw_contexts(args.corpus, args.input_format, lang, args.vocab_path, args.num_valid_docs,
                                      args.valid_split, args.entity_dict, args.first_line_title, args.max_seq_len)
        check_against_raw(args.data_dir, args.vocab_path, ctxs, analyzer, report)
    print(report.summary())
    shown = collections.Counter()
    for f in report.findings:
        shown[f.rule] += 1
        if shown[f.rule] <= args.show:
            print(f)
    if report.findings:
        print("%d finding(s)" % len(report.findings))
        return 1
    print("no finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
