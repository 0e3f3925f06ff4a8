"""Convert between this toolkit's ``params/`` directories and PaddleNLP ERNIE checkpoints.

PaddleNLP distributes ERNIE (``ernie-1.0-base-zh``, ``ernie-2.0-base-en``,
``ernie-2.0-large-en``, ...) as a directory holding ``model_state.pdparams``
(a pickled ``{name: array}`` dict), ``config.json`` (older releases:
``model_config.json``), ``vocab.txt`` and ``tokenizer_config.json``.  Both
directions go through PaddleNLP's own classes: ``paddlenlp.transformers``'
``ErnieConfig``, ``ErnieModel`` / ``ErnieForPretraining`` (``from_pretrained``
to read, ``save_pretrained`` to write) and ``ErnieTokenizer``.  Nothing of
PaddleNLP is re-implemented here; this module only maps names and config keys.

The two models compute the same function (post-LN Transformer, learned
positions, token types, optional task embedding, tanh pooler; both store
fully connected weights ``[in, out]``, so nothing is transposed)::

    ERNIE (params/)                         PaddleNLP (model_state.pdparams)
    word_embedding                          embeddings.word_embeddings.weight
    pos_embedding                           embeddings.position_embeddings.weight
    sent_embedding                          embeddings.token_type_embeddings.weight
    task_embedding                          embeddings.task_type_embeddings.weight
    pre_encoder_layer_norm_{scale,bias}     embeddings.layer_norm.{weight,bias}
    encoder_layer_I_multi_head_att_
        {query,key,value,output}_fc.{w_0,b_0}   encoder.layers.I.self_attn.{q,k,v,out}_proj.{weight,bias}
    encoder_layer_I_post_att_layer_norm_*   encoder.layers.I.norm1.*
    encoder_layer_I_ffn_fc_{0,1}.*          encoder.layers.I.linear{1,2}.*
    encoder_layer_I_post_ffn_layer_norm_*   encoder.layers.I.norm2.*
    pooled_fc.*                             pooler.dense.*
    mask_lm_trans_fc.*                      cls.predictions.transform.*
    mask_lm_trans_layer_norm_*              cls.predictions.layer_norm.*
    mask_lm_out_fc.b_0                      cls.predictions.decoder_bias
    next_sent_fc.*                          cls.seq_relationship.*

(the encoder names carry an ``ernie.`` prefix in an ``ErnieForPretraining``
checkpoint, which is what is written when the pre-training heads are present).

Layer-norm epsilon.  The original ERNIE's layer norms use 1e-5 (BERT weights
converted with ``ernie.cli.convert_bert`` keep BERT's 1e-12).  PaddleNLP's ERNIE
ignores its config's ``layer_norm_eps``: its weight-initialisation hook sets
every layer norm to 1e-12, and that hook runs in a plain
``ErnieModel.from_pretrained(DIR)``; with ``from_pretrained(DIR,
low_cpu_mem_usage=True)`` the hook is skipped and the layers keep Paddle's
default 1e-5.  So an exported ERNIE model (1e-5) gives this toolkit's outputs
exactly with ``low_cpu_mem_usage=True`` (or ``load_paddlenlp_model`` below,
which sets the epsilon recorded in ``config.json``), and outputs that differ
by the epsilon's effect (about 1e-4 on a random model) with the plain call.
The export records the model's epsilon in ``config.json`` (``layer_norm_eps``)
and the import reads it back (PaddleNLP's default, 1e-12, when absent, which
is what a plain ``from_pretrained`` computes).

What PaddleNLP's model cannot express, and is therefore refused on export:

* ``hidden_act`` ``gelu_approx`` (PaddleNLP's encoder takes the exact gelu);
* an untied masked-LM output weight ``mask_lm_out_fc.w_0`` (PaddleNLP ties it
  to the word embedding), unless ``--encoder_only``.

Parameters with no PaddleNLP counterpart (fine-tuning heads such as
``cls_out_w``, ERNIE 2.0 task heads, optimizer state of a training
checkpoint) are left out and listed in the report.  One behavioural
difference remains: PaddleNLP's word embedding has ``padding_idx`` =
``pad_token_id`` (the id of ``[PAD]``), so that id embeds to zeros there; it
never occurs among real tokens, and outputs at padded positions are not
meaningful in either model.

Command line::

    python -m ernie.cli.convert_paddlenlp to_paddlenlp --params_dir P --ernie_config_path C \\
        --vocab_path V --output_dir OUT [--encoder_only] [--task_id 0] [--do_lower_case true]
    python -m ernie.cli.convert_paddlenlp from_paddlenlp --paddlenlp_dir DIR --output_dir OUT
"""
import argparse
import collections
import contextlib
import logging
import os
import sys

import numpy as np
import paddle

from ernie.args import number_type, str2bool
from ernie.cli.convert_bert import (PARAMETER_NAMES, ConversionError, atomic_output_dir, check_vocab, expected_shapes,
                                    head_shapes, name_scheme, run_export, write_release)
from ernie.config import FIELDS, ConfigError, ErnieConfig
from ernie.tensor_file import TensorFileError, read_tensor
from reader.vocab import load_vocab

logger = logging.getLogger(__name__)

PADDLE_WEIGHTS = "model_state.pdparams"
CONFIG_FILES = ("config.json", "model_config.json")
# What PaddleNLP's ErnieConfig assumes when config.json has no layer_norm_eps.
PADDLENLP_DEFAULT_LAYER_NORM_EPS = 1e-12
PADDLENLP_ACTIVATIONS = ("relu", "gelu", "tanh")
# The pre-training heads' parameters (the masked LM's output weight is the word embedding, tied).
HEAD_PARAMS = tuple(row[1] for row in PARAMETER_NAMES if row[0] == "head" and row[1] != "mask_lm_out_fc.w_0")

PADDLENLP_NAMES = name_scheme(3, "encoder.layers.%d.")


def paddlenlp_name(name, prefix=""):
    """The PaddleNLP state-dict name of an ERNIE parameter (None when it has none).

    ``prefix`` (``"ernie."`` for ``ErnieForPretraining``) goes before encoder
    names; head names never carry it.
    """
    return PADDLENLP_NAMES.theirs(name, prefix)


def ernie_names(config, with_heads):
    """ERNIE parameter names of a model with ``config`` (encoder, pooler, optionally the pre-training heads)."""
    names = list(expected_shapes(config))
    if config.use_task_id:
        names.insert(3, "task_embedding")
    if with_heads:
        names += list(HEAD_PARAMS)
    return names


def param_shapes(config):
    """name -> shape of every parameter an export may carry."""
    shapes = expected_shapes(config)
    shapes.update(head_shapes(config))
    if config.use_task_id:
        shapes["task_embedding"] = (config.task_type_vocab_size, config.hidden_size)
    return shapes


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------
def paddlenlp_config_values(config, pad_token_id=0, task_id=0):
    """``paddlenlp.transformers.ErnieConfig`` keyword arguments for an ``ErnieConfig``.

    Raises ``ConversionError`` for what PaddleNLP's ERNIE cannot compute the same way.
    """
    if config.hidden_act not in PADDLENLP_ACTIVATIONS:
        raise ConversionError("%s: hidden_act %r has no PaddleNLP ERNIE equivalent (it supports %s; "
                              "its gelu is the exact erf form)"
                              % (config.source, config.hidden_act, ", ".join(PADDLENLP_ACTIVATIONS)))
    if config.use_task_id and not 0 <= task_id < config.task_type_vocab_size:
        raise ConversionError("task_id %d is outside [0, task_type_vocab_size=%d)" % (task_id, config.task_type_vocab_size))
    return {
        "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers, "num_attention_heads": config.num_attention_heads,
        "intermediate_size": config.ffn_size, "hidden_act": config.hidden_act,
        "hidden_dropout_prob": config.hidden_dropout_prob,
        "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
        "max_position_embeddings": config.max_position_embeddings, "type_vocab_size": config.sent_vocab_size,
        "initializer_range": config.initializer_range, "pad_token_id": pad_token_id,
        "use_task_id": config.use_task_id,
        "task_type_vocab_size": config.task_type_vocab_size if config.use_task_id else 3,
        "task_id": task_id, "layer_norm_eps": config.layer_norm_eps,
    }


def ernie_config_values(pcfg, source="<paddlenlp config>"):
    """``ernie_config.json`` values for a ``paddlenlp.transformers.ErnieConfig``.

    ERNIE 1.0 style keys (``type_vocab_size``) without a task embedding, the
    ERNIE 2.0 keys (``sent_type_vocab_size``, ``use_task_id``,
    ``task_type_vocab_size``) with one, as the original releases wrote them.
    """
    if pcfg.hidden_act not in PADDLENLP_ACTIVATIONS:
        raise ConversionError("%s: hidden_act %r is not one of %s" % (source, pcfg.hidden_act, PADDLENLP_ACTIVATIONS))
    if getattr(pcfg, "pool_act", "tanh") != "tanh":
        raise ConversionError("%s: pool_act %r is not supported (ERNIE's pooler is tanh)" % (source, pcfg.pool_act))
    values = {
        "attention_probs_dropout_prob": pcfg.attention_probs_dropout_prob, "hidden_act": pcfg.hidden_act,
        "hidden_dropout_prob": pcfg.hidden_dropout_prob, "hidden_size": pcfg.hidden_size,
        "initializer_range": pcfg.initializer_range, "max_position_embeddings": pcfg.max_position_embeddings,
        "num_attention_heads": pcfg.num_attention_heads, "num_hidden_layers": pcfg.num_hidden_layers,
        "vocab_size": pcfg.vocab_size,
    }
    if pcfg.use_task_id:
        values.update(sent_type_vocab_size=pcfg.type_vocab_size, use_task_id=True,
                      task_type_vocab_size=pcfg.task_type_vocab_size)
    else:
        values["type_vocab_size"] = pcfg.type_vocab_size
    if pcfg.intermediate_size != 4 * pcfg.hidden_size:
        values["intermediate_size"] = pcfg.intermediate_size
    eps = getattr(pcfg, "layer_norm_eps", PADDLENLP_DEFAULT_LAYER_NORM_EPS)
    if eps != FIELDS["layer_norm_eps"][1]:  # written only when it is not ERNIE's default
        values["layer_norm_eps"] = eps
    try:
        ErnieConfig(values, source=source)
    except ConfigError as e:
        raise ConversionError(str(e)) from None
    return values


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
@contextlib.contextmanager
def dynamic_mode():
    """Run a block in Paddle's dynamic mode (PaddleNLP's models are dygraph layers), restoring the mode after."""
    was_static = not paddle.in_dynamic_mode()
    paddle.disable_static()
    try:
        yield paddle
    finally:
        if was_static:
            paddle.enable_static()


def load_paddlenlp_model(directory, model_class=None):
    """``model_class.from_pretrained(directory)`` (default ``ErnieModel``) computing with the epsilon in its config.

    PaddleNLP sets every layer norm of its ERNIE to 1e-12 whatever the config
    says (see the module doc); this sets them back to ``config.layer_norm_eps``.
    Needs dynamic mode.  Returns the model in eval mode.
    """
    if model_class is None:
        from paddlenlp.transformers import ErnieModel as model_class
    model = model_class.from_pretrained(directory)
    eps = getattr(model.config, "layer_norm_eps", PADDLENLP_DEFAULT_LAYER_NORM_EPS)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.LayerNorm):
            layer._epsilon = eps
    model.eval()
    return model


def read_params_dir(params_dir, config):
    """(params, left_out): the parameters of ``params_dir`` an export can carry, and the other files' names.

    Every encoder parameter must be present; ``pooled_fc`` and the
    pre-training heads are taken when present.  Shapes are checked against
    ``config``.  ``left_out`` lists the other entries (optimizer moments of a
    training checkpoint, fine-tuning heads, ``train_state.json``, ...).
    """
    if not os.path.isdir(params_dir):
        raise ConversionError("parameter directory %s does not exist" % params_dir)
    shapes = param_shapes(config)
    present = sorted(os.listdir(params_dir))
    params, left_out, problems = collections.OrderedDict(), [], []
    for name in present:
        if name not in shapes:
            left_out.append(name)
            continue
        try:
            arr = read_tensor(os.path.join(params_dir, name))
        except (TensorFileError, OSError) as e:
            problems.append("%s: unreadable: %s" % (name, e))
            continue
        if arr.dtype != np.float32:
            problems.append("%s: dtype %s, expected float32" % (name, arr.dtype))
        elif tuple(arr.shape) != tuple(shapes[name]):
            problems.append("%s: shape %s but %s needs %s" % (name, list(arr.shape), config.source, list(shapes[name])))
        else:
            params[name] = arr
    required = ernie_names(config, with_heads=False)
    optional = ("pooled_fc.w_0", "pooled_fc.b_0")
    problems += ["%s: file missing" % n for n in required if n not in params and n not in optional]
    if sum(n in params for n in optional) == 1:
        problems.append("%s: file missing (the pooler needs both pooled_fc files)"
                        % next(n for n in optional if n not in params))
    if problems:
        raise ConversionError("%s cannot be exported:\n  %s" % (params_dir, "\n  ".join(problems)))
    return params, left_out


def write_token_per_line_vocab(vocab_path, path):
    """Write the vocabulary as one token per line, line number = id (the layout PaddleNLP reads).

    The ERNIE 1.0 Chinese vocabulary is ``token<TAB>id``, which PaddleNLP's
    tokenizer would take as tokens containing a tab.  Ids must be 0..n-1
    without gaps.
    """
    vocab = load_vocab(vocab_path)
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise ConversionError("%s: token ids are not 0..%d without gaps or repeats; cannot write a "
                              "one-token-per-line vocabulary" % (vocab_path, len(by_id) - 1))
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(token + "\n" for token, _ in by_id)


def _load_pdparams_keys(path):
    try:
        state = paddle.load(path, return_numpy=True)
    except Exception as e:  # pickle/format errors of a foreign file: name the file
        raise ConversionError("cannot read %s: %s" % (path, e)) from None
    if not isinstance(state, dict):
        raise ConversionError("%s does not hold a state dict" % path)
    return state


# --------------------------------------------------------------------------
# export: params/ -> PaddleNLP
# --------------------------------------------------------------------------
def export_paddlenlp(params_dir, config, vocab_path, output_dir, encoder_only=False, task_id=0,
                     do_lower_case=True, overwrite=False):
    """Write a PaddleNLP ERNIE directory that ``ErnieModel.from_pretrained`` loads.

    With all pre-training head parameters present (and not ``encoder_only``)
    an ``ErnieForPretraining`` checkpoint is written, else an ``ErnieModel``
    one.  The written ``model_state.pdparams`` is read back and compared
    value for value before the directory is renamed into place.  Returns a
    report dict.
    """
    params, left_out = read_params_dir(params_dir, config)
    if "pooled_fc.w_0" not in params:
        raise ConversionError("%s has no pooled_fc parameters: PaddleNLP's ErnieModel always has a pooler"
                              % params_dir)
    check_vocab(vocab_path, config.vocab_size)
    pad_id = load_vocab(vocab_path).get("[PAD]", 0)
    values = paddlenlp_config_values(config, pad_token_id=pad_id, task_id=task_id)
    heads = [n for n in HEAD_PARAMS if n in params]
    with_heads = not encoder_only and len(heads) == len(HEAD_PARAMS)
    if not encoder_only and heads and not with_heads:
        raise ConversionError("%s holds only some pre-training head parameters (%s); give --encoder_only to "
                              "export the encoder alone" % (params_dir, ", ".join(heads)))
    if "mask_lm_out_fc.w_0" in params:
        if with_heads:
            raise ConversionError("%s has an untied masked-LM output weight mask_lm_out_fc.w_0, which PaddleNLP's "
                                  "ERNIE cannot hold (it ties it to the word embedding); give --encoder_only"
                                  % params_dir)
        heads.append("mask_lm_out_fc.w_0")
    if not with_heads:
        left_out += heads
        for n in heads:
            del params[n]
    prefix = "ernie." if with_heads else ""
    mapped = collections.OrderedDict((paddlenlp_name(n, prefix), v) for n, v in params.items())
    with dynamic_mode() as paddle, atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        from paddlenlp.transformers import (ErnieConfig as PaddleNLPErnieConfig, ErnieForPretraining, ErnieModel,
                                            ErnieTokenizer)
        model_class = ErnieForPretraining if with_heads else ErnieModel
        model = model_class(PaddleNLPErnieConfig(**values))
        state = model.state_dict()
        tied = {}
        if with_heads:  # the decoder is the word embedding, its bias is decoder_bias: same tensors
            tied = {"cls.predictions.decoder.weight": "ernie.embeddings.word_embeddings.weight",
                    "cls.predictions.decoder.bias": "cls.predictions.decoder_bias"}
        unknown = sorted(set(state) - set(mapped) - set(tied))
        if unknown or set(mapped) - set(state):
            raise ConversionError("PaddleNLP's %s does not match the mapping: model has no %s; nothing maps to %s"
                                  % (model_class.__name__, sorted(set(mapped) - set(state)), unknown))
        model.set_state_dict({k: paddle.to_tensor(v) for k, v in mapped.items()})
        model.eval()
        model.save_pretrained(tmp)
        token_per_line = os.path.join(tmp, "vocab.txt")
        write_token_per_line_vocab(vocab_path, token_per_line)
        ErnieTokenizer(token_per_line, do_lower_case=do_lower_case).save_pretrained(tmp)
        written = _load_pdparams_keys(os.path.join(tmp, PADDLE_WEIGHTS))
        bad = [k for k, v in mapped.items() if k not in written or not np.array_equal(np.asarray(written[k]), v)]
        bad += ["%s != %s" % (k, src) for k, src in tied.items()
                if k in written and not np.array_equal(np.asarray(written[k]), mapped[src])]
        if bad:
            raise ConversionError("%s: read back differs from the parameters for %s" % (PADDLE_WEIGHTS, ", ".join(bad)))
    return {"output_dir": os.path.abspath(output_dir), "class": model_class.__name__, "params": len(params),
            "left_out": left_out, "pad_token_id": pad_id, "task_id": task_id}


# --------------------------------------------------------------------------
# import: PaddleNLP -> params/
# --------------------------------------------------------------------------
def import_paddlenlp(paddlenlp_dir, output_dir, vocab_path=None, overwrite=False, layer_norm_eps=None):
    """Convert a PaddleNLP ERNIE directory into ``params/`` + ``ernie_config.json`` + ``vocab.txt``.

    The checkpoint is loaded by PaddleNLP's ``from_pretrained``
    (``ErnieForPretraining`` when it holds the ``cls.predictions`` heads, else
    ``ErnieModel``), and every loaded parameter is checked to be the file's
    own value (``from_pretrained`` silently initialises what the file lacks).
    Tensors of the file that no ERNIE parameter takes (fine-tuning heads such
    as ``classifier.*``) are listed in the report.  ``layer_norm_eps``
    overrides the epsilon read from the config (PaddleNLP's default 1e-12 when
    absent, which is what a plain ``from_pretrained`` computes with; 1e-5 is
    the original ERNIE's, from which PaddleNLP's ERNIE releases were converted).
    """
    weights = os.path.join(paddlenlp_dir, PADDLE_WEIGHTS)
    if not os.path.isfile(weights):
        raise ConversionError("%s does not exist (a PaddleNLP directory holds %s and config.json or "
                              "model_config.json)" % (weights, PADDLE_WEIGHTS))
    if not any(os.path.isfile(os.path.join(paddlenlp_dir, c)) for c in CONFIG_FILES):
        raise ConversionError("%s holds neither %s" % (paddlenlp_dir, " nor ".join(CONFIG_FILES)))
    vocab_path = vocab_path or os.path.join(paddlenlp_dir, "vocab.txt")
    if not os.path.isfile(vocab_path):
        raise ConversionError("vocabulary %s does not exist (give --vocab_path)" % vocab_path)
    with dynamic_mode():
        file_state = _load_pdparams_keys(weights)
        from paddlenlp.transformers import ErnieConfig as PaddleNLPErnieConfig, ErnieForPretraining, ErnieModel
        try:
            pcfg = PaddleNLPErnieConfig.from_pretrained(paddlenlp_dir)
        except Exception as e:  # PaddleNLP raises assorted types for a bad config file
            raise ConversionError("%s: PaddleNLP cannot read the config: %s" % (paddlenlp_dir, e)) from None
        values = ernie_config_values(pcfg, source=paddlenlp_dir)
        if layer_norm_eps is not None:
            values.pop("layer_norm_eps", None)
            if layer_norm_eps != FIELDS["layer_norm_eps"][1]:
                values["layer_norm_eps"] = float(layer_norm_eps)
        config = ErnieConfig(values, source=paddlenlp_dir)
        with_heads = any(k.startswith("cls.predictions.") for k in file_state)
        prefixed = any(k.startswith("ernie.") for k in file_state)
        model_class = ErnieForPretraining if with_heads else ErnieModel
        model = model_class.from_pretrained(paddlenlp_dir, config=pcfg)
        state = {k: v.numpy() for k, v in model.state_dict().items()}
    prefix = "ernie." if with_heads else ""
    file_prefix = "ernie." if prefixed else ""
    params, problems, used = collections.OrderedDict(), [], set()
    for name in ernie_names(config, with_heads):
        key = paddlenlp_name(name, prefix)
        file_key = paddlenlp_name(name, file_prefix)
        if file_key not in file_state:
            problems.append("%s (for %s) is missing" % (file_key, name))
            continue
        value = np.ascontiguousarray(state[key], dtype=np.float32)
        if not np.array_equal(value, np.asarray(file_state[file_key], dtype=np.float32)):
            problems.append("%s: PaddleNLP loaded a value different from the file's" % file_key)
            continue
        params[name] = value
        used.add(file_key)
    if with_heads:
        decoder = file_state.get("cls.predictions.decoder.weight")
        if decoder is not None:
            used.add("cls.predictions.decoder.weight")
            if not np.array_equal(np.asarray(decoder), params.get("word_embedding")):
                problems.append("cls.predictions.decoder.weight is not tied to the word embedding "
                                "(PaddleNLP's model ties them; this checkpoint cannot be represented)")
        if "cls.predictions.decoder.bias" in file_state:
            used.add("cls.predictions.decoder.bias")
    if problems:
        raise ConversionError("cannot convert %s:\n  %s" % (weights, "\n  ".join(problems)))
    write_release(output_dir, params, values, vocab_path, overwrite=overwrite)
    left_out = sorted(k for k in file_state if k not in used)
    return {"output_dir": os.path.abspath(output_dir), "class": model_class.__name__, "params": len(params),
            "left_out": left_out, "config": values}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert between ERNIE params/ directories and PaddleNLP ERNIE "
                                                 "checkpoints (model_state.pdparams + config.json).")
    sub = parser.add_subparsers(dest="direction", required=True)
    out = sub.add_parser("to_paddlenlp", help="params/ + ernie_config.json + vocab.txt -> PaddleNLP directory")
    out.add_argument("--params_dir", required=True, help="a params/ or checkpoint directory")
    out.add_argument("--ernie_config_path", required=True)
    out.add_argument("--vocab_path", required=True)
    out.add_argument("--output_dir", required=True)
    out.add_argument("--encoder_only", action="store_true",
                     help="write ErnieModel (encoder and pooler) even when pre-training heads are present")
    out.add_argument("--task_id", type=number_type(int, 0), default=0,
                     help="PaddleNLP's default task_type_ids (config task_id) for a model with use_task_id")
    out.add_argument("--do_lower_case", type=str2bool, default=True, help="tokenizer setting written beside the model")
    out.add_argument("--overwrite", action="store_true")
    inp = sub.add_parser("from_paddlenlp", help="PaddleNLP directory -> params/ + ernie_config.json + vocab.txt")
    inp.add_argument("--paddlenlp_dir", required=True)
    inp.add_argument("--output_dir", required=True)
    inp.add_argument("--vocab_path", help="default: PADDLENLP_DIR/vocab.txt")
    inp.add_argument("--overwrite", action="store_true")
    inp.add_argument("--layer_norm_eps", type=number_type(float, 0),
                     help="layer-norm epsilon of the imported model (default: the config's, else PaddleNLP's "
                          "1e-12; 1e-5 computes as the original ERNIE did)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def convert():
        if args.direction == "to_paddlenlp":
            return export_paddlenlp(args.params_dir, ErnieConfig.from_json(args.ernie_config_path), args.vocab_path,
                                    args.output_dir, encoder_only=args.encoder_only, task_id=args.task_id,
                                    do_lower_case=args.do_lower_case, overwrite=args.overwrite)
        return import_paddlenlp(args.paddlenlp_dir, args.output_dir, vocab_path=args.vocab_path,
                                overwrite=args.overwrite, layer_norm_eps=args.layer_norm_eps)
    return run_export(logger, convert, lambda report: (report["class"], "%d parameters" % report["params"]))


if __name__ == "__main__":
    sys.exit(main())
