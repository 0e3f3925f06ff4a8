"""A tiny synthetic English corpus and downstream set for the smoke test of bench/pretrain_transfer.py."""
import os
import random

SUBJECTS = ["the old man", "Mr Darcy", "the young woman", "Miss Bennet", "the quiet child", "Captain Wentworth"]
VERBS = ["walked to", "looked at", "spoke of", "returned from", "thought about", "wrote to"]
OBJECTS = ["the house", "London", "the garden", "Bath", "the letter", "the village church"]
MARKERS = ["However,", "But", "Because of this,", "Then", "Also,", "Therefore,", "Meanwhile,", "Finally,"]


def sentence(rng, marker=None):
    text = "%s %s %s." % (rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS))
    text = text[0].upper() + text[1:]
    return "%s %s" % (marker, text[0].lower() + text[1:]) if marker else text


def write_corpus(dest, docs=10, paragraphs=3, sentences=6, seed=1):
    """``docs`` one_doc_per_file documents with discourse markers opening every other sentence."""
    rng = random.Random(seed)
    os.makedirs(dest, exist_ok=True)
    for d in range(docs):
        paras = []
        for _ in range(paragraphs):
            paras.append(" ".join(sentence(rng, rng.choice(MARKERS) if k % 2 else None) for k in range(sentences)))
        with open(os.path.join(dest, "doc_%02d.txt" % d), "w", encoding="utf-8") as f:
            f.write("\n\n".join(paras) + "\n")
    return dest


def write_sentiment(dest, rows=(40, 12, 12), seed=1):
    """A two-class label<TAB>text_a set in ``dest`` (train, dev, test): 'good/bad' words decide the label."""
    rng = random.Random(seed)
    os.makedirs(dest, exist_ok=True)
    words = {1: ["warm", "funny", "clever", "moving"], 0: ["dull", "boring", "flat", "tedious"]}
    for name, n in zip(("train", "dev", "test"), rows):
        with open(os.path.join(dest, name + ".tsv"), "w", encoding="utf-8") as f:
            f.write("label\ttext_a\n")
            for i in range(n):
                label = i % 2
                f.write("%d\ta %s and %s film about %s\n" % (label, rng.choice(words[label]), rng.choice(words[label]),
                                                            rng.choice(OBJECTS)))
    return dest
