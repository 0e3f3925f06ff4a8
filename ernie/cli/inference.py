"""Run a model exported by ``ernie.cli.export_inference`` with Paddle Inference (``paddle.inference`` predictor).

Usage::

    python -m ernie.cli.inference --model_dir served/sst2 --predict_set input.tsv [--output predictions.tsv] \\
        [--batch_size 32] [--cpu_threads 1] [--use_cuda false]

Input: a TSV file with a header and ``text_a`` (``text_b``, ``qid``, ``label`` optional), read and
tokenised exactly as ``predict_classifier.py`` reads it, with the settings recorded in
``inference_config.json`` (``max_seq_len``, ``do_lower_case``, ``for_cn``, ``task_id``; label names
from ``label_map.json``).  Output: a classifier or regressor writes ``predict_classifier.py``'s rows
(header, then ``index [qid] label prob_0 ... prob_{C-1}`` or ``index [qid] score``); an encoder
writes ``cls_emb.npy``, ``top_layer_emb.npy`` and ``seq_lens.npy`` into ``--output`` (a directory),
as ``ernie_encoder.py`` does.  Logs sentences per second of the predictor (tokenising excluded).

In code::

    from ernie.cli.inference import InferenceModel
    model = InferenceModel("served/sst2")
    probs, = model.run(batch)            # batch: dict of the feeds (see model.feeds), numpy arrays

A C++ or Python service can use the directory without this package: ``model.json`` /
``model.pdiparams`` go to ``paddle.inference.Config``; the feeds are int64 ``[B, L]`` ids
(``src_ids``, ``pos_ids`` = 0..L-1, ``sent_ids``, ``task_ids`` when listed) and float32
``input_mask`` ``[B, L, 1]``, built with the WordPiece tokenizer over ``vocab.txt``.
"""
import argparse
import logging
import os
import sys
import time
import types

import numpy as np
import paddle.inference as paddle_infer

from ernie.args import init_logging, number_type, str2bool
from ernie.atomic_write import write_text
from ernie.cli.embed import write_embeddings
from ernie.cli.finetune.predict import prediction_rows
from reader.files import read_json
from reader.task_reader import ClassifyReader, DataError, ExtractEmbeddingReader
from reader.vocab import VocabError

logger = logging.getLogger(__name__)

CONFIG_FILE = "inference_config.json"
MODEL_PREFIX = "model"


class InferenceError(ValueError):
    """The model directory is incomplete or the input does not fit it."""


def read_inference_config(model_dir):
    path = os.path.join(model_dir, CONFIG_FILE)
    values = read_json(path, "inference config", InferenceError, expect=dict,
                       missing_hint="not a directory written by ernie.cli.export_inference?")
    for key in ("kind", "feeds", "fetches", "max_seq_len", "do_lower_case", "for_cn", "task_id", "vocab"):
        if key not in values:
            raise InferenceError("%s: key %r is missing" % (path, key))
    for name in (MODEL_PREFIX + ".json", MODEL_PREFIX + ".pdiparams", values["vocab"]):
        if not os.path.isfile(os.path.join(model_dir, name)):
            raise InferenceError("%s is missing from %s" % (name, model_dir))
    return values


class InferenceModel:
    """A ``paddle.inference`` predictor over an exported directory, with its recorded settings."""

    def __init__(self, model_dir, use_cuda=False, cpu_threads=1):
        self.model_dir = model_dir
        self.settings = read_inference_config(model_dir)
        config = paddle_infer.Config(os.path.join(model_dir, MODEL_PREFIX + ".json"),
                                     os.path.join(model_dir, MODEL_PREFIX + ".pdiparams"))
        if use_cuda:
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            # Paddle Inference 3.3's oneDNN kernels give this program wrong, run-to-run varying
            # outputs (NaN at times) on CPU; the plain CPU kernels agree with the executor.
            config.disable_mkldnn()
            config.set_cpu_math_library_num_threads(cpu_threads)
        config.disable_glog_info()
        self.predictor = paddle_infer.create_predictor(config)
        self.feeds = list(self.predictor.get_input_names())
        if sorted(self.feeds) != sorted(self.settings["feeds"]):
            raise InferenceError("%s: the model's feeds %s differ from the recorded %s"
                                 % (model_dir, self.feeds, self.settings["feeds"]))

    def run(self, batch):
        """Outputs (numpy arrays, in ``settings["fetches"]`` order) for a batch dict holding every feed."""
        for name in self.feeds:
            if name not in batch:
                raise InferenceError("the batch has no %r (feeds: %s)" % (name, ", ".join(self.feeds)))
            handle = self.predictor.get_input_handle(name)
            handle.reshape(batch[name].shape)
            handle.copy_from_cpu(np.ascontiguousarray(batch[name]))
        self.predictor.run()
        return [self.predictor.get_output_handle(n).copy_to_cpu() for n in self.predictor.get_output_names()]

    def reader(self):
        """The reader that turns a TSV file into this model's batches (``reader.task_reader``)."""
        s, vocab = self.settings, os.path.join(self.model_dir, self.settings["vocab"])
        if s["kind"] == "encoder":
            return ExtractEmbeddingReader(vocab, max_seq_len=s["max_seq_len"], do_lower_case=s["do_lower_case"],
                                          task_id=s["task_id"])
        label_map = os.path.join(self.model_dir, s["label_map"]) if s.get("label_map") else None
        regression = s["kind"] == "regressor"
        return ClassifyReader(vocab, label_map_config=label_map, max_seq_len=s["max_seq_len"],
                              do_lower_case=s["do_lower_case"], is_inference=True, task_id=s["task_id"],
                              is_classify=not regression, is_regression=regression, for_cn=s["for_cn"],
                              num_labels=None if regression else s.get("num_labels"))


def predict_file(model, path, batch_size=32):
    """Run ``model`` over every example of ``path``; returns (result dict, seconds spent in the predictor).

    classifier: ``probs`` [N, C], ``labels`` [N]; regressor: ``preds`` [N]; encoder: ``cls_emb``,
    ``top_layer_emb``, ``seq_lens`` (as ernie_encoder.py); plus ``qids`` when the file has them.
    """
    if batch_size <= 0:
        raise InferenceError("--batch_size must be positive, got %d" % batch_size)
    kind = model.settings["kind"]
    generator = model.reader().data_generator(path, batch_size, epoch=1, shuffle=False,
                                              phase="encode" if kind == "encoder" else "eval")
    parts, qids, cls_parts, token_parts, lens = [], [], [], [], []
    seconds = 0.0
    for batch in generator():
        start = time.perf_counter()
        outputs = model.run(batch)
        seconds += time.perf_counter() - start
        if kind == "encoder":
            cls_parts.append(outputs[0])
            token_parts.extend(outputs[1][i, :n] for i, n in enumerate(batch["seq_lens"]))
            lens.append(batch["seq_lens"])
        else:
            parts.append(outputs[0])
        if "qids" in batch:
            qids.append(batch["qids"].reshape(-1))
    res = {}
    if kind == "encoder":
        hidden = cls_parts[0].shape[-1] if cls_parts else 0
        res["cls_emb"] = np.concatenate(cls_parts) if cls_parts else np.zeros((0, hidden), "float32")
        res["top_layer_emb"] = np.concatenate(token_parts) if token_parts else np.zeros((0, hidden), "float32")
        res["seq_lens"] = np.concatenate(lens).astype("int64") if lens else np.zeros((0,), "int64")
    elif kind == "regressor":
        res["preds"] = np.concatenate(parts).reshape(-1)
    else:
        res["probs"] = np.concatenate(parts)
        res["labels"] = np.argmax(res["probs"], axis=1)
    if qids:
        res["qids"] = np.concatenate(qids)
    return res, seconds


def main(argv=None):

    parser = argparse.ArgumentParser(description="Run an exported ERNIE inference model (ernie.cli.export_inference) "
                                                 "with the paddle.inference predictor over a TSV file.")
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--predict_set", required=True, help="TSV with a header and text_a (text_b, qid optional)")
    parser.add_argument("--output",
                        help="predictions file (default stdout); for an encoder, the directory of the .npy files")
    parser.add_argument("--batch_size", type=number_type(int, 1), default=32)
    parser.add_argument("--cpu_threads", type=number_type(int, 1), default=1, help="math library threads on CPU")
    parser.add_argument("--use_cuda", type=str2bool, default=False)
    args = parser.parse_args(argv)
    init_logging()
    try:
        model = InferenceModel(args.model_dir, use_cuda=args.use_cuda, cpu_threads=args.cpu_threads)
        if model.settings["kind"] == "encoder" and not args.output:
            raise InferenceError("an encoder model needs --output (a directory for the .npy files)")
        res, seconds = predict_file(model, args.predict_set, args.batch_size)
    except (InferenceError, DataError, VocabError) as e:
        sys.exit("ernie.cli.inference: error: %s" % e)
    kind = model.settings["kind"]
    count = len(res["seq_lens"] if kind == "encoder" else res["preds"] if kind == "regressor" else res["probs"])
    logger.info("%d examples, %.3f s in the predictor: %.1f sentences/s (batch_size %d, cpu_threads %d)", count,
                seconds, count / seconds if seconds > 0 else float("nan"), args.batch_size, args.cpu_threads)
    if kind == "encoder":
        write_embeddings(args.output, res["cls_emb"], res["top_layer_emb"], res["seq_lens"])
        return 0
    label_map = model.settings.get("label_map")
    rows = prediction_rows(types.SimpleNamespace(
        is_regression=kind == "regressor",
        label_map_config=os.path.join(args.model_dir, label_map) if label_map else None), res)
    text = "\n".join(rows) + "\n"
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
