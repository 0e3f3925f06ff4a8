"""Task 3, Token-Document Relation: does this word of the segment also occur elsewhere in its document?

For a segment built from sentences ``[first, end)`` of document d, a word
(a knowledge unit for Chinese -- a jieba word or entity --, a WordPiece word
for English; identified by its token ids) is labelled 1 when it occurs in a
sentence of d outside ``[first, end)``, else 0.  Every token of the word gets
the word's label; punctuation-only words and words containing [UNK] get -1,
as do [CLS]/[SEP]/padding and text that is not from a document (titles,
queries of a relevance file).  Frequent words and the document's key words
come out 1, words local to the segment 0.

Samples: single segments ``[CLS] chunk [SEP]`` of consecutive whole sentences
(a chunk that is the whole document has nothing to compare with and is
skipped, counted as ``doc_single_chunk``); every sample built from documents
also carries these labels.  Head: ``token_document_relation_fc`` on the
sequence output, 2 classes.
"""
import collections

from ernie.tasks.base import TokenTask, register_task, word_items


@register_task
class TokenDocumentRelation(TokenTask):
    name = "token_document_relation"
    default_id = 2
    class_names = ("only_here", "elsewhere_in_document")
    description = "per token: does its word also appear in other segments of the same document"

    def segment_labels(self, ctx, segment):
        n = len(segment)
        if segment.doc is None or segment.span is None:
            return [-1] * n
        per_sentence, total = ctx.doc_items(segment.doc)
        first, end = segment.span
        inside = collections.Counter()
        for c in per_sentence[first:end]:
            inside.update(c)
        out = [-1] * n
        for a, b in word_items(segment.tokens, segment.segs, ctx.lang):
            key = ctx.item_key(segment.ids[a:b], segment.tokens[a:b])
            if key is None:
                continue
            label = 1 if total[key] - inside[key] > 0 else 0
            out[a:b] = [label] * (b - a)
        return out

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        return self.chunk_samples(ctx, rng, stats, need_rest=True), stats
