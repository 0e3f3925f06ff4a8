"""Task 1, Knowledge Masking: the ERNIE 1.0 masked language model as a task.

Data: any line (version 1 or 2) -- the reader masks knowledge units (words,
phrases, entities: ``seg_labels`` 0 + its 1s) exactly as for ERNIE 1.0
(``reader.batching.mask``: 15 % of the units, every sub-token predicted,
80/10/10).  The builder's own samples are single segments ``[CLS] chunk [SEP]``
of consecutive whole sentences of a document (at most ``max_seq_len - 2``
tokens), with the token labels of the other token-level tasks attached.

Feeds: ``mask_label`` int64 [M, 1], ``mask_pos`` int64 [M, 1] (the reader's).
Head: ``ErnieModel.mask_lm_logits`` -- parameters ``mask_lm_trans_fc``,
``mask_lm_trans`` layer norm, ``mask_lm_out_fc.b_0``, output tied to
``word_embedding`` -- so it is the ERNIE 1.0 head, parameter for parameter.
Loss: mean cross-entropy over the M masked tokens (the ERNIE 1.0 masked-LM loss);
metric: accuracy over them.
"""

import collections

import paddle
import paddle.nn.functional as F

from ernie.modeling import graph_accuracy
from ernie.tasks.base import PretrainTask, TaskError, register_task


@register_task
class KnowledgeMasking(PretrainTask):
    name = "knowledge_masking"
    level = "token"
    num_classes = None          # the model's vocab_size
    default_id = 0
    in_line = False
    uses_masking = True
    description = "masked LM over knowledge units (words, phrases, entities), ERNIE 1.0's strategy"

    @property
    def label_fields(self):
        return {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64")}

    def serves(self, sample):
        return True   # every line has seg_labels to mask

    def make_feed(self, samples, batch):
        if not len(batch["mask_pos"]):
            raise TaskError("knowledge_masking: the batch has no masked position")
        return {"mask_label": batch["mask_label"], "mask_pos": batch["mask_pos"]}

    def build_samples(self, ctx, rng):
        stats = collections.Counter()
        return self.chunk_samples(ctx, rng, stats), stats

    def check_label(self, label):
        raise TaskError("knowledge_masking has no written label (its targets come from masking)")

    def build_head(self, model, feeds):
        logits = model.mask_lm_logits(feeds["mask_pos"])                          # [M, vocab_size]
        loss = paddle.mean(F.cross_entropy(logits, feeds["mask_label"], reduction="none"))
        count = paddle.cast(paddle.shape(feeds["mask_label"])[0], "float32")
        self.logits = logits
        return loss, {self.name + "_acc": graph_accuracy(logits, feeds["mask_label"]), self.name + "_count": count}

    def chance_level(self, label_counts):
        """Share of the most frequent target token (label_counts: {token id: count})."""
        total = sum(label_counts.values())
        return max(label_counts.values()) / total if total else 0.0
