"""Throughput of the pre-training reader alone (parse, shuffle, batch, pad, mask), one process.

    python bench/bench_reader.py [--filelist data/train_filelist] [--vocab_path config/vocab.txt]

Prints one summary line: batches, samples, tokens, seconds, samples/s, tokens/s.
"""
import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from reader.batching import Prefetcher  # noqa: E402
from reader.pretraining import PretrainingReader  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--filelist", default="data/train_filelist")
    p.add_argument("--vocab_path", default="config/vocab.txt")
    p.add_argument("--batch_size", type=int, default=8192, help="token budget (or samples without --in_tokens)")
    p.add_argument("--in_tokens", type=int, default=1)
    p.add_argument("--max_seq_len", type=int, default=512)
    p.add_argument("--voc_size", type=int, default=0, help="0: largest vocabulary id + 1")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--random_seed", type=int, default=1)
    p.add_argument("--is_test", action="store_true", help="validation mode (no shuffling)")
    p.add_argument("--prefetch", type=int, default=0, help="run the reader on a thread with this queue size")
    args = p.parse_args(argv)
    for path, what in ((args.filelist, "--filelist"), (args.vocab_path, "--vocab_path")):
        if not os.path.isfile(path):
            p.error("%s %s does not exist (pass the path explicitly)" % (what, path))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    reader = PretrainingReader(args.filelist, args.vocab_path, batch_size=args.batch_size,
                               in_tokens=bool(args.in_tokens), max_seq_len=args.max_seq_len,
                               random_seed=args.random_seed, epoch=args.epochs, voc_size=args.voc_size,
                               is_test=args.is_test, trainer_id=0, trainer_num=1)
    batches = reader.batches()
    if args.prefetch:
        batches = Prefetcher(batches, capacity=args.prefetch)
    n_batches = n_samples = n_tokens = n_masked = 0
    start = time.perf_counter()
    for batch in batches:
        n_batches += 1
        n_samples += batch.num_seqs
        n_tokens += batch.num_tokens
        n_masked += len(batch["mask_pos"])
    secs = time.perf_counter() - start
    print("bench_reader: %d batches, %d samples, %d tokens (%.1f%% masked) in %.2f s: %.0f samples/s, %.0f tokens/s"
          % (n_batches, n_samples, n_tokens, 100.0 * n_masked / max(n_tokens, 1), secs,
             n_samples / secs, n_tokens / secs))


if __name__ == "__main__":
    main()
