"""Reader behaviour named in the README's differences from the original: --shuffle_samples false reads each
file's samples in file order (the v2.0 release's reading); a carriage return inside a TSV field is a space."""
import pytest

from test_pretraining_reader import reader_for, sample_keys, synth  # noqa: F401  (fixture)
from test_task_reader import VOCAB, CLS, SEP, all_batches, classify_reader, write_tsv


def test_samples_in_file_order_when_not_shuffled(synth):  # noqa: F811
    in_file = [tuple(s.token_ids) for s in synth["samples"]]
    ordered = reader_for(synth["filelist"], synth["vocab"], shuffle_samples=False)
    assert sample_keys(ordered, 0) == in_file == sample_keys(ordered, 1)
    shuffled = sample_keys(reader_for(synth["filelist"], synth["vocab"]), 0)
    assert shuffled != in_file and sorted(shuffled) == sorted(in_file)   # the default shuffles in blocks


def test_reader_state_records_the_setting(synth):  # noqa: F811
    default = reader_for(synth["filelist"], synth["vocab"]).state_dict()
    assert "shuffle_samples" not in default["config"]      # states saved before the option keep loading
    ordered = reader_for(synth["filelist"], synth["vocab"], shuffle_samples=False)
    with pytest.raises(ValueError, match="shuffle_samples"):
        ordered.load_state_dict(default)


def test_carriage_return_inside_a_field_is_a_space(tmp_path):
    with_cr = write_tsv(tmp_path, [["text_a", "label"], ["quick\rfox", "1"]], name="cr.tsv", newline="\r\n")
    with_space = write_tsv(tmp_path, [["text_a", "label"], ["quick fox", "1"]], name="space.tsv")
    (a,) = all_batches(classify_reader(), with_cr, 8)
    (b,) = all_batches(classify_reader(), with_space, 8)
    assert a["src_ids"].tolist() == b["src_ids"].tolist() == [[CLS, VOCAB["quick"], VOCAB["fox"], SEP]]
