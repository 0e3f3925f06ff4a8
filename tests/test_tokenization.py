"""reader.tokenization: hand-checked cases on a tiny vocabulary, and equivalence with
paddlenlp's BertTokenizer on the original English and Chinese vocabularies.

paddlenlp differs from the original toolkit in two documented ways, and the
original wins: (1) paddlenlp splits off Unicode symbols (category S*, e.g. the
euro or degree sign, and a few listed code points such as superscript two),
the original only splits punctuation; (2) paddlenlp keeps special tokens
written in the text ("[CLS]") whole, the original tokenizes them like any text.
"""
import os
import random

import pytest

from conftest import original_path
from reader.tokenization import (BasicTokenizer, FullTokenizer, WordpieceTokenizer,
                                 tokenize_chinese_chars)
from reader.vocab import load_vocab

HERE = os.path.dirname(os.path.abspath(__file__))
TINY_VOCAB = os.path.join(HERE, "fixtures", "vocab_tiny.txt")


def original_vocab(name):
    return original_path("config", name)


@pytest.fixture(scope="module")
def tiny():
    return FullTokenizer(TINY_VOCAB)


# ---------------------------------------------------------------- hand-checked
@pytest.mark.parametrize("text, expected", [
    ("The Quick, brown FOX!", ["the", "quick", ",", "brown", "fox", "!"]),
    ("jumps jumped", ["jump", "##s", "jump", "##ed"]),
    ("unaffable", ["un", "##aff", "##able"]),
    # one uncoverable position turns the whole word into [UNK], partial pieces dropped
    ("unaffablex", ["[UNK]"]),
    ("Café", ["cafe"]),                              # lower-casing strips accents
    ("cafe\u0301", ["cafe"]),                        # decomposed accent too
    ("\thello\u3000world\n\r", ["hello", "world"]),  # tab, ideographic space (Zs), CR/LF
    ("hel\x07lo\u200b \x00\ufffd", ["hello"]),       # control / format chars, NUL, U+FFFD dropped
    ("中国人", ["中", "国", "人"]),                   # every CJK char is a word
    ("hello中国", ["hello", "中", "国"]),
    ("日本", ["[UNK]", "[UNK]"]),                    # CJK chars out of vocab: one [UNK] each
    ("でで", ["[UNK]"]),                             # kana is not CJK: one word, no "##で" piece
    ("[CLS] it", ["[", "cl", "##s", "]", "it"]),     # special tokens in text are plain text
    ("5€ 10°C", ["5", "##€", "10", "##°", "##c"]),   # symbols are not split off
    ("good.bad?", ["good", ".", "bad", "?"]),
    ("", []),
    ("   \t ", []),
])
def test_hand_checked(tiny, text, expected):
    assert tiny.tokenize(text) == expected


def test_without_lower_case_keeps_case_and_accents():
    basic = BasicTokenizer(do_lower_case=False)
    assert basic.tokenize("Café, The FOX") == ["Café", ",", "The", "FOX"]
    assert basic.tokenize("cafe\u0301") == ["cafe\u0301"]   # no accent stripping without lower-casing
    tok = FullTokenizer(TINY_VOCAB, do_lower_case=False)
    assert tok.tokenize("The fox") == ["[UNK]", "fox"]


def test_bytes_are_decoded_as_utf8(tiny):
    assert tiny.tokenize("Café 中".encode("utf-8")) == ["cafe", "中"]
    assert tiny.tokenize(b"fox\xff") == ["fox"]  # invalid UTF-8 dropped


def test_max_input_chars_per_word(tiny):
    # "a" + 99 x "b" = 100 chars -> covered by pieces; 101 chars -> a single [UNK]
    assert tiny.tokenize("a" + "b" * 99) == ["a"] + ["##b"] * 99
    assert tiny.tokenize("a" + "b" * 100) == ["[UNK]"]
    wp = WordpieceTokenizer(load_vocab(TINY_VOCAB), max_input_chars_per_word=3)
    assert wp.tokenize("abb abbb") == ["a", "##b", "##b", "[UNK]"]


def test_greedy_longest_match_first():
    vocab = {"[UNK]": 0, "ab": 1, "a": 2, "##b": 3, "##bc": 4, "##c": 5, "abc": 6}
    wp = WordpieceTokenizer(vocab)
    assert wp.tokenize("abc") == ["abc"]
    assert wp.tokenize("abbc") == ["ab", "##bc"]
    assert wp.tokenize("abcb") == ["abc", "##b"]


def test_ids_round_trip(tiny):
    tokens = tiny.tokenize("the quick fox jumps")
    ids = tiny.convert_tokens_to_ids(tokens)
    vocab_lines = open(TINY_VOCAB, encoding="utf-8").read().split("\n")
    assert ids == [vocab_lines.index(t) for t in tokens]
    assert tiny.convert_ids_to_tokens(ids) == tokens
    with pytest.raises(KeyError, match="zebra"):
        tiny.convert_tokens_to_ids(["zebra"])
    with pytest.raises(KeyError, match="9999"):
        tiny.convert_ids_to_tokens([9999])


def test_tokenize_chinese_chars():
    text = "我爱 NLP\tok\u202fx中 a\r\nb"
    assert tokenize_chinese_chars(text) == ["我", "爱", " ", "NLP", "\t", "ok", "\u202f", "x", "中",
                                            " ", "a", "\r", "\n", "b"]
    assert tokenize_chinese_chars("") == []
    rng = random.Random(1)
    pool = list("ab, .中国\t\r\n\u202f\u3000x1")
    for _ in range(300):
        s = "".join(rng.choice(pool) for _ in range(rng.randint(0, 20)))
        parts = tokenize_chinese_chars(s)
        assert "".join(parts) == s
        assert all(parts)


# ------------------------------------------------------- paddlenlp equivalence
ENGLISH = [
    "Hello, World! How are you?",
    "The quick brown fox jumps over the lazy dog.",
    "unaffable UNAFFABLE Unaffable",
    "naïve café résumé Ångström façade",
    "It's a dog's life -- isn't it?! (Maybe.)",
    "e-mail: someone@example.com, url: http://example.org/a_b?c=d&e=f",
    "Numbers 3.14159, 1,000,000 and 2nd/3rd 42%",
    "  multiple\t\tspaces\n\nand\r\nnewlines  ",
    "zero\u200bwidth\u00a0nbsp\u3000ideographic\u2028line sep",
    "control\x00chars\x07here\ufffd and \x1b[0m escapes",
    "Mixed 中文 and English 文本 together",
    "日本語のテキスト 한국어 텍스트",
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "x" * 101 + " short",
    "Ünïcödé ÀÉÎÕÜ ñ ç",
    "He said “hello” — she said ‘bye’… «quoted»",
    "",
]


def _patched_paddlenlp(monkeypatch, vocab_file, do_lower_case):
    """paddlenlp's BertTokenizer with its symbol splitting switched off (difference 1)."""
    import paddlenlp.transformers.bert.tokenizer as bert_tok
    monkeypatch.setattr(bert_tok, "_is_symbol", lambda ch: False)
    return bert_tok.BertTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_matches_paddlenlp_english(do_lower_case):
    from paddlenlp.transformers import BertTokenizer
    vocab = original_vocab("vocab_en.txt")
    ref = BertTokenizer(vocab_file=vocab, do_lower_case=do_lower_case)
    mine = FullTokenizer(vocab, do_lower_case=do_lower_case)
    for text in ENGLISH:
        tokens = mine.tokenize(text)
        assert tokens == ref.tokenize(text), text
        assert mine.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_matches_paddlenlp_fuzz_without_symbol_splitting(monkeypatch, do_lower_case):
    vocab = original_vocab("vocab_en.txt")
    ref = _patched_paddlenlp(monkeypatch, vocab, do_lower_case)
    mine = FullTokenizer(vocab, do_lower_case=do_lower_case)
    pool = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 ,.!?'\"-()[]{}$%^&*+=<>/\\|~`@#;:_\t\n\r") + [
        "\u00e9", "\u00fc", "e\u0301", "\u00a0", "\u3000", "\u200b", "\x00", "\ufffd", "\x07", "\u2028",
        "中", "国", "你", "好", "の", "한", "，", "。", "€", "°", "²", "😀", "\u0130", "ß", "\ufb01"]
    rng = random.Random(1234)
    for _ in range(1500):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        assert mine.tokenize(text) == ref.tokenize(text), repr(text)


def test_documented_differences_from_paddlenlp():
    from paddlenlp.transformers import BertTokenizer
    vocab = original_vocab("vocab_en.txt")
    ref = BertTokenizer(vocab_file=vocab)
    mine = FullTokenizer(vocab)
    # (1) symbols stay inside the word and go through WordPiece
    assert mine.tokenize("10°C 5€ x²") == ["10", "##°", "##c", "5", "##€", "x", "##²"]
    assert ref.tokenize("10°C 5€ x²") == ["10", "°", "c", "5", "€", "x", "²"]
    # (2) special tokens in the text are ordinary text
    assert mine.tokenize("a [CLS] b") == ["a", "[", "cl", "##s", "]", "b"]
    assert ref.tokenize("a [CLS] b") == ["a", "[CLS]", "b"]
    # (1b) paddlenlp also lists a few letters as symbols, e.g. U+00D8 (capital O with stroke):
    # without lower-casing "Øresund" is one word the vocab cannot cover -> one [UNK]
    cased_mine = FullTokenizer(vocab, do_lower_case=False)
    cased_ref = BertTokenizer(vocab_file=vocab, do_lower_case=False)
    assert cased_mine.tokenize("Øresund") == ["[UNK]"]
    assert cased_ref.tokenize("Øresund") == ["[UNK]", "res", "##und"]


CHINESE = [
    "我爱北京天安门，ERNIE 2.0 很好！",
    "百度ERNIE模型在中文任务上表现优异。",
    "hello世界 2019年12月 iPhone11 Pro",
    "“引号”与（括号）【方括号】《书名号》",
    "全角ＡＢＣ１２３ 半角ABC123",
    "繁體字與簡体字混合，還有日本語のかな。",
    "𠀀𪜀 rare CJK extension chars",
    "  空格\t制表\n换行  ",
]


def test_matches_paddlenlp_chinese_vocab(tmp_path):
    from paddlenlp.transformers import BertTokenizer
    vocab = original_vocab("vocab.txt")
    # paddlenlp reads one token per line; the original Chinese file is token<TAB>id.
    table = load_vocab(vocab)
    plain = tmp_path / "vocab_plain.txt"
    plain.write_text("\n".join(t for t, _ in sorted(table.items(), key=lambda kv: kv[1])) + "\n",
                     encoding="utf-8")
    assert sorted(table.values()) == list(range(len(table)))  # ids are line numbers there
    ref = BertTokenizer(vocab_file=str(plain))
    mine = FullTokenizer(vocab)
    for text in CHINESE:
        tokens = mine.tokenize(text)
        assert tokens == ref.tokenize(text), text
        assert mine.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert mine.tokenize("我爱ERNIE") == ["我", "爱", "er", "##nie"]
