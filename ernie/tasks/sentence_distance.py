"""Task 5, Sentence Distance: how far apart are two sentences (or runs of sentences)?

Classes: 0 = B comes right after A in the same document; 1 = A and B are in
the same document, not adjacent (at least one sentence between them, B
before or after A); 2 = B comes from another document.

Construction: A walks through every document of at least 3 sentences
(documents of fewer are skipped, ``docs_too_short``): A is one sentence
(``segment_tokens=0``, the default: the paper's sentence pairs) or a run of
whole sentences of at most ``segment_tokens`` tokens, and the next A starts
where it ended; the last sentence is never an A.  For each A a class is drawn
uniformly: class 0 takes the sentence(s) right after A, class 1 a run that
starts at a sentence drawn uniformly among those at least two after A's end
or ends at one at least two before A's start (none: skipped,
``no_distant_sentence``), class 2 a run at a random sentence of a random
other document of the split (option ``negative_pool=same_corpus``: of A's own
``--corpus`` path, so that B's source does not give the class away; no such
document: skipped, ``no_other_document``).  ``[CLS] A [SEP] B [SEP]``,
sentence types 0 / 1; an over-long pair loses whole units from A's front and B's end (so A's end and
B's start, what adjacency is about, stay).
Head: ``sentence_distance_fc`` on the pooled output, 3 classes.
"""
import collections
from dataclasses import dataclass

from ernie.tasks.base import Segment, SentenceTask, register_task, truncate_pair
from ernie.typed_fields import option
from reader.text_units import DocumentPools, used_documents

OTHER_DOCUMENT_POOLS = ("all", "same_corpus")


@register_task
class SentenceDistance(SentenceTask):
    name = "sentence_distance"
    default_id = 4
    class_names = ("adjacent", "same_document", "other_document")
    description = "how far apart two sentences are: adjacent / same document, not adjacent / other document"

    @dataclass
    class Options:
        segment_tokens: int = option(0, "0: A and B are single sentences; N > 0: runs of whole sentences of at "
                                        "most N tokens (at least one sentence)", min=0)
        negative_pool: str = option("all", "documents class 2's B comes from: all (any other document of the "
                                           "split) or same_corpus (only one of A's own --corpus path, so that the "
                                           "source of B does not give the class away)", choices=OTHER_DOCUMENT_POOLS)

    def _run(self, sents, start, step=1):
        """(first, end) of the run of sentences from ``start`` (forwards, or backwards with step -1)."""
        if not self.segment_tokens:
            return start, start + 1
        i, total = start, 0
        while 0 <= i < len(sents) and (i == start or total + len(sents[i]) <= self.segment_tokens):
            total += len(sents[i])
            i += step
        return (start, i) if step == 1 else (i + 1, start + 1)

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        samples = []
        pools = DocumentPools(ctx.tok_docs, [x for x in range(len(ctx.tok_docs)) if ctx.sentences(x)],
                              by_corpus=self.negative_pool == "same_corpus")
        for d, sents in used_documents((ctx.sentences(d) for d in range(len(ctx.tok_docs))), 3, stats,
                                       "docs_too_short"):
            n = len(sents)
            i = 0
            while i < n - 1:
                a0, a1 = self._run(sents, i)
                a1 = min(a1, n - 1)                     # leave a sentence for B
                label = rng.randrange(3)
                if label == 0:
                    bd, (b0, b1) = d, self._run(sents, a1)
                elif label == 1:
                    # B starts at least two sentences after A ends, or ends at least two before A starts
                    far = [j for j in range(n) if j >= a1 + 1 or j <= a0 - 2]
                    if not far:
                        stats["no_distant_sentence"] += 1
                        i = a1
                        continue
                    j = far[rng.randrange(len(far))]
                    bd, (b0, b1) = d, (self._run(sents, j) if j > a1 else self._run(sents, j, -1))
                else:
                    if not pools.others(d):
                        stats["no_other_document"] += 1
                        i = a1
                        continue
                    bd = pools.draw(d, rng)
                    b0, b1 = self._run(ctx.sentences(bd), rng.randrange(len(ctx.sentences(bd))))
                a = Segment.from_sentences(sents[a0:a1], d, (a0, a1))
                b = Segment.from_sentences(ctx.sentences(bd)[b0:b1], bd, (b0, b1))
                pair = truncate_pair(a, b, ctx.max_seq_len - 3)
                if pair is None:
                    stats["dropped_too_long"] += 1
                else:
                    samples.append(ctx.assemble(list(pair), self.name, label=label,
                                                meta={"docs": [d, bd], "spans": [(a0, a1), (b0, b1)]}))
                i = a1
        return samples, stats
