"""Batching, padding and masked-LM masking for pre-training, plus a prefetcher.

Everything here is a pure function of its arguments: randomness comes only
from an explicit ``numpy.random.RandomState`` (never numpy's global RNG), so a
batch is reproducible from its seed.

Masking (the original ``batching.mask``, vectorised; same selection rule):

* char mode: every token that is not [CLS]/[SEP] (checked on the *id*) is
  selected with probability 0.15; a selected token becomes [MASK] (80 %), a
  random id (10 %) or stays unchanged (10 %).
* word mode (knowledge masking): a *unit* (word / phrase / entity) is one
  ``seg_label == 0`` token followed by its ``seg_label == 1`` continuations; a
  unit is decided only when a later token closes it (seg 0 or -1), and never
  starts at column 0.  15 % of the decided units are selected (draw at the
  unit's first token); every sub-token of a selected unit is predicted, each
  independently 80/10/10 ([MASK] / random / unchanged).  Tokens with
  ``seg_label == -1`` ([CLS]/[SEP]) never belong to a unit.

``mask_pos`` is the flat index ``row * L + col`` into the padded [B, L] grid;
masks are listed sentence by sentence, by increasing position (as the original).

Deviations from the original, on purpose:

* if nothing at all is selected in a batch, one eligible unit/token is forced
  (chosen by the same RNG), so the model never receives an empty mask (M = 0);
* random replacement ids are drawn from ``replace_pool`` when one is given (the
  reader passes the real vocabulary ids without special tokens); the original
  drew from ``[1, vocab_size)``, which includes [CLS]/[SEP]/[MASK] and ids
  without a vocabulary entry.
"""
import collections
import queue
import threading

import numpy as np

# Keys of a batch dict that are model feeds, in the original feed order.
FEED_NAMES = ("src_ids", "pos_ids", "sent_ids", "input_mask", "mask_label", "mask_pos", "labels")

# What happened to a selected position (``MaskResult.mask_kind``).
KIND_MASK, KIND_RANDOM, KIND_KEEP = 0, 1, 2

# Selection probability and 80/10/10 thresholds of the original.
SELECT_PROB = 0.15
FIRST_MASK_ABOVE, FIRST_RANDOM_ABOVE = 0.03, 0.015    # r in [0, 0.15] (char tokens, first sub-token)
CONT_MASK_ABOVE, CONT_RANDOM_ABOVE = 0.2, 0.1         # r in [0, 1) (continuation sub-tokens)

MaskResult = collections.namedtuple("MaskResult", "src_ids mask_label mask_pos mask_kind")
MaskResult.__doc__ = """Result of :func:`mask`.

    src_ids: int64 [B, L], masked copy of the input ids;
    mask_label: int64 [M, 1], original ids at the selected positions;
    mask_pos: int64 [M, 1], flat positions row * L + col;
    mask_kind: int8 [M], KIND_MASK / KIND_RANDOM / KIND_KEEP per selected position.
"""


def _kinds(r, mask_above, random_above):
    return np.where(r > mask_above, KIND_MASK, np.where(r > random_above, KIND_RANDOM, KIND_KEEP))


def mask(src_ids, seg_labels, seq_lens, mask_word, rng, cls_id, sep_id, mask_id,
         vocab_size=None, replace_pool=None):
    """Masked-LM masking of a padded batch (does not modify its inputs).

    src_ids, seg_labels: int [B, L], right-padded (padding content is ignored);
    seq_lens: int [B] real lengths; mask_word: bool [B] (word vs. char mode per row);
    rng: numpy RandomState; replacement ids come from ``replace_pool`` (1-D int
    array) if given, else uniformly from ``[1, vocab_size)`` as the original.
    Returns a :class:`MaskResult`.  M is 0 only if the batch has no token that
    may be masked at all (only [CLS]/[SEP]).
    """
    src = np.asarray(src_ids, dtype=np.int64)
    seg = np.asarray(seg_labels, dtype=np.int64)
    if src.ndim != 2 or seg.shape != src.shape:
        raise ValueError("src_ids and seg_labels must be [B, L] arrays of one shape, got %s and %s"
                         % (src.shape, seg.shape))
    B, L = src.shape
    lens = np.asarray(seq_lens, dtype=np.int64).reshape(B)
    word = np.asarray(mask_word, dtype=bool).reshape(B)[:, None]
    if replace_pool is None and not vocab_size:
        raise ValueError("mask() needs replace_pool or vocab_size for random replacement ids")
    col = np.arange(L)[None, :]
    rows = np.arange(B)[:, None]
    real = col < lens[:, None]

    # One draw per real token, in sentence-offset order (row-major over real positions).
    prob = np.ones((B, L))
    prob[real] = rng.rand(int(lens.sum()))

    # char mode: any real token but [CLS]/[SEP].
    char_ok = real & (src != cls_id) & (src != sep_id)
    char_elig = char_ok & ~word

    # word mode: padding acts as a continuation, so it neither opens nor closes a unit.
    s = np.where(real, seg, 1)
    closer = real & (s != 1)
    opener = closer & (s != -1) & (col >= 1)
    # next closing position strictly after each column (L = none)
    next_close = np.full((B, L), L)
    if L > 1:
        rev = np.minimum.accumulate(np.where(closer, col, L)[:, ::-1], axis=1)[:, ::-1]
        next_close[:, :-1] = rev[:, 1:]
    unit_start = opener & (next_close < L) & word
    # owner of each position: the last non-continuation position at or before it
    owner = np.maximum.accumulate(np.where(closer, col, -1), axis=1)
    continuation = real & (s == 1) & word & (owner >= 0)

    start_sel = unit_start & (prob <= SELECT_PROB)
    char_sel = char_elig & (prob <= SELECT_PROB)
    if not (start_sel.any() or char_sel.any()):
        # Empty-mask guard: force one unit / token, chosen by the RNG; its draw is
        # re-made in [0, 0.15) so the 80/10/10 split still holds.
        candidates = np.flatnonzero(unit_start | char_elig)
        forced_char = False
        if candidates.size == 0:   # word rows without a decided unit: fall back to tokens
            candidates = np.flatnonzero(char_ok)
            forced_char = True
        if candidates.size:
            pick = candidates[rng.randint(candidates.size)]
            prob.flat[pick] = rng.uniform(0.0, SELECT_PROB)
            if unit_start.flat[pick] and not forced_char:
                start_sel.flat[pick] = True
            else:
                char_sel.flat[pick] = True

    own = np.where(owner >= 0, owner, 0)
    cont_sel = continuation & start_sel[rows, own]
    first_sel = start_sel | char_sel
    selected = first_sel | cont_sel

    kind = np.full((B, L), -1, dtype=np.int8)
    kind[first_sel] = _kinds(prob[first_sel], FIRST_MASK_ABOVE, FIRST_RANDOM_ABOVE)
    kind[cont_sel] = _kinds(prob[cont_sel], CONT_MASK_ABOVE, CONT_RANDOM_ABOVE)

    out = src.copy()
    out[selected & (kind == KIND_MASK)] = mask_id
    rand_at = selected & (kind == KIND_RANDOM)
    n_rand = int(rand_at.sum())
    if n_rand:
        if replace_pool is not None:
            pool = np.asarray(replace_pool, dtype=np.int64)
            out[rand_at] = pool[rng.randint(0, pool.size, size=n_rand)]
        else:
            out[rand_at] = rng.randint(1, vocab_size, size=n_rand)

    pos = np.flatnonzero(selected)   # row-major: sentence by sentence, increasing position
    return MaskResult(out, src.reshape(-1)[pos].reshape(-1, 1), pos.astype(np.int64).reshape(-1, 1),
                      kind.reshape(-1)[pos])


def pad_batch(seqs, pad_id=0, max_len=None, dtype=np.int64):
    """Right-pad a list of int sequences into [B, max_len] (default: longest)."""
    if max_len is None:
        max_len = max(len(x) for x in seqs)
    out = np.full((len(seqs), max_len), pad_id, dtype=dtype)
    for i, x in enumerate(seqs):
        out[i, :len(x)] = x
    return out


def batch_samples(samples, batch_size, in_tokens=True):
    """Group an iterable of samples (anything with ``len``) into lists.

    in_tokens: ``batch_size`` is a token budget for the *padded* batch: a sample
    joins when ``(len(batch) + 1) * max_len <= batch_size``, max_len counting the
    candidate.  Otherwise ``batch_size`` is a number of samples.  A sample that
    alone exceeds the budget still forms a batch of one (callers prevent this by
    requiring ``batch_size >= max_seq_len``).  The last partial batch is emitted.
    """
    batch, max_len = [], 0
    for sample in samples:
        n = len(sample)
        new_max = max(max_len, n)
        fits = ((len(batch) + 1) * new_max <= batch_size) if in_tokens else (len(batch) < batch_size)
        if fits or not batch:
            batch.append(sample)
            max_len = new_max
        else:
            yield batch
            batch, max_len = [sample], n
    if batch:
        yield batch


class PretrainingBatch(dict):
    """One model batch: the dict items are exactly the feeds (``FEED_NAMES``).

    Feeds (B samples, L longest sample, M masked positions):
        src_ids int64 [B, L], pos_ids int64 [B, L], sent_ids int64 [B, L],
        input_mask float32 [B, L, 1], mask_label int64 [M, 1], mask_pos int64 [M, 1],
        labels int64 [B, 1].
    Not fed, as attributes: ``num_tokens`` (real tokens), ``num_seqs``,
    ``mask_kind`` (int8 [M]), and whatever the reader attaches (``epoch``,
    ``index``, ``state``, ``progress``).
    """

    num_tokens = 0
    num_seqs = 0
    mask_kind = None
    epoch = None
    index = None
    state = None
    progress = None

    def feed(self):
        """A plain dict of the feeds (for APIs that want exactly a dict)."""
        return {k: self[k] for k in FEED_NAMES}


def prepare_batch(samples, rng, cls_id, sep_id, mask_id, pad_id=0, vocab_size=None, replace_pool=None):
    """Pad and mask a list of samples into a :class:`PretrainingBatch`.

    Each sample has ``token_ids``, ``sent_ids``, ``pos_ids``, ``seg_labels``
    (int lists of one length), ``label`` (int) and ``mask_word`` (bool).
    Padding (``pad_id``, the original used [PAD] = 0 for all three id tensors)
    goes to the longest sample of the batch.
    """
    lens = np.array([len(s.token_ids) for s in samples], dtype=np.int64)
    L = int(lens.max())
    src = pad_batch([s.token_ids for s in samples], pad_id, L)
    seg = pad_batch([s.seg_labels for s in samples], 1, L)
    m = mask(src, seg, lens, [bool(s.mask_word) for s in samples], rng, cls_id, sep_id, mask_id,
             vocab_size=vocab_size, replace_pool=replace_pool)
    batch = PretrainingBatch(
        src_ids=m.src_ids,
        pos_ids=pad_batch([s.pos_ids for s in samples], pad_id, L),
        sent_ids=pad_batch([s.sent_ids for s in samples], pad_id, L),
        input_mask=(np.arange(L)[None, :] < lens[:, None]).astype(np.float32)[:, :, None],
        mask_label=m.mask_label,
        mask_pos=m.mask_pos,
        labels=np.array([s.label for s in samples], dtype=np.int64).reshape(-1, 1),
    )
    batch.num_tokens = int(lens.sum())
    batch.num_seqs = len(samples)
    batch.mask_kind = m.mask_kind
    return batch


_ITEM, _END, _ERROR = 0, 1, 2


class Prefetcher:
    """Iterate ``iterable`` on a background thread, ``capacity`` items ahead.

    An exception raised by the producer is re-raised in the consumer (original
    traceback attached).  ``close()`` (or leaving a ``with`` block, or breaking
    out and closing) stops the producer without hanging: it notices within
    ``poll_s`` seconds between items, and closes the source generator in its own
    thread.  Use as ``with Prefetcher(reader.batches()) as it: for b in it: ...``.
    """

    def __init__(self, iterable, capacity=4, poll_s=0.1, name="prefetch"):
        if capacity < 1:
            raise ValueError("Prefetcher capacity must be >= 1, got %r" % capacity)
        self._queue = queue.Queue(capacity)
        self._stop = threading.Event()
        self._poll = poll_s
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(iterable,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=self._poll)
                return True
            except queue.Full:
                pass
        return False

    def _run(self, iterable):
        it = None
        try:
            it = iter(iterable)
            for item in it:
                if not self._put((_ITEM, item)):
                    break
            else:
                self._put((_END, None))
        except BaseException as e:  # noqa: B902 -- handed to the consumer
            self._put((_ERROR, e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:   # the consumer has what it needs; nothing to report to
                    pass

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, value = self._queue.get(timeout=self._poll)
                break
            except queue.Empty:
                if self._stop.is_set():
                    self._done = True
                    raise StopIteration from None
                if not self._thread.is_alive() and self._queue.empty():
                    self._done = True
                    raise RuntimeError("prefetch thread ended without a result") from None
        if kind == _ITEM:
            return value
        self._done = True
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self, timeout=5.0):
        """Stop the producer and wait (up to ``timeout`` s) for its thread."""
        self._stop.set()
        self._done = True
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
