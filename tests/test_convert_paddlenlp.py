"""params/ <-> PaddleNLP ERNIE: bit-identical round trips and equal outputs through PaddleNLP's own ErnieModel."""
import json
import os

import numpy as np
import pytest
from interop_helpers import (EN_TEXTS, EN_VOCAB, RELEASE_CASES, TINY_ERNIE1, TINY_ERNIE2, ZH_VOCAB, case_release,
                             encoder_outputs, make_release, read_json, read_params, write_texts)

from ernie.cli.convert_bert import ConversionError
from ernie.cli.convert_paddlenlp import (dynamic_mode, export_paddlenlp, import_paddlenlp, load_paddlenlp_model, main,
                                         paddlenlp_name, read_params_dir)
from ernie.config import ErnieConfig
from ernie.tensor_file import read_tensor


def paddlenlp_outputs(export_dir, ids_rows, type_rows, **from_pretrained_args):
    """(pooled [N,H], sequence rows) of PaddleNLP's ErnieModel.from_pretrained(export_dir), one example at a time."""
    with dynamic_mode() as paddle:
        from paddlenlp.transformers import ErnieModel
        model = ErnieModel.from_pretrained(export_dir, **from_pretrained_args)
        model.eval()
        pooled, seqs = [], []
        with paddle.no_grad():
            for ids, types in zip(ids_rows, type_rows):
                seq, pool = model(paddle.to_tensor([ids]), token_type_ids=paddle.to_tensor([types]))
                seqs.append(seq.numpy()[0])
                pooled.append(pool.numpy()[0])
    return np.stack(pooled), seqs


@pytest.mark.parametrize("case", sorted(RELEASE_CASES))
def test_round_trip_bit_identical_and_from_pretrained_equals_ernie_encoder(tmp_path, case):
    release, config, texts, heads, task_id = case_release(tmp_path, case, seed=3)
    export = tmp_path / "paddlenlp"
    report = export_paddlenlp(str(release / "params"), config, str(release / "vocab.txt"), str(export),
                              task_id=task_id)
    assert report["class"] == ("ErnieForPretraining" if heads else "ErnieModel")
    assert report["left_out"] == []
    assert {"config.json", "model_state.pdparams", "vocab.txt", "tokenizer_config.json"} <= set(os.listdir(export))
    pcfg = read_json(export / "config.json")
    assert pcfg["use_task_id"] == config.use_task_id and pcfg["type_vocab_size"] == config.sent_vocab_size
    assert pcfg["task_id"] == task_id and pcfg["layer_norm_eps"] == 1e-5

    # back: bit-identical parameters, same config
    back = tmp_path / "back"
    report = import_paddlenlp(str(export), str(back))
    original, returned = read_params(release / "params"), read_params(back / "params")
    assert sorted(original) == sorted(returned)
    for name in original:
        assert original[name].tobytes() == returned[name].tobytes(), name
    assert ErnieConfig.from_json(str(back / "ernie_config.json")).to_dict() == config.to_dict()

    # PaddleNLP's model on the export == ernie_encoder.py on the release (no task_type_ids given:
    # the exported config's task_id supplies them).  low_cpu_mem_usage=True keeps PaddleNLP's
    # layer norms at 1e-5, ERNIE's epsilon; the plain call sets them to 1e-12 (see the module doc).
    data = write_texts(tmp_path / "data.tsv", texts)
    pooled, tokens, lens, ids, types = encoder_outputs(str(release), data, task_id=task_id)
    p_pooled, p_seqs = paddlenlp_outputs(str(export), ids, types, low_cpu_mem_usage=True)
    np.testing.assert_allclose(p_pooled, pooled, atol=1e-5, rtol=1e-5)
    for ours, theirs in zip(tokens, p_seqs):
        np.testing.assert_allclose(theirs, ours, atol=1e-5, rtol=1e-5)
    assert np.abs(pooled).max() > 0.1  # a real comparison, not of zeros
    plain_pooled, plain_seqs = paddlenlp_outputs(str(export), ids, types)
    plain_diff = max(np.abs(a - b).max() for a, b in zip(plain_seqs, tokens))
    assert 1e-6 < plain_diff < 1e-3   # the 1e-12 epsilon: small, but not rounding

    # the tokenizer written beside the model gives the ids ernie_encoder.py used
    with dynamic_mode():
        from paddlenlp.transformers import ErnieTokenizer
        tokenizer = ErnieTokenizer.from_pretrained(str(export))
        for (a, b), row, trow in zip(texts, ids, types):
            enc = tokenizer(a, b or None)
            assert enc["input_ids"] == row and enc["token_type_ids"] == trow


def test_name_mapping():
    assert paddlenlp_name("word_embedding") == "embeddings.word_embeddings.weight"
    assert paddlenlp_name("task_embedding", "ernie.") == "ernie.embeddings.task_type_embeddings.weight"
    assert paddlenlp_name("encoder_layer_11_multi_head_att_output_fc.w_0") == "encoder.layers.11.self_attn.out_proj.weight"
    assert paddlenlp_name("encoder_layer_0_post_ffn_layer_norm_scale", "ernie.") == "ernie.encoder.layers.0.norm2.weight"
    assert paddlenlp_name("encoder_layer_3_ffn_fc_0.b_0") == "encoder.layers.3.linear1.bias"
    assert paddlenlp_name("mask_lm_out_fc.b_0", "ernie.") == "cls.predictions.decoder_bias"
    assert paddlenlp_name("cls_out_w") is None and paddlenlp_name("word_embedding_moment1_0") is None


def test_bert_epsilon_is_recorded_and_honoured(tmp_path):
    """A model converted from BERT (layer_norm_eps 1e-12) exports with its epsilon and comes back with it."""
    values = dict(TINY_ERNIE2, layer_norm_eps=1e-12)
    release = tmp_path / "bert"
    config = make_release(release, values, EN_VOCAB, heads=False)
    export_paddlenlp(str(release / "params"), config, EN_VOCAB, str(tmp_path / "p"), task_id=2)
    assert read_json(tmp_path / "p" / "config.json")["layer_norm_eps"] == 1e-12
    import_paddlenlp(str(tmp_path / "p"), str(tmp_path / "back"))
    assert read_json(tmp_path / "back" / "ernie_config.json")["layer_norm_eps"] == 1e-12
    data = write_texts(tmp_path / "data.tsv", EN_TEXTS)
    pooled, tokens, _, ids, types = encoder_outputs(str(release), data, task_id=2)
    for kwargs in ({}, None):   # plain from_pretrained (1e-12) and load_paddlenlp_model
        if kwargs is None:
            with dynamic_mode() as paddle:
                model = load_paddlenlp_model(str(tmp_path / "p"))
                p_pooled = np.concatenate([model(paddle.to_tensor([i]), token_type_ids=paddle.to_tensor([t]))[1].numpy()
                                           for i, t in zip(ids, types)])
        else:
            p_pooled, _ = paddlenlp_outputs(str(tmp_path / "p"), ids, types, **kwargs)
        np.testing.assert_allclose(p_pooled, pooled, atol=1e-5, rtol=1e-5)


def test_what_paddlenlp_cannot_hold_is_refused(tmp_path):
    approx = make_release(tmp_path / "approx", dict(TINY_ERNIE2, hidden_act="gelu_approx"), EN_VOCAB, heads=False)
    with pytest.raises(ConversionError, match="gelu_approx"):
        export_paddlenlp(str(tmp_path / "approx" / "params"), approx, EN_VOCAB, str(tmp_path / "o2"))
    # an untied masked-LM output weight, a missing encoder parameter and a partial head set are named
    release = tmp_path / "ok"
    config = make_release(release, TINY_ERNIE1, ZH_VOCAB, heads=True)
    from ernie.tensor_file import write_tensor
    write_tensor(str(release / "params" / "mask_lm_out_fc.w_0"), np.ones((32, config.vocab_size), np.float32))
    with pytest.raises(ConversionError, match="untied masked-LM output weight"):
        export_paddlenlp(str(release / "params"), config, ZH_VOCAB, str(tmp_path / "o4"))
    os.remove(release / "params" / "mask_lm_out_fc.w_0")
    os.remove(release / "params" / "next_sent_fc.b_0")
    with pytest.raises(ConversionError, match="only some pre-training head parameters"):
        export_paddlenlp(str(release / "params"), config, ZH_VOCAB, str(tmp_path / "o3"))
    report = export_paddlenlp(str(release / "params"), config, ZH_VOCAB, str(tmp_path / "o3"), encoder_only=True)
    assert report["class"] == "ErnieModel" and "next_sent_fc.w_0" in report["left_out"]
    os.remove(release / "params" / "encoder_layer_1_ffn_fc_0.w_0")
    with pytest.raises(ConversionError, match="encoder_layer_1_ffn_fc_0.w_0: file missing"):
        read_params_dir(str(release / "params"), config)
    assert not os.path.exists(tmp_path / "o2")


def test_checkpoint_extras_are_left_out_and_output_protected(tmp_path):
    release = tmp_path / "ckpt"
    config = make_release(release, TINY_ERNIE2, EN_VOCAB, heads=False)
    from ernie.tensor_file import write_tensor
    write_tensor(str(release / "params" / "word_embedding_moment1_0"), np.zeros((70, 32), np.float32))
    write_tensor(str(release / "params" / "cls_out_w"), np.zeros((32, 2), np.float32))
    out = tmp_path / "out"
    report = export_paddlenlp(str(release / "params"), config, EN_VOCAB, str(out))
    assert report["left_out"] == ["cls_out_w", "word_embedding_moment1_0"]
    with pytest.raises(ConversionError, match="already exists and is not empty"):
        export_paddlenlp(str(release / "params"), config, EN_VOCAB, str(out))


def test_import_of_a_checkpoint_paddlenlp_wrote_itself(tmp_path):
    """A fine-tuned ErnieForSequenceClassification saved by PaddleNLP, config under the legacy name."""
    src = tmp_path / "pnlp"
    with dynamic_mode() as paddle:
        from paddlenlp.transformers import ErnieConfig as PConfig, ErnieForSequenceClassification, ErnieTokenizer
        paddle.seed(5)
        model = ErnieForSequenceClassification(PConfig(vocab_size=70, hidden_size=16, num_hidden_layers=1,
                                                       num_attention_heads=2, intermediate_size=40,
                                                       max_position_embeddings=32, type_vocab_size=4,
                                                       hidden_act="gelu", num_labels=3))
        model.save_pretrained(str(src))
        ErnieTokenizer(EN_VOCAB).save_pretrained(str(src))
        state = {k: v.numpy() for k, v in model.state_dict().items()}
    os.rename(src / "config.json", src / "model_config.json")
    out = tmp_path / "ernie"
    report = import_paddlenlp(str(src), str(out))
    assert report["left_out"] == ["classifier.bias", "classifier.weight"]
    cfg = read_json(out / "ernie_config.json")
    assert cfg["intermediate_size"] == 40 and cfg["type_vocab_size"] == 4 and "use_task_id" not in cfg
    assert cfg["layer_norm_eps"] == 1e-12      # PaddleNLP's default, what its plain from_pretrained computes with
    import_paddlenlp(str(src), str(tmp_path / "eps"), layer_norm_eps=1e-5)
    assert "layer_norm_eps" not in read_json(tmp_path / "eps" / "ernie_config.json")   # ERNIE's default
    np.testing.assert_array_equal(read_tensor(str(out / "params" / "encoder_layer_0_ffn_fc_0.w_0")),
                                  state["ernie.encoder.layers.0.linear1.weight"])
    # a checkpoint lacking a tensor is refused (PaddleNLP itself would initialise it silently)
    import paddle
    with dynamic_mode():
        del state["ernie.pooler.dense.bias"]
        paddle.save(state, str(src / "model_state.pdparams"))
    with pytest.raises(ConversionError, match="ernie.pooler.dense.bias"):
        import_paddlenlp(str(src), str(tmp_path / "ernie2"))
    assert not os.path.exists(tmp_path / "ernie2")


def test_cli_both_directions(tmp_path, capsys):
    release = tmp_path / "release"
    make_release(release, TINY_ERNIE2, EN_VOCAB, heads=False)
    assert main(["to_paddlenlp", "--params_dir", str(release / "params"),
                 "--ernie_config_path", str(release / "ernie_config.json"), "--vocab_path", str(release / "vocab.txt"),
                 "--output_dir", str(tmp_path / "p"), "--task_id", "2"]) == 0
    assert json.load(open(tmp_path / "p" / "config.json"))["task_id"] == 2
    assert main(["from_paddlenlp", "--paddlenlp_dir", str(tmp_path / "p"), "--output_dir", str(tmp_path / "b")]) == 0
    assert main(["from_paddlenlp", "--paddlenlp_dir", str(tmp_path / "nothing"), "--output_dir", str(tmp_path / "c")]) == 1
