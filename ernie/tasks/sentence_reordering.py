"""Task 4, Sentence Reordering: which permutation shuffled the segments of a paragraph?

Construction (per paragraph of a document): the paragraph's sentences are
cut into consecutive windows of whole sentences of at most
``max_seq_len - 1 - max_segments`` tokens (a longer single sentence is cut at
a unit boundary).  A window of s >= ``min_sentences`` sentences (shorter
windows are skipped, counted as ``window_too_short``) is split at
``n - 1`` random sentence boundaries into n contiguous segments, n drawn
uniformly from ``1 .. min(max_segments, s)``; the segments are shuffled by a
uniformly drawn permutation (the identity included) and written
``[CLS] s_perm[0] [SEP] s_perm[1] [SEP] ...``, segment k with sentence type
``min(k, num_sent_types - 1)`` -- by position, not by origin, so nothing but
the text tells the order.

Label encoding (k = Σ_{n=1..m} n! classes, m = ``max_segments``; 9 for m = 3):
``perm[i]`` is the original index of the segment shown at position i;
``label = offset(n) + rank(perm)`` with ``offset(n) = Σ_{j<n} j!`` and
``rank`` the lexicographic rank among the n! permutations of ``0..n-1``.  For
m = 3: ``(0,)`` -> 0, ``(0,1)`` -> 1, ``(1,0)`` -> 2, ``(0,1,2)`` -> 3,
``(0,2,1)`` -> 4, ``(1,0,2)`` -> 5, ``(1,2,0)`` -> 6, ``(2,0,1)`` -> 7,
``(2,1,0)`` -> 8.  :func:`permutation_class` / :func:`class_permutation`.

Head: ``sentence_reordering_fc`` on the pooled output, k classes.  The number
of segments is visible (count the [SEP]s), so the trivial baseline is the
best guess *given n*: :meth:`SentenceReordering.chance_level`.
"""
import collections
import math
from dataclasses import dataclass

from ernie.tasks.base import Segment, SentenceTask, TaskError, factorial_sum, register_task
from ernie.typed_fields import option


def permutation_class(perm):
    """Class of a permutation tuple of ``0..n-1`` (see the module docstring)."""
    n = len(perm)
    if n < 1 or sorted(perm) != list(range(n)):
        raise TaskError("not a permutation of 0..%d: %r" % (n - 1, perm))
    offset = factorial_sum(n - 1)
    rank, rest = 0, list(range(n))
    for i, p in enumerate(perm):
        k = rest.index(p)
        rank += k * math.factorial(n - 1 - i)
        rest.pop(k)
    return offset + rank


def class_permutation(label, max_segments):
    """Inverse of :func:`permutation_class` for labels in ``[0, Σ_{n<=m} n!)``."""
    if not 0 <= label < factorial_sum(max_segments):
        raise TaskError("sentence_reordering label %r outside [0, %d) for max_segments %d"
                        % (label, factorial_sum(max_segments), max_segments))
    n = 1
    while label >= factorial_sum(n):
        n += 1
    rank = label - factorial_sum(n - 1)
    rest, perm = list(range(n)), []
    for i in range(n):
        f = math.factorial(n - 1 - i)
        perm.append(rest.pop(rank // f))
        rank %= f
    return tuple(perm)


def segment_count(label):
    """Number of segments n of a class."""
    n = 1
    while label >= factorial_sum(n):
        n += 1
    return n


@register_task
class SentenceReordering(SentenceTask):
    name = "sentence_reordering"
    default_id = 3
    description = "k-class permutation of a shuffled paragraph split into 1..m segments"

    @dataclass
    class Options:
        max_segments: int = option(3, "m: a paragraph is split into 1..m segments (k = Σ n! classes)", min=1, max=6)
        min_sentences: int = option(2, "windows with fewer sentences are skipped", min=1)

    def __init__(self, **options):
        super().__init__(**options)
        self.num_classes = factorial_sum(self.max_segments)

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        m = self.max_segments
        budget = ctx.max_seq_len - 1 - m
        if budget < m:
            raise TaskError("sentence_reordering: max_seq_len %d leaves no room for %d segments"
                            % (ctx.max_seq_len, m))
        samples = []
        for d in range(len(ctx.tok_docs)):
            sents = ctx.sentences(d)
            for a, b in ctx.paragraph_ranges(d):
                i = a
                while i < b:
                    j, total = i, 0
                    while j < b and (j == i or total + len(sents[j]) <= budget):
                        total += len(sents[j])
                        j += 1
                    s = j - i
                    if s < self.min_sentences:
                        stats["window_too_short"] += 1
                        i = j
                        continue
                    n = rng.randint(1, min(m, s))
                    cuts = sorted(rng.sample(range(1, s), n - 1))
                    bounds = [0] + cuts + [s]
                    parts = [Segment.from_sentences(sents[i + bounds[k]:i + bounds[k + 1]], d,
                                                    (i + bounds[k], i + bounds[k + 1])) for k in range(n)]
                    if sum(len(p) for p in parts) > budget:          # only when one sentence exceeds it
                        if n > 1:
                            stats["window_too_long"] += 1
                            i = j
                            continue
                        parts = [parts[0].keep_front(budget)]
                    perm = list(range(n))
                    rng.shuffle(perm)
                    perm = tuple(perm)
                    label = permutation_class(perm)
                    stats["segments_%d" % n] += 1
                    samples.append(ctx.assemble([parts[p] for p in perm], self.name, label=label,
                                                meta={"docs": [d], "spans": [parts[p].span for p in perm],
                                                      "perm": perm, "window": (i, j)}))
                    i = j
        return samples, stats

    def chance_level(self, label_counts):
        """Best accuracy without reading the text: for each segment count n (visible from the [SEP]s),
        always predict that n's most frequent class."""
        total = sum(label_counts.values())
        best = collections.defaultdict(int)
        for label, count in label_counts.items():
            n = segment_count(label)
            best[n] = max(best[n], count)
        return sum(best.values()) / total if total else 0.0
