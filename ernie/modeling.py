"""The ERNIE encoder as a PaddlePaddle 3 static-graph (PIR) program.

Architecture and parameter names follow the original toolkit exactly, so that
its released ``params/`` directories load unchanged:

* embeddings: ``word_embedding`` + ``pos_embedding`` + ``sent_embedding``
  (+ ``task_embedding`` when ``use_task_id``), layer norm ``pre_encoder``, dropout;
* ``num_hidden_layers`` post-LN Transformer layers ``encoder_layer_{i}`` with
  multi-head attention (``_multi_head_att_{query,key,value,output}_fc``),
  ``_post_att`` layer norm, FFN (``_ffn_fc_0`` with ``hidden_act``,
  ``_ffn_fc_1``), ``_post_ffn`` layer norm; no final extra layer norm;
* pooled output: [CLS] vector through ``pooled_fc`` with tanh;
* heads: masked LM (``mask_lm_trans_fc``, ``mask_lm_trans`` layer norm, output
  tied to ``word_embedding`` plus ``mask_lm_out_fc.b_0``) and next sentence
  (``next_sent_fc``).

Tensor conventions (B batch, L padded length, H hidden, M masked tokens):
    src_ids, pos_ids, sent_ids, task_ids: int64 [B, L]
    input_mask: float32 [B, L, 1]  (1.0 real token, 0.0 padding)
    mask_pos: int64 [M, 1], flat index row * L + col into the [B*L] grid
    mask_label: int64 [M, 1];  labels: int64 [B, 1]

Fully connected weights are ``[in, out]`` (``y = x @ W + b``) as in Paddle 1.x.
Nothing here runs the program; see ``ernie.trainer`` and ``ernie.cli.embed``.
"""
import paddle
import paddle.nn.functional as F
from paddle import ParamAttr
from paddle.nn.initializer import Constant, TruncatedNormal

# name -> (shape, dtype) of the encoder's feed variables.
ENCODER_INPUTS = {
    "src_ids": ([-1, -1], "int64"),
    "pos_ids": ([-1, -1], "int64"),
    "sent_ids": ([-1, -1], "int64"),
    "task_ids": ([-1, -1], "int64"),
    "input_mask": ([-1, -1, 1], "float32"),
}

# Added to attention logits of (query, key) pairs involving padding, as the original.
ATTENTION_MASK_VALUE = 10000.0


def create_inputs(names, specs=None):
    """Declare ``paddle.static.data`` feed variables; returns {name: Value}."""
    specs = dict(ENCODER_INPUTS, **(specs or {}))
    return {n: paddle.static.data(n, specs[n][0], specs[n][1]) for n in names}


def encoder_input_names(config):
    names = ["src_ids", "pos_ids", "sent_ids", "input_mask"]
    if config.use_task_id:
        names.insert(3, "task_ids")
    return names


def truncated_normal(std):
    """The original's TruncatedNormal(scale=std): a normal cut at +-2 std.

    Paddle 3 takes the cut-offs as absolute values, hence a=-2*std, b=2*std.
    """
    return TruncatedNormal(mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


class ParamStore:
    """name -> parameter Value for one program.

    A parameter used twice (the tied masked-LM output) must be the same
    Value: creating a second parameter of the same name makes PIR emit two
    optimizer updates with separate Adam moments.
    """

    def __init__(self):
        self.params = {}
        # PIR Values dangle (and crash on use) once their Program is freed:
        # keep the program alive as long as its parameters are reachable.
        self.program = paddle.static.default_main_program()

    def get(self, name, shape, initializer, dtype="float32"):
        if name in self.params:
            existing = self.params[name]
            if list(existing.shape) != list(shape):
                raise ValueError("parameter %s requested with shape %s, already created with %s"
                                 % (name, list(shape), list(existing.shape)))
            return existing
        value = paddle.static.create_parameter(
            shape, dtype, attr=ParamAttr(name=name, initializer=initializer))
        self.params[name] = value
        return value


def activation(x, name):
    if name == "relu":
        return F.relu(x)
    if name == "gelu":
        return F.gelu(x, approximate=False)
    if name == "gelu_approx":
        return F.gelu(x, approximate=True)
    if name == "tanh":
        return paddle.tanh(x)
    raise ValueError("unknown activation %r" % name)


class ErnieModel:
    """Builds the ERNIE encoder into the current static program.

    Args:
        inputs: dict with ``src_ids``, ``pos_ids``, ``sent_ids``, ``input_mask``
            and, when ``config.use_task_id``, ``task_ids`` (see module doc).
        config: an ``ErnieConfig``.
        is_training: build dropout ops (False for evaluation / inference
            programs, where dropout is the identity).
        weight_sharing: tie the masked-LM output weight to ``word_embedding``.
        params: a ``ParamStore`` to share parameters with heads built later.

    ``layer_outputs``: the [B, L, H] hidden states, num_hidden_layers + 1 of them: the embedding layer's
    output (after its layer norm and dropout), then each encoder layer's (the last is the sequence output).
    """

    def __init__(self, inputs, config, is_training=True, weight_sharing=True, params=None):
        self.config = config
        self.is_training = is_training
        self.weight_sharing = weight_sharing
        self.params = params or ParamStore()
        self._init = truncated_normal(config.initializer_range)
        self._pooled = None
        if config.use_task_id and "task_ids" not in inputs:
            raise ValueError("config has use_task_id=true but no task_ids input was given")
        self.inputs = inputs
        self._shapes = {}
        self._sequence_output = self._build(inputs)

    # building blocks ------------------------------------------------------
    def fc(self, x, size, name, act=None):
        w = self.params.get(name + ".w_0", [x.shape[-1], size], self._init)
        b = self.params.get(name + ".b_0", [size], Constant(0.0))
        # In float32, one GEMM with the bias as its accumulator (addmm), not matmul + broadcast
        # add: on CPU Paddle's broadcast add and its gradient (a generic per-element reduction)
        # cost as much as the matmul itself at hidden 768 (docs/performance.md).  Under AMP the
        # matmul + add form stays: AMP's lists cast matmul to float16/bfloat16, not addmm.
        if paddle.amp.is_autocast_enabled():
            y = paddle.matmul(x, w) + b
        elif len(x.shape) == 2:
            y = paddle.addmm(b, x, w)
        elif len(x.shape) == 3:      # [B, L, in] -> [B*L, in] -> [B*L, size] -> [B, L, size]
            y = paddle.addmm(b, paddle.reshape(x, [-1, x.shape[-1]]), w)
            y = paddle.reshape(y, self._sequence_shape(size))
        else:
            raise ValueError("fc %s: input must be [N, in] or [B, L, in], got shape %s" % (name, x.shape))
        return activation(y, act) if act else y

    def _sequence_shape(self, size):
        """The shape [B, L, size] as one int Value, made once per size from src_ids' shape."""
        if size not in self._shapes:
            batch_and_length = paddle.slice(paddle.shape(self.inputs["src_ids"]), [0], [0], [2])
            last = paddle.full([1], size, dtype=batch_and_length.dtype)
            self._shapes[size] = paddle.concat([batch_and_length, last])
        return self._shapes[size]

    def layer_norm(self, x, name, bias_init=0.0):
        h = x.shape[-1]
        scale = self.params.get(name + "_layer_norm_scale", [h], Constant(1.0))
        bias = self.params.get(name + "_layer_norm_bias", [h], Constant(bias_init))
        return F.layer_norm(x, [h], weight=scale, bias=bias, epsilon=self.config.layer_norm_eps)

    def dropout(self, x, rate):
        if self.is_training and rate > 0:
            return F.dropout(x, p=rate, training=True, mode="upscale_in_train")
        return x

    def embedding(self, ids, name, rows):
        table = self.params.get(name, [rows, self.config.hidden_size], self._init)
        return F.embedding(ids, table)

    # the network ------------------------------------------------------------
    def _build(self, inputs):
        cfg = self.config
        emb = self.embedding(inputs["src_ids"], "word_embedding", cfg.vocab_size)
        emb = emb + self.embedding(inputs["pos_ids"], "pos_embedding", cfg.max_position_embeddings)
        emb = emb + self.embedding(inputs["sent_ids"], "sent_embedding", cfg.sent_vocab_size)
        if cfg.use_task_id:
            emb = emb + self.embedding(inputs["task_ids"], "task_embedding", cfg.task_type_vocab_size)
        x = self.dropout(self.layer_norm(emb, "pre_encoder"), cfg.hidden_dropout_prob)

        # [B, L, 1] x [B, 1, L] -> [B, L, L]: 1 where query and key are both real tokens.
        mask = inputs["input_mask"]
        pair = paddle.matmul(mask, mask, transpose_y=True)
        # (pair - 1) * 10000: 0 for valid pairs, -10000 otherwise.
        bias = paddle.unsqueeze(paddle.scale(pair, scale=ATTENTION_MASK_VALUE, bias=-1.0,
                                             bias_after_scale=False), 1)
        bias.stop_gradient = True
        self.attention_bias = bias
        # One copy per head, made once and shared by all layers (the original stacked the mask
        # n_head times too): a same-shape add is about 3x faster than the broadcast add on CPU.
        bias = paddle.expand(bias, [-1, cfg.num_attention_heads, -1, -1])
        bias.stop_gradient = True

        self.layer_outputs = [x]        # hidden states: the embeddings', then each layer's (probes read them)
        for i in range(cfg.num_hidden_layers):
            name = "encoder_layer_%d" % i
            att = self.multi_head_attention(x, bias, name + "_multi_head_att")
            x = self.layer_norm(x + self.dropout(att, cfg.hidden_dropout_prob), name + "_post_att")
            ffn = self.fc(self.fc(x, cfg.ffn_size, name + "_ffn_fc_0", act=cfg.hidden_act),
                          cfg.hidden_size, name + "_ffn_fc_1")
            x = self.layer_norm(x + self.dropout(ffn, cfg.hidden_dropout_prob), name + "_post_ffn")
            self.layer_outputs.append(x)
        return x

    def multi_head_attention(self, x, bias, name):
        cfg = self.config
        heads, dim = cfg.num_attention_heads, cfg.head_size

        def split(t):  # [B, L, H] -> [B, n, L, H/n]; head h owns columns h*d .. (h+1)*d-1
            return paddle.transpose(paddle.reshape(t, [0, 0, heads, dim]), [0, 2, 1, 3])

        q = split(self.fc(x, cfg.hidden_size, name + "_query_fc"))
        k = split(self.fc(x, cfg.hidden_size, name + "_key_fc"))
        v = split(self.fc(x, cfg.hidden_size, name + "_value_fc"))
        logits = paddle.matmul(paddle.scale(q, scale=dim ** -0.5), k, transpose_y=True) + bias
        weights = self.dropout(F.softmax(logits, axis=-1), cfg.attention_probs_dropout_prob)
        ctx = paddle.matmul(weights, v)
        ctx = paddle.reshape(paddle.transpose(ctx, [0, 2, 1, 3]), [0, 0, cfg.hidden_size])
        return self.fc(ctx, cfg.hidden_size, name + "_output_fc")

    # outputs -----------------------------------------------------------------
    def get_sequence_output(self):
        """float32 [B, L, H]: the last encoder layer."""
        return self._sequence_output

    def get_pooled_output(self):
        """float32 [B, H]: tanh(fc([CLS] vector)), parameters ``pooled_fc``."""
        if self._pooled is None:
            cls = self._sequence_output[:, 0, :]
            self._pooled = self.fc(cls, self.config.hidden_size, "pooled_fc", act="tanh")
        return self._pooled

    def gather_positions(self, positions):
        """Rows of the sequence output at flat positions ``positions`` int64 [M, 1] -> [M, H]."""
        flat = paddle.reshape(self._sequence_output, [-1, self.config.hidden_size])
        return paddle.gather(flat, paddle.reshape(positions, [-1]))

    def mask_lm_logits(self, mask_pos):
        """float32 [M, vocab_size] logits of the masked-LM head at ``mask_pos``.

        The transform layer norm bias starts at 0 (the original's 2.0 model file
        started it at 1.0, a quirk we do not keep; it only matters from scratch).
        """
        cfg = self.config
        feat = self.gather_positions(mask_pos)
        trans = self.fc(feat, cfg.hidden_size, "mask_lm_trans_fc", act=cfg.hidden_act)
        trans = self.layer_norm(trans, "mask_lm_trans")
        out_bias = self.params.get("mask_lm_out_fc.b_0", [cfg.vocab_size], Constant(0.0))
        if self.weight_sharing:
            word = self.params.params["word_embedding"]
            return paddle.matmul(trans, word, transpose_y=True) + out_bias
        w = self.params.get("mask_lm_out_fc.w_0", [cfg.hidden_size, cfg.vocab_size], self._init)
        return paddle.matmul(trans, w) + out_bias


def graph_accuracy(logits, labels):
    """Top-1 accuracy in the static graph (scalar float32 Value; numpy: ``ernie.metrics.accuracy``) of ``logits`` [N, C] against int64 ``labels`` [N, 1]."""
    pred = paddle.argmax(logits, axis=-1)
    hit = paddle.cast(paddle.equal(pred, paddle.reshape(labels, [-1])), "float32")
    return paddle.mean(hit)
