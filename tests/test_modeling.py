"""The static ERNIE builder: parameter inventory, equivalence with paddlenlp's dygraph model, heads."""
import math
import os

import numpy as np
import paddle
import pytest

from conftest import REPO, random_encoder_feed, tiny_config
from ernie import checkpoint
from ernie.config import ErnieConfig
from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from ernie.tasks import TaskSet
from ernie.tensor_file import write_tensor

PRETRAIN_SPECS = {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64"), "labels": ([-1, 1], "int64")}


def build(config, is_training=False, pretraining=False, weight_sharing=True, seed=1):
    main, startup = paddle.static.Program(), paddle.static.Program()
    main.random_seed = startup.random_seed = seed
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        inputs = create_inputs(encoder_input_names(config))
        model = ErnieModel(inputs, config, is_training=is_training, weight_sharing=weight_sharing)
        out = {"seq": model.get_sequence_output(), "pooled": model.get_pooled_output(),
               "bias": model.attention_bias}
        if pretraining:
            extra = create_inputs(list(PRETRAIN_SPECS), PRETRAIN_SPECS)
            # ERNIE 1.0's heads as train.py builds them (the released checkpoints' parameter names)
            out["loss"], metrics = TaskSet(["knowledge_masking", "next_sent"]).build_heads(model, extra)
            out["acc"], out["lm"] = metrics["next_sent_acc"], metrics["knowledge_masking_loss"]
    return main, startup, model, out


def test_zh_base_parameter_inventory(static_mode):
    """ERNIE 1.0 zh base: 206 tensors, 100,477,778 scalars, the original's names and shapes."""
    cfg = ErnieConfig.from_json(os.path.join(REPO, "config", "ernie_config.json"))
    main, _, model, _ = build(cfg, is_training=True, pretraining=True)
    shapes = {name: list(v.shape) for name, v in model.params.params.items()}
    assert len(shapes) == 206
    assert sum(int(np.prod(s)) for s in shapes.values()) == 100477778
    H, V = 768, 18000
    expected = {"word_embedding": [V, H], "pos_embedding": [513, H], "sent_embedding": [2, H],
                "pre_encoder_layer_norm_scale": [H], "pre_encoder_layer_norm_bias": [H],
                "pooled_fc.w_0": [H, H], "pooled_fc.b_0": [H], "mask_lm_trans_fc.w_0": [H, H],
                "mask_lm_trans_fc.b_0": [H], "mask_lm_trans_layer_norm_scale": [H],
                "mask_lm_trans_layer_norm_bias": [H], "mask_lm_out_fc.b_0": [V],
                "next_sent_fc.w_0": [H, 2], "next_sent_fc.b_0": [2]}
    for i in range(12):
        p = "encoder_layer_%d_" % i
        for part in ("query", "key", "value", "output"):
            expected[p + "multi_head_att_%s_fc.w_0" % part] = [H, H]
            expected[p + "multi_head_att_%s_fc.b_0" % part] = [H]
        expected.update({p + "ffn_fc_0.w_0": [H, 4 * H], p + "ffn_fc_0.b_0": [4 * H],
                         p + "ffn_fc_1.w_0": [4 * H, H], p + "ffn_fc_1.b_0": [H]})
        for ln in ("post_att", "post_ffn"):
            expected[p + ln + "_layer_norm_scale"] = [H]
            expected[p + ln + "_layer_norm_bias"] = [H]
    assert shapes == expected
    # The program holds each parameter once (weight tying shares the Value, not the name).
    names = [p.name for p in main.global_block().all_parameters()]
    assert sorted(names) == sorted(expected)


def paddlenlp_outputs(config, weights, feed):
    """Sequence and pooled output of paddlenlp's dygraph ErnieModel with ``weights`` (ERNIE names)."""
    from paddlenlp.transformers import ErnieConfig as PNConfig, ErnieModel as PNModel
    paddle.disable_static()
    try:
        pn_cfg = PNConfig(vocab_size=config.vocab_size, hidden_size=config.hidden_size,
                          num_hidden_layers=config.num_hidden_layers, num_attention_heads=config.num_attention_heads,
                          intermediate_size=config.ffn_size, hidden_act=config.hidden_act,
                          max_position_embeddings=config.max_position_embeddings,
                          type_vocab_size=config.sent_vocab_size, use_task_id=config.use_task_id,
                          task_type_vocab_size=max(config.task_type_vocab_size, 1),
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        model = PNModel(pn_cfg)
        model.eval()
        names = {"embeddings.word_embeddings.weight": "word_embedding",
                 "embeddings.position_embeddings.weight": "pos_embedding",
                 "embeddings.token_type_embeddings.weight": "sent_embedding",
                 "embeddings.task_type_embeddings.weight": "task_embedding",
                 "embeddings.layer_norm.weight": "pre_encoder_layer_norm_scale",
                 "embeddings.layer_norm.bias": "pre_encoder_layer_norm_bias",
                 "pooler.dense.weight": "pooled_fc.w_0", "pooler.dense.bias": "pooled_fc.b_0"}
        for i in range(config.num_hidden_layers):
            src, dst = "encoder.layers.%d." % i, "encoder_layer_%d_" % i
            for a, b in (("self_attn.q_proj", "multi_head_att_query_fc"), ("self_attn.k_proj", "multi_head_att_key_fc"),
                         ("self_attn.v_proj", "multi_head_att_value_fc"), ("self_attn.out_proj", "multi_head_att_output_fc"),
                         ("linear1", "ffn_fc_0"), ("linear2", "ffn_fc_1")):
                names[src + a + ".weight"] = dst + b + ".w_0"
                names[src + a + ".bias"] = dst + b + ".b_0"
            for a, b in (("norm1", "post_att"), ("norm2", "post_ffn")):
                names[src + a + ".weight"] = dst + b + "_layer_norm_scale"
                names[src + a + ".bias"] = dst + b + "_layer_norm_bias"
        if not config.use_task_id:
            del names["embeddings.task_type_embeddings.weight"]
        state = model.state_dict()
        assert set(state) == set(names), set(state) ^ set(names)
        model.set_state_dict({k: weights[v] for k, v in names.items()})
        for layer in model.sublayers():       # paddlenlp forces 1e-12; use the config's epsilon
            if isinstance(layer, paddle.nn.LayerNorm):
                layer._epsilon = config.layer_norm_eps
        mask = feed["input_mask"]
        bias = (np.matmul(mask, mask.transpose(0, 2, 1)) - 1.0) * 10000.0
        kwargs = dict(input_ids=paddle.to_tensor(feed["src_ids"]), token_type_ids=paddle.to_tensor(feed["sent_ids"]),
                      position_ids=paddle.to_tensor(feed["pos_ids"]),
                      attention_mask=paddle.to_tensor(bias[:, None].astype("float32")))
        if config.use_task_id:
            kwargs["task_type_ids"] = paddle.to_tensor(feed["task_ids"])
        with paddle.no_grad():
            seq, pooled = model(**kwargs)
        return seq.numpy(), pooled.numpy()
    finally:
        paddle.enable_static()


@pytest.mark.parametrize("use_task_id", [False, True])
def test_matches_paddlenlp_dygraph(static_mode, tmp_path, use_task_id):
    """Same weights -> same sequence and pooled outputs as paddlenlp's ErnieModel (within 1e-5)."""
    cfg = tiny_config(use_task_id=use_task_id, task_type_vocab_size=3 if use_task_id else 0)
    main, startup, model, out = build(cfg)
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    # Non-trivial weights everywhere (layer-norm parameters too), written as a params dir and
    # loaded through the checked loader.
    rng = np.random.RandomState(7)
    weights = {}
    for name, value in model.params.params.items():
        weights[name] = (rng.standard_normal(list(value.shape)) * 0.1).astype("float32")
        if "layer_norm_scale" in name:
            weights[name] += 1.0
        write_tensor(str(tmp_path / name), weights[name])
    checkpoint.init_pretraining_params(str(tmp_path), main)
    lengths = [9, 5, 12]
    feed = random_encoder_feed(cfg, 3, 12, seed=3, lengths=lengths)
    seq, pooled = exe.run(main, feed=feed, fetch_list=[out["seq"], out["pooled"]])
    ref_seq, ref_pooled = paddlenlp_outputs(cfg, weights, feed)
    for i, n in enumerate(lengths):   # padded query rows are undefined in both
        np.testing.assert_allclose(seq[i, :n], ref_seq[i, :n], atol=1e-5, rtol=0)
    np.testing.assert_allclose(pooled, ref_pooled, atol=1e-5, rtol=0)
    assert np.abs(seq).max() > 0.1  # not a degenerate comparison


def test_attention_bias_values(static_mode):
    cfg = tiny_config()
    main, startup, _, out = build(cfg)
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    feed = random_encoder_feed(cfg, 2, 5, lengths=[5, 3])
    bias, = exe.run(main, feed=feed, fetch_list=[out["bias"]])
    assert bias.shape == (2, 1, 5, 5)
    assert set(np.unique(bias)) == {0.0, -10000.0}
    assert (bias[0] == 0).all()
    assert (bias[1, 0, :3, :3] == 0).all() and (bias[1, 0, 3:, :] == -10000).all() and (bias[1, 0, :, 3:] == -10000).all()


def _op_names(program):
    return [op.name() for op in program.global_block().ops]


def test_fc_is_one_addmm_in_float32_and_matmul_under_amp(static_mode):
    """float32: every fc is one addmm GEMM (the fast CPU form); under AMP the fc GEMMs must stay
    matmul ops, which AMP's white list runs in low precision (it does not list addmm)."""
    from ernie.optimization import AmpConfig, amp_guard
    cfg = tiny_config()
    fcs = 6 * cfg.num_hidden_layers + 1          # q, k, v, output, ffn 0, ffn 1 per layer + pooler
    fp32, _, _, _ = build(cfg)
    names = _op_names(fp32)
    assert names.count("pd_op.addmm") == fcs and names.count("pd_op.matmul") == 1 + 2 * cfg.num_hidden_layers
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), amp_guard(AmpConfig("bfloat16")):
        ErnieModel(create_inputs(encoder_input_names(cfg)), cfg).get_pooled_output()
    names = _op_names(main)
    assert "pd_op.addmm" not in names
    assert names.count("pd_op.matmul") == fcs + 1 + 2 * cfg.num_hidden_layers
    assert names.count("pd_op.cast") > fcs


def test_dropout_only_in_training_program(static_mode):
    cfg = tiny_config()
    train, _, _, _ = build(cfg, is_training=True)
    evaluation, _, _, _ = build(cfg, is_training=False)
    assert sum("dropout" in n for n in _op_names(train)) == 1 + 3 * cfg.num_hidden_layers
    assert not any("dropout" in n for n in _op_names(evaluation))


def test_eval_program_is_deterministic_and_train_is_not(static_mode):
    cfg = tiny_config(hidden_dropout_prob=0.3)
    exe = paddle.static.Executor(paddle.CPUPlace())
    feed = random_encoder_feed(cfg, 2, 6)
    evaluation, startup, _, out = build(cfg, is_training=False)
    exe.run(startup)
    a, = exe.run(evaluation, feed=feed, fetch_list=[out["seq"]])
    b, = exe.run(evaluation, feed=feed, fetch_list=[out["seq"]])
    np.testing.assert_array_equal(a, b)
    train, _, _, tout = build(cfg, is_training=True)   # shares the parameters through the scope
    c, = exe.run(train, feed=feed, fetch_list=[tout["seq"]])
    assert np.abs(a - c).max() > 1e-3


def test_truncated_normal_init_within_two_std(static_mode):
    cfg = tiny_config(vocab_size=2000, initializer_range=0.05)
    main, startup, _, _ = build(cfg)
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    scope = paddle.static.global_scope()
    emb = np.array(scope.find_var("word_embedding").get_tensor())
    assert np.abs(emb).max() <= 0.1 + 1e-6
    assert 0.03 < emb.std() < 0.05        # truncation at 2 std shrinks std to ~0.88 std
    assert np.array(scope.find_var("encoder_layer_0_ffn_fc_0.b_0").get_tensor()).any() == False  # noqa: E712
    ln = np.array(scope.find_var("pre_encoder_layer_norm_scale").get_tensor())
    np.testing.assert_array_equal(ln, np.ones_like(ln))


def test_mlm_output_is_tied_to_word_embedding(static_mode):
    cfg = tiny_config()
    main, startup, model, out = build(cfg, is_training=False, pretraining=True)
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        paddle.optimizer.AdamW(1e-3).minimize(out["loss"])
    assert "mask_lm_out_fc.w_0" not in model.params.params
    updates = [op for op in main.global_block().ops if op.name() == "pd_op.adamw_"]
    assert len(updates) == len(model.params.params)   # one update per parameter, word_embedding once
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    feed = random_encoder_feed(cfg, 2, 6)
    feed["src_ids"][:] = np.array([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]])
    feed.update(mask_label=np.array([[50], [60]], "int64"), mask_pos=np.array([[1], [8]], "int64"),
                labels=np.array([[0], [1]], "int64"))
    scope = paddle.static.global_scope()
    before = np.array(scope.find_var("word_embedding").get_tensor())
    exe.run(main, feed=feed, fetch_list=[out["loss"]])
    after = np.array(scope.find_var("word_embedding").get_tensor())
    # Rows 50..119 never occur in the input: only the tied output projection can move them.
    assert np.abs(after[50:] - before[50:]).max() > 1e-4


def test_untied_output_has_its_own_weight(static_mode):
    cfg = tiny_config()
    _, _, model, _ = build(cfg, pretraining=True, weight_sharing=False)
    assert list(model.params.params["mask_lm_out_fc.w_0"].shape) == [cfg.hidden_size, cfg.vocab_size]


def test_initial_pretraining_loss_is_uniform_guess(static_mode):
    """At initialisation the loss is about ln(V) + ln(2) (the README's 10.5 for V=18000)."""
    cfg = tiny_config(vocab_size=3000)
    main, startup, _, out = build(cfg, pretraining=True)
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(startup)
    feed = random_encoder_feed(cfg, 4, 16, seed=2)
    rng = np.random.RandomState(0)
    pos = rng.choice(64, 10, replace=False)
    feed.update(mask_pos=pos.reshape(-1, 1).astype("int64"),
                mask_label=feed["src_ids"].reshape(-1)[pos].reshape(-1, 1),
                labels=rng.randint(0, 2, (4, 1)).astype("int64"))
    loss, lm = exe.run(main, feed=feed, fetch_list=[out["loss"], out["lm"]])
    assert abs(float(lm) - math.log(3000)) < 0.3
    assert abs(float(loss) - math.log(3000) - math.log(2)) < 0.4
