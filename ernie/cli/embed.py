"""``ernie_encoder.py``: ERNIE embeddings of every example of a TSV file.

Usage:
    python ernie_encoder.py --ernie_config_path config/ernie_config.json \\
        --init_pretraining_params params/ --vocab_path config/vocab.txt \\
        --data_set data.tsv --output_dir embeddings [--max_seq_len 512] [--batch_size 32]

Input: a TSV file with a header and a ``text_a`` column, optionally
``text_b`` (see ``reader.task_reader``).  Unlike the original no ``label``
column is needed, and no spaces are removed.

Output (``numpy.save`` files in ``--output_dir``; N examples in file order,
H hidden size, len_i = tokens of example i incl. [CLS]/[SEP] after truncation):

    cls_emb.npy        float32 [N, H]           pooled output tanh(fc([CLS])) of each example
    top_layer_emb.npy  float32 [sum len_i, H]   last-layer vector of every real token of every
                                                example, padding removed, examples concatenated
    seq_lens.npy       int64   [N]              len_i (new: splits top_layer_emb per example,
                                                e.g. ``np.split(top, np.cumsum(seq_lens)[:-1])``)

The first two files are what the original wrote.  Differences from the
original: an existing ``--output_dir`` is accepted and the three files in it
are overwritten (the original refused to run); the ERNIE 2.0 model is built
(the original's repro branch built the 1.0 model, which cannot read the 2.0
English config); ``--task_id`` feeds ``task_ids`` when the config has
``use_task_id``; ``--use_cuda`` defaults to whether Paddle has a usable CUDA
device (true on a CPU-only build is a clear error).

The model is built with ``is_training=False`` (no dropout), so the output is
deterministic.  Parameters come from ``--init_pretraining_params`` through
``ernie.checkpoint.init_pretraining_params``: every encoder parameter must be
present; a missing ``pooled_fc`` is reported because ``cls_emb`` then comes from
a randomly initialised pooler.
"""
import argparse
import logging
import os
import sys

import numpy as np
import paddle
from tqdm import tqdm

from ernie.args import ArgumentGroup, DeviceError, check_cuda, cuda_available, init_logging, print_arguments
from ernie.atomic_write import atomic_open
from ernie.checkpoint import CheckpointError, init_pretraining_params
from ernie.config import ConfigError, ErnieConfig
from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from ernie.runtime import create_executor
from reader.files import check_output_dir
from reader.task_reader import DataError, ExtractEmbeddingReader
from reader.vocab import VocabError

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("cls_emb.npy", "top_layer_emb.npy", "seq_lens.npy")


def build_parser(cuda_default=False):
    parser = argparse.ArgumentParser(
        description="Write ERNIE embeddings ([CLS] pooled output and top-layer token vectors) "
                    "of every example of a TSV file.")
    model_g = ArgumentGroup(parser, "model", "model configuration and parameters")
    model_g.add_arg("ernie_config_path", str, None, "Path to the model config JSON.")
    model_g.add_arg("init_pretraining_params", str, None,
                    "Directory of pre-trained parameters (one file per variable); required.")
    model_g.add_arg("output_dir", str, "embeddings",
                    "Where cls_emb.npy, top_layer_emb.npy and seq_lens.npy are written (created if "
                    "absent; existing files are overwritten).")
    model_g.add_arg("task_id", int, 0, "Value fed as task_ids (only used when the config has use_task_id).", min=0)
    data_g = ArgumentGroup(parser, "data", "input data")
    data_g.add_arg("data_set", str, None, "TSV file with a header and a text_a column (text_b optional).")
    data_g.add_arg("vocab_path", str, None, "Vocabulary file.")
    data_g.add_arg("max_seq_len", int, 512, "Longest sequence in tokens, [CLS]/[SEP] included; "
                                            "longer inputs are truncated.", min=2)
    data_g.add_arg("batch_size", int, 32, "Examples per batch.", min=1)
    data_g.add_arg("do_lower_case", bool, True, "Lower-case and strip accents before WordPiece.")
    run_g = ArgumentGroup(parser, "run_type", "running options")
    run_g.add_arg("use_cuda", bool, cuda_default, "Run on GPU 0 (needs a CUDA build of Paddle).")
    run_g.add_arg("progress", bool, True, "Show a progress bar on stderr when there is more than one batch.")
    return parser


def build_encoder_program(config, every_layer=False):
    """-> (main program, startup program, feed names, pooled Value [B,H], sequence): ``sequence`` is the top
    layer's Value [B,L,H], or with ``every_layer`` the list of every hidden state's (the embedding layer's
    output first, then each transformer layer's)."""

    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        names = encoder_input_names(config)
        model = ErnieModel(create_inputs(names), config, is_training=False)
        pooled = model.get_pooled_output()
        sequence = list(model.layer_outputs) if every_layer else model.get_sequence_output()
    return main, startup, names, pooled, sequence


def load_encoder_params(params_dir, main, scope, place=None, config=None):
    """Load a params directory into an encoder program of ``build_encoder_program``; returns whether it held
    the pooler (``pooled_fc.*``: without it the pooled [CLS] output comes from random weights)."""
    loaded = init_pretraining_params(params_dir, main, scope=scope, place=place, config=config)
    return any(name.startswith("pooled_fc.") for name in loaded)


def extract_embeddings(config, params_dir, data_set, vocab_path, max_seq_len=512, batch_size=32,
                       do_lower_case=True, task_id=0, use_cuda=False, progress=True):
    """Encode every example of ``data_set``; returns (cls_emb, top_layer_emb, seq_lens) as described
    in the module doc.  Switches Paddle to static-graph mode."""
    check_cuda(use_cuda)
    if batch_size <= 0:
        raise ValueError("--batch_size must be positive, got %d" % batch_size)
    reader = ExtractEmbeddingReader(vocab_path, max_seq_len=max_seq_len, do_lower_case=do_lower_case,
                                    task_id=task_id)
    config.check_inputs(max_seq_len, reader.vocab_path, vocab=reader.vocab, task_id=task_id)
    generator = reader.data_generator(data_set, batch_size, epoch=1, shuffle=False, phase="encode")
    num_examples = reader.get_num_examples(data_set)
    if num_examples == 0:
        raise DataError("%s holds no example to encode (only a header?)" % data_set)

    paddle.enable_static()
    main, startup, feed_names, pooled, sequence = build_encoder_program(config)
    place = paddle.CUDAPlace(0) if use_cuda else paddle.CPUPlace()
    exe = create_executor(place)
    scope = paddle.static.Scope()
    cls_parts, token_parts, len_parts = [], [], []
    with paddle.static.scope_guard(scope):
        exe.run(startup)
        if not load_encoder_params(params_dir, main, scope, place, config):
            logger.warning("%s has no pooled_fc parameters: cls_emb.npy comes from a randomly "
                           "initialised pooler (top_layer_emb.npy is unaffected)", params_dir)
        bar = tqdm(total=num_examples, unit="ex", desc="encoding", file=sys.stderr,
                   disable=not progress or num_examples <= batch_size)
        with bar:
            for batch in generator():
                feed = {name: batch[name] for name in feed_names}
                cls, seq = exe.run(main, feed=feed, fetch_list=[pooled, sequence])
                lens = batch["seq_lens"]
                cls_parts.append(np.asarray(cls, dtype="float32"))
                # Real tokens of example i are rows 0..len_i-1 of seq[i]; padding is dropped.
                token_parts.extend(np.asarray(seq[i, :n], dtype="float32") for i, n in enumerate(lens))
                len_parts.append(lens)
                bar.update(len(lens))
    hidden = config.hidden_size
    cls_emb = np.concatenate(cls_parts) if cls_parts else np.zeros((0, hidden), "float32")
    top = np.concatenate(token_parts) if token_parts else np.zeros((0, hidden), "float32")
    seq_lens = np.concatenate(len_parts).astype("int64") if len_parts else np.zeros((0,), "int64")
    return cls_emb, top, seq_lens


def write_embeddings(output_dir, cls_emb, top_layer_emb, seq_lens):
    """np.save the three arrays into ``output_dir`` (created; existing files overwritten)."""
    os.makedirs(output_dir, exist_ok=True)
    for name, array in zip(OUTPUT_FILES, (cls_emb, top_layer_emb, seq_lens)):
        path = os.path.join(output_dir, name)
        with atomic_open(path, "wb") as f:
            np.save(f, array)
    return [os.path.join(output_dir, name) for name in OUTPUT_FILES]


def main(argv=None):

    parser = build_parser(cuda_default=cuda_available())
    args = parser.parse_args(argv)
    init_logging()
    for flag, value in (("ernie_config_path", args.ernie_config_path),
                        ("init_pretraining_params", args.init_pretraining_params), ("data_set", args.data_set),
                        ("vocab_path", args.vocab_path)):
        if not value:
            parser.error("--%s is required" % flag)
    print_arguments(args, logger)
    paddle.enable_static()
    try:
        check_output_dir(args.output_dir, "--output_dir", DataError)     # before any compute
        config = ErnieConfig.from_json(args.ernie_config_path)
        config.print_config()
        cls_emb, top, seq_lens = extract_embeddings(
            config, args.init_pretraining_params, args.data_set, args.vocab_path,
            max_seq_len=args.max_seq_len, batch_size=args.batch_size,
            do_lower_case=args.do_lower_case, task_id=args.task_id, use_cuda=args.use_cuda,
            progress=args.progress)
    except (ConfigError, CheckpointError, DataError, VocabError, DeviceError, ValueError) as e:
        sys.exit("ernie_encoder: error: %s" % e)
    paths = write_embeddings(args.output_dir, cls_emb, top, seq_lens)
    logger.info("cls_emb %s, top_layer_emb %s, seq_lens %s (sum %d) written to %s",
                list(cls_emb.shape), list(top.shape), list(seq_lens.shape), int(seq_lens.sum()),
                ", ".join(paths))
    return 0
