"""Pre-training reader: id format, masking, batching, sharding, resume, bad input, prefetch."""
import gzip
import json
import logging
import os
import threading
import time

import numpy as np
import pytest

from reader import batching
from reader.batching import (FEED_NAMES, KIND_KEEP, KIND_MASK, KIND_RANDOM, Prefetcher, batch_samples, mask,
                             prepare_batch)
from reader.pretraining import (FIELD_COUNT, ID_OUT_OF_VOCAB, LENGTH_MISMATCH, NEGATIVE_ID, NOT_INTEGER, NOT_UTF8,
                                TOO_LONG, BAD_LABEL, BadDataError, BadLine, DataFileError, LineParser,
                                PretrainingReader, PretrainingReaderConfig, Sample, generate_neg_samples, parse_line)
from conftest import original_path

PAD, CLS, SEP, MASK, UNK = 0, 1, 2, 3, 4
VOCAB_SIZE = 100           # ids 0..99, ordinary tokens 5..99
FEED_DTYPES = dict(src_ids=np.int64, pos_ids=np.int64, sent_ids=np.int64, input_mask=np.float32,
                   mask_label=np.int64, mask_pos=np.int64, labels=np.int64)


# ---------------------------------------------------------------- synthetic data
def make_sample(rng, uid=None, label=None, max_units=12):
    """[CLS] A [SEP] B [SEP] with units of 1-3 sub-tokens; ``uid`` is encoded in A's first two tokens."""
    def segment(first=()):
        toks, segs = [], []
        for t in first:
            toks.append(t)
            segs.append(0)
        for _ in range(rng.randint(1, max_units)):
            n = rng.choice([1, 1, 2, 2, 3])
            toks += list(rng.randint(5, VOCAB_SIZE, size=n))
            segs += [0] + [1] * (n - 1)
        return toks, segs
    first = () if uid is None else (5 + uid // 95, 5 + uid % 95)
    a, sa = segment(first)
    b, sb = segment()
    toks = [CLS] + a + [SEP] + b + [SEP]
    seg = [-1] + sa + [-1] + sb + [-1]
    sent = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    lab = int(rng.randint(2)) if label is None else label
    return Sample([int(t) for t in toks], sent, list(range(len(toks))), seg, lab)


def to_line(s):
    j = lambda xs: " ".join(str(x) for x in xs)  # noqa: E731
    return "%s;%s;%s;%s;%d" % (j(s.token_ids), j(s.sent_ids), j(s.pos_ids), j(s.seg_labels), s.label)


def write_gz(path, lines):
    with gzip.open(str(path), "wb") as f:
        for line in lines:
            f.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")
    return str(path)


def write_vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    tokens = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"] + ["w%d" % i for i in range(5, VOCAB_SIZE)]
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


def write_filelist(path, entries):
    path.write_text("".join("%s\t%s\n" % e for e in entries), encoding="utf-8")
    return str(path)


@pytest.fixture
def synth(tmp_path):
    """One gzip file of 300 unique samples, its file list (word masking) and the vocab."""
    rng = np.random.RandomState(0)
    samples = [make_sample(rng, uid=i) for i in range(300)]
    data = write_gz(tmp_path / "part-0.gz", [to_line(s) for s in samples])
    return dict(samples=samples, data=data, vocab=write_vocab(tmp_path),
                filelist=write_filelist(tmp_path / "filelist", [(data, 1.0)]), tmp=tmp_path)


def reader_for(filelist, vocab, **kw):
    kw.setdefault("batch_size", 256)
    kw.setdefault("max_seq_len", 128)
    kw.setdefault("trainer_id", 0)
    kw.setdefault("trainer_num", 1)
    return PretrainingReader(filelist, vocab, **kw)


def assert_batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert sorted(x) == sorted(y) == sorted(FEED_NAMES)
        for k in FEED_NAMES:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


# ---------------------------------------------------------------- reference masking (loop over §2.6)
def _first_kind(r):
    return KIND_MASK if r > 0.03 else (KIND_RANDOM if r > 0.015 else KIND_KEEP)


def _cont_kind(r):
    return KIND_MASK if r > 0.2 else (KIND_RANDOM if r > 0.1 else KIND_KEEP)


def reference_selection(rows, mask_word, prob):
    """[(row, col, kind)] selected by the original's loop, given the per-token draws ``prob``."""
    out, off = [], 0
    for row, (toks, segs) in enumerate(rows):
        if not mask_word[row]:
            for j, t in enumerate(toks):
                r = prob[off + j]
                if t not in (CLS, SEP) and r <= 0.15:
                    out.append((row, j, _first_kind(r)))
        else:
            beg = 0
            for j, sl in enumerate(segs):
                if sl == 1:
                    continue
                if beg == 0:
                    if sl != -1:
                        beg = j
                    continue
                r = prob[off + beg]
                if r <= 0.15:
                    out.append((row, beg, _first_kind(r)))
                    out += [(row, p, _cont_kind(prob[off + p])) for p in range(beg + 1, j)]
                beg = 0 if sl == -1 else j
        off += len(toks)
    return out


def units_of(segs):
    """Decided units [(start, end)) of one sequence (independent of batching.mask)."""
    units, beg = [], 0
    for j, sl in enumerate(segs):
        if sl == 1:
            continue
        if beg:
            units.append((beg, j))
        beg = j if sl != -1 else 0    # a seg-0 token at column 0 opens nothing (beg 0 = none)
    return units


def test_mask_matches_reference_loop_on_odd_seg_patterns():
    """Vectorised masking == the original's loop, incl. seg 0 at column 0, seg 1 after -1, open units."""
    rng = np.random.RandomState(3)
    for trial in range(20):
        B = 12
        rows = []
        for _ in range(B):
            n = rng.randint(2, 40)
            toks = list(rng.randint(1, 30, size=n))
            segs = list(rng.choice([-1, 0, 1, 1, 0], size=n))
            rows.append((toks, segs))
        mask_word = rng.rand(B) < 0.5
        lens = [len(t) for t, _ in rows]
        src = batching.pad_batch([t for t, _ in rows], PAD)
        seg = batching.pad_batch([s for _, s in rows], 7)   # padding content must not matter
        seed = 100 + trial
        res = mask(src, seg, lens, mask_word, np.random.RandomState(seed), CLS, SEP, MASK, vocab_size=30)
        prob = np.random.RandomState(seed).rand(sum(lens))
        ref = reference_selection(rows, mask_word, prob)
        assert ref, "trial draws selected nothing; the guard would interfere"
        L = src.shape[1]
        assert [(int(p) // L, int(p) % L) for p in res.mask_pos[:, 0]] == [(r, c) for r, c, _ in ref]
        assert list(res.mask_kind) == [k for _, _, k in ref]
        np.testing.assert_array_equal(res.mask_label[:, 0], src.reshape(-1)[res.mask_pos[:, 0]])
        untouched = np.ones(src.shape, bool)
        untouched.reshape(-1)[res.mask_pos[:, 0]] = False
        np.testing.assert_array_equal(res.src_ids[untouched], src[untouched])


def _selection_stats(samples, mask_word, seed=0, pool=None):
    """Mask ``samples`` as one batch; returns counts of units/tokens/selections for the checks."""
    lens = [len(s.token_ids) for s in samples]
    src = batching.pad_batch([s.token_ids for s in samples], PAD)
    seg = batching.pad_batch([s.seg_labels for s in samples], 1)
    res = mask(src, seg, lens, [mask_word] * len(samples), np.random.RandomState(seed), CLS, SEP, MASK,
               vocab_size=VOCAB_SIZE, replace_pool=pool)
    return src, res


def check_word_mode(samples, src, res):
    """Whole units, never a -1 position; returns (units, selected units)."""
    L = src.shape[1]
    sel = set(int(p) for p in res.mask_pos[:, 0])
    n_units = n_sel_units = 0
    for row, s in enumerate(samples):
        for beg, end in units_of(s.seg_labels):
            flags = [row * L + p in sel for p in range(beg, end)]
            assert all(flags) or not any(flags), "unit %d:%d of row %d partly masked" % (beg, end, row)
            n_units += 1
            n_sel_units += flags[0]
        for p, sl in enumerate(s.seg_labels):
            if sl == -1:
                assert row * L + p not in sel, "a -1 position ([CLS]/[SEP]) was selected"
    return n_units, n_sel_units


def check_kinds(src, res, cls, sep, mask_id, pool=None):
    """What the batch holds at mask_pos agrees with the recorded kind; returns the kinds."""
    pos = res.mask_pos[:, 0]
    orig, now = src.reshape(-1)[pos], res.src_ids.reshape(-1)[pos]
    np.testing.assert_array_equal(res.mask_label[:, 0], orig)
    assert not np.isin(orig, [cls, sep]).any(), "[CLS]/[SEP] selected"
    kinds = res.mask_kind
    assert (now[kinds == KIND_MASK] == mask_id).all()
    assert (now[kinds == KIND_KEEP] == orig[kinds == KIND_KEEP]).all()
    rand = now[kinds == KIND_RANDOM]
    if pool is not None:
        assert np.isin(rand, pool).all(), "random replacement outside the pool"
    return kinds


def check_split(kinds, tol=0.01):
    frac = [np.mean(kinds == k) for k in (KIND_MASK, KIND_RANDOM, KIND_KEEP)]
    assert abs(frac[0] - 0.8) < 2 * tol and abs(frac[1] - 0.1) < tol and abs(frac[2] - 0.1) < tol, frac


def test_word_masking_statistics_synthetic():
    rng = np.random.RandomState(1)
    samples = [make_sample(rng, max_units=30) for _ in range(1500)]
    pool = np.arange(5, VOCAB_SIZE)
    src, res = _selection_stats(samples, True, seed=5, pool=pool)
    n_units, n_sel = check_word_mode(samples, src, res)
    assert n_units > 30000 and abs(n_sel / n_units - 0.15) < 0.01
    check_split(check_kinds(src, res, CLS, SEP, MASK, pool))


def test_char_masking_statistics_synthetic():
    rng = np.random.RandomState(2)
    samples = [make_sample(rng, max_units=30) for _ in range(1000)]
    src, res = _selection_stats(samples, False, seed=6)
    eligible = sum(sum(t not in (CLS, SEP) for t in s.token_ids) for s in samples)
    assert abs(len(res.mask_pos) / eligible - 0.15) < 0.01
    check_split(check_kinds(src, res, CLS, SEP, MASK))
    # random ids of the original's range [1, vocab_size) when no pool is given
    rand = res.src_ids.reshape(-1)[res.mask_pos[res.mask_kind == KIND_RANDOM, 0]]
    assert rand.min() >= 1 and rand.max() < VOCAB_SIZE


def test_empty_mask_guard_forces_one_whole_unit():
    class NothingSelected(np.random.RandomState):
        def rand(self, *size):
            return np.full(size, 0.99)

    rng = np.random.RandomState(0)
    samples = [make_sample(rng, max_units=3) for _ in range(3)]
    for mode in (True, False):
        src, res = _selection_stats(samples, mode, pool=np.arange(5, VOCAB_SIZE))
        lens = [len(s) for s in samples]
        seg = batching.pad_batch([s.seg_labels for s in samples], 1)
        forced = mask(src, seg, lens, [mode] * 3, NothingSelected(4), CLS, SEP, MASK, vocab_size=VOCAB_SIZE)
        assert len(forced.mask_pos) >= 1
        L = src.shape[1]
        row, col = divmod(int(forced.mask_pos[0, 0]), L)
        assert src[row, col] not in (CLS, SEP)
        if mode:   # the forced selection is a whole unit starting at a seg-0 token
            unit = [u for u in units_of(samples[row].seg_labels) if u[0] == col]
            assert unit, "forced selection does not start a unit"
            assert len(forced.mask_pos) == unit[0][1] - unit[0][0]
        else:
            assert len(forced.mask_pos) == 1
    # a batch with nothing maskable at all ([CLS][SEP][SEP] only) yields M = 0 from mask()
    res = mask(np.array([[CLS, SEP, SEP]]), np.array([[-1, -1, -1]]), [3], [True], NothingSelected(0),
               CLS, SEP, MASK, vocab_size=VOCAB_SIZE)
    assert res.mask_pos.shape == (0, 1) and res.mask_label.shape == (0, 1)


def test_reader_drops_batch_without_maskable_token(tmp_path):
    vocab = write_vocab(tmp_path)
    data = write_gz(tmp_path / "d.gz", ["1 2 2;0 0 1;0 1 2;-1 -1 -1;1"] * 3)
    r = reader_for(write_filelist(tmp_path / "fl", [(data, 1.0)]), vocab, is_test=True)
    assert list(r.batches()) == []
    assert r.bad_line_report()["dropped_batches"] == 1


# ---------------------------------------------------------------- reader on the original demo data
def demo_reader(tmp_path, prob, **kw):
    data = os.path.abspath(original_path("data", "demo_valid_set.gz"))
    vocab = original_path("config", "vocab.txt")
    filelist = write_filelist(tmp_path / "valid_filelist", [(os.path.abspath(data), prob)])
    kw.setdefault("batch_size", 8192)
    kw.setdefault("max_seq_len", 512)
    return PretrainingReader(filelist, vocab, voc_size=18000, is_test=True, trainer_id=0, trainer_num=1, **kw), data


def parsed_lines(path, n):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [parse_line(next(f)) for _ in range(n)]


@pytest.mark.parametrize("mode", ["word", "char"])
def test_demo_data_masking_statistics(tmp_path, mode):
    reader, data = demo_reader(tmp_path, 1.1 if mode == "word" else 0.0)
    batches = []
    for b in reader.batches():
        batches.append(b)
        if sum(x.num_seqs for x in batches) >= 2500:
            break
    samples = parsed_lines(data, sum(b.num_seqs for b in batches))
    assert reader.get_progress().mask_type == ("mask_word" if mode == "word" else "mask_char")
    pool = reader.replace_pool
    assert not np.isin([0, 1, 2, 3, 17963], pool).any() and pool.max() == 17962
    row0 = 0
    n_sel = n_elig = n_units = n_sel_units = 0
    kinds = []
    for b in batches:
        for k, dt in FEED_DTYPES.items():
            assert b[k].dtype == dt, k
        B, L = b["src_ids"].shape
        rows = samples[row0:row0 + B]
        row0 += B
        assert L == max(len(s) for s in rows)          # padded to the longest sample
        assert B * L <= 8192
        assert b["input_mask"].shape == (B, L, 1) and b["labels"].shape == (B, 1)
        assert b.num_tokens == int(b["input_mask"].sum()) == sum(len(s) for s in rows)
        src = batching.pad_batch([s.token_ids for s in rows], 0, L)
        np.testing.assert_array_equal(b["pos_ids"], batching.pad_batch([s.pos_ids for s in rows], 0, L))
        np.testing.assert_array_equal(b["sent_ids"], batching.pad_batch([s.sent_ids for s in rows], 0, L))
        np.testing.assert_array_equal(b["labels"][:, 0], [s.label for s in rows])
        res = batching.MaskResult(b["src_ids"], b["mask_label"], b["mask_pos"], b.mask_kind)
        untouched = np.ones((B, L), bool)
        untouched.reshape(-1)[b["mask_pos"][:, 0]] = False
        np.testing.assert_array_equal(b["src_ids"][untouched], src[untouched])
        kinds.append(check_kinds(src, res, 1, 2, 3, pool=pool))
        if mode == "word":
            u, su = check_word_mode(rows, src, res)
            n_units += u
            n_sel_units += su
        n_sel += len(b["mask_pos"])
        n_elig += sum(sum(t not in (1, 2) for t in s.token_ids) for s in rows)
    check_split(np.concatenate(kinds))
    if mode == "word":
        assert n_units > 100000 and abs(n_sel_units / n_units - 0.15) < 0.005
    else:
        assert abs(n_sel / n_elig - 0.15) < 0.005


def test_demo_train_batching_like_original(tmp_path, monkeypatch):
    """8192-token batches of the demo train file: 157 per pass, <= 65 samples, all tokens once."""
    filelist = os.path.abspath(original_path("data", "train_filelist"))
    monkeypatch.chdir(tmp_path)   # './data/...' is then found only via the list's parent directory
    r = PretrainingReader(filelist, original_path("config", "vocab.txt"), batch_size=8192, epoch=1,
                          voc_size=18000, trainer_id=0, trainer_num=1)
    assert r.files[0][0] == os.path.join(os.path.dirname(os.path.dirname(filelist)), "data", "demo_train_set.gz")
    sizes, tokens = [], 0
    for b in r.batches():
        assert b["src_ids"].size <= 8192
        sizes.append(b.num_seqs)
        tokens += b.num_tokens
    assert len(sizes) == 157 and max(sizes) == 65 and sum(sizes) == 10000 and tokens == 953318
    assert r.bad_line_report()["lines_read"] == 10000 and r.bad_line_report()["bad_lines"] == 0


# ---------------------------------------------------------------- batching
def test_token_budget_and_sample_mode(synth):
    r = reader_for(synth["filelist"], synth["vocab"], batch_size=300, epoch=1)
    n = 0
    batches = list(r.batches())
    for b in batches:
        B, L = b["src_ids"].shape
        assert B * L <= 300
        n += B
    assert n == 300
    groups = list(batch_samples(synth["samples"], 300, True))
    assert sum(len(g) for g in groups) == 300
    # each batch is maximal: the next sample would break the budget
    for g, nxt in zip(groups, groups[1:]):
        assert (len(g) + 1) * max(max(len(s) for s in g), len(nxt[0])) > 300
    r = reader_for(synth["filelist"], synth["vocab"], batch_size=64, in_tokens=False, epoch=1)
    sizes = [b.num_seqs for b in r.batches()]
    assert sizes == [64, 64, 64, 64, 44]     # last partial batch emitted


def test_token_budget_smaller_than_max_seq_len_rejected(synth):
    with pytest.raises(ValueError, match="token budget"):
        reader_for(synth["filelist"], synth["vocab"], batch_size=100, max_seq_len=128)


def test_feed_names_and_extra_attributes(synth):
    b = next(reader_for(synth["filelist"], synth["vocab"]).batches())
    assert set(b) == set(FEED_NAMES) and set(b.feed()) == set(FEED_NAMES)
    assert b.num_tokens > 0 and b.epoch == 0 and b.index == 0 and json.loads(json.dumps(b.state))


# ---------------------------------------------------------------- determinism, resume
def test_seeded_determinism(synth):
    a = list(reader_for(synth["filelist"], synth["vocab"], epoch=2).batches())
    b = list(reader_for(synth["filelist"], synth["vocab"], epoch=2).batches())
    assert_batches_equal(a, b)
    c = list(reader_for(synth["filelist"], synth["vocab"], epoch=2, random_seed=2).batches())
    assert any(x["src_ids"].shape != y["src_ids"].shape or (x["src_ids"] != y["src_ids"]).any()
               for x, y in zip(a, c))
    # epochs differ from each other (sample shuffle and masks are per epoch)
    first = [x for x in a if x.epoch == 0]
    second = [x for x in a if x.epoch == 1]
    assert any(x["src_ids"].shape != y["src_ids"].shape or (x["src_ids"] != y["src_ids"]).any()
               for x, y in zip(first, second))


@pytest.mark.parametrize("where", ["first_epoch", "second_epoch"])
def test_resume_from_state(synth, where):
    full = list(reader_for(synth["filelist"], synth["vocab"], epoch=2).batches())
    per_epoch = sum(b.epoch == 0 for b in full)
    k = 3 if where == "first_epoch" else per_epoch + 2
    assert len(full) > k + 2 and full[k].epoch == (0 if where == "first_epoch" else 1)
    r = reader_for(synth["filelist"], synth["vocab"], epoch=2)
    gen = r.batches()
    for _ in range(k):
        next(gen)
    state = json.loads(json.dumps(r.state_dict()))
    restored = reader_for(synth["filelist"], synth["vocab"], epoch=2)
    restored.load_state_dict(state)
    assert_batches_equal(list(restored.batches()), full[k:])


def test_resume_from_batch_state_under_prefetch(synth):
    full = list(reader_for(synth["filelist"], synth["vocab"], epoch=2).batches())
    with Prefetcher(reader_for(synth["filelist"], synth["vocab"], epoch=2).batches(), capacity=3) as it:
        for _ in range(5):
            last = next(it)
    restored = reader_for(synth["filelist"], synth["vocab"], epoch=2)
    restored.load_state_dict(json.loads(json.dumps(last.state)))
    assert_batches_equal(list(restored.batches()), full[5:])


def test_state_of_other_configuration_rejected(synth):
    state = reader_for(synth["filelist"], synth["vocab"]).state_dict()
    other = reader_for(synth["filelist"], synth["vocab"], random_seed=7)
    with pytest.raises(ValueError, match="random_seed"):
        other.load_state_dict(state)


# ---------------------------------------------------------------- sharding
def sample_keys(reader, epoch=0):
    return [tuple(s.token_ids) for s in reader.samples(epoch)]


def test_one_file_shared_by_two_trainers(synth):
    keys = [sample_keys(reader_for(synth["filelist"], synth["vocab"], trainer_id=k, trainer_num=2))
            for k in (0, 1)]
    assert set(keys[0]).isdisjoint(keys[1])
    assert set(keys[0]) | set(keys[1]) == set(tuple(s.token_ids) for s in synth["samples"])
    assert abs(len(keys[0]) - len(keys[1])) <= 1
    for k in (0, 1):   # and the batches work
        assert sum(b.num_seqs for b in reader_for(synth["filelist"], synth["vocab"], trainer_id=k,
                                                  trainer_num=2, epoch=1).batches()) == 150


def test_files_sharded_across_trainers(tmp_path):
    rng = np.random.RandomState(0)
    vocab = write_vocab(tmp_path)
    files = []
    for i in range(5):
        files.append((write_gz(tmp_path / ("f%d.gz" % i), [to_line(make_sample(rng, uid=100 * i + j))
                                                           for j in range(20)]), 1.0))
    filelist = write_filelist(tmp_path / "fl", files)
    orders = set(tuple(reader_for(filelist, vocab)._epoch_plan(e)) for e in range(3))
    assert len(orders) > 1, "file order is not reshuffled per epoch"
    for epoch in range(3):
        readers = [reader_for(filelist, vocab, trainer_id=k, trainer_num=2) for k in (0, 1)]
        keys = [set(sample_keys(r, epoch)) for r in readers]
        assert keys[0].isdisjoint(keys[1])
        assert len(keys[0]) == len(keys[1]) == 40   # 4 of 5 files per epoch, 2 each
        assert readers[0]._epoch_plan(epoch) != readers[1]._epoch_plan(epoch)
        # identical file order: trainer k takes positions k, k+2 of the one permutation of the epoch
        single = reader_for(filelist, vocab)._epoch_plan(epoch)
        assert sorted(readers[0]._epoch_plan(epoch) + readers[1]._epoch_plan(epoch)) == single[:4]


def test_trainers_get_different_masks_same_file_order(synth, monkeypatch):
    monkeypatch.setenv("PADDLE_TRAINER_ID", "1")
    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    r1 = PretrainingReader(synth["filelist"], synth["vocab"], batch_size=256, max_seq_len=128)
    assert (r1.trainer_id, r1.trainer_num) == (1, 2)
    r0 = reader_for(synth["filelist"], synth["vocab"], trainer_id=0, trainer_num=2)
    samples = synth["samples"][:20]
    for s in samples:
        s.mask_word = True
    b0, b1 = r0.make_batch(samples, 0, 0), r1.make_batch(samples, 0, 0)
    assert not np.array_equal(b0["mask_pos"], b1["mask_pos"])
    assert r0._epoch_plan(4) == r1._epoch_plan(4)


# ---------------------------------------------------------------- negative samples
def test_generate_neg_samples_structure():
    rng = np.random.RandomState(0)
    pos = [make_sample(rng, label=1) for _ in range(50)]
    out, misses = generate_neg_samples(list(pos), np.random.RandomState(1), 64, CLS, SEP)
    negs = [s for s in out if s.label == 0]
    assert len(out) == 50 + len(negs) and len(negs) + misses == 50 and len(negs) > 0
    for s in negs:
        n = len(s.token_ids)
        assert n <= 64 and s.pos_ids == list(range(n))
        seps = [i for i, t in enumerate(s.token_ids) if t == SEP]
        assert s.token_ids[0] == CLS and len(seps) == 2 and seps[1] == n - 1
        assert s.sent_ids == [0] * (seps[0] + 1) + [1] * (n - seps[0] - 1)
        assert [i for i, v in enumerate(s.seg_labels) if v == -1] == [0] + seps
    # a lone positive stays as it is
    one = [make_sample(rng, label=1)]
    assert generate_neg_samples(one, rng, 64, CLS, SEP) == (one, 0)


def test_reader_generates_negatives(tmp_path):
    rng = np.random.RandomState(0)
    vocab = write_vocab(tmp_path)
    data = write_gz(tmp_path / "pos.gz", [to_line(make_sample(rng, label=1)) for _ in range(120)])
    r = reader_for(write_filelist(tmp_path / "fl", [(data, 1.0)]), vocab, generate_neg_sample=True, epoch=1,
                   shuffle_buffer=50)
    labels = np.concatenate([b["labels"][:, 0] for b in r.batches()])
    assert 120 < len(labels) <= 240 and (labels == 1).sum() == 120 and (labels == 0).sum() > 60


def test_generate_neg_sample_on_data_with_negatives_is_an_error(synth):
    r = reader_for(synth["filelist"], synth["vocab"], generate_neg_sample=True)
    with pytest.raises(DataFileError, match="generate_neg_sample"):
        next(r.batches())


# ---------------------------------------------------------------- bad input
def test_parse_line_fields_and_errors():
    s = parse_line("1 7 2;0 0 0;0 1 2;-1 0 -1;1\n")
    assert (s.token_ids, s.sent_ids, s.pos_ids, s.seg_labels, s.label, s.extra) == \
        ([1, 7, 2], [0, 0, 0], [0, 1, 2], [-1, 0, -1], 1, {})
    cases = {
        "1 7 2;0 0 0;0 1 2;-1 0 -1": FIELD_COUNT,
        "": FIELD_COUNT,
        "1 7  2;0 0 0;0 1 2;-1 0 -1;1": NOT_INTEGER,
        "1 x 2;0 0 0;0 1 2;-1 0 -1;1": NOT_INTEGER,
        "1 7 2;0 0 0;0 1 2;-1 0 -1;yes": NOT_INTEGER,
        "1 7 2;0 0;0 1 2;-1 0 -1;1": LENGTH_MISMATCH,
        "1 700 2;0 0 0;0 1 2;-1 0 -1;1": ID_OUT_OF_VOCAB,
        "1 -7 2;0 0 0;0 1 2;-1 0 -1;1": ID_OUT_OF_VOCAB,
        "1 7 2;0 -1 0;0 1 2;-1 0 -1;1": NEGATIVE_ID,
        "1 7 2;0 0 0;0 1 2;-1 0 -1;2": BAD_LABEL,
        "1 7 7 2;0 0 0 0;0 1 2 3;-1 0 0 -1;1": TOO_LONG,
    }
    for line, reason in cases.items():
        with pytest.raises(BadLine) as e:
            LineParser(max_seq_len=3, voc_size=100).parse(line)
        assert e.value.reason == reason, line


def test_extended_parser_hook():
    class WithTask(LineParser):
        extra_fields = ("task_id",)

        def parse_extra(self, fields, sample):
            sample.extra["task_id"] = int(fields[0])

    s = WithTask().parse("1 7 2;0 0 0;0 1 2;-1 0 -1;1;3")
    assert s.extra == {"task_id": 3} and s.token_ids == [1, 7, 2]
    with pytest.raises(BadLine):
        WithTask().parse("1 7 2;0 0 0;0 1 2;-1 0 -1;1")


BAD_LINES = [
    ("1 7 2;0 0 0;0 1 2;-1 0 -1", FIELD_COUNT),
    ("1 7  2;0 0 0;0 1 2;-1 0 -1;1", NOT_INTEGER),
    ("1 7 2;0 0;0 1 2;-1 0 -1;1", LENGTH_MISMATCH),
    ("1 100 2;0 0 0;0 1 2;-1 0 -1;1", ID_OUT_OF_VOCAB),
    ("1 -3 2;0 0 0;0 1 2;-1 0 -1;1", ID_OUT_OF_VOCAB),
    (" ".join(["5"] * 200) + ";" + " ".join(["0"] * 200) + ";" + " ".join(map(str, range(200))) + ";"
     + " ".join(["0"] * 200) + ";1", TOO_LONG),
    ("1 7 2;0 0 0;0 1 2;-1 0 -1;3", BAD_LABEL),
    (b"1 7 2;0 0 0;0 1 2;-1 0 -1;1\xff", NOT_UTF8),
]


def test_bad_lines_skipped_counted_and_reported(tmp_path, caplog):
    rng = np.random.RandomState(0)
    good = [to_line(make_sample(rng)) for _ in range(150)]
    lines = good[:40] + [b for b, _ in BAD_LINES] + good[40:]
    data = write_gz(tmp_path / "bad.gz", lines)
    r = reader_for(write_filelist(tmp_path / "fl", [(data, 1.0)]), write_vocab(tmp_path), is_test=True,
                   max_bad_line_ratio=0.1)
    with caplog.at_level(logging.WARNING, logger="reader.pretraining"):
        n = sum(b.num_seqs for b in r.batches())
    assert n == 150
    report = r.bad_line_report()
    expected = {}
    for _, reason in BAD_LINES:
        expected[reason] = expected.get(reason, 0) + 1
    assert report["by_reason"] == expected and report["lines_read"] == 158
    assert report["bad_lines"] == 7 and report["skipped_lines"] == 8   # too_long is a filter
    text = caplog.text
    # rate limit: 5 per file, then one notice
    assert text.count("skipped line (") == 5 and "only counted" in text
    for i, (_, reason) in enumerate(BAD_LINES[:5]):
        assert "%s:%d: skipped line (%s)" % (data, 41 + i, reason) in text
    assert "lines read, 8 skipped (7 malformed)" in text        # end-of-pass summary


def test_each_bad_line_kind_is_warned_with_file_and_line(tmp_path, caplog):
    rng = np.random.RandomState(0)
    vocab = write_vocab(tmp_path)
    for i, (bad, reason) in enumerate(BAD_LINES):
        data = write_gz(tmp_path / ("b%d.gz" % i), [to_line(make_sample(rng)), bad])
        r = reader_for(write_filelist(tmp_path / ("fl%d" % i), [(data, 1.0)]), vocab, is_test=True)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="reader.pretraining"):
            assert sum(b.num_seqs for b in r.batches()) == 1
        assert "%s:2: skipped line (%s)" % (data, reason) in caplog.text
        assert r.bad_line_report()["by_reason"] == {reason: 1}


@pytest.mark.parametrize("bad_first", [True, False])
def test_bad_line_ratio_exceeded_raises(tmp_path, bad_first):
    rng = np.random.RandomState(0)
    good = [to_line(make_sample(rng)) for _ in range(150)]
    bad = ["not a sample"] * 5
    lines = bad + good if bad_first else good + bad
    data = write_gz(tmp_path / "d.gz", lines)
    r = reader_for(write_filelist(tmp_path / "fl", [(data, 1.0)]), write_vocab(tmp_path), is_test=True)
    with pytest.raises(BadDataError, match="max_bad_line_ratio"):
        list(r.batches())
    # tolerated below the ratio
    r = reader_for(write_filelist(tmp_path / "fl", [(data, 1.0)]), write_vocab(tmp_path), is_test=True,
                   max_bad_line_ratio=0.05)
    assert sum(b.num_seqs for b in r.batches()) == 150


def test_construction_errors(tmp_path, synth):
    vocab = synth["vocab"]
    with pytest.raises(DataFileError, match="does not exist"):
        reader_for(str(tmp_path / "nope"), vocab)
    with pytest.raises(DataFileError, match=r"fl1:2: data file missing.gz does not exist"):
        reader_for(write_filelist(tmp_path / "fl1", [(synth["data"], 1.0), ("missing.gz", 1.0)]), vocab)
    plain = tmp_path / "plain.gz"
    plain.write_text(to_line(synth["samples"][0]) + "\n")
    with pytest.raises(DataFileError, match="not a gzip file"):
        reader_for(write_filelist(tmp_path / "fl2", [(str(plain), 1.0)]), vocab)
    fl = tmp_path / "fl3"
    fl.write_text("\n%s\t1.0\n\n%s 1.0\n" % (synth["data"], synth["data"]))
    with pytest.raises(DataFileError, match=r"fl3:4: .*no tab"):
        reader_for(str(fl), vocab)
    fl.write_text("%s\tmany\n" % synth["data"])
    with pytest.raises(DataFileError, match="not a number"):
        reader_for(str(fl), vocab)
    fl.write_text("\n\n")
    with pytest.raises(DataFileError, match="no data file"):
        reader_for(str(fl), vocab)
    # blank lines are ignored; a relative path is found next to the list
    fl.write_text("\n%s\t1.0\n\n" % os.path.basename(synth["data"]))
    assert reader_for(str(fl), vocab).files[0][0] == os.path.normpath(synth["data"])


def test_corrupt_gzip_propagates(tmp_path, synth):
    blob = open(synth["data"], "rb").read()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(blob[:len(blob) // 2])
    r = reader_for(write_filelist(tmp_path / "fl", [(str(cut), 1.0)]), synth["vocab"], is_test=True)
    with pytest.raises(DataFileError, match="cut.gz: unreadable or corrupt gzip"):
        list(r.batches())


# ---------------------------------------------------------------- progress
def test_progress(tmp_path, synth):
    other = write_gz(tmp_path / "part-1.gz", [to_line(s) for s in synth["samples"][:10]])
    r = reader_for(write_filelist(tmp_path / "fl", [(synth["data"], 1.0), (other, 0.0)]), synth["vocab"],
                   is_test=True)
    seen = set()
    for b in r.batches():
        seen.add(tuple(b.progress))
    assert (1, 1, 2, synth["data"], "mask_word") in seen
    assert r.get_progress() == (1, 2, 2, other, "mask_char")


# ---------------------------------------------------------------- prefetch
def test_prefetcher_order_error_and_close():
    assert list(Prefetcher(iter(range(50)), capacity=2)) == list(range(50))

    def failing():
        yield 1
        raise KeyError("producer broke")

    it = Prefetcher(failing())
    assert next(it) == 1
    with pytest.raises(KeyError, match="producer broke"):
        next(it)

    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    t0 = time.time()
    with Prefetcher(endless(), capacity=2) as it:
        assert [next(it) for _ in range(3)] == [0, 1, 2]
    assert closed.wait(5) and time.time() - t0 < 5
    with pytest.raises(StopIteration):
        next(it)


def test_prefetcher_propagates_reader_error(tmp_path, synth):
    data = write_gz(tmp_path / "d.gz", ["garbage"] * 200)
    r = reader_for(write_filelist(tmp_path / "fl", [(data, 1.0)]), synth["vocab"])
    with pytest.raises(BadDataError):
        for _ in Prefetcher(r.batches()):
            pass


def test_prepare_batch_is_pure():
    rng = np.random.RandomState(0)
    samples = [make_sample(rng) for _ in range(8)]
    for s in samples:
        s.mask_word = True
    before = [list(s.token_ids) for s in samples]
    a = prepare_batch(samples, np.random.RandomState(5), CLS, SEP, MASK, vocab_size=VOCAB_SIZE)
    b = prepare_batch(samples, np.random.RandomState(5), CLS, SEP, MASK, vocab_size=VOCAB_SIZE)
    assert [s.token_ids for s in samples] == before
    assert_batches_equal([a], [b])


def test_settings_come_as_one_config_object(synth):
    """``PretrainingReaderConfig`` holds every setting; keyword arguments override single fields; an unknown
    setting is refused (a misspelt one would otherwise be ignored)."""
    config = PretrainingReaderConfig(batch_size=256, max_seq_len=128, trainer_id=0, trainer_num=1, random_seed=3)
    a = PretrainingReader(synth["filelist"], synth["vocab"], config)
    b = reader_for(synth["filelist"], synth["vocab"], random_seed=3)
    assert a.state_dict() == b.state_dict()
    assert_batches_equal(list(a.batches()), list(b.batches()))
    c = PretrainingReader(synth["filelist"], synth["vocab"], config, random_seed=4)
    assert c.random_seed == 4 and config.random_seed == 3          # the override does not change the object
    with pytest.raises(TypeError, match="batch_sise"):
        PretrainingReader(synth["filelist"], synth["vocab"], config, batch_sise=64)
