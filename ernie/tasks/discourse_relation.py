"""Task 6, Discourse Relation: the relation between two adjacent sentences, mined from discourse markers.

Mining as Sileo et al. (2019, Discovery): take adjacent sentences (A, B) of
one paragraph (``cross_paragraph``: of one document) where B begins with a
discourse marker -- after optional opening quotes; English markers match
case-insensitively and must be followed by a space or a comma, Chinese ones
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
不过.  ``markers=extended`` adds, for Chinese, single-character markers of
the semi-classical written language (却 虽 / 故 若 因 既 / 遂 乃 便 / 又 且) --
a documented heuristic for text such as 三国演义, where the modern markers are
rare; the storyteller's formulas 却说 / 且说 ("now it is told") are not markers.

Classes (``granularity=sense``, default): the marker's PDTB level-1 sense,
0 comparison (contrast, concession), 1 contingency (cause, result,
condition), 2 temporal, 3 expansion (addition, example, summary); the table
is ``SENSES``.  ``granularity=marker``: one class per marker, in list order
(needs ``lang``).  Head: ``discourse_relation_fc`` on the pooled output.
"""
import collections
import re

from ernie.tasks.base import Segment, SentenceTask, TaskError, register_task, truncate_pair

SENSE_NAMES = ("comparison", "contingency", "temporal", "expansion")

MARKERS = {
    "en": ["however", "but", "because", "so", "therefore", "thus", "meanwhile", "still", "instead", "then", "also",
           "and", "although", "though", "yet", "indeed", "besides", "moreover", "finally", "afterwards", "otherwise",
           "for example", "in fact", "as a result", "similarly", "nevertheless"],
    "zh": ["但是", "但", "然而", "因此", "所以", "同时", "而且", "此外", "因为", "如果", "虽然", "另外", "其次", "首先",
           "最后", "总之", "可是", "于是", "并且", "不过"],
}
EXTENDED_MARKERS = {"en": [], "zh": ["却", "虽", "故", "若", "因", "既", "遂", "乃", "便", "又", "且"]}
# Sentence openings that look like a marker but are not one: the storyteller's formulas 却说 / 且说
# ("now it is told") of vernacular novels.
NOT_MARKERS = {"en": (), "zh": ("却说", "且说")}

_C, _K, _T, _E = range(4)
SENSES = {
    # English
    "however": _C, "but": _C, "yet": _C, "still": _C, "although": _C, "though": _C, "nevertheless": _C,
    "instead": _C, "because": _K, "so": _K, "therefore": _K, "thus": _K, "as a result": _K, "otherwise": _K,
    "then": _T, "meanwhile": _T, "finally": _T, "afterwards": _T, "and": _E, "also": _E, "indeed": _E,
    "besides": _E, "moreover": _E, "for example": _E, "in fact": _E, "similarly": _E,
    # Chinese
    "但是": _C, "但": _C, "然而": _C, "可是": _C, "不过": _C, "虽然": _C, "因此": _K, "所以": _K, "因为": _K,
    "如果": _K, "于是": _K, "同时": _T, "首先": _T, "其次": _T, "最后": _T, "而且": _E, "此外": _E, "另外": _E,
    "并且": _E, "总之": _E,
    # Chinese, extended (semi-classical)
    "却": _C, "虽": _C, "故": _K, "若": _K, "因": _K, "既": _K, "遂": _T, "乃": _T, "便": _T, "又": _E, "且": _E,
}

_OPEN = "\"'“‘「『(（"


def marker_list(lang, markers="standard"):
    if lang not in MARKERS:
        raise TaskError("discourse_relation: no marker list for language %r" % lang)
    if markers not in ("standard", "extended"):
        raise TaskError("discourse_relation: markers must be standard or extended, got %r" % markers)
    return MARKERS[lang] + (EXTENDED_MARKERS[lang] if markers == "extended" else [])


class MarkerMatcher:
    """Finds and strips a leading discourse marker of one language's list."""

    def __init__(self, lang, markers="standard"):
        self.lang = lang
        self.markers = marker_list(lang, markers)
        alts = "|".join(re.escape(m) for m in sorted(self.markers, key=lambda m: (-len(m), m)))
        if lang == "en":
            self._re = re.compile(r"^([%s]*)(%s)(?=[ ,])[\s,;:]*" % (re.escape(_OPEN), alts), re.IGNORECASE)
        else:
            self._re = re.compile(r"^([%s]*)(%s)[\s，,、：:；;]*" % (re.escape(_OPEN), alts))

    def match(self, sentence):
        """(marker in list spelling, sentence without it) or None."""
        m = self._re.match(sentence.strip())
        if not m:
            return None
        if sentence.strip()[len(m.group(1)):].startswith(NOT_MARKERS[self.lang]):
            return None
        marker = m.group(2).lower() if self.lang == "en" else m.group(2)
        return marker, m.group(1) + sentence.strip()[m.end():]


@register_task
class DiscourseRelation(SentenceTask):
    name = "discourse_relation"
    default_id = 5
    description = "relation of two adjacent sentences, labelled by the (removed) discourse marker of the second"
    options = {"granularity": (str, "sense", "sense: 4 PDTB level-1 senses; marker: one class per marker"),
               "markers": (str, "standard", "standard, or extended (zh: + semi-classical single-character markers)"),
               "lang": (str, None, "language of the marker list (needed for granularity=marker)"),
               "cross_paragraph": (bool, False, "also pair the last sentence of a paragraph with the next one")}

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
        matcher = MarkerMatcher(ctx.lang, self.markers)
        samples = []
        for d in range(len(ctx.tok_docs)):
            sents = ctx.sentences(d)
            ranges = [(0, len(sents))] if self.cross_paragraph else ctx.paragraph_ranges(d)
            for a, b in ranges:
                for i in range(a, b - 1):
                    stats["adjacent_pairs"] += 1
                    found = matcher.match(sents[i + 1].text)
                    if found is None:
                        continue
                    marker, rest = found
                    stats["marker_pairs"] += 1
                    if not rest.strip(_OPEN + " "):
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
