"""A copy of a parameters directory with every embedding table scaled by one factor: a plasticity check.

    python bench/rescale_embeddings.py SRC_PARAMS DST_PARAMS [--target_std 0.02]

The factor c makes the word embedding's standard deviation ``--target_std`` (the initialisation's
``initializer_range`` by default); the word, position, sentence and task embedding tables are all scaled by
c, so their sum is scaled by c and the layer norm that follows it nearly undoes the change (exactly, but for
its epsilon): the encoder computes nearly the same function (a masked-LM output layer tied to the word
embedding does not: its logits scale too; fine-tuning does not use it).  What changes is how far an update
moves the tables: Adam's step does not grow with a weight's size, and pre-trained embeddings can be many
times larger than fresh ones (in the transfer study 0.32 against 0.02), so fine-tuning moves them relatively
that many times less.  Fine-tuning the copy asks whether that lost plasticity is what keeps a pre-trained
encoder behind a random one.  Only the parameters and the model config are copied (no optimizer moments, no
training state: load the copy with ``--init_pretraining_params``); DST_PARAMS must not exist.
"""
import argparse
import os
import re
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from ernie.atomic_write import atomic_directory  # noqa: E402
from ernie.checkpoint import COMPLETE_FILE, STATE_FILE  # noqa: E402
from ernie.tensor_file import read_tensor, write_tensor  # noqa: E402

EMBEDDINGS = ("word_embedding", "pos_embedding", "sent_embedding", "task_embedding")
OPTIMIZER_STATE = re.compile(r"_(moment\d|beta\d_pow_acc)_\d+$")


def rescale(src, dst, target_std):
    """Write the scaled copy; returns the factor."""
    if not os.path.isfile(os.path.join(src, "word_embedding")):
        raise SystemExit("rescale_embeddings: %s holds no word_embedding: not a parameters directory" % src)
    dst = os.path.normpath(dst)
    if os.path.exists(dst):
        raise SystemExit("rescale_embeddings: %s exists; give a new directory" % dst)
    factor = target_std / float(read_tensor(os.path.join(src, "word_embedding")).std())
    with atomic_directory(dst) as tmp:            # complete or absent
        for name in sorted(os.listdir(src)):
            path = os.path.join(src, name)
            if OPTIMIZER_STATE.search(name) or name in (STATE_FILE, COMPLETE_FILE) or not os.path.isfile(path):
                continue       # a parameters directory, not a training checkpoint: nothing to resume
            if name in EMBEDDINGS:
                write_tensor(os.path.join(tmp, name), (read_tensor(path) * factor).astype("float32"))
            else:
                shutil.copyfile(path, os.path.join(tmp, name))
    return factor


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--target_std", type=float, default=0.02)
    args = parser.parse_args(argv)
    if not args.target_std > 0:
        parser.error("--target_std must be positive")
    factor = rescale(args.src, args.dst, args.target_std)
    print("%s: embeddings scaled by %.5f (word embedding std -> %g)" % (args.dst, factor, args.target_std))
    return 0


if __name__ == "__main__":
    sys.exit(main())
