"""Task 6, Discourse Relation: the relation between two adjacent sentences, mined from discourse markers.

Mining as Sileo et al. (2019, Discovery): take adjacent sentences (A, B) of
one paragraph (``cross_paragraph``: of one document) where B begins with a
discourse marker -- after optional opening quotes; English markers match
case-insensitively and must be followed by a space, a comma, a semicolon, a
colon or a dash (removed with it), Chinese ones
are plain prefixes; the longest marker wins (``但是`` before ``但``).  The
marker, and the commas / colons / spaces after it, are **removed** from B, so
the input never holds the label; a pair whose remainder is empty
(``empty_after_marker``) or starts with another marker (``double_marker``:
ambiguous) is skipped.  ``[CLS] A [SEP] B' [SEP]``, an over-long pair loses
whole units from A's front and B's end.

Marker lists (``markers=standard``, the lists of the project's datasets
notes): English however, but, because, so, therefore, thus, meanwhile,
still, instead, then, also, and, although, though, yet, indeed, besides,
moreover, finally, afterwards, otherwise, for example, in fact, as a
result, similarly, nevertheless; Chinese 但是, 但, 然而, 因此, 所以, 同时,
而且, 此外, 因为, 如果, 虽然, 另外, 其次, 首先, 最后, 总之, 可是, 于是, 并且,
不过.  ``markers=extended`` adds, for Chinese, markers of the semi-classical
written language (却 虽 / 故 若 因 既然 / 遂 乃 便 既而 / 又 且) -- a documented
heuristic for text such as 三国演义, where the modern markers are rare.

Only *connective* uses count (:meth:`MarkerMatcher.classify`; a rejected
pair is counted as ``rejected_<reason>``):

* ``not_a_marker`` -- a word that merely begins with a marker: the
  storyteller's formulas 却说 / 且说 ("now it is told") and 但见 ("one saw"),
  and words such as 乃是 / 便是 (copula), 故人 / 故主 (故 "former"), 因问 /
  因谓 (因 "thereupon" + a verb of speaking), 但凡, 不过 before a numeral
  ("no more than"), a marker character directly before 曰 "said" (遂曰: the
  name 韩遂 speaking); 既而 is its own marker;
* ``adverb_use`` -- markers that are also plain adverbs count only where the
  connective reading is certain: English ``so`` only before a comma or
  before the subject of a clause (a personal pronoun, a determiner, ``there``
  / ``here``, or a capitalised name) -- so the degree adverb of "So much",
  "So many", "so very fond", "So far" is not taken (nor "Thus much" of
  ``thus``, same rule); ``still`` only before a
  comma ("Still they moved on" is the temporal adverb); Chinese 但 / 且 / 却
  and 因 only before the subject of a clause (the next jieba word a noun or a
  pronoun): before a verb they are the adverbs "only" (但有, 但须), "for the
  moment" (且待, 且守), the narrative "then" (却见, 却令) and "thereupon"
  (因命, 因指);
* ``copula`` -- 乃 before a noun or a pronoun is the copula "(it) was"
  (乃廖化也), not "thereupon": 乃 counts only before a verb or an adverb;
* ``anaphoric`` -- English ``so`` standing for a clause or a manner in a
  short clause of a subject and a verb of saying or thinking or an auxiliary
  ("So I will, Edmund.", "So Emma thought, at least.");
* ``prepositional`` -- English ``instead of`` / ``because of`` / ``as a
  result of``: a preposition, not a clause connective;
* ``clause_internal`` -- a subordinating conjunction (English although,
  though, because; Chinese 虽, 虽然, 若, 如果, 因为, 因, 既然) that opens a
  subordinate clause followed, inside B, by its main clause (a comma before
  the end of B, outside quotations, or a correlative 则): the concession, cause or condition
  holds between B's two clauses, not between A and B.  Without such a
  comma the clause answers A ("Because she had been there so long.") and
  counts; 虽然如此 / 虽如此 ("even so") refers back to A and counts.

Classes (``granularity=sense``, default): the marker's PDTB level-1 sense,
0 comparison (contrast, concession), 1 contingency (cause, result,
condition), 2 temporal, 3 expansion (addition, example, summary,
alternative: ``instead`` is Expansion.Alternative in PDTB); the table is
``SENSES``.  ``granularity=marker``: one class per marker, in list order
(needs ``lang``).  Head: ``discourse_relation_fc`` on the pooled output.
"""
import collections
import re
from dataclasses import dataclass
from typing import Optional

from ernie.tasks.base import Segment, SentenceTask, TaskError, has_text, register_task, truncate_pair
from ernie.typed_fields import option

SENSE_NAMES = ("comparison", "contingency", "temporal", "expansion")

MARKERS = {
    "en": ["however", "but", "because", "so", "therefore", "thus", "meanwhile", "still", "instead", "then", "also",
           "and", "although", "though", "yet", "indeed", "besides", "moreover", "finally", "afterwards", "otherwise",
           "for example", "in fact", "as a result", "similarly", "nevertheless"],
    "zh": ["但是", "但", "然而", "因此", "所以", "同时", "而且", "此外", "因为", "如果", "虽然", "另外", "其次", "首先",
           "最后", "总之", "可是", "于是", "并且", "不过"],
}
EXTENDED_MARKERS = {"en": [], "zh": ["却", "虽", "故", "若", "因", "既然", "遂", "乃", "便", "既而", "又", "且"]}
# Sentence openings that begin with a marker but are another word or a formula (see the module docstring).
NOT_MARKERS = {"en": (), "zh": ("却说", "且说", "但见", "但凡", "乃是", "便是", "故人", "故主", "故意", "故乡", "故事",
                                "故旧", "故宅", "因问", "因谓", "因曰", "因言", "因说", "因叹")}
# Markers that are also plain adverbs: counted only before a comma or a clause's subject ("comma": only a comma).
ADVERB_MARKERS = {"en": {"so": "comma_or_subject", "thus": "comma_or_subject", "still": "comma"},
                  "zh": {"但": "subject", "且": "subject", "却": "subject", "因": "subject", "乃": "predicate"}}
# Subordinating conjunctions: a following main clause inside B makes the relation internal to B.
SUBORDINATORS = {"en": ("although", "though", "because"),
                 "zh": ("虽", "虽然", "若", "如果", "因为", "因", "既然")}
ANAPHORIC_CONCESSION = ("如此", "如是")
EN_SUBJECT_WORDS = frozenset("""i you he she it we they there here this that these those the a an my your his her its
our their one some any no every each all both such""".split())
# "So I will." / "So Emma thought, at least.": ``so`` standing for a clause or a manner ("thus"), not a result
EN_ANAPHORIC_SO_RE = re.compile(r"^[A-Za-z]+ (thought|think|thinks|said|say|says|believed|believe|will|would|shall|"
                                r"should|can|could|do|does|did|must|may|might)\b[^,;:.!?\-]*$")
ZH_NUMERALS = "一二三四五六七八九十百千万两数半"
ZH_SUBJECT_TAGS = ("n", "r")          # jieba POS prefixes of nouns (names, places, organisations) and pronouns

_C, _K, _T, _E = range(4)
SENSES = {
    # English
    "however": _C, "but": _C, "yet": _C, "still": _C, "although": _C, "though": _C, "nevertheless": _C,
    "instead": _E, "because": _K, "so": _K, "therefore": _K, "thus": _K, "as a result": _K, "otherwise": _K,
    "then": _T, "meanwhile": _T, "finally": _T, "afterwards": _T, "and": _E, "also": _E, "indeed": _E,
    "besides": _E, "moreover": _E, "for example": _E, "in fact": _E, "similarly": _E,
    # Chinese
    "但是": _C, "但": _C, "然而": _C, "可是": _C, "不过": _C, "虽然": _C, "因此": _K, "所以": _K, "因为": _K,
    "如果": _K, "于是": _K, "同时": _T, "首先": _T, "其次": _T, "最后": _T, "而且": _E, "此外": _E, "另外": _E,
    "并且": _E, "总之": _E,
    # Chinese, extended (semi-classical)
    "却": _C, "虽": _C, "故": _K, "若": _K, "因": _K, "既然": _K, "遂": _T, "乃": _T, "便": _T, "既而": _T,
    "又": _E, "且": _E,
}

_OPEN = "\"'“‘「『(（"
_CLOSE_QUOTE = {"“": "”", "‘": "’", "「": "」", "『": "』", '"': '"'}
_EN_COMMA_RE = re.compile(r"^[\s,;:]*,")


def marker_list(lang, markers="standard"):
    if lang not in MARKERS:
        raise TaskError("discourse_relation: no marker list for language %r" % lang)
    if markers not in ("standard", "extended"):
        raise TaskError("discourse_relation: markers must be standard or extended, got %r" % markers)
    return MARKERS[lang] + (EXTENDED_MARKERS[lang] if markers == "extended" else [])


def clause_break_before_end(text, lang):
    """Whether ``text`` has a comma (Chinese also: the correlative 则 "then") that is followed by more
    text, outside quotations (a subordinate clause followed by its main clause)."""
    commas = "，,；;则" if lang == "zh" else ",;"
    closing = []
    body = text.rstrip()
    for k, c in enumerate(body):
        if closing and c == closing[-1]:
            closing.pop()
            continue
        if c in _CLOSE_QUOTE and not (c == '"' and closing and closing[-1] == '"'):
            if c in "“‘「『" or (c == '"' and k + 1 < len(body) and not body[k + 1].isspace()):
                closing.append(_CLOSE_QUOTE[c])
                continue
        if lang == "zh" and c in "：:" and not closing:
            return False              # 曰：/ a colon opens speech or a list: what follows is not B's main clause
        if c in commas and not closing and has_text(body[k + 1:]):
            return True
    return False


@dataclass
class MarkerMatch:
    """A sentence-initial marker: ``marker`` (list spelling), ``rest`` (the sentence without it) and
    ``rejected`` (None for a connective use, else the reason it is not one)."""
    marker: str
    rest: str
    rejected: Optional[str] = None


class MarkerMatcher:
    """Finds and strips a leading discourse marker of one language's list and decides whether it is used
    as a connective (see the module docstring).

    ``pos_cut``: for Chinese, a function sentence -> [(word, jieba POS flag)] (the analyzer's
    ``pos_cut``), needed to accept 但 / 且 / 却; without it those markers are never accepted.
    """

    def __init__(self, lang, markers="standard", pos_cut=None):
        self.lang = lang
        self.markers = marker_list(lang, markers)
        self.pos_cut = pos_cut
        alts = "|".join(re.escape(m) for m in sorted(self.markers, key=lambda m: (-len(m), m)))
        if lang == "en":
            self._re = re.compile(r"^([%s]*)(%s)(?=[ ,;:\u2014-])[\s,;:\u2014-]*" % (re.escape(_OPEN), alts),
                                  re.IGNORECASE)
        else:
            self._re = re.compile(r"^([%s]*)(%s)[\s，,、：:；;]*" % (re.escape(_OPEN), alts))

    def find(self, sentence):
        """MarkerMatch of a sentence that begins with a marker of the list (connective or not), else None;
        a formula of ``NOT_MARKERS`` is not a marker (None)."""
        text = sentence.strip()
        m = self._re.match(text)
        if not m or text[len(m.group(1)):].startswith(NOT_MARKERS[self.lang]):
            return None
        marker = m.group(2).lower() if self.lang == "en" else m.group(2)
        return MarkerMatch(marker, m.group(1) + text[m.end():], self._rejection(marker, text[m.end(2):], text[m.end():]))

    def classify(self, sentence):
        """MarkerMatch (with ``rejected`` set for a non-connective use; formulas count as
        ``not_a_marker``), or None when the sentence does not begin with a marker."""
        found = self.find(sentence)
        if found is None:
            text = sentence.strip().lstrip(_OPEN)
            if self.lang == "zh" and text.startswith(NOT_MARKERS["zh"]):
                return MarkerMatch(text[:2], text[2:], "not_a_marker")
        return found

    def match(self, sentence):
        """(marker in list spelling, sentence without it) of a connective use, or None."""
        found = self.find(sentence)
        if found is None or found.rejected:
            return None
        return found.marker, found.rest

    def _rejection(self, marker, after, rest):
        """None when ``marker`` followed by ``after`` (raw, separators included) is a connective use;
        ``rest``: the text after the marker and its separators (the sentence's opening quotes, before
        the marker, are not part of it: the sentence itself is not a quotation inside B)."""
        rule = ADVERB_MARKERS[self.lang].get(marker)
        if self.lang == "zh" and (rest.startswith("曰") or (marker == "不过" and rest[:1] in ZH_NUMERALS)):
            return "not_a_marker"     # 遂曰: the name 韩遂 speaking; 不过百日: "no more than"
        if self.lang == "en":
            first = re.match(r"^\s*([A-Za-z']+)", after)
            word = first.group(1) if first else ""
            comma = bool(_EN_COMMA_RE.match(after))
            if word.lower() == "of" and not comma:
                return "prepositional"
            if rule == "comma" and not comma:
                return "adverb_use"
            if rule == "comma_or_subject" and not comma and not (
                    word.lower() in EN_SUBJECT_WORDS or (word[:1].isupper() and word.lower() != "so")):
                return "adverb_use"
            if marker == "so" and not comma:
                clause = re.split(r"[,;:.!?]|--", rest, 1)[0].strip()
                if len(clause.split()) <= 4 and EN_ANAPHORIC_SO_RE.match(clause):
                    return "anaphoric"
        else:
            if rule in ("subject", "predicate") and not after.startswith(("，", ",")):
                words = [(w, f) for w, f in (self.pos_cut(rest) if self.pos_cut and rest.strip() else [])
                         if w.strip()]
                subject = bool(words) and words[0][1].startswith(ZH_SUBJECT_TAGS)
                if rule == "subject" and not subject:
                    return "adverb_use"
                if rule == "predicate" and (subject or not words):
                    return "copula"
        if marker in SUBORDINATORS[self.lang]:
            if self.lang == "zh" and rest.startswith(ANAPHORIC_CONCESSION) and marker in ("虽", "虽然"):
                return None
            if clause_break_before_end(rest, self.lang):
                return "clause_internal"
        return None


@register_task
class DiscourseRelation(SentenceTask):
    name = "discourse_relation"
    default_id = 5
    description = "relation of two adjacent sentences, labelled by the (removed) discourse marker of the second"
    @dataclass
    class Options:
        granularity: str = option("sense", "sense: 4 PDTB level-1 senses; marker: one class per marker",
                                  choices=("sense", "marker"))
        markers: str = option("standard", "standard, or extended (zh: + semi-classical single-character markers)",
                              choices=("standard", "extended"))
        lang: Optional[str] = option(None, "language of the marker list (needed for granularity=marker)",
                                     choices=("zh", "en"))
        cross_paragraph: bool = option(False, "also pair the last sentence of a paragraph with the next one")

    def __init__(self, **options):
        super().__init__(**options)
        if self.granularity == "sense":
            self.num_classes = len(SENSE_NAMES)
            self.class_names = SENSE_NAMES
        elif self.granularity == "marker":
            if self.lang is None:
                raise TaskError("discourse_relation: granularity=marker needs the option lang (zh or en)")
            self.class_names = tuple(marker_list(self.lang, self.markers))
            self.num_classes = len(self.class_names)
        else:
            raise TaskError("discourse_relation: granularity must be sense or marker, got %r" % self.granularity)
        marker_list("en", self.markers)   # validates the option

    def marker_class(self, marker, lang):
        if self.granularity == "sense":
            return SENSES[marker]
        return marker_list(lang, self.markers).index(marker)

    def not_applicable(self, ctx):
        reason = super().not_applicable(ctx)
        if reason is None and self.lang is not None and self.lang != ctx.lang:
            return "discourse_relation configured for lang %s, the corpus is %s" % (self.lang, ctx.lang)
        return reason

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        pos_cut = getattr(ctx.analyzer, "pos_cut", None) if ctx.lang == "zh" else None
        matcher = MarkerMatcher(ctx.lang, self.markers, pos_cut=pos_cut)
        samples = []
        for d in range(len(ctx.tok_docs)):
            sents = ctx.sentences(d)
            ranges = [(0, len(sents))] if self.cross_paragraph else ctx.paragraph_ranges(d)
            for a, b in ranges:
                for i in range(a, b - 1):
                    stats["adjacent_pairs"] += 1
                    found = matcher.classify(sents[i + 1].text)
                    if found is None:
                        continue
                    stats["marker_pairs"] += 1
                    if found.rejected:
                        stats["rejected_" + found.rejected] += 1
                        continue
                    marker, rest = found.marker, found.rest
                    if not has_text(rest) or not has_text(sents[i].text):
                        stats["empty_after_marker"] += 1
                        continue
                    if matcher.match(rest) is not None:
                        stats["double_marker"] += 1
                        continue
                    tb = ctx.tokenize(rest)
                    if not len(tb):
                        stats["empty_after_marker"] += 1
                        continue
                    seg_a = Segment.from_sentences([sents[i]], d, (i, i + 1))
                    seg_b = Segment.from_sentences([tb], d, (i + 1, i + 2))
                    pair = truncate_pair(seg_a, seg_b, ctx.max_seq_len - 3)
                    if pair is None:
                        stats["dropped_too_long"] += 1
                        continue
                    stats["marker_" + marker] += 1
                    samples.append(ctx.assemble(list(pair), self.name, label=self.marker_class(marker, ctx.lang),
                                                meta={"docs": [d, d], "spans": [(i, i + 1), (i + 1, i + 2)],
                                                      "marker": marker, "b_text": rest}))
        return samples, stats
