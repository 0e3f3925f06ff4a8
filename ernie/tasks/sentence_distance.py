"""Task 5, Sentence Distance: how far apart are two sentences?

Classes: 0 = B is the sentence right after A in the same document; 1 = A and
B are in the same document, not adjacent (at least one sentence between
them, B before or after A); 2 = B comes from another document.

Construction: for every sentence i of a document of at least 3 sentences
except its last (documents of fewer are skipped, ``doc_too_short``), a class
is drawn uniformly; class 0 takes sentence i + 1, class 1 a sentence j drawn
uniformly among those with |j - i| >= 2 (none for the middle sentence of a
3-sentence document: skipped, ``no_distant_sentence``), class 2 a random
sentence of a random other document of the split (a split of one document:
skipped, ``no_other_document``).  ``[CLS] A [SEP] B [SEP]``, sentence types
0 / 1; an over-long pair loses whole units from A's front and B's end.
Head: ``sentence_distance_fc`` on the pooled output, 3 classes.
"""
import collections

from ernie.tasks.base import Segment, SentenceTask, register_task, truncate_pair


@register_task
class SentenceDistance(SentenceTask):
    name = "sentence_distance"
    num_classes = 3
    default_id = 4
    class_names = ("adjacent", "same_document", "other_document")
    description = "3 classes: adjacent in the same document / same document, not adjacent / other document"

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        samples = []
        docs = [d for d in range(len(ctx.tok_docs)) if ctx.sentences(d)]
        for d in range(len(ctx.tok_docs)):
            sents = ctx.sentences(d)
            n = len(sents)
            if n < 3:
                stats["doc_too_short"] += 1
                continue
            stats["docs_used"] += 1
            for i in range(n - 1):
                label = rng.randrange(3)
                if label == 0:
                    bd, j = d, i + 1
                elif label == 1:
                    far = [j for j in range(n) if abs(j - i) >= 2]
                    if not far:
                        stats["no_distant_sentence"] += 1
                        continue
                    bd, j = d, far[rng.randrange(len(far))]
                else:
                    others = [x for x in docs if x != d]
                    if not others:
                        stats["no_other_document"] += 1
                        continue
                    bd = others[rng.randrange(len(others))]
                    j = rng.randrange(len(ctx.sentences(bd)))
                a = Segment.from_sentences([sents[i]], d, (i, i + 1))
                b = Segment.from_sentences([ctx.sentences(bd)[j]], bd, (j, j + 1))
                pair = truncate_pair(a, b, ctx.max_seq_len - 3)
                if pair is None:
                    stats["dropped_too_long"] += 1
                    continue
                samples.append(ctx.assemble(list(pair), self.name, label=label,
                                            meta={"docs": [d, bd], "spans": [(i, i + 1), (j, j + 1)]}))
        return samples, stats
