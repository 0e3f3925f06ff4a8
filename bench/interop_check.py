"""Base-size check of the conversions: random ERNIE 1.0 zh base and ERNIE 2.0 en base (task embedding).

For each model: params/ -> PaddleNLP -> params/ must be bit-identical; PaddleNLP's
``ErnieModel.from_pretrained`` on the export must give ``ernie_encoder.py``'s sequence and pooled
outputs (``low_cpu_mem_usage=True``, which keeps ERNIE's layer-norm epsilon; the plain call's
difference is reported too); the Hugging Face BERT export, run by the independent numpy BERT of the
tests (``tests/reference_bert.py``), must give them as well.  Tolerance: |a - b| <= 1e-5 + 1e-5 |b|.

    python bench/interop_check.py [--work_dir DIR] [--json OUT]       # ~10 min on 2 CPU cores

Exit status 1 when a check fails.  The tests do the same on tiny models (tests/test_convert_paddlenlp.py,
tests/test_export_bert.py).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from ernie.cli.convert_bert import release_shapes, write_release  # noqa: E402
from ernie.cli.convert_paddlenlp import dynamic_mode, export_paddlenlp, import_paddlenlp  # noqa: E402
from ernie.cli.export_bert import export_bert  # noqa: E402
from ernie.config import ErnieConfig  # noqa: E402
from ernie.tensor_file import read_tensor  # noqa: E402

# The model shapes of the released checkpoints (random weights: no real weights are obtainable here).
MODELS = {
    "ernie-1.0-zh-base": dict(
        config=dict(attention_probs_dropout_prob=0.1, hidden_act="relu", hidden_dropout_prob=0.1, hidden_size=768,
                    initializer_range=0.02, max_position_embeddings=513, num_attention_heads=12,
                    num_hidden_layers=12, type_vocab_size=2, vocab_size=18000),
        vocab=os.path.join(REPO, "config", "vocab.txt"), heads=True, task_id=0,
        texts=[("中国的首都是北京", "百度是一家公司"), ("我们爱学习", ""), ("今天天气很好，我们去公园", "好的")]),
    "ernie-2.0-en-base-task": dict(
        config=dict(attention_probs_dropout_prob=0.1, hidden_act="gelu", hidden_dropout_prob=0.1, hidden_size=768,
                    initializer_range=0.02, max_position_embeddings=512, num_attention_heads=12,
                    num_hidden_layers=12, sent_type_vocab_size=4, use_task_id=True, task_type_vocab_size=16,
                    vocab_size=30522),
        vocab=os.path.join(REPO, "tests", "fixtures", "vocab_tiny.txt"), heads=False, task_id=3,
        texts=[("the quick brown fox", "jumps over the lazy dog"), ("a dog", "the fox"), ("quick", "")]),
}


def random_release(path, values, vocab, heads, seed):
    config = ErnieConfig(values)
    # A freshly initialised model's scale (normal, std initializer_range), with the layer-norm and
    # bias parameters perturbed too (so that a misplaced one would show).
    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in release_shapes(config, heads).items():
        value = rng.normal(0.0, config.initializer_range, size=shape)
        params[name] = (value + 1.0 if name.endswith("_scale") else value).astype(np.float32)
    write_release(path, params, values, vocab)
    return ErnieConfig.from_json(os.path.join(path, "ernie_config.json"))


def close(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b))), bool(np.all(np.abs(a - b) <= 1e-5 + 1e-5 * np.abs(b)))


def check_model(name, spec, work):
    import reference_bert
    from interop_helpers import encoder_outputs, write_texts

    out = {"model": name}
    t0 = time.time()
    release = os.path.join(work, name, "release")
    config = random_release(release, spec["config"], spec["vocab"], spec["heads"], seed=11)
    export = os.path.join(work, name, "paddlenlp")
    export_paddlenlp(os.path.join(release, "params"), config, os.path.join(release, "vocab.txt"), export,
                     task_id=spec["task_id"])
    back = os.path.join(work, name, "back")
    import_paddlenlp(export, back)
    names = sorted(os.listdir(os.path.join(release, "params")))
    same = names == sorted(os.listdir(os.path.join(back, "params"))) and all(
        read_tensor(os.path.join(release, "params", n)).tobytes() == read_tensor(os.path.join(back, "params", n)).tobytes()
        for n in names)
    out["round_trip_bit_identical"] = same
    out["params"] = len(names)

    data = write_texts(os.path.join(work, name, "data.tsv"), spec["texts"])
    pooled, tokens, _, ids, types = encoder_outputs(release, data, task_id=spec["task_id"])
    for label, kwargs in (("paddlenlp_low_cpu_mem_usage", {"low_cpu_mem_usage": True}), ("paddlenlp_plain", {})):
        with dynamic_mode() as paddle:
            from paddlenlp.transformers import ErnieModel
            model = ErnieModel.from_pretrained(export, **kwargs)
            model.eval()
            seq_d = pool_d = 0.0
            ok = True
            with paddle.no_grad():
                for i, (row, trow) in enumerate(zip(ids, types)):
                    seq, pool = model(paddle.to_tensor([row]), token_type_ids=paddle.to_tensor([trow]))
                    d1, ok1 = close(seq.numpy()[0], tokens[i])
                    d2, ok2 = close(pool.numpy()[0], pooled[i])
                    seq_d, pool_d, ok = max(seq_d, d1), max(pool_d, d2), ok and ok1 and ok2
            del model
        out[label] = {"max_abs_diff_sequence": seq_d, "max_abs_diff_pooled": pool_d, "within_1e-5": ok}

    hf = os.path.join(work, name, "hf")
    export_bert(os.path.join(release, "params"), config, os.path.join(release, "vocab.txt"), hf,
                task_id=spec["task_id"])
    weights, hf_cfg = reference_bert.load_checkpoint(hf)
    seq_d = pool_d = 0.0
    ok = True
    for i, (row, trow) in enumerate(zip(ids, types)):
        seq, pool = reference_bert.bert_forward(weights, hf_cfg, np.array([row]), np.array([trow]))
        d1, ok1 = close(seq[0], tokens[i])
        d2, ok2 = close(pool[0], pooled[i])
        seq_d, pool_d, ok = max(seq_d, d1), max(pool_d, d2), ok and ok1 and ok2
    out["hf_numpy_bert"] = {"max_abs_diff_sequence": seq_d, "max_abs_diff_pooled": pool_d, "within_1e-5": ok}
    out["seconds"] = round(time.time() - t0, 1)
    out["passed"] = bool(same and out["paddlenlp_low_cpu_mem_usage"]["within_1e-5"] and ok)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work_dir", help="where the models are written (default: a temp dir, removed)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of %s" % ", ".join(MODELS))
    args = parser.parse_args(argv)
    work = args.work_dir or tempfile.mkdtemp(prefix="interop_check_")
    try:
        results = []
        for name in args.models.split(","):
            result = check_model(name, MODELS[name], work)
            print(json.dumps(result, indent=1), flush=True)
            results.append(result)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
            f.write("\n")
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
