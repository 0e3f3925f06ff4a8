"""Small training sets cut from the shipped ERNIE 1.0 demo data, and the tiny model the pre-training tests
train on them.  No paddle import: the kill-during-training controller uses it too."""
import gzip
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny ERNIE 1.0 model over the demo data's 3,909-entry vocabulary (config/vocab.txt).
TINY_DEMO_CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=3909,
                        max_position_embeddings=130, type_vocab_size=2, hidden_act="relu", hidden_dropout_prob=0.1,
                        attention_probs_dropout_prob=0.1, initializer_range=0.02)


def demo_filelist(root, split, lines):
    """The first ``lines`` lines of data/demo_<split>_set.gz (split: train or valid) written to
    root/demo_<split>_set.gz, and the file list root/<split>_filelist naming it; returns the list's path."""
    name = "demo_%s_set.gz" % split
    with gzip.open(os.path.join(REPO, "data", name), "rt", encoding="utf-8") as f:
        head = [next(f) for _ in range(lines)]
    data = os.path.join(str(root), name)
    with gzip.open(data, "wt", encoding="utf-8") as f:
        f.writelines(head)
    filelist = os.path.join(str(root), "%s_filelist" % split)
    with open(filelist, "w", encoding="utf-8") as f:
        f.write("%s\t1.1\n" % data)
    return filelist
