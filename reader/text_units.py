"""Text units shared by pre-training data building and the pre-training tasks.

A sentence is analysed into knowledge-masking *units* (``Unit``: a word, a
Chinese entity, an English capitalised phrase), WordPiece-tokenised into a
``TokSentence`` (ids plus seg labels: 0 at a unit's first token, 1 inside),
and documents of such sentences become ERNIE 1.0 sentence pairs
(``create_samples``).  The offline builders (``ernie.prepare.build_pretrain_data``,
``ernie.prepare.build_task_data``) and the tasks of ``ernie.tasks`` both use these,
so they live here, below both.  The algorithms are described in
``ernie/prepare/build_pretrain_data.py``'s module docstring.
"""
import collections
import logging
import random
from dataclasses import dataclass, field
from typing import List

from reader.tokenization import BasicTokenizer, WordpieceTokenizer, strip_accents
from reader.vocab import VocabError

PAD, CLS, SEP, MASK, UNK = "[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"
LEADING_SPECIALS = (PAD, CLS, SEP, MASK)
MIN_VOCAB_SIZE = len(LEADING_SPECIALS) + 1      # the specials and [UNK]
MIN_SEQ_LEN = 5                                 # [CLS] a [SEP] b [SEP]
# jieba frequency given to dictionary entity mentions (jieba's own is kept when higher).
ENTITY_FREQ = 2000
ENTITY_TAGS = ("nr", "ns", "nt")          # prefixes: nr also covers nrfg / nrt
EN_TITLE_ABBREVIATIONS = frozenset("Mr Mrs Ms Messrs Dr St Col Capt Gen Lt Sgt Rev Hon Prof Sir".split())


class PretrainDataError(ValueError):
    """Bad input for building pre-training samples (corpus, vocabulary, options) or a malformed
    sample line; the message names file, line and reason.  Fine-tuning data errors are
    ``reader.task_reader.DataError``."""


# --------------------------------------------------------------------------- units

@dataclass
class Unit:
    """One knowledge-masking unit: ``words`` are basic tokens (before WordPiece).

    ``kind``: ``word``, ``entity`` (zh person/place/organisation) or ``phrase``
    (en capitalised span).  ``cased[i]`` is 1 when ``words[i]`` began with an
    upper-case letter in the raw text (kept for a later capitalisation task).
    """
    words: List[str]
    kind: str = "word"
    cased: List[int] = field(default_factory=list)


def _is_entity_tag(flag):
    return flag.startswith(ENTITY_TAGS)


def units_from_pos(pairs, known=frozenset()):
    """(word, POS flag) pairs -> [(text, kind)]: entities marked, consecutive ``nr*`` merged.

    With a non-empty ``known`` (dictionary mentions, already whole names)
    the dictionary is the only source of person names: an ``nr*`` word
    outside it is an ordinary word, and nothing is merged.  Whitespace-only
    words are dropped (they separate units).
    """
    out = []
    prev_person = False
    for word, flag in pairs:
        if not word.strip():
            prev_person = False
            continue
        if known and flag.startswith("nr") and word not in known:
            flag = "n"
        person = flag.startswith("nr") and not known
        if person and prev_person:
            out[-1] = (out[-1][0] + word, "entity")
        else:
            out.append((word, "entity" if _is_entity_tag(flag) else "word"))
        prev_person = person
    return out


class ZhUnitAnalyzer:
    """Chinese sentence -> units via ``jieba.posseg`` (see the module docstring).

    ``entities``: optional {mention: POS tag} (e.g. ``corpus.load_sanguo_entities``).
    A private jieba dictionary is used, so the global ``jieba`` state is untouched.
    """

    def __init__(self, do_lower_case=True, entities=None, hmm=False):
        import jieba
        import jieba.posseg

        jieba.setLogLevel(logging.WARNING)
        self.hmm = hmm
        self.basic = BasicTokenizer(do_lower_case=do_lower_case)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        self._pos = jieba.posseg.POSTokenizer(self._jieba)
        self.num_entities = 0
        self.num_pruned = 0
        self.known = frozenset()
        if entities:
            self._add_entities(entities)

    def _add_entities(self, entities):
        tags = self._pos.word_tag_tab
        freq = self._jieba.FREQ
        for mention in sorted(entities):
            tag = entities[mention]
            self._jieba.add_word(mention, max(freq.get(mention, 0), ENTITY_FREQ), tag)
            self.num_entities += 1
        self.known = frozenset(entities)
        # The dictionary becomes the only source of person names: jieba's own
        # nr* words are mostly modern names or junk that hides a mention in
        # this text (玄德曰, 张宝引, 操引兵 in 曹操引兵), so they leave the private dictionary.
        for word, tag in tags.items():
            if tag.startswith("nr") and word not in self.known and freq.get(word):
                self._jieba.total -= freq[word]
                freq[word] = 0
                self.num_pruned += 1

    def pos_cut(self, sentence):
        """jieba.posseg segmentation: [(word, flag)]."""
        return [(p.word, p.flag) for p in self._pos.cut(sentence, HMM=self.hmm)]

    def analyze(self, sentence):
        units = []
        for text, kind in units_from_pos(self.pos_cut(sentence), self.known):
            words = self.basic.tokenize(text)
            if words:
                units.append(Unit(words, kind, [0] * len(words)))
        return units


class EnUnitAnalyzer:
    """English sentence -> units: words, and capitalised spans as phrases (see the module docstring)."""

    def __init__(self, do_lower_case=True):
        self.do_lower_case = do_lower_case
        self.cased_basic = BasicTokenizer(do_lower_case=False)

    @staticmethod
    def capitalised_spans(words):
        """Index ranges [(start, end)] of capitalised spans in ``words`` (raw case)."""
        first_word = next((i for i, w in enumerate(words) if w.isalpha()), None)

        def capital(i):
            w = words[i]
            return w.isalpha() and w[0].isupper() and w != "I" and i != first_word

        spans, i, n = [], 0, len(words)
        while i < n:
            if not capital(i):
                i += 1
                continue
            j, count = i + 1, 1
            while j < n:
                if capital(j):
                    j, count = j + 1, count + 1
                elif (words[j] == "." and words[j - 1] in EN_TITLE_ABBREVIATIONS
                      and j + 1 < n and capital(j + 1)):
                    j += 1
                else:
                    break
            if count >= 2:
                spans.append((i, j))
            i = j
        return spans

    def _norm(self, word):
        return strip_accents(word.lower()) if self.do_lower_case else word

    def analyze(self, sentence):
        words = self.cased_basic.tokenize(sentence)
        spans = dict(self.capitalised_spans(words))
        units, i = [], 0
        while i < len(words):
            end = spans.get(i, i + 1)
            raw = words[i:end]
            normed = [self._norm(w) for w in raw]
            keep = [(n, int(r[:1].isupper())) for n, r in zip(normed, raw) if n]
            if keep:
                units.append(Unit([n for n, _ in keep], "phrase" if end - i > 1 else "word",
                                  [c for _, c in keep]))
            i = end
        return units


def make_analyzer(lang, do_lower_case=True, entities=None, hmm=False):
    if lang == "zh":
        return ZhUnitAnalyzer(do_lower_case=do_lower_case, entities=entities, hmm=hmm)
    if lang == "en":
        if entities:
            raise PretrainDataError("--entity_dict is only used for Chinese (--lang zh)")
        return EnUnitAnalyzer(do_lower_case=do_lower_case)
    raise PretrainDataError("unknown language %r (expected zh or en)" % lang)


# --------------------------------------------------------------------------- documents

@dataclass
class TokSentence:
    """A tokenized sentence: ``ids`` (vocab ids), ``segs`` (0 unit start / 1 continuation),
    ``tokens`` (vocab tokens), ``caps`` (1 where the token's raw word was capitalised), ``text``."""
    ids: List[int]
    segs: List[int]
    tokens: List[str]
    caps: List[int]
    text: str = ""

    def __len__(self):
        return len(self.ids)


@dataclass
class TokDocument:
    """``paragraphs``: lists of TokSentence (empty sentences dropped); ``title``/``source``/``corpus`` from the
    corpus document."""
    paragraphs: List[List[TokSentence]]
    title: str = ""
    source: str = ""
    corpus: str = ""

    def sentences(self):
        return [s for p in self.paragraphs for s in p]


def analyze_documents(docs, analyzer):
    """Documents -> [doc][paragraph][sentence] -> list of Units (same nesting as the corpus)."""
    return [[[analyzer.analyze(s) for s in para] for para in doc.paragraphs] for doc in docs]


def tokenize_units(units, vocab, wordpiece, text=""):
    ids, segs, tokens, caps = [], [], [], []
    unk = vocab[UNK]
    for unit in units:
        first = True
        for word, cased in zip(unit.words, unit.cased or [0] * len(unit.words)):
            for piece in wordpiece.tokenize(word):
                tokens.append(piece)
                ids.append(vocab.get(piece, unk))
                segs.append(0 if first else 1)
                caps.append(cased)
                first = False
    return TokSentence(ids, segs, tokens, caps, text)


def tokenize_documents(docs, analyzed, vocab):
    """Analysed documents -> TokDocuments with vocabulary ids (unknown words -> [UNK])."""
    if UNK not in vocab:
        raise VocabError("the vocabulary lacks %s, needed for unknown characters and words" % UNK)
    wordpiece = WordpieceTokenizer(vocab, unk_token=UNK)
    out = []
    for doc, adoc in zip(docs, analyzed):
        paragraphs = []
        for para, apara in zip(doc.paragraphs, adoc):
            sents = [tokenize_units(units, vocab, wordpiece, text) for text, units in zip(para, apara)]
            sents = [s for s in sents if len(s)]
            if sents:
                paragraphs.append(sents)
        out.append(TokDocument(paragraphs, doc.title, doc.source, doc.corpus))
    return out



# --------------------------------------------------------------------------- samples

@dataclass
class SentencePairSample:
    """A sentence pair.  ``a_*``/``b_*``: ids and seg labels of the segments (no specials).

    Provenance for checks: ``doc`` (index of A's document), ``b_doc``, and
    ``a_sents``/``b_sents`` = (first, end) sentence indices before truncation.
    """
    a_ids: List[int]
    a_segs: List[int]
    b_ids: List[int]
    b_segs: List[int]
    label: int
    doc: int
    b_doc: int
    a_sents: tuple
    b_sents: tuple

    def fields(self, cls_id, sep_id):
        """(token_ids, sentence_type_ids, position_ids, seg_labels, label) of ``[CLS] A [SEP] B [SEP]``."""
        tokens = [cls_id] + self.a_ids + [sep_id] + self.b_ids + [sep_id]
        sent = [0] * (len(self.a_ids) + 2) + [1] * (len(self.b_ids) + 1)
        segs = [-1] + self.a_segs + [-1] + self.b_segs + [-1]
        return tokens, sent, list(range(len(tokens))), segs, self.label


def _concat(sents):
    ids, segs = [], []
    for s in sents:
        ids.extend(s.ids)
        segs.extend(s.segs)
    return ids, segs


def _unit_starts(segs):
    starts = [i for i, s in enumerate(segs) if s == 0]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return starts


def truncate_pair(a_ids, a_segs, b_ids, b_segs, max_tokens):
    """Cut whole units, from A's front and B's end, the longer side first, until the pair fits.

    Returns the four lists, or None when a side would become empty.
    """
    len_a, len_b = len(a_ids), len(b_ids)
    if len_a + len_b <= max_tokens:
        return a_ids, a_segs, b_ids, b_segs
    a_starts, b_starts = _unit_starts(a_segs), _unit_starts(b_segs)
    a_lo, b_hi = 0, len(b_starts)       # A keeps [a_starts[a_lo]:], B keeps [:b_starts[b_hi]] (b_hi==len: all)
    while len_a + len_b > max_tokens:
        if len_a >= len_b:
            a_lo += 1
            len_a = len(a_ids) - a_starts[a_lo] if a_lo < len(a_starts) else 0
        else:
            b_hi -= 1
            len_b = b_starts[b_hi]
        if len_a == 0 or len_b == 0:
            return None
    a_cut = len(a_ids) - len_a
    return a_ids[a_cut:], a_segs[a_cut:], b_ids[:len_b], b_segs[:len_b]


def used_documents(per_document, min_items, stats, skip_key):
    """(index, items) of each document whose ``items`` (its sentences, its chunks) number at least ``min_items``;
    the others are counted in ``stats[skip_key]``, the ones yielded in ``stats["docs_used"]``."""
    for d, items in enumerate(per_document):
        if len(items) < min_items:
            stats[skip_key] += 1
            continue
        stats["docs_used"] += 1
        yield d, items


NEGATIVE_POOLS = ("all", "pairable", "same_corpus")


class DocumentPools:
    """Where "another document" is drawn from: the ``members`` (indices into ``docs``, in order) form one
    pool, or with ``by_corpus`` one pool per ``TokDocument.corpus``.  A member's others are the rest of its
    pool; :meth:`draw` picks one of them uniformly with a single ``rng.randrange`` call."""

    def __init__(self, docs, members, by_corpus=False):
        pools = collections.defaultdict(list)
        for i in members:
            pools[docs[i].corpus if by_corpus else None].append(i)
        self._pool = {i: pool for pool in pools.values() for i in pool}
        self._pos = {i: k for pool in pools.values() for k, i in enumerate(pool)}

    def others(self, d):
        """How many documents :meth:`draw` can give for member ``d``."""
        return len(self._pool[d]) - 1

    def draw(self, d, rng):
        pool = self._pool[d]
        r = rng.randrange(len(pool) - 1)
        return pool[r + (r >= self._pos[d])]


def create_samples(docs, max_seq_len=512, positive_ratio=0.5, short_seq_prob=0.1, dupe_factor=1,
                   rng=None, shuffle=True, negative_pool="all"):
    """Sentence-pair samples from TokDocuments (algorithm in ernie/prepare/build_pretrain_data.py's docstring).

    negative_pool: the documents a negative's segment B is drawn from.  "all" (BERT's and ERNIE 1.0's rule):
    every other document with a sentence.  "pairable": only the other documents of two or more sentences,
    the ones positives come from; in a corpus mixing long texts with one-sentence documents (e.g. the
    training text of a classification task) "all" draws most negatives from the one-sentence documents, so
    where B comes from gives the label away.  "same_corpus": as "pairable", and only documents of A's own
    corpus (``TokDocument.corpus``), so that B's register or topic source does not give a negative away
    in a mix of corpora either.

    Returns (samples, stats) where stats counts ``docs_used``,
    ``docs_too_short`` (fewer than two sentences: no pair possible),
    ``leftover_sentences`` (a last lone sentence of a document),
    ``forced_positive`` (no other document to draw a negative from) and
    ``dropped_too_long`` (a single unit longer than the budget).
    """
    if max_seq_len < MIN_SEQ_LEN:
        raise PretrainDataError("max_seq_len must be at least %d ([CLS] a [SEP] b [SEP]), got %d" % (MIN_SEQ_LEN, max_seq_len))
    if not 0.0 <= positive_ratio <= 1.0:
        raise PretrainDataError("positive_ratio must be in [0, 1], got %r" % positive_ratio)
    if not 0.0 <= short_seq_prob <= 1.0:
        raise PretrainDataError("short_seq_prob must be in [0, 1], got %r" % short_seq_prob)
    if dupe_factor < 1:
        raise PretrainDataError("dupe_factor must be >= 1, got %r" % dupe_factor)
    if negative_pool not in NEGATIVE_POOLS:
        raise PretrainDataError("negative_pool must be one of %s, got %r" % (", ".join(NEGATIVE_POOLS), negative_pool))
    rng = rng or random.Random(1)
    max_tokens = max_seq_len - 3
    sents = [d.sentences() for d in docs]
    stats = collections.Counter()
    donors = DocumentPools(docs, [i for i, s in enumerate(sents) if len(s) >= (1 if negative_pool == "all" else 2)],
                           by_corpus=negative_pool == "same_corpus")
    samples = []
    for _ in range(dupe_factor):
        for d, doc_sents in used_documents(sents, 2, stats, "docs_too_short"):
            n = len(doc_sents)
            i = 0
            while i < n:
                target = max_tokens
                if rng.random() < short_seq_prob:
                    target = rng.randint(2, max_tokens)
                j, length = i, 0
                while j < n and (j - i < 2 or length < target):
                    length += len(doc_sents[j])
                    j += 1
                if j - i < 2:
                    stats["leftover_sentences"] += j - i
                    break
                a_end = rng.randint(i + 1, j - 1)
                a_ids, a_segs = _concat(doc_sents[i:a_end])
                can_negate = donors.others(d) > 0
                if rng.random() < positive_ratio or not can_negate:
                    if not can_negate and positive_ratio < 1.0:
                        stats["forced_positive"] += 1
                    label, b_doc, b_range, next_i = 1, d, (a_end, j), j
                    b_ids, b_segs = _concat(doc_sents[a_end:j])
                else:
                    b_doc = donors.draw(d, rng)
                    donor = sents[b_doc]
                    start = rng.randrange(len(donor))
                    b_target = max(target - len(a_ids), 1)
                    k, blen = start, 0
                    while k < len(donor) and (k == start or blen < b_target):
                        blen += len(donor[k])
                        k += 1
                    b_ids, b_segs = _concat(donor[start:k])
                    label, b_range, next_i = 0, (start, k), a_end   # unused chunk sentences go back
                cut = truncate_pair(a_ids, a_segs, b_ids, b_segs, max_tokens)
                if cut is None:
                    stats["dropped_too_long"] += 1
                else:
                    samples.append(SentencePairSample(*cut, label=label, doc=d, b_doc=b_doc,
                                          a_sents=(i, a_end), b_sents=b_range))
                i = next_i
    if shuffle:
        rng.shuffle(samples)
    return samples, stats
