"""ERNIE -> Hugging Face BERT export: an independent numpy BERT gives ernie_encoder.py's outputs; the existing
converter brings the export back."""
import os

import numpy as np
import pytest
import reference_bert  # noqa: E402  (tests/reference_bert.py, shares no code with the exporter)
from interop_helpers import (EN_VOCAB, RELEASE_CASES, TINY_ERNIE1, TINY_ERNIE2, ZH_VOCAB, case_release, encoder_outputs,
                             make_release, read_json, read_params, write_texts)

from ernie.cli.convert_bert import ConversionError, convert, map_bert_name
from ernie.cli.convert_paddlenlp import param_shapes
from ernie.cli.export_bert import bert_name, export_bert, main
from ernie.config import ErnieConfig
from ernie.tensor_file import read_tensor, write_tensor


def test_names_invert_the_existing_converter():
    config = ErnieConfig(dict(TINY_ERNIE1, num_hidden_layers=12))
    names = [n for n in param_shapes(config)]
    assert len(names) > 12 * 16
    for name in names:
        for prefix in ("", "bert."):
            target, transpose = bert_name(name, prefix)
            assert map_bert_name(target) == (name, transpose), name
    assert bert_name("task_embedding") is None and bert_name("cls_out_w") is None
    assert bert_name("encoder_layer_x_ffn_fc_0.w_0") is None


@pytest.mark.parametrize("case", sorted(RELEASE_CASES))
def test_numpy_bert_on_the_export_equals_ernie_encoder_and_converter_brings_it_back(tmp_path, case):
    release, config, texts, heads, task_id = case_release(tmp_path, case, seed=4)
    hf = tmp_path / "hf"
    report = export_bert(str(release / "params"), config, str(release / "vocab.txt"), str(hf), task_id=task_id,
                         max_seq_len=48)
    assert report["architecture"] == ("BertForPreTraining" if heads else "BertModel")
    cfg = read_json(hf / "config.json")
    assert cfg["layer_norm_eps"] == 1e-5 and cfg["hidden_act"] == config.hidden_act
    assert cfg["type_vocab_size"] == config.sent_vocab_size and cfg["intermediate_size"] == 4 * 32
    tok = read_json(hf / "tokenizer_config.json")
    assert tok["do_lower_case"] is True and tok["model_max_length"] == 48
    if config.use_task_id:
        assert report["left_out"] == ["task_embedding (row 2 folded into token_type_embeddings)"]

    data = write_texts(tmp_path / "data.tsv", texts)
    pooled, tokens, _, ids, types = encoder_outputs(str(release), data, task_id=task_id)
    weights, hf_cfg = reference_bert.load_checkpoint(str(hf))
    for i, (row, trow) in enumerate(zip(ids, types)):
        seq, pool = reference_bert.bert_forward(weights, hf_cfg, np.array([row]), np.array([trow]))
        np.testing.assert_allclose(seq[0], tokens[i], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(pool[0], pooled[i], atol=1e-5, rtol=1e-5)

    # the tokenizer settings written beside the model reproduce the ids (PaddleNLP's BertTokenizer reads them)
    from ernie.cli.convert_paddlenlp import dynamic_mode
    with dynamic_mode():
        from paddlenlp.transformers import BertTokenizer
        tokenizer = BertTokenizer.from_pretrained(str(hf))
        for (a, b), row, trow in zip(texts, ids, types):
            enc = tokenizer(a, b or None)
            assert enc["input_ids"] == row and enc["token_type_ids"] == trow

    # back with the existing converter
    back = tmp_path / "back"
    convert(str(hf), str(back))
    original, returned = read_params(release / "params"), read_params(back / "params")
    if config.use_task_id:
        task_row = original.pop("task_embedding")[task_id]
        np.testing.assert_array_equal(returned.pop("sent_embedding"), original.pop("sent_embedding") + task_row)
    assert sorted(original) == sorted(returned)
    for name in original:
        assert original[name].tobytes() == returned[name].tobytes(), name
    back_cfg = ErnieConfig.from_json(str(back / "ernie_config.json"))
    assert back_cfg.layer_norm_eps == 1e-5 and back_cfg.hidden_act == config.hidden_act and not back_cfg.use_task_id


def test_untied_decoder_and_heads_match_numpy_bert(tmp_path):
    release = tmp_path / "release"
    config = make_release(release, TINY_ERNIE1, ZH_VOCAB, seed=7, heads=True)
    rng = np.random.RandomState(1)
    untied = rng.normal(0, 0.1, (32, config.vocab_size)).astype(np.float32)
    write_tensor(str(release / "params" / "mask_lm_out_fc.w_0"), untied)
    export_bert(str(release / "params"), config, ZH_VOCAB, str(tmp_path / "hf"))
    cfg = read_json(tmp_path / "hf" / "config.json")
    assert cfg["tie_word_embeddings"] is False
    weights, _ = reference_bert.load_checkpoint(str(tmp_path / "hf"))
    np.testing.assert_array_equal(weights["cls.predictions.decoder.weight"], untied.T)
    convert(str(tmp_path / "hf"), str(tmp_path / "back"))
    np.testing.assert_array_equal(read_tensor(str(tmp_path / "back" / "params" / "mask_lm_out_fc.w_0")), untied)
    # encoder only: the heads, untied decoder included, are left out and listed
    report = export_bert(str(release / "params"), config, ZH_VOCAB, str(tmp_path / "enc"), encoder_only=True)
    assert report["architecture"] == "BertModel" and "mask_lm_out_fc.w_0" in report["left_out"]
    assert not any(k.startswith("cls.") for k in reference_bert.load_checkpoint(str(tmp_path / "enc"))[0])


def test_errors_and_cli(tmp_path):
    release = tmp_path / "release"
    make_release(release, TINY_ERNIE2, EN_VOCAB, heads=False)
    args = ["--params_dir", str(release / "params"), "--ernie_config_path", str(release / "ernie_config.json"),
            "--vocab_path", str(release / "vocab.txt")]
    assert main(args + ["--output_dir", str(tmp_path / "out"), "--task_id", "1"]) == 0
    assert main(args + ["--output_dir", str(tmp_path / "out")]) == 1          # exists
    assert main(args + ["--output_dir", str(tmp_path / "o2"), "--task_id", "3"]) == 1   # no such task row
    assert not os.path.exists(tmp_path / "o2")
    os.remove(release / "params" / "pooled_fc.b_0")
    config = ErnieConfig.from_json(str(release / "ernie_config.json"))
    with pytest.raises(ConversionError, match="pooled_fc.b_0: file missing"):
        export_bert(str(release / "params"), config, EN_VOCAB, str(tmp_path / "o3"))
    os.remove(release / "params" / "pooled_fc.w_0")
    with pytest.raises(ConversionError, match="no pooled_fc"):
        export_bert(str(release / "params"), config, EN_VOCAB, str(tmp_path / "o3"))
