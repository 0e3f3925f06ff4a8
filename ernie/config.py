"""ErnieConfig: the model hyper-parameters, read from the original toolkit's JSON files."""
import difflib
import json
import logging
import math
import os

from ernie.atomic_write import write_json
from reader.files import check_input_file
from reader.vocab import load_vocab

logger = logging.getLogger(__name__)

ACTIVATIONS = ("relu", "gelu", "gelu_approx", "tanh")

# Every field the model reads, with its documentation.  ``None`` as default
# means the key is required (the original had no defaults in code either).
FIELDS = {
    "hidden_size": (int, None, "H: width of the embeddings and of every encoder layer."),
    "num_hidden_layers": (int, None, "Number of Transformer encoder layers."),
    "num_attention_heads": (int, None, "Attention heads n; each head has H/n dims."),
    "vocab_size": (int, None, "Rows of word_embedding and width of the masked-LM output; may exceed the vocab file."),
    "max_position_embeddings": (int, None, "Rows of pos_embedding: the longest sequence the model accepts."),
    "type_vocab_size": (int, 0, "Rows of sent_embedding (ERNIE 1.0 key); used when sent_type_vocab_size is absent."),
    "sent_type_vocab_size": (int, 0, "Rows of sent_embedding (ERNIE 2.0 key); takes precedence over type_vocab_size."),
    "use_task_id": (bool, False, "Add a task embedding (ERNIE 2.0: which pre-training task the input serves)."),
    "task_type_vocab_size": (int, 0, "Rows of task_embedding; required when use_task_id is true."),
    "hidden_act": (str, None, "Activation of the FFN inner layer and of the masked-LM transform: relu or gelu (exact erf form)."),
    "hidden_dropout_prob": (float, 0.1, "Dropout after the embedding layer norm and on every sub-layer output."),
    "attention_probs_dropout_prob": (float, 0.1, "Dropout on the attention weights."),
    "initializer_range": (float, 0.02, "Std of the truncated normal (cut at +-2 std) used for every weight and embedding."),
    "intermediate_size": (int, 0, "FFN inner width; 0 means 4*H as in the original (extension for converted BERT weights)."),
    "layer_norm_eps": (float, 1e-5, "Layer-norm epsilon; the original's 1e-5, BERT checkpoints use 1e-12 (extension)."),
}


class ConfigError(ValueError):
    """A model config file is missing a key or holds a bad value."""


class ErnieConfig:
    """Model hyper-parameters.

    Built from the original JSON files unchanged (``config/ernie_config.json``,
    ``script/en_glue/ernie_base/ernie_config.json``, ...).  Every field is listed,
    with its meaning, in ``FIELDS``; an unknown key is an error naming the
    closest known one (a misspelt ``hiden_dropout_prob`` would otherwise be
    ignored silently).  Numbers must be finite.
    """

    def __init__(self, values, source="<dict>"):
        self.source = source
        self._raw = dict(values)
        unknown = sorted(k for k in values if k not in FIELDS)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), list(FIELDS), n=1, cutoff=0.6)
                hints.append("'%s'%s" % (key, " (did you mean '%s'?)" % close[0] if close else ""))
            raise ConfigError("%s: unknown key%s %s; the known keys are %s" % (
                source, "s" if len(unknown) > 1 else "", ", ".join(hints), ", ".join(sorted(FIELDS))))
        for key, (typ, default, _doc) in FIELDS.items():
            if key in values and values[key] is not None:
                value = values[key]
                if typ is bool:
                    if not isinstance(value, (bool, int)) or value not in (0, 1, True, False):
                        raise ConfigError("%s: key '%s' must be true or false, got %r" % (source, key, value))
                    value = bool(value)
                elif typ is int:
                    if isinstance(value, bool) or not isinstance(value, int):
                        raise ConfigError("%s: key '%s' must be an integer, got %r" % (source, key, value))
                elif typ is float:
                    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                        raise ConfigError("%s: key '%s' must be a finite number, got %r" % (source, key, value))
                    value = float(value)
                elif not isinstance(value, typ):
                    raise ConfigError("%s: key '%s' must be a %s, got %r" % (source, key, typ.__name__, value))
            elif default is None:
                raise ConfigError("%s: required key '%s' is missing (%s)" % (source, key, FIELDS[key][2]))
            else:
                value = default
            setattr(self, key, value)
        self._validate()

    def _validate(self):
        src = self.source
        for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                    "max_position_embeddings"):
            if getattr(self, key) <= 0:
                raise ConfigError("%s: key '%s' must be positive, got %r" % (src, key, getattr(self, key)))
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError("%s: hidden_size %d is not divisible by num_attention_heads %d"
                              % (src, self.hidden_size, self.num_attention_heads))
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError("%s: key 'hidden_act' must be one of %s, got %r" % (src, ", ".join(ACTIVATIONS), self.hidden_act))
        if self.sent_vocab_size <= 0:
            raise ConfigError("%s: neither 'sent_type_vocab_size' nor 'type_vocab_size' is set to a positive value" % src)
        if self.use_task_id and self.task_type_vocab_size <= 0:
            raise ConfigError("%s: 'use_task_id' is true but 'task_type_vocab_size' is missing or not positive" % src)
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError("%s: key '%s' must be in [0, 1), got %r" % (src, key, getattr(self, key)))
        if self.initializer_range <= 0:
            raise ConfigError("%s: key 'initializer_range' must be positive" % src)
        if self.layer_norm_eps <= 0:
            raise ConfigError("%s: key 'layer_norm_eps' must be positive" % src)
        if self.intermediate_size < 0:
            raise ConfigError("%s: key 'intermediate_size' must not be negative" % src)

    def check_inputs(self, max_seq_len, vocab_path=None, vocab=None, task_id=None):
        """ConfigError when the inputs a command line describes do not fit this model: ``--max_seq_len``
        above ``max_position_embeddings``; a vocabulary id (``vocab``, else read from ``vocab_path``) at or
        above ``vocab_size``; with ``use_task_id`` a ``--task_id`` outside ``[0, task_type_vocab_size)``
        (without it a non-zero ``task_id`` is logged as having no effect, as in the original)."""
        if max_seq_len > self.max_position_embeddings:
            raise ConfigError("--max_seq_len %d exceeds max_position_embeddings %d of %s"
                              % (max_seq_len, self.max_position_embeddings, self.source))
        if vocab is None and vocab_path is not None:
            vocab = load_vocab(vocab_path)
        if vocab:
            top = max(vocab.values())
            if top >= self.vocab_size:
                raise ConfigError("vocabulary %s has ids up to %d but vocab_size in %s is %d"
                                  % (vocab_path, top, self.source, self.vocab_size))
        if task_id is None:
            return
        if self.use_task_id:
            if not 0 <= task_id < self.task_type_vocab_size:
                raise ConfigError("--task_id %d is outside [0, task_type_vocab_size=%d) of %s"
                                  % (task_id, self.task_type_vocab_size, self.source))
        elif task_id:
            logger.info("--task_id %d has no effect: %s has no use_task_id (as the original)", task_id, self.source)

    # Derived values -----------------------------------------------------
    @property
    def sent_vocab_size(self):
        """Rows of sent_embedding: sent_type_vocab_size if set, else type_vocab_size (as the original)."""
        return self.sent_type_vocab_size or self.type_vocab_size

    @property
    def ffn_size(self):
        return self.intermediate_size or 4 * self.hidden_size

    @property
    def head_size(self):
        return self.hidden_size // self.num_attention_heads

    # Construction and access -------------------------------------------
    @classmethod
    def from_json(cls, path):
        if os.path.exists(path):
            check_input_file(path, "model config file", ConfigError)
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except FileNotFoundError:
            raise ConfigError("model config file '%s' does not exist" % path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError("error in parsing model config file '%s': %s" % (path, e)) from None
        if not isinstance(values, dict):
            raise ConfigError("model config file '%s' must hold a JSON object" % path)
        return cls(values, source=path)

    def __getitem__(self, key):
        if key in FIELDS:
            return getattr(self, key)
        return self._raw.get(key)

    def to_dict(self):
        out = dict(self._raw)
        out.update({k: getattr(self, k) for k in FIELDS})
        return out

    def replace(self, **changes):
        values = self.to_dict()
        values.update(changes)
        return ErnieConfig(values, source=self.source)

    def save(self, path):
        write_json(path, self._raw, indent=2)

    def print_config(self):
        for key in sorted(self.to_dict()):
            logger.info("%s: %s", key, self.to_dict()[key])
        logger.info("-" * 60)
