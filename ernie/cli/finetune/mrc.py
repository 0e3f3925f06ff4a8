"""``run_mrc.py``: extractive reading comprehension (CMRC2018, DRCD, DuReader, SQuAD v1.1 / v2.0).

Usage (Chinese, e.g. CMRC2018; see ``script/zh_task/*/run_cmrc2018.sh`` for the paper settings)::

    python run_mrc.py --use_cuda false --do_train true --do_val true --do_test false \\
        --ernie_config_path MODEL/ernie_config.json --vocab_path MODEL/vocab.txt \\
        --init_pretraining_params MODEL/params --train_set D/train.json --dev_set D/dev.json \\
        --checkpoints checkpoints --epoch 2 --learning_rate 3e-5 --batch_size 64 --max_seq_len 512 \\
        --doc_stride 128 --max_query_length 64 --max_answer_length 100 --n_best_size 20 \\
        --warmup_proportion 0 --weight_decay 0.01 --random_seed 1

English (SQuAD): add ``--for_cn false`` (whitespace words, SQuAD EM/F1) and, for
SQuAD 2.0, ``--version_2_with_negative true``.

Data: ``reader.mrc_reader`` (SQuAD-format JSON, sliding windows, features).
Flags: ``ernie.cli.finetune.args`` plus the reading-comprehension ones of
:func:`build_mrc_parser`; flow, schedule, checkpoints and the run record:
``ernie.cli.finetune.run`` (the step count ``Num train examples`` counts features,
as the original).

Head (as the original's reading-comprehension model): sequence output -> dropout (training,
the config's ``hidden_dropout_prob``, 0.1 in every shipped config) -> fully
connected 2 outputs per position, parameters ``cls_mrc_out_w`` [H, 2]
(truncated normal, std 0.02) and ``cls_mrc_out_b`` [2] (zeros), the
original's names; channel 0 = start logits [B, L], channel 1 = end logits.
Loss = (mean softmax cross-entropy of the start logits against
``start_positions`` + the same for the end) / 2.  Difference from the
original: padding positions get a logit of -1e9 (the original's softmax ran
over the padding too, so the loss depended on the batch's padding).

Evaluation (:func:`compute_predictions`): per feature, the ``--n_best_size``
best start and end positions; a pair is a candidate when both are document
pieces of the window, the start has its maximum context in this window, end
>= start and ``end - start + 1 <= --max_answer_length`` pieces.  Candidates of
all windows of a question are ranked by start + end logit; the n-best
distinct answer texts are kept, each mapped back to the original context:
the original tokens spanned (Chinese: joined without separator, so the text
is a character span of the context; English: the whitespace words), then the
de-tokenised pieces aligned onto those characters
(``reader.mrc_reader.final_text_alignment``: lower-casing and word pieces undone,
"1895" out of "(1895-1943)").  With ``--version_2_with_negative`` the
empty answer (both positions at [CLS]) competes: it is predicted when its
score minus the best non-empty score exceeds ``--null_score_diff_threshold``.
Without it a question with no valid candidate is answered "" (the original
answered the literal text "empty").

Files (UTF-8 JSON, indent 4, non-ASCII characters written as such -- the
original escaped them): dev file ``--dev_set`` -> ``<checkpoints>/<step>_dev_predictions.json``
(``{id: text}``) and ``<step>_dev_nbest_predictions.json`` (``{id: [{text,
probability, start_logit, end_logit}]}``; probability = softmax over the
n-best scores); with several dev files ``_dev<i>_``; test file -> the
prediction file ``<test_save>.<epoch>.<step>`` and ``<...>.nbest.json`` next
to it (a test file with gold answers is also scored).

Metrics (``--mrc_metric``; ``auto``: ``cmrc2018`` with ``--for_cn true``,
``squad`` otherwise), in percent: ``cmrc2018`` is the CMRC2018 evaluation
(``ernie.metrics.cmrc2018_evaluate``: character segments, its punctuation
list, longest common contiguous run; EM after removing that punctuation),
``squad`` the official SQuAD v2.0 EM / F1 (``ernie.metrics.squad_evaluate``).
Both take the max over a question's gold answers; an unanswerable question
scores 1 only for an empty prediction (the CMRC2018 script had no such
case).  A question without prediction scores 0.  The best evaluation of a
run is chosen by dev ``f1`` (``--best_metric em|f1|avg``).  Log line::

    [dev evaluation] em: %f, f1: %f, avg: %f, questions: %d, elapsed time: %f, file: <path>, epoch: <e>, steps: <s>

Training log line (every ``--skip_steps``; progress counts features)::

    epoch: %d, progress: %d/%d, step: %d, ave loss: %f, speed: %f steps/s
"""
import collections
import logging
import os
import time

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle.nn.initializer import Constant

from ernie.args import ArgumentGroup, cuda_available
from ernie.atomic_write import write_json
from ernie.cli.finetune.args import MRC, UsageError, build_parser, split_list
from ernie.cli.finetune.run import Driver, FinetuneTask, HeadOutputs
from ernie.metrics import cmrc2018_evaluate, mrc_eval_line, squad_evaluate
from ernie.modeling import truncated_normal
from reader.files import read_json
from reader.mrc_reader import MRCReader, final_text_alignment
from reader.task_reader import DataError

logger = logging.getLogger(__name__)

HEAD_INIT_STD = 0.02
HEAD_PARAMS = ("cls_mrc_out_w", "cls_mrc_out_b")
PAD_LOGIT = -1e9
MRC_METRICS = ("auto", "cmrc2018", "squad")
BEST_METRICS = ("auto", "em", "f1", "avg")

RawResult = collections.namedtuple("RawResult", ["unique_id", "start_logits", "end_logits"])


# --------------------------------------------------------------------------- post-processing
def _top_indices(logits, n):
    """Indices of the ``n`` largest values, largest first (ties: lower index first)."""
    order = np.argsort(-np.asarray(logits, dtype="float64"), kind="stable")
    return order[:n].tolist()


def _softmax(scores):
    if not scores:
        return []
    z = np.asarray(scores, dtype="float64")
    z = np.exp(z - z.max())
    return (z / z.sum()).tolist()


def piece_text(pieces):
    """Word pieces -> text: ``["un", "##aff", "##able"]`` -> ``"unaffable"``, words space-separated."""
    text = " ".join(pieces).replace(" ##", "").replace("##", "")
    return " ".join(text.split())


def compute_predictions(examples, features, results, n_best_size=20, max_answer_length=100, do_lower_case=True,
                        version_2_with_negative=False, null_score_diff_threshold=0.0):
    """Answer texts from start / end logits (see the module doc).

    Args:
        examples: ``MRCExample`` list; features: their ``MRCFeature`` list (``example_index`` into examples);
        results: {unique_id: (start_logits, end_logits)} (or ``RawResult`` list), 1-D arrays covering at
            least the feature's tokens.
    Returns (predictions {qas_id: text}, nbest {qas_id: [{"text", "probability", "start_logit",
    "end_logit"}]}, null_diff {qas_id: null score - best non-empty score} (version 2 only)).
    """
    if not isinstance(results, dict):
        results = {r.unique_id: (r.start_logits, r.end_logits) for r in results}
    by_example = collections.defaultdict(list)
    for feature in features:
        by_example[feature.example_index].append(feature)
    predictions, nbest_out, null_diff = collections.OrderedDict(), collections.OrderedDict(), {}
    for ei, example in enumerate(examples):
        prelim = []        # (score, feature, start, end, start_logit, end_logit); start None = empty answer
        null = None
        for feature in by_example.get(ei, []):
            if feature.unique_id not in results:
                raise KeyError("no model output for feature %d of question %s" % (feature.unique_id,
                                                                                example.qas_id))
            start_logits, end_logits = results[feature.unique_id]
            n = len(feature.tokens)
            start_logits = np.asarray(start_logits, dtype="float64")[:n]
            end_logits = np.asarray(end_logits, dtype="float64")[:n]
            if version_2_with_negative:
                score = start_logits[0] + end_logits[0]
                if null is None or score < null[0]:
                    null = (score, feature, None, None, start_logits[0], end_logits[0])
            for s in _top_indices(start_logits, n_best_size):
                if s not in feature.token_to_orig_map or not feature.token_is_max_context.get(s, False):
                    continue
                for e in _top_indices(end_logits, n_best_size):
                    if e not in feature.token_to_orig_map or e < s or e - s + 1 > max_answer_length:
                        continue
                    prelim.append((start_logits[s] + end_logits[e], feature, s, e, start_logits[s], end_logits[e]))
        if null is not None:
            prelim.append(null)
        prelim.sort(key=lambda p: -p[0])     # stable: equal scores keep their order
        nbest, seen = [], set()
        for score, feature, s, e, sl, el in prelim:
            if len(nbest) >= n_best_size:
                break
            if s is None:
                text = ""
            else:
                o_s, o_e = feature.token_to_orig_map[s], feature.token_to_orig_map[e]
                orig_text = example.joiner.join(example.doc_tokens[o_s:o_e + 1])
                text = final_text(piece_text(feature.tokens[s:e + 1]), orig_text, do_lower_case)
            if text in seen:
                continue
            seen.add(text)
            nbest.append({"text": text, "start_logit": float(sl), "end_logit": float(el)})
        if null is not None and "" not in seen:
            nbest.append({"text": "", "start_logit": float(null[4]), "end_logit": float(null[5])})
        if not nbest:
            nbest.append({"text": "", "start_logit": 0.0, "end_logit": 0.0})
        for entry, p in zip(nbest, _softmax([x["start_logit"] + x["end_logit"] for x in nbest])):
            entry["probability"] = p
        best_non_null = next((x for x in nbest if x["text"]), None)
        if not version_2_with_negative:
            answer = nbest[0]["text"] if best_non_null is None else best_non_null["text"]
        else:
            if best_non_null is None:
                answer, diff = "", float("inf")
            else:
                diff = float(null[0] - best_non_null["start_logit"] - best_non_null["end_logit"])
                answer = "" if diff > null_score_diff_threshold else best_non_null["text"]
            null_diff[example.qas_id] = diff
        predictions[example.qas_id] = answer
        nbest_out[example.qas_id] = [{"text": x["text"], "probability": x["probability"],
                                      "start_logit": x["start_logit"], "end_logit": x["end_logit"]} for x in nbest]
    return predictions, nbest_out, null_diff


def final_text(pred_text, orig_text, do_lower_case):
    return final_text_alignment(pred_text, orig_text, do_lower_case)


# --------------------------------------------------------------------------- metrics
def mrc_metric_name(args):
    metric = args.mrc_metric
    if metric == "auto":
        return "cmrc2018" if args.for_cn else "squad"
    return metric


def score_predictions(examples, predictions, metric="cmrc2018", log=None):
    """EM / F1 in percent of ``predictions`` {id: text} against the examples' gold answers.

    metric "cmrc2018": ``ernie.metrics.cmrc2018_evaluate`` on the answerable questions, and an
    unanswerable question scores 1 (EM and F1) for a prediction that is empty after stripping, else 0;
    "squad": ``ernie.metrics.squad_evaluate`` (v2.0 rules).  A missing prediction scores 0.
    Returns {"em", "f1", "avg", "total", "missing", "has_answer", "no_answer"}.
    """
    if metric not in ("cmrc2018", "squad"):
        raise ValueError("unknown reading-comprehension metric %r (cmrc2018 or squad)" % (metric,))
    if not examples:
        raise ValueError("no question to evaluate")
    log = log or (lambda msg: logger.warning(msg))
    answerable = [e for e in examples if e.answers]
    unanswerable = [e for e in examples if not e.answers]

    def dataset(exs):
        return [{"paragraphs": [{"qas": [{"id": e.qas_id, "answers": [{"text": t} for t in e.answers]}
                                         for e in exs]}]}]

    total = len(examples)
    if metric == "squad":
        res = squad_evaluate(dataset(examples), predictions, version=2, log=log)
        em, f1, missing = res["exact_match"], res["f1"], res["missing"]
    else:
        em_sum = f1_sum = 0.0
        missing = 0
        if answerable:
            res = cmrc2018_evaluate(dataset(answerable), predictions, log=log)
            em_sum += res["em"] * res["total"] / 100.0
            f1_sum += res["f1"] * res["total"] / 100.0
            missing += res["skip"]
        for e in unanswerable:
            if e.qas_id not in predictions:
                log("Unanswered question: %s" % e.qas_id)
                missing += 1
                continue
            hit = float(not str(predictions[e.qas_id]).strip())
            em_sum += hit
            f1_sum += hit
        em, f1 = 100.0 * em_sum / total, 100.0 * f1_sum / total
    return {"em": em, "f1": f1, "avg": (em + f1) / 2, "total": total, "missing": missing,
            "has_answer": len(answerable), "no_answer": len(unanswerable)}


def write_json_file(path, obj):
    write_json(path, obj, indent=4, sort_keys=False, ensure_ascii=False)


def file_has_answers(path):
    """Whether some question of a SQuAD-format file carries gold answers (``answers`` or ``is_impossible``)."""
    dataset = read_json(path, "data file", DataError)
    try:
        return any("answers" in qa or "is_impossible" in qa for article in dataset["data"]
                   for para in article["paragraphs"] for qa in para["qas"])
    except (KeyError, TypeError):
        return True     # let the reader name the malformed part


# --------------------------------------------------------------------------- task
class MRCTask(FinetuneTask):
    """Start / end head, span post-processing, prediction files and EM / F1."""

    name = "reading-comprehension head"

    def check_args(self, args):
        if args.max_seq_len - args.max_query_length - 3 < 1:
            raise UsageError("--max_seq_len %d leaves no room for the document after --max_query_length %d "
                             "and [CLS]/[SEP]/[SEP]" % (args.max_seq_len, args.max_query_length))
        for flag, value in (("doc_stride", args.doc_stride), ("max_query_length", args.max_query_length),
                            ("max_answer_length", args.max_answer_length), ("n_best_size", args.n_best_size)):
            if value <= 0:
                raise UsageError("--%s must be positive, got %d" % (flag, value))
        if args.best_metric not in BEST_METRICS:
            raise UsageError("--best_metric %s: reading comprehension computes em, f1 and avg (or auto = f1)"
                             % args.best_metric)
        if args.diagnostic:
            raise UsageError("--diagnostic (GLUE AX) is a classification set; run_mrc.py does not take it")

    def primary_metric(self, args):
        return "f1" if args.best_metric == "auto" else args.best_metric

    def required_params(self):
        return list(HEAD_PARAMS)

    # ------------------------------------------------------------------ program
    def label_specs(self, args):
        return {"start_positions": ([-1, 1], "int64"), "end_positions": ([-1, 1], "int64")}

    def build_head(self, model, inputs, args, is_training, with_labels):

        seq = model.get_sequence_output()                        # [B, L, H]
        rate = model.config.hidden_dropout_prob
        if is_training and rate > 0:
            seq = F.dropout(seq, p=rate, training=True, mode="upscale_in_train")
        hidden = model.config.hidden_size
        w = model.params.get(HEAD_PARAMS[0], [hidden, 2], truncated_normal(HEAD_INIT_STD))
        b = model.params.get(HEAD_PARAMS[1], [2], Constant(0.0))
        logits = paddle.cast(paddle.matmul(seq, w) + b, "float32")           # [B, L, 2]
        mask = paddle.cast(inputs["input_mask"], "float32")                  # [B, L, 1]
        logits = logits + (1.0 - mask) * PAD_LOGIT
        start_logits, end_logits = [paddle.squeeze(t, axis=-1) for t in paddle.split(logits, 2, axis=-1)]
        outputs = {"start_logits": start_logits, "end_logits": end_logits}
        if not with_labels:
            return HeadOutputs(outputs=outputs)
        start_loss = paddle.mean(F.cross_entropy(start_logits, inputs["start_positions"], reduction="none"))
        end_loss = paddle.mean(F.cross_entropy(end_logits, inputs["end_positions"], reduction="none"))
        loss = (start_loss + end_loss) / 2.0
        return HeadOutputs(loss, {"loss": loss}, outputs)

    # ------------------------------------------------------------------ data
    def make_reader(self, args, purpose, seed=None):
        return MRCReader(args.vocab_path, max_seq_len=args.max_seq_len, do_lower_case=args.do_lower_case,
                         in_tokens=args.in_tokens, random_seed=seed, task_id=args.task_id,
                         tokenizer=args.tokenizer or "FullTokenizer", for_cn=args.for_cn,
                         doc_stride=args.doc_stride, max_query_length=args.max_query_length, mode=purpose)

    def has_gold(self, path):
        return file_has_answers(path)

    def prepare_eval_files(self, ctx):
        args = ctx.args
        for path, purpose in self.eval_files(args):
            reader = self.make_reader(args, purpose)
            reader.read_file(path)
            ctx.readers.setdefault(path, {})[purpose] = reader

    def collect(self, ctx, path, purpose):
        """Run the evaluation program over ``path``: (examples, features, {unique_id: (start, end) logits})."""
        reader = self._reader(ctx, path, purpose)
        examples, features = reader.read_file(path)
        results = {}
        for batch, (start, end) in ctx.run_batches(reader, path, ["start_logits", "end_logits"]):
            lengths = batch["input_mask"].reshape(batch["input_mask"].shape[0], -1).sum(axis=1).astype("int64")
            for i, uid in enumerate(batch["unique_ids"].reshape(-1).tolist()):
                results[uid] = (start[i, :lengths[i]], end[i, :lengths[i]])
        return examples, features, results

    def predict(self, ctx, path, purpose, pred_file, nbest_file):
        """Predict ``path``; write both JSON files; returns (examples, predictions)."""
        args = ctx.args
        examples, features, results = self.collect(ctx, path, purpose)
        predictions, nbest, _ = compute_predictions(
            examples, features, results, args.n_best_size, args.max_answer_length, args.do_lower_case,
            args.version_2_with_negative, args.null_score_diff_threshold)
        logger.info("Writing predictions to: %s", pred_file)
        write_json_file(pred_file, predictions)
        logger.info("Writing nbest to: %s", nbest_file)
        write_json_file(nbest_file, nbest)
        return examples, predictions

    def _scores(self, args, examples, predictions):
        missing = []
        res = score_predictions(examples, predictions, mrc_metric_name(args), log=missing.append)
        if missing:
            logger.warning("%d question(s) without prediction scored 0 (first: %s)", len(missing), missing[0])
        return res

    # ------------------------------------------------------------------ phases
    def evaluate(self, ctx, path, phase, epoch, step):
        args = ctx.args
        dev_files = split_list(args.dev_set)
        tag = phase if len(dev_files) <= 1 or path not in dev_files else "%s%d" % (phase, dev_files.index(path))
        prefix = os.path.join(args.checkpoints or ".", "%d_%s_" % (step, tag))
        start = time.time()
        examples, predictions = self.predict(ctx, path, "eval", prefix + "predictions.json",
                                             prefix + "nbest_predictions.json")
        res = self._scores(args, examples, predictions)
        logger.info("[%s evaluation] %s, file: %s, epoch: %d, steps: %d", phase,
                    mrc_eval_line(res, time.time() - start), path, epoch, step)
        return {k: res[k] for k in ("em", "f1", "avg", "total", "missing")}

    def predict_file(self, ctx, path, save_path, epoch, step):
        labelled = "eval" in ctx.readers.get(path, {}) or ("predict" not in ctx.readers.get(path, {})
                                                            and file_has_answers(path))
        start = time.time()
        logger.info("testing %s, save to %s", path, save_path)
        examples, predictions = self.predict(ctx, path, "eval" if labelled else "predict", save_path,
                                             save_path + ".nbest.json")
        if not labelled:
            return None
        res = self._scores(ctx.args, examples, predictions)
        logger.info("[test evaluation] %s, file: %s, epoch: %d, steps: %d",
                    mrc_eval_line(res, time.time() - start), path, epoch, step)
        return {k: res[k] for k in ("em", "f1", "avg", "total", "missing")}

    def diagnostic(self, ctx, path, save_path):
        raise UsageError("run_mrc.py has no --diagnostic set")

    # ------------------------------------------------------------------ logging
    def train_log_format(self, args, info):
        batch = info["batch"]
        self.log_learning_rate(args, info)
        return "epoch: %d, progress: %d/%d, step: %d, ave loss: %f, speed: %f steps/s" % (
            getattr(batch, "epoch", 0), getattr(batch, "example", 0), getattr(batch, "num_examples", 0),
            info["step"], info["values"]["loss"], info["speed"])


def build_mrc_parser(cuda_default=False):
    """The shared fine-tuning flags plus the reading-comprehension ones."""
    parser = build_parser("Fine-tune ERNIE for extractive reading comprehension (SQuAD-format JSON).",
                          cuda_default=cuda_default, task=MRC)
    g = ArgumentGroup(parser, "mrc", "reading comprehension (new flags).")
    g.add_arg("version_2_with_negative", bool, False,
              "new: SQuAD 2.0 mode: the empty answer competes with the spans at prediction time "
              "(unanswerable training questions are always labelled with the [CLS] position).")
    g.add_arg("null_score_diff_threshold", float, 0.0,
              "new: with --version_2_with_negative, predict the empty answer when its score minus the best "
              "span score exceeds this.")
    g.add_arg("mrc_metric", str, "auto", "new: EM/F1 definition: cmrc2018 (Chinese), squad (English) or auto "
                                         "(cmrc2018 with --for_cn true, squad otherwise).",
              choices=list(MRC_METRICS))
    return parser


DRIVER = Driver(MRCTask, "run_mrc.py", lambda: build_mrc_parser(cuda_default=cuda_available()))
parse_args, run, main = DRIVER.parse_args, DRIVER.run, DRIVER.main
