"""Legacy task: ERNIE 1.0 next-sentence prediction (kept so MLM + NSP is one configuration).

Data: version-1 (five-field) lines -- ``data/demo_train_set.gz``, or
``ernie.prepare.build_task_data --tasks next_sent``, which writes the ERNIE 1.0
pairs of ``reader.text_units.create_samples`` -- or version-2 lines
whose primary task is ``next_sent``.  Label: 1 if segment B directly follows
A in the text, 0 if B comes from another document.

Feed: ``labels`` int64 [B, 1] (the ERNIE 1.0 name; -1 for rows of other
tasks).  Head: ``next_sent_fc`` on the pooled output, 2 classes (the ERNIE 1.0
head, parameter for parameter); loss and accuracy over the labelled rows.
"""
import collections
from dataclasses import dataclass

import numpy as np

from ernie.tasks.base import SentenceTask, TaskSample, register_task
from ernie.typed_fields import option
from reader.text_units import NEGATIVE_POOLS, create_samples


@register_task
class NextSentence(SentenceTask):
    name = "next_sent"
    default_id = 7
    in_all = False
    class_names = ("not_next", "is_next")
    description = "ERNIE 1.0 next-sentence prediction (legacy)"
    v1_label = True             # the five-field lines' field 5 is its label

    @dataclass
    class Options:
        positive_ratio: float = option(0.5, "share of pairs whose B follows A", min=0.0, max=1.0)
        short_seq_prob: float = option(0.1, "probability of a shorter random target length", min=0.0, max=1.0)
        negative_pool: str = option("all", "documents a negative's B comes from: all (BERT's rule), pairable (only "
                                           "documents of two or more sentences, as positives; keeps one-sentence "
                                           "documents from giving the label away) or same_corpus (pairable, and "
                                           "only from A's own --corpus path)", choices=NEGATIVE_POOLS)

    @property
    def feed_name(self):
        return "labels"

    def serves(self, sample):
        extra = sample.extra or {}
        if not extra.get("version"):
            return True   # a five-field line: field 5 is the next-sentence label
        return extra.get("task") == self.name and extra.get("label") is not None

    def sample_label(self, sample):
        extra = sample.extra or {}
        if not extra.get("version"):
            return int(sample.label)
        return extra["label"] if self.serves(sample) else -1

    def build_samples(self, ctx, rng):
        pairs, stats = create_samples(ctx.tok_docs, max_seq_len=ctx.max_seq_len, positive_ratio=self.positive_ratio,
                                      short_seq_prob=self.short_seq_prob, rng=rng, shuffle=False,
                                      negative_pool=self.negative_pool)
        out = []
        for p in pairs:
            tokens, sent, pos, segs, label = p.fields(ctx.cls_id, ctx.sep_id)
            out.append(TaskSample(tokens, sent, pos, segs, self.name, label=label, next_sentence_label=label,
                                  v1=True, meta={"docs": [p.doc, p.b_doc], "spans": [p.a_sents, p.b_sents]}))
        return out, collections.Counter(stats)

    def make_feed(self, samples, batch):
        out = np.array([self.sample_label(s) for s in samples], dtype=np.int64).reshape(-1, 1)
        return {self.feed_name: out}
