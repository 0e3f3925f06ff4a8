"""WordPiece tokenization as used by every fine-tuning reader of the original toolkit.

``FullTokenizer`` = ``BasicTokenizer`` (cleaning, CJK splitting, lower-casing
with accent stripping, punctuation splitting) followed by
``WordpieceTokenizer`` (greedy longest-match-first against the vocabulary).
The behaviour is the original's, which is the classic BERT one:

* cleaning drops U+0000, U+FFFD and every character of a Unicode category
  ``C*`` except ``\\t \\n \\r``; every whitespace character (space, tab, CR,
  LF, category ``Zs``) becomes one space;
* every CJK ideograph (the ranges in ``CJK_RANGES``) becomes its own word;
  kana, hangul and full-width punctuation are *not* CJK by this definition;
* with ``do_lower_case`` a word is lower-cased *and* its accents are stripped
  (NFD, drop category ``Mn``); without it neither happens;
* every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126 or a
  category ``P*``) is split off as its own word.  Symbols (category ``S*``,
  e.g. ``€``, ``°``, ``²``) are *not* split off;
* a word longer than 100 characters, or one that cannot be covered by
  vocabulary pieces, becomes a single ``[UNK]`` (partial pieces dropped).

Differences from paddlenlp's ``BertTokenizer`` (checked in
``tests/test_tokenization.py``): paddlenlp also splits off symbols, and keeps
special tokens such as ``[CLS]`` written in the text whole; the original (and
this module) split ``[CLS]`` into ``[``, ``cl``, ``##s``, ``]``.

Strings are Python ``str``; ``bytes`` are decoded as UTF-8 ignoring errors.
"""
import unicodedata

from reader.vocab import load_vocab

# Code point ranges treated as CJK ideographs (each becomes its own word).
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
# Characters that are boundaries (and their own token) in ``tokenize_chinese_chars``.
MRC_WHITESPACE = frozenset(" \t\r\n\u202f")


def to_text(text):
    """``str`` unchanged; ``bytes`` decoded as UTF-8, invalid sequences dropped."""
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode("utf-8", "ignore")
    raise TypeError("expected str or bytes, got %s" % type(text).__name__)


def is_cjk_char(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def is_whitespace(ch):
    # \t \n \r are control characters for Unicode but whitespace for us.
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    # All non-alphanumeric printable ASCII counts, even $ ^ ` which Unicode files as symbols.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def whitespace_split(text):
    """Split on runs of whitespace (Python's notion), dropping empty pieces."""
    return text.split()


class BasicTokenizer:
    """Cleaning, CJK splitting, optional lower-casing + accent stripping, punctuation splitting."""

    def __init__(self, do_lower_case=True):
        self.do_lower_case = do_lower_case

    def tokenize(self, text):
        """text (str or UTF-8 bytes) -> list of words (str)."""
        text = self._spread_cjk(self._clean(to_text(text)))
        words = []
        for piece in whitespace_split(text):
            if self.do_lower_case:
                piece = strip_accents(piece.lower())
            words.extend(split_on_punctuation(piece))
        # Lower-casing/accent stripping can leave empty pieces or (rarely) new
        # whitespace; re-splitting normalises both.
        return whitespace_split(" ".join(words))

    @staticmethod
    def _clean(text):
        out = []
        for ch in text:
            if ch == "\x00" or ch == "\ufffd" or is_control(ch):
                continue
            out.append(" " if is_whitespace(ch) else ch)
        return "".join(out)

    @staticmethod
    def _spread_cjk(text):
        return "".join(" %s " % ch if is_cjk_char(ch) else ch for ch in text)


def strip_accents(text):
    """NFD-decompose and drop combining marks (category Mn)."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text)
                   if unicodedata.category(ch) != "Mn")


def split_keeping(text, is_single):
    """``text`` cut into pieces: each character with ``is_single(ch)`` alone, maximal runs of the others
    together (``''.join(pieces) == text``)."""
    pieces, run = [], []
    for ch in text:
        if is_single(ch):
            if run:
                pieces.append("".join(run))
                run = []
            pieces.append(ch)
        else:
            run.append(ch)
    if run:
        pieces.append("".join(run))
    return pieces


def split_on_punctuation(text):
    """'a,b!' -> ['a', ',', 'b', '!']: every punctuation char is its own piece."""
    return split_keeping(text, is_punctuation)


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece; non-initial pieces carry a ``##`` prefix."""

    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text):
        """Whitespace-separated words -> word pieces."""
        output = []
        for word in whitespace_split(to_text(text)):
            output.extend(self._word_pieces(word))
        return output

    def _word_pieces(self, word):
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            piece = None
            while end > start:
                candidate = word[start:end] if start == 0 else "##" + word[start:end]
                if candidate in self.vocab:
                    piece = candidate
                    break
                end -= 1
            if piece is None:
                # One uncoverable position makes the whole word unknown.
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces


class FullTokenizer:
    """BasicTokenizer then WordpieceTokenizer over the vocabulary in ``vocab_file``.

    ``vocab_file`` may use either layout of ``reader.vocab.load_vocab``.
    Attributes: ``vocab`` (token -> id), ``inv_vocab`` (id -> token).
    """

    def __init__(self, vocab_file, do_lower_case=True, unk_token="[UNK]"):
        self.vocab_file = vocab_file
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, unk_token=unk_token)

    def tokenize(self, text):
        """text -> list of vocabulary tokens (unknown words become ``[UNK]``)."""
        tokens = []
        for word in self.basic_tokenizer.tokenize(text):
            tokens.extend(self.wordpiece_tokenizer.tokenize(word))
        return tokens

    def convert_tokens_to_ids(self, tokens):
        """Plain lookup; a token outside the vocabulary raises KeyError naming it."""
        try:
            return [self.vocab[t] for t in tokens]
        except KeyError as e:
            raise KeyError("token %r is not in the vocabulary %s" % (e.args[0], self.vocab_file)) from None

    def convert_ids_to_tokens(self, ids):
        """Plain lookup; an unknown id raises KeyError naming it."""
        try:
            return [self.inv_vocab[int(i)] for i in ids]
        except KeyError as e:
            raise KeyError("id %r is not in the vocabulary %s" % (e.args[0], self.vocab_file)) from None


def tokenize_chinese_chars(text):
    """Split text into "original tokens" for reading-comprehension documents.

    Every CJK character is its own element; every whitespace character (space,
    tab, CR, LF, U+202F) is its own element; maximal runs of all other
    characters are one element.  ``''.join(result) == text`` always holds.
    """
    return split_keeping(to_text(text), lambda ch: is_cjk_char(ch) or ch in MRC_WHITESPACE)
