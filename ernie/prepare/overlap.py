"""Keep evaluation text out of a pre-training corpus.

A pre-training corpus fetched from elsewhere can hold the very sentences a downstream task evaluates on:
MSRA-NER is cut from People's Daily, and 380 of the 5,000 test sentences of the split
``ernie.prepare.finetune_data`` makes share a 12-character run with People's Daily of January 1998. A
model pre-trained on them has read part of its test set: unlabelled, but read, and such examples are
easier for it (docs/pretrain_transfer.md measures how much).

The relation used here: a corpus document *overlaps* an evaluation text when they share a run of ``n``
units (words for English, characters for Chinese; lower-cased, punctuation and spacing ignored; the title
and the sentences read as one run, so a text the corpus splits into two sentences is found too), or, for
an evaluation text shorter than ``n`` units but at least ``n // 2``, when the whole text stands in the
document as one run.  Shorter evaluation texts are not checked (they are counted).  Defaults: 8 words,
12 characters.  ``build_task_data --exclude_text`` drops every overlapping *document*: dropping only the
sentence would make its neighbours look adjacent to the sentence-structure tasks (next sentence, sentence
distance, reordering), and cutting the document would make its parts look like different documents.
"""
import collections
import re
from typing import Dict, Hashable, Iterable, List, Set, Tuple

from ernie.prepare.corpus import Document

DEFAULT_NGRAM = {"en": 8, "zh": 12}
_WORD_RE = re.compile(r"\w+")


class OverlapError(ValueError):
    """An evaluation-text file cannot be read as the flags say."""


def units(text, lang):
    """The units overlap is counted in: lower-cased words (en) or word characters (zh); punctuation,
    underscores and spacing dropped."""
    text = text.lower()
    if lang == "en":
        return [w for w in _WORD_RE.findall(text) if w.strip("_")]
    return [c for c in text if c.isalnum()]


class OverlapIndex:
    """The n-grams of a set of evaluation texts, each remembered with the keys of the texts it came from."""

    def __init__(self, lang, n=None):
        self.lang = lang
        self.n = int(n or DEFAULT_NGRAM[lang])
        if self.n < 2:
            raise ValueError("the overlap n-gram must be at least 2 units, got %d" % self.n)
        self.grams: Dict[Tuple[str, ...], Set[Hashable]] = collections.defaultdict(set)
        self.short: Dict[int, Dict[Tuple[str, ...], Set[Hashable]]] = collections.defaultdict(
            lambda: collections.defaultdict(set))
        self.texts = 0
        self.unchecked = 0      # texts shorter than n // 2 units

    def add(self, text, key=None):
        u = tuple(units(text, self.lang))
        self.texts += 1
        if len(u) >= self.n:
            for i in range(len(u) - self.n + 1):
                self.grams[u[i:i + self.n]].add(key)
        elif len(u) >= max(1, self.n // 2):
            self.short[len(u)][u].add(key)
        else:
            self.unchecked += 1

    def matches(self, text):
        """The keys of the evaluation texts ``text`` overlaps (empty set: none)."""
        u = tuple(units(text, self.lang))
        found = set()
        for i in range(len(u) - self.n + 1):
            found |= self.grams.get(u[i:i + self.n], set())
        for length, texts in self.short.items():
            for i in range(len(u) - length + 1):
                found |= texts.get(u[i:i + length], set())
        return found


def read_eval_texts(path):
    """The texts of a fine-tuning TSV (header with ``text_a``, and ``text_b`` if present; sequence-labelling
    characters joined by ``\\x02`` are joined back).  -> [(line number, text)]."""
    out = []
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            cols = [header.index(c) for c in ("text_a", "text_b") if c in header]
            if "text_a" not in header:
                raise OverlapError("%s:1: no text_a column in the header %r (a fine-tuning TSV is expected)"
                                   % (path, "\t".join(header)))
            for lineno, line in enumerate(f, 2):
                fields = line.rstrip("\n").split("\t")
                if len(fields) != len(header):
                    raise OverlapError("%s:%d: %d fields, the header has %d" % (path, lineno, len(fields), len(header)))
                for c in cols:
                    if fields[c].strip():
                        out.append((lineno, fields[c].replace("\x02", "")))
    except (OSError, UnicodeDecodeError) as e:
        raise OverlapError("%s: cannot read: %s" % (path, e)) from None
    return out


def index_files(paths, lang, n=None):
    """An :class:`OverlapIndex` of every text of the fine-tuning TSVs ``paths``, keyed (path, line)."""
    index = OverlapIndex(lang, n)
    for path in paths:
        for lineno, text in read_eval_texts(path):
            index.add(text, (path, lineno))
    return index


def document_matches(doc: Document, index: OverlapIndex):
    """The keys of the evaluation texts ``doc`` overlaps: its title and sentences are read as one run of
    units, so an evaluation text that the corpus splits into two sentences is found too."""
    return index.matches(" ".join([doc.title] + doc.sentences()))


def drop_overlapping(docs: Iterable[Document], index: OverlapIndex):
    """-> (the documents that overlap no evaluation text, a report dict for stats.json)."""
    kept: List[Document] = []
    dropped_docs = dropped_sentences = 0
    hit = set()
    for doc in docs:
        found = document_matches(doc, index)
        if found:
            dropped_docs += 1
            dropped_sentences += len(doc.sentences())
            hit |= found
        else:
            kept.append(doc)
    report = {"ngram": index.n, "unit": "word" if index.lang == "en" else "character",
              "eval_texts": index.texts, "eval_texts_too_short_to_check": index.unchecked,
              "eval_texts_found": len(hit), "documents_dropped": dropped_docs,
              "sentences_dropped": dropped_sentences, "documents_kept": len(kept)}
    return kept, report
