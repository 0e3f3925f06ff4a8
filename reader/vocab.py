"""Vocabulary files of the original toolkit.

Two layouts are accepted, as the original did: ``token<TAB>id`` per line
(ERNIE 1.0 Chinese vocab) or one token per line with the id being the 0-based
line number (BERT / ERNIE 2.0 English vocab).  A line with more than two
columns ends the vocabulary (the original stopped reading there too).  A token
listed twice, or (``token<TAB>id``) an id given to two tokens, is an error naming
both lines: the original let the later line win, which silently left an id
without its token or decoded an id as the wrong token.  Blank lines may repeat:
no text is tokenized into the empty token.
"""
import collections

from reader.files import check_input_file

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")


class VocabError(ValueError):
    """A vocabulary file is unreadable or lacks a required token."""


def load_vocab(path):
    """Return an OrderedDict token -> id."""
    vocab = collections.OrderedDict()
    line_of_token, line_of_id = {}, {}
    check_input_file(path, "vocabulary file", VocabError)
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                fields = line.strip().split("\t")
                if len(fields) > 2:
                    break
                token = fields[0].strip()
                if len(fields) == 2:
                    try:
                        token_id = int(fields[1])
                    except ValueError:
                        raise VocabError("%s:%d: id %r is not an integer" % (path, lineno, fields[1])) from None
                else:
                    token_id = lineno - 1
                if token and token in line_of_token:      # (a blank line: a token no text produces)
                    raise VocabError("%s:%d: token %r is already on line %d" % (path, lineno, token,
                                                                              line_of_token[token]))
                if token_id in line_of_id:
                    raise VocabError("%s:%d: id %d of %r is already the id of line %d" % (
                        path, lineno, token_id, token, line_of_id[token_id]))
                vocab[token] = token_id
                line_of_token[token] = line_of_id[token_id] = lineno
    except FileNotFoundError:
        raise VocabError("vocabulary file %s does not exist" % path) from None
    except UnicodeDecodeError as e:
        raise VocabError("vocabulary file %s is not UTF-8: %s" % (path, e)) from None
    if not vocab:
        raise VocabError("vocabulary file %s is empty" % path)
    return vocab


def special_ids(vocab, path="<vocab>", required=("[PAD]", "[CLS]", "[SEP]", "[MASK]")):
    """ids of the special tokens; a missing required one is a clear error."""
    missing = [t for t in required if t not in vocab]
    if missing:
        raise VocabError("vocabulary %s lacks the special token(s) %s" % (path, ", ".join(missing)))
    return {t: vocab[t] for t in SPECIAL_TOKENS if t in vocab}


def is_chinese_char(text):
    """One character of the CJK Unified Ideographs block (U+4E00..U+9FFF)."""
    return len(text) == 1 and 0x4E00 <= ord(text) <= 0x9FFF


def chinese_token_fraction(vocab):
    """Share of the tokens of ``vocab`` ({token: id}) that are one Chinese character (``##`` ignored)."""
    if not vocab:
        return 0.0
    return sum(1 for token in vocab if is_chinese_char(token[2:] if token.startswith("##") else token)) / len(vocab)
