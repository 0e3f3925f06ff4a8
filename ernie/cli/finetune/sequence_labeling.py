"""``run_sequence_labeling.py``: sequence labelling (named-entity recognition, e.g. MSRA-NER).

Usage (see ``script/zh_task/ernie_base/run_msra_ner.sh`` for the paper settings)::

    python run_sequence_labeling.py --use_cuda false --do_train true --do_val true --do_test true \\
        --ernie_config_path MODEL/ernie_config.json --vocab_path MODEL/vocab.txt \\
        --init_pretraining_params MODEL/params --label_map_config D/label_map.json --num_labels 7 \\
        --chunk_scheme IOB --train_set D/train.tsv --dev_set D/dev.tsv --test_set D/test.tsv \\
        --test_save output/test_out.tsv --checkpoints checkpoints --epoch 6 --learning_rate 5e-5 \\
        --batch_size 16 --max_seq_len 256 --warmup_proportion 0.0 --weight_decay 0.01 --random_seed 1

Flags: ``ernie.cli.finetune.args`` (the original's set; ``--chunk_scheme``
IOB/IOE/IOBES/IO, ``--label_map_config`` required, ``--num_labels`` must
equal the number of tags in the map); flow, evaluation schedule,
checkpoints and the run record: ``ernie.cli.finetune.run``.  Data:
``reader.task_reader.SequenceLabelReader`` (``text_a`` tokens and ``label``
tags joined by ``\\x02``; word-piece tag rule ``subtoken_tags``).

Head (as the original's sequence-labelling model): sequence output [B, L, H] -> dropout
(``hidden_dropout_prob``, training only) -> fully connected per position,
parameters ``cls_seq_label_out_w`` [H, C] (truncated normal, std 0.02) and
``cls_seq_label_out_b`` [C] (zeros), the original's names; prediction =
per-position argmax.  Loss: softmax cross-entropy at every real position
([CLS]/[SEP] included, gold O there, as the original) averaged over the real
positions [the original divided by B*L, padding included, so the loss
scale depended on the batch's padding].

Label map layout (checked): ids 0..C-1, the last one the outside tag O, and
the others grouped per entity type as the chunk metric reads them: IOB
``B-X 2k, I-X 2k+1``; IOE ``I-X 2k, E-X 2k+1``; IOBES ``B/I/E/S-X 4k..4k+3``;
IO one id per type (any name).  MSRA-NER: B-PER 0, I-PER 1, B-ORG 2, I-ORG 3,
B-LOC 4, I-LOC 5, O 6.

Evaluation: chunk precision / recall / F1 (``ernie.metrics.chunk_counts``,
the semantics of Paddle's ``chunk_eval`` op) over the word pieces of the
real tokens, [CLS]/[SEP] excluded (the v2.0 behaviour; repro counted a
non-O prediction at [CLS]/[SEP] as a wrong chunk), summed over the file::

    [dev evaluation] f1: %f, precision: %f, recall: %f, elapsed time: %f s, file: <path>, epoch: <e>, steps: <s>

Tokens cut by ``--max_seq_len`` are not evaluated (as the original); the
number of truncated examples is logged.  The best evaluation of a run is the
highest F1 on the first ``--dev_set`` file (``--best_metric`` auto = f1).

Training log line (every ``--skip_steps``; chunk counts of that step's batch,
computed in the training program with its dropout, as the original)::

    epoch: %d, progress: %d/%d, step: %d, loss: %f, f1: %f, precision: %f, recall: %f, speed: %f steps/s

Test prediction (``--do_test``): ``testing <file>, save to <path>``, then one
line per example, in file order, in ``<test_save>.<epoch>.<step>``::

    token_1\\x02token_2\\x02...<TAB>tag_1\\x02tag_2\\x02...

i.e. the input tokens (as in ``text_a``) and one predicted tag per token:
the tag predicted for the token's first word piece (a token without piece,
e.g. a space, or cut by ``--max_seq_len`` gets O).  This is the input
format without its header, so predictions line up with the input tokens
[the original wrote word pieces, tags and probabilities, which did not line
up with the input for split words].  A labelled test file is also evaluated
(``[test evaluation] ...``).
"""
import logging
import time

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle.nn.initializer import Constant

from ernie.args import cuda_available
from ernie.atomic_write import atomic_open
from ernie.cli.finetune.args import SEQUENCE_LABELING, UsageError, build_parser
from ernie.cli.finetune.run import Driver, FinetuneTask, HeadOutputs
from ernie.metrics import CHUNK_SCHEMES, chunk_counts, chunk_eval_line, chunk_f1, num_chunk_types
from ernie.modeling import truncated_normal
from reader.task_reader import TOKEN_SEP, DataError, SequenceLabelReader, load_label_map, read_tsv

logger = logging.getLogger(__name__)

HEAD_INIT_STD = 0.02
HEAD_PARAMS = ("cls_seq_label_out_w", "cls_seq_label_out_b")
# tag prefix of each tag index within an entity type (None: any name)
SCHEME_PREFIXES = {"IOB": ("B-", "I-"), "IOE": ("I-", "E-"), "IOBES": ("B-", "I-", "E-", "S-"), "IO": (None,)}
METRICS = ("f1", "precision", "recall")


def check_label_layout(label_map, scheme, path="label map"):
    """Raise ``UsageError`` unless ``label_map`` ({tag: id}) has the layout the chunk metric of ``scheme``
    reads (module doc): ids 0..C-1, O last, ``len(prefixes)`` consecutive ids per entity type."""
    prefixes = SCHEME_PREFIXES[scheme]
    n = len(prefixes)
    ids = sorted(label_map.values())
    if ids != list(range(len(ids))):
        raise UsageError("%s: ids must be exactly 0..%d, got %s" % (path, len(ids) - 1, ids))
    by_id = {i: t for t, i in label_map.items()}
    if (len(ids) - 1) % n:
        raise UsageError("%s: %d tags + O do not fit the %s scheme (%d tags per entity type, O last)"
                         % (path, len(ids) - 1, scheme, n))
    if prefixes[0] is None:
        return
    for k in range((len(ids) - 1) // n):
        group = [by_id[k * n + j] for j in range(n)]
        bodies = {t[2:] for t in group}
        if any(not t.startswith(p) for t, p in zip(group, prefixes)) or len(bodies) != 1:
            want = ", ".join("%s%s %d" % (p, "X", k * n + j) for j, p in enumerate(prefixes))
            raise UsageError("%s: ids %d..%d are %s, but --chunk_scheme %s reads them as %s (one entity type X "
                             "per group, O the last id)" % (path, k * n, k * n + n - 1, ", ".join(group), scheme,
                                                            want))


def graph_chunk_counts(pred, gold, seq_lens, scheme, num_types):
    """In-program chunk counts of a batch: float32 scalars (num_infer, num_label, num_correct).

    pred, gold: int64 [B, L] tag ids; seq_lens: int64 [B] (with [CLS]/[SEP],
    which are excluded).  The same chunks as ``ernie.metrics.get_chunks``
    (tested against ``chunk_counts``), vectorised: positions outside the real
    tokens become O, an O column closes every chunk, a chunk is its begin
    position, its type and the first chunk end at or after the begin.
    """

    s = CHUNK_SCHEMES[scheme]
    n = s.num_tag_types
    outside_id = num_types * n
    length = paddle.shape(pred)[1]
    idx = paddle.arange(length, dtype="int64").unsqueeze(0)
    valid = (idx >= 1) & (idx < seq_lens.unsqueeze(1) - 1)
    o_col = paddle.full_like(pred[:, :1], outside_id)

    def is_tag(tag, which):
        return tag == which if which != -1 else paddle.zeros_like(tag, dtype="bool")

    def chunks(ids):
        x = paddle.concat([paddle.where(valid, ids, paddle.full_like(ids, outside_id)), o_col], axis=1)
        prev = paddle.concat([o_col, x[:, :-1]], axis=1)
        tag, typ = x % n, x // n
        ptag, ptyp = prev % n, prev // n
        po, co = ptyp == num_types, typ == num_types
        b_or_s = is_tag(tag, s.begin) | is_tag(tag, s.single)
        i_or_e = is_tag(tag, s.inside) | is_tag(tag, s.end)
        p_e_or_s = is_tag(ptag, s.end) | is_tag(ptag, s.single)
        p_b_or_i = is_tag(ptag, s.begin) | is_tag(ptag, s.inside)
        begin = (po & ~co) | (~po & ~co & ((typ != ptyp) | b_or_s | (i_or_e & p_e_or_s)))
        end_before = ~po & (co | (typ != ptyp) | (p_b_or_i & b_or_s) | (~p_b_or_i & p_e_or_s))
        ends = end_before[:, 1:]                   # a chunk ends at position j (j = 0..L)
        pos = paddle.zeros_like(ends, dtype="int64") + paddle.arange(paddle.shape(ends)[1], dtype="int64")
        end_pos = paddle.where(ends, pos, paddle.full_like(pos, 1 << 30))
        next_end = paddle.flip(paddle.cummin(paddle.flip(end_pos, [1]), axis=1)[0], [1])
        return begin[:, :-1], typ[:, :-1], next_end

    pb, pt, pe = chunks(pred)
    gb, gt, ge = chunks(gold)
    correct = pb & gb & (pt == gt) & (pe == ge)

    def count(mask):
        return paddle.sum(mask.astype("float32"))

    return count(pb), count(gb), count(correct)


class SequenceLabelTask(FinetuneTask):
    """Per-position tagging head, chunk-F1 evaluation and token-aligned prediction files."""

    name = "sequence labelling head"

    # ------------------------------------------------------------------ flags
    def check_args(self, args):
        if not args.label_map_config:
            raise UsageError("--label_map_config is required: JSON {tag: id} with the outside tag O last "
                             "(e.g. B-PER 0, I-PER 1, ..., O 6 for MSRA-NER)")
        label_map = load_label_map(args.label_map_config)
        if args.num_labels != len(label_map):
            raise UsageError("--num_labels %d but the label map %s has %d tags" % (
                args.num_labels, args.label_map_config, len(label_map)))
        check_label_layout(label_map, args.chunk_scheme, args.label_map_config)
        best = args.best_metric
        if best != "auto" and best not in METRICS:
            raise UsageError("--best_metric %s: sequence labelling computes %s (auto: f1)"
                             % (best, ", ".join(METRICS)))
        if args.diagnostic:
            raise UsageError("--diagnostic is the GLUE diagnostic set of run_classifier.py; sequence labelling "
                             "has none")

    def primary_metric(self, args):
        return "f1" if args.best_metric == "auto" else args.best_metric

    def required_params(self):
        return list(HEAD_PARAMS)

    @staticmethod
    def num_types(args):
        return num_chunk_types(args.num_labels, args.chunk_scheme)

    # ------------------------------------------------------------------ program
    def label_specs(self, args):
        return {"label_ids": ([-1, -1], "int64"), "seq_lens": ([-1], "int64")}

    def build_head(self, model, inputs, args, is_training, with_labels):

        seq = model.get_sequence_output()
        rate = model.config.hidden_dropout_prob
        if is_training and rate > 0:
            seq = F.dropout(seq, p=rate, training=True, mode="upscale_in_train")
        hidden = model.config.hidden_size
        w = model.params.get(HEAD_PARAMS[0], [hidden, args.num_labels], truncated_normal(HEAD_INIT_STD))
        b = model.params.get(HEAD_PARAMS[1], [args.num_labels], Constant(0.0))
        logits = paddle.cast(paddle.matmul(seq, w) + b, "float32")        # [B, L, C]
        pred_ids = paddle.argmax(logits, axis=-1)                          # int64 [B, L]
        outputs = {"pred_ids": pred_ids}
        if not with_labels:
            return HeadOutputs(outputs=outputs)
        labels, seq_lens = inputs["label_ids"], inputs["seq_lens"]
        mask = paddle.cast(inputs["input_mask"], "float32")               # [B, L, 1]
        ce = F.cross_entropy(logits, labels.unsqueeze(-1), reduction="none", axis=-1)   # [B, L, 1]
        loss = paddle.sum(ce * mask) / paddle.sum(mask)
        n_infer, n_label, n_correct = graph_chunk_counts(pred_ids, labels, seq_lens, args.chunk_scheme,
                                                         self.num_types(args))
        fetches = {"loss": loss, "num_infer": n_infer, "num_label": n_label, "num_correct": n_correct}
        return HeadOutputs(loss, fetches, outputs)

    # ------------------------------------------------------------------ data
    def make_reader(self, args, purpose, seed=None):
        return SequenceLabelReader(args.vocab_path, label_map_config=args.label_map_config,
                                   max_seq_len=args.max_seq_len, do_lower_case=args.do_lower_case,
                                   in_tokens=args.in_tokens, is_inference=purpose == "predict",
                                   random_seed=seed, task_id=args.task_id, tokenizer=args.tokenizer or "FullTokenizer")

    def has_gold(self, path):
        header, _ = read_tsv(path)
        return "label" in header

    def prepare_eval_files(self, ctx):
        """One reader per dev / test file, every line read and checked now (a test file without a
        label column is only predicted)."""
        args = ctx.args
        for path, purpose in self.eval_files(args):
            reader = self.make_reader(args, purpose)
            examples = reader.read_examples(path)
            if not examples:
                raise DataError("%s: no example after the header" % path)
            self._log_truncation(reader, path)
            ctx.readers.setdefault(path, {})[purpose] = reader

    def collect(self, ctx, path, purpose):
        """Predicted ids of every example of ``path`` in file order.

        Returns {"pred": [int64 [len_i]], "gold": [int64 [len_i]] (when labelled), "seq_lens": int64 [N],
        "reader": the reader}; each row is cut to its length ([CLS] ... [SEP]).
        """
        reader = self._reader(ctx, path, purpose)
        preds, golds, lens = [], [], []
        for batch, (pred,) in ctx.run_batches(reader, path, ["pred_ids"]):
            for i, n in enumerate(batch["seq_lens"]):
                preds.append(pred[i, :n])
                if "label_ids" in batch:
                    golds.append(batch["label_ids"][i, :n])
            lens.append(batch["seq_lens"])
        res = {"pred": preds, "seq_lens": np.concatenate(lens), "reader": reader}
        if golds:
            res["gold"] = golds
        return res

    def metrics(self, args, res):
        """{f1, precision, recall, num_infer, num_label, num_correct} of a labelled :meth:`collect` result."""
        n_infer, n_label, n_correct = chunk_counts(res["pred"], res["gold"], res["seq_lens"], args.chunk_scheme,
                                                   self.num_types(args), exclude_cls_sep=True)
        precision, recall, f1 = chunk_f1(n_infer, n_label, n_correct)
        return {"f1": f1, "precision": precision, "recall": recall, "num_infer": n_infer,
                "num_label": n_label, "num_correct": n_correct}

    @staticmethod
    def _log_truncation(reader, path):
        cut = sum(1 for e in reader.read_examples(path) if len(reader.align(e)[0]) > reader.max_seq_len - 2)
        if cut:
            logger.info("%s: %d example(s) have more than max_seq_len - 2 = %d word pieces; their tail is not "
                        "evaluated and predicted O", path, cut, reader.max_seq_len - 2)

    # ------------------------------------------------------------------ phases
    def evaluate(self, ctx, path, phase, epoch, step):
        start = time.time()
        res = self.collect(ctx, path, "eval")
        metrics = self.metrics(ctx.args, res)
        line = chunk_eval_line(metrics["precision"], metrics["recall"], metrics["f1"], time.time() - start)
        logger.info("[%s evaluation] %s, file: %s, epoch: %d, steps: %d", phase, line, path, epoch, step)
        return metrics

    def token_tags(self, reader, examples, preds):
        """Per example, the predicted tag of every input token (its first word piece's; O without one)."""
        out = []
        for example, pred in zip(examples, preds):
            _, _, first = reader.align(example)
            last = len(pred) - 1                      # the [SEP] position
            tags = []
            for f in first:
                pos = f + 1                           # after [CLS]
                tags.append(reader.id_to_label[int(pred[pos])] if 0 <= f and pos < last else reader.o_label)
            out.append(tags)
        return out

    def write_predictions(self, reader, path, preds, save_path):
        """``tokens<TAB>tags`` per example (both ``\\x02``-joined) into ``save_path``."""
        examples = reader.read_examples(path)
        with atomic_open(save_path) as f:
            for example, tags in zip(examples, self.token_tags(reader, examples, preds)):
                f.write("%s\t%s\n" % (TOKEN_SEP.join(example.words), TOKEN_SEP.join(tags)))

    def predict_file(self, ctx, path, save_path, epoch, step):
        labelled = "eval" in ctx.readers.get(path, {})
        start = time.time()
        res = self.collect(ctx, path, "eval" if labelled else "predict")
        logger.info("testing %s, save to %s", path, save_path)
        self.write_predictions(res["reader"], path, res["pred"], save_path)
        if not labelled:
            return None
        metrics = self.metrics(ctx.args, res)
        line = chunk_eval_line(metrics["precision"], metrics["recall"], metrics["f1"], time.time() - start)
        logger.info("[test evaluation] %s, file: %s, epoch: %d, steps: %d", line, path, epoch, step)
        return metrics

    def diagnostic(self, ctx, path, save_path):
        raise UsageError("sequence labelling has no diagnostic set")

    # ------------------------------------------------------------------ logging
    def train_log_format(self, args, info):
        batch = info["batch"]
        v = info["values"]
        self.log_learning_rate(args, info)
        precision, recall, f1 = chunk_f1(v["num_infer"], v["num_label"], v["num_correct"])
        return "epoch: %d, progress: %d/%d, step: %d, loss: %f, f1: %f, precision: %f, recall: %f, " \
               "speed: %f steps/s" % (getattr(batch, "epoch", 0), getattr(batch, "example", 0),
                                      getattr(batch, "num_examples", 0), info["step"], v["loss"], f1, precision,
                                      recall, info["speed"])


DRIVER = Driver(SequenceLabelTask, "run_sequence_labeling.py", lambda: build_parser(
    "Fine-tune ERNIE for sequence labelling (named-entity recognition).", cuda_default=cuda_available(),
    task=SEQUENCE_LABELING))
parse_args, run, main = DRIVER.parse_args, DRIVER.run, DRIVER.main
