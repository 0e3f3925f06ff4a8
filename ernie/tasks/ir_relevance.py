"""Task 7, IR Relevance: how relevant is a title to a query?

Classes (the paper's): 0 strong relevance (the title was clicked after the
query), 1 weak (shown, not clicked), 2 none (random).  Input
``[CLS] query [SEP] title [SEP]``; head ``ir_relevance_fc`` on the pooled
output, 3 classes.

Data, in this order of preference:

* **real relevance data** (``ernie.prepare.build_task_data --ir_tsv FILE``): lines
  ``query<TAB>title<TAB>label`` with label 0/1/2 (an optional first line
  ``query<TAB>title<TAB>label`` is a header); a bad line is an error naming
  the file and line;
* **derived, weakly supervised pairs** from documents with titles (e.g. the
  chapter headings of 三国演义) -- documented as derived, not click data.
  The query is a sentence of the corpus, the title a document title:
  0 = the title of the sentence's own document, for sentences that share a
  key word with it; 1 = the title of *another* document that shares a key
  word with the sentence (lexically related, wrong document); 2 = the title
  of a random other document.  Key words: Chinese words (knowledge units)
  of at least two CJK characters, English words of at least four letters not
  in ``STOPWORDS``; class 2 draws only among the titles that share no key
  word with the sentence.  The labels are checked on the text the model
  sees: after ``truncate_pair`` a class 0 / 1 pair whose query and title no
  longer share a key word, or a class 2 pair that does, is dropped
  (``label_lost_in_truncation_<c>``); an input (query and title ids) built
  for two classes -- a sentence repeated in another document -- is dropped
  from both (``conflicting_labels_<c>``), a repeated input of one class is
  kept once (``duplicate_input_<c>``).  The three classes are balanced:
  each keeps as many samples as the smallest class (``select`` keeps the
  balance).
"""
import collections

from ernie.tasks.base import Segment, SentenceTask, TaskError, register_task, truncate_pair, word_items
from reader.files import read_text_lines
from reader.tokenization import is_cjk_char

STOPWORDS = frozenset("""about above after again against also been before being below between both could does
doing down during each from further have having here hers herself himself into itself just more most myself
once only other ourselves over same should some such than that their theirs them themselves then there these
they this those through under until very were what when where which while whom with would your yours yourself
yourselves upon much many shall said will""".split())


def read_relevance_tsv(path):
    """[(query, title, label, 'path:line')] of a ``query<TAB>title<TAB>label`` file (label 0, 1 or 2)."""
    pairs = []
    for lineno, line in enumerate(read_text_lines(path, "relevance file", TaskError), 1):
        if not line.strip():
            continue
        where = "%s:%d" % (path, lineno)
        cols = line.split("\t")
        if len(cols) != 3:
            raise TaskError("%s: expected query<TAB>title<TAB>label, got %d column(s)" % (where, len(cols)))
        if lineno == 1 and cols[2].strip().lower() == "label":
            continue
        try:
            label = int(cols[2])
        except ValueError:
            raise TaskError("%s: label %r is not an integer" % (where, cols[2])) from None
        if label not in (0, 1, 2):
            raise TaskError("%s: label %d outside [0, 3) (0 strong, 1 weak, 2 none)" % (where, label))
        if not cols[0].strip() or not cols[1].strip():
            raise TaskError("%s: empty query or title" % where)
        pairs.append((cols[0].strip(), cols[1].strip(), label, where))
    if not pairs:
        raise TaskError("relevance file %s holds no pair" % path)
    return pairs


PAIRS = "relevance_pairs"       # BuildContext.inputs key: [(query, title, label, where)] of a relevance file


@register_task
class IRRelevance(SentenceTask):
    name = "ir_relevance"
    default_id = 6
    class_names = ("strong", "weak", "none")    # labels 0, 1, 2 of an --ir_tsv line
    description = "query-title relevance: strong / weak / none"

    @classmethod
    def add_build_args(cls, parser):
        parser.add_argument("--ir_tsv", help="ir_relevance: relevance data query<TAB>title<TAB>label (0 strong, "
                                             "1 weak, 2 none); without it pairs are derived from titles")
        parser.add_argument("--ir_valid_tsv", help="ir_relevance: validation relevance data, same format")

    @classmethod
    def build_inputs(cls, args):
        """The relevance files: ``relevance_pairs`` of the training split (``--ir_tsv``) and of the validation
        split (``--ir_valid_tsv``; None when only ``--ir_tsv`` is given: no validation file, rather than
        derived pairs)."""
        if args.ir_valid_tsv and not args.ir_tsv:
            raise TaskError("--ir_valid_tsv needs --ir_tsv")
        if not args.ir_tsv:
            return {}
        return {"train": {PAIRS: read_relevance_tsv(args.ir_tsv)},
                "valid": {PAIRS: read_relevance_tsv(args.ir_valid_tsv) if args.ir_valid_tsv else None}}

    def not_applicable(self, ctx):
        reason = super().not_applicable(ctx)
        if reason is None and PAIRS in ctx.inputs and ctx.inputs[PAIRS] is None:
            reason = "--ir_tsv given without --ir_valid_tsv"
        if reason is None and ctx.inputs.get(PAIRS) is None and not any(doc.title for doc in ctx.tok_docs):
            reason = "ir_relevance needs a relevance file (--ir_tsv) or documents with titles"
        return reason

    def keywords(self, ctx, sent):
        out = set()
        for a, b in word_items(sent.tokens, sent.segs, ctx.lang):
            toks = sent.tokens[a:b]
            text = "".join(t[2:] if t.startswith("##") else t for t in toks)
            if ctx.lang == "zh":
                ok = len(text) >= 2 and all(is_cjk_char(c) for c in text)
            else:
                ok = len(text) >= 4 and text.isalpha() and text.lower() not in STOPWORDS
            if ok:
                out.add(tuple(sent.ids[a:b]))
        return out

    def _pair(self, ctx, query, title, label, meta, stats):
        pair = truncate_pair(query, title, ctx.max_seq_len - 3)
        if pair is None:
            stats["dropped_too_long"] += 1
            return None
        return ctx.assemble(list(pair), self.name, label=label, meta=meta)

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        if ctx.inputs.get(PAIRS) is not None:
            return self._from_pairs(ctx, stats), stats
        return self._derived(ctx, rng, stats), stats

    def _from_pairs(self, ctx, stats):
        samples = []
        for query, title, label, where in ctx.inputs[PAIRS]:
            self.check_label(label)
            q, t = ctx.tokenize(query), ctx.tokenize(title)
            if not len(q) or not len(t):
                stats["empty_after_tokenization"] += 1
                continue
            s = self._pair(ctx, Segment.from_sentences([q]), Segment.from_sentences([t]), label,
                           {"source": where}, stats)
            if s is not None:
                samples.append(s)
        return samples

    def _derived(self, ctx, rng, stats):
        titled = [d for d, doc in enumerate(ctx.tok_docs) if doc.title]
        titles, title_kw, index = {}, {}, collections.defaultdict(set)
        for d in titled:
            t = ctx.tokenize(ctx.tok_docs[d].title)
            if not len(t):
                continue
            titles[d] = t
            title_kw[d] = self.keywords(ctx, t)
            for k in title_kw[d]:
                index[k].add(d)
        if len(titles) < 2:
            stats["fewer_than_two_titles"] += 1
            return []
        pools = {0: [], 1: [], 2: []}
        for d in range(len(ctx.tok_docs)):
            for i, sent in enumerate(ctx.sentences(d)):
                kw = self.keywords(ctx, sent)
                if d in titles and kw & title_kw[d]:
                    pools[0].append((d, i, d))
                related = sorted(set().union(*[index[k] for k in kw]) - {d}) if kw else []
                if related:
                    pools[1].append((d, i, related[rng.randrange(len(related))]))
                unrelated = [x for x in titles if x != d and not kw & title_kw[x]]
                if unrelated:
                    pools[2].append((d, i, unrelated[rng.randrange(len(unrelated))]))
                else:
                    stats["no_unrelated_title"] += 1
        for c in pools:
            stats["candidates_%d" % c] = len(pools[c])
        built = {0: [], 1: [], 2: []}
        for label in (0, 1, 2):
            pool = pools[label]
            rng.shuffle(pool)
            for d, i, td in pool:
                q = Segment.from_sentences([ctx.sentences(d)[i]], d, (i, i + 1))
                t = Segment.from_sentences([titles[td]])
                pair = truncate_pair(q, t, ctx.max_seq_len - 3)
                if pair is None:
                    stats["dropped_too_long"] += 1
                    continue
                # the label must hold for the text the model sees: the truncated query and title
                shared = bool(self.keywords(ctx, pair[0]) & self.keywords(ctx, pair[1]))
                if shared != (label in (0, 1)):
                    stats["label_lost_in_truncation_%d" % label] += 1
                    continue
                built[label].append((pair, d, i, td))
        # one input, one label: a query-title input built for two labels (a sentence repeated in another
        # document) is dropped; a repeated input with the same label is kept once
        labels_of = collections.defaultdict(set)
        for label in built:
            for pair, *_ in built[label]:
                labels_of[self._input_key(pair)].add(label)
        seen = set()
        for label in built:
            kept = []
            for pair, d, i, td in built[label]:
                key = self._input_key(pair)
                if len(labels_of[key]) > 1:
                    stats["conflicting_labels_%d" % label] += 1
                elif key in seen:
                    stats["duplicate_input_%d" % label] += 1
                else:
                    seen.add(key)
                    kept.append((pair, d, i, td))
            built[label] = kept
        per_class = min(len(b) for b in built.values())
        samples = []
        for label in (0, 1, 2):
            for pair, d, i, td in built[label][:per_class]:
                samples.append(ctx.assemble(list(pair), self.name, label=label,
                                            meta={"docs": [d, td], "spans": [(i, i + 1), None], "derived": True}))
        return samples

    @staticmethod
    def _input_key(pair):
        return tuple(pair[0].ids), tuple(pair[1].ids)

    def select(self, samples, limit, rng):
        """Keep the classes balanced: at most ``limit // 3`` (+ the remainder to the first classes) each."""
        by_label = collections.defaultdict(list)
        for s in samples:
            by_label[s.label].append(s)
        if limit:
            per, extra = divmod(limit, 3)
            kept = []
            for k, label in enumerate(sorted(by_label)):
                group = by_label[label]
                rng.shuffle(group)
                kept += group[:per + (1 if k < extra else 0)]
            samples = kept
        rng.shuffle(samples)
        return samples
