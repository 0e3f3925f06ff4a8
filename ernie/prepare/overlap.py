"""Keep evaluation text out of a pre-training corpus.

A pre-training corpus fetched from elsewhere can hold text a downstream task is evaluated on: MSRA-NER is
cut from People's Daily, and 380 of the 5,000 test sentences of the split ``ernie.prepare.finetune_data``
makes share a run of 12 characters with People's Daily of January 1998 (for 81 of them one article covers
half the sentence or more; most of the others share a stock phrase of the paper, such as
建设有中国特色社会主义理论).

The relation used here: a corpus document and an evaluation text *share a run* when they have ``n``
consecutive units in common (words for English, characters for Chinese; lower-cased, punctuation and
spacing ignored; the document's title and sentences read as one run of units, so a text the corpus splits
into two sentences is found too), or, for an evaluation text shorter than ``n`` units but at least
``n // 2``, when the whole text stands in the document.  Shorter evaluation texts are not checked (they are
counted).  Defaults: 8 words, 12 characters.  The *coverage* of an evaluation text by a document is the
share of its units inside the runs they share (bench/overlap_scores.py calls a text one document covers
half or more *contained*).

``build_task_data --exclude_text`` drops every document that shares a run with an evaluation text, the
conservative rule (a shared stock phrase costs a document, never a leak): dropping only the sentence would
make its neighbours look adjacent to the sentence-structure tasks (next sentence, sentence distance,
reordering), and cutting the document would make its parts look like different documents.
"""
import collections
import os
import re
from typing import Dict, Hashable, Iterable, List, Set, Tuple

from ernie.prepare.corpus import Document
from reader.task_reader import DataError, read_tsv

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
    """The n-grams of a set of evaluation texts, each remembered with the key of its text and its position."""

    def __init__(self, lang, n=None):
        self.lang = lang
        self.n = int(n or DEFAULT_NGRAM[lang])
        if self.n < 2:
            raise ValueError("the overlap n-gram must be at least 2 units, got %d" % self.n)
        self.grams: Dict[Tuple[str, ...], List[Tuple[Hashable, int]]] = collections.defaultdict(list)
        self.short: Dict[int, Dict[Tuple[str, ...], List[Hashable]]] = collections.defaultdict(
            lambda: collections.defaultdict(list))
        self.lengths: Dict[Hashable, int] = {}      # units of each checked text
        self.keys: Set[Hashable] = set()            # every text added, checked or not

    @property
    def texts(self):
        return len(self.keys)

    @property
    def unchecked(self):
        """Texts shorter than n // 2 units: too short to check."""
        return len(self.keys) - len(self.lengths)

    def add(self, text, key):
        """Index ``text`` under ``key``; a key names one text (a second text under it is an error)."""
        if key in self.keys:
            raise ValueError("overlap key %r was added twice" % (key,))
        self.keys.add(key)
        u = tuple(units(text, self.lang))
        if len(u) >= self.n:
            for i in range(len(u) - self.n + 1):
                self.grams[u[i:i + self.n]].append((key, i))
        elif len(u) >= max(1, self.n // 2):
            self.short[len(u)][u].append(key)
        else:
            return
        self.lengths[key] = len(u)

    def covered(self, text):
        """{key: positions of that evaluation text's units inside runs ``text`` shares with it}."""
        u = tuple(units(text, self.lang))
        out: Dict[Hashable, Set[int]] = collections.defaultdict(set)
        for i in range(len(u) - self.n + 1):
            for key, pos in self.grams.get(u[i:i + self.n], ()):
                out[key].update(range(pos, pos + self.n))
        for length, texts in self.short.items():
            for i in range(len(u) - length + 1):
                for key in texts.get(u[i:i + length], ()):
                    out[key].update(range(length))
        return out

    def matches(self, text):
        """The keys of the evaluation texts ``text`` shares a run with (empty set: none)."""
        return set(self.covered(text))


def read_eval_texts(path):
    """The texts of a fine-tuning TSV (header with ``text_a``, and ``text_b`` if present; sequence-labelling
    characters joined by ``\\x02`` are joined back).  -> [(line number, column, text)]."""
    try:
        header, rows = read_tsv(path)
    except DataError as e:
        raise OverlapError(str(e)) from None
    columns = [c for c in ("text_a", "text_b") if c in header]
    return [(lineno, c, row[c].replace("\x02", "")) for lineno, row in rows for c in columns if row[c].strip()]


def index_files(paths, lang, n=None):
    """An :class:`OverlapIndex` of every text of the fine-tuning TSVs ``paths``, keyed (path, line, column);
    a file named twice is read once."""
    index = OverlapIndex(lang, n)
    for path in dict.fromkeys(os.path.abspath(p) for p in paths):
        for lineno, column, text in read_eval_texts(path):
            index.add(text, (path, lineno, column))
    return index


def document_text(doc: Document):
    """The document as one run of text: its title, then its sentences."""
    return " ".join([doc.title] + doc.sentences())


def drop_overlapping(docs: Iterable[Document], index: OverlapIndex):
    """-> (the documents that share no run with an evaluation text, a report dict for stats.json)."""
    kept: List[Document] = []
    dropped_docs = dropped_sentences = 0
    found = set()
    for doc in docs:
        keys = index.matches(document_text(doc))
        if keys:
            dropped_docs += 1
            dropped_sentences += len(doc.sentences())
            found |= keys
        else:
            kept.append(doc)
    report = {"ngram": index.n, "unit": "word" if index.lang == "en" else "character",
              "eval_texts": index.texts, "eval_texts_too_short_to_check": index.unchecked,
              "eval_texts_sharing_a_run": len(found), "documents_dropped": dropped_docs,
              "sentences_dropped": dropped_sentences, "documents_kept": len(kept)}
    return kept, report
