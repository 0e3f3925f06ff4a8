"""train.py without --task_config: ERNIE 1.0 pre-training, run as the task path (knowledge_masking + next_sent).

Pinned against numbers recorded from the code before ERNIE 1.0 became the task path (``EXPECTED`` below): the
training and validation log lines of a tiny run (losses, ppl, accuracy, learning rate, epoch / file / mask type)
and the names of the checkpoint's variables (the names of the official ERNIE 1.0 parameters and their Adam
state).  Run this file as a script to print the numbers of the current code.
"""
import json
import os
import re
import shutil
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]    # also when run as a script
from conftest import REPO  # noqa: E402
from demo_data import TINY_DEMO_CONFIG, demo_filelist  # noqa: E402
from finetune_helpers import capture_logs  # noqa: E402

from ernie.cli.pretrain import parse_args, run  # noqa: E402

VOCAB = os.path.join(REPO, "config", "vocab.txt")
TRAIN_LINE = re.compile(r"^epoch: (\d+), progress: (\d+)/(\d+), step: (\d+), loss: (\S+), ppl: (\S+), "
                        r"next_sent_acc: (\S+), speed: \S+ steps/s, file: (\S+), mask_type: (mask_\w+), "
                        r"lr: (\S+), tokens/s: \d+$")
VALID_LINE = re.compile(r"^\[validation_set\] epoch: (\d+), step: (\d+), loss: (\S+), global ppl: (\S+), "
                        r"next_sent_acc: (\S+), speed: \S+ steps/s$")
TEST_LINE = re.compile(r"^\[test_set\] loss: (\S+), global ppl: (\S+), next_sent_acc: (\S+), speed: \S+ steps/s$")

# Recorded at commit 3eb399b (train.py's ERNIE 1.0 path before it became the task path) on the 2-core
# AMD EPYC CPU machine with:
#     python tests/test_ernie1_pretrain.py     (this file copied into a checkout of 3eb399b)
# train: (epoch, progress, files, step, loss, ppl, next_sent_acc, file name, mask_type, lr) per logged step;
# valid: (epoch, step, loss, global ppl, next_sent_acc) per validation; test: (loss, global ppl,
# next_sent_acc) of --do_test on the final checkpoint (step_16); files: that checkpoint's files.
EXPECTED = {
    "train": [
        (1, 1, 1, 1, 8.980206, 3982.793176, 0.75, 'demo_train_set.gz', 'mask_word', 0.000333333),
        (1, 1, 1, 2, 8.964706, 3938.588954, 0.75, 'demo_train_set.gz', 'mask_word', 0.000666667),
        (1, 1, 1, 3, 8.961387, 3896.929974, 0.5, 'demo_train_set.gz', 'mask_word', 0.001),
        (1, 1, 1, 4, 8.937901, 3808.756587, 0.5, 'demo_train_set.gz', 'mask_word', 0.000866025),
        (1, 1, 1, 5, 8.929544, 3776.187654, 0.5, 'demo_train_set.gz', 'mask_word', 0.000774597),
        (1, 1, 1, 6, 8.959352, 3808.382477, 0.25, 'demo_train_set.gz', 'mask_word', 0.000707107),
        (1, 1, 1, 7, 8.85363, 3630.776183, 1.0, 'demo_train_set.gz', 'mask_word', 0.000654654),
        (1, 1, 1, 8, 8.825011, 3544.833193, 1.0, 'demo_train_set.gz', 'mask_word', 0.000612372),
        (2, 1, 1, 9, 8.886585, 3691.358718, 0.75, 'demo_train_set.gz', 'mask_word', 0.00057735),
        (2, 1, 1, 10, 8.845423, 3555.067542, 0.75, 'demo_train_set.gz', 'mask_word', 0.000547723),
        (2, 1, 1, 11, 8.888947, 3619.654139, 0.5, 'demo_train_set.gz', 'mask_word', 0.000522233),
        (2, 1, 1, 12, 8.878844, 3583.582477, 0.5, 'demo_train_set.gz', 'mask_word', 0.0005),
        (2, 1, 1, 13, 8.800658, 3420.753603, 0.75, 'demo_train_set.gz', 'mask_word', 0.000480384),
        (2, 1, 1, 14, 8.920093, 3612.887704, 0.25, 'demo_train_set.gz', 'mask_word', 0.00046291),
        (2, 1, 1, 15, 8.742948, 3347.49875, 1.0, 'demo_train_set.gz', 'mask_word', 0.000447214),
        (2, 1, 1, 16, 8.767914, 3207.224259, 0.5, 'demo_train_set.gz', 'mask_word', 0.000433013),
    ],
    "valid": [
        (0, 0, 8.973022, 3933.488618, 0.384615),
        (1, 3, 8.958079, 3844.110843, 0.384615),
        (1, 6, 8.932731, 3735.920239, 0.384615),
        (2, 9, 8.909846, 3636.453556, 0.384615),
        (2, 12, 8.887689, 3539.797939, 0.384615),
        (2, 15, 8.861934, 3438.275982, 0.384615),
        (2, 16, 8.853121, 3404.716002, 0.384615),
    ],
    "test": (8.853121, 3404.716002, 0.384615),
    "files": [
        'checkpoint_complete.json', 'encoder_layer_0_ffn_fc_0.b_0', 'encoder_layer_0_ffn_fc_0.b_0_beta1_pow_acc_0',
        'encoder_layer_0_ffn_fc_0.b_0_beta2_pow_acc_0', 'encoder_layer_0_ffn_fc_0.b_0_moment1_0',
        'encoder_layer_0_ffn_fc_0.b_0_moment2_0', 'encoder_layer_0_ffn_fc_0.w_0',
        'encoder_layer_0_ffn_fc_0.w_0_beta1_pow_acc_0', 'encoder_layer_0_ffn_fc_0.w_0_beta2_pow_acc_0',
        'encoder_layer_0_ffn_fc_0.w_0_moment1_0', 'encoder_layer_0_ffn_fc_0.w_0_moment2_0',
        'encoder_layer_0_ffn_fc_1.b_0', 'encoder_layer_0_ffn_fc_1.b_0_beta1_pow_acc_0',
        'encoder_layer_0_ffn_fc_1.b_0_beta2_pow_acc_0', 'encoder_layer_0_ffn_fc_1.b_0_moment1_0',
        'encoder_layer_0_ffn_fc_1.b_0_moment2_0', 'encoder_layer_0_ffn_fc_1.w_0',
        'encoder_layer_0_ffn_fc_1.w_0_beta1_pow_acc_0', 'encoder_layer_0_ffn_fc_1.w_0_beta2_pow_acc_0',
        'encoder_layer_0_ffn_fc_1.w_0_moment1_0', 'encoder_layer_0_ffn_fc_1.w_0_moment2_0',
        'encoder_layer_0_multi_head_att_key_fc.b_0', 'encoder_layer_0_multi_head_att_key_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_key_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_key_fc.b_0_moment1_0', 'encoder_layer_0_multi_head_att_key_fc.b_0_moment2_0',
        'encoder_layer_0_multi_head_att_key_fc.w_0', 'encoder_layer_0_multi_head_att_key_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_key_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_key_fc.w_0_moment1_0', 'encoder_layer_0_multi_head_att_key_fc.w_0_moment2_0',
        'encoder_layer_0_multi_head_att_output_fc.b_0',
        'encoder_layer_0_multi_head_att_output_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_output_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_output_fc.b_0_moment1_0',
        'encoder_layer_0_multi_head_att_output_fc.b_0_moment2_0', 'encoder_layer_0_multi_head_att_output_fc.w_0',
        'encoder_layer_0_multi_head_att_output_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_output_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_output_fc.w_0_moment1_0',
        'encoder_layer_0_multi_head_att_output_fc.w_0_moment2_0', 'encoder_layer_0_multi_head_att_query_fc.b_0',
        'encoder_layer_0_multi_head_att_query_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_query_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_query_fc.b_0_moment1_0',
        'encoder_layer_0_multi_head_att_query_fc.b_0_moment2_0', 'encoder_layer_0_multi_head_att_query_fc.w_0',
        'encoder_layer_0_multi_head_att_query_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_query_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_query_fc.w_0_moment1_0',
        'encoder_layer_0_multi_head_att_query_fc.w_0_moment2_0', 'encoder_layer_0_multi_head_att_value_fc.b_0',
        'encoder_layer_0_multi_head_att_value_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_value_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_value_fc.b_0_moment1_0',
        'encoder_layer_0_multi_head_att_value_fc.b_0_moment2_0', 'encoder_layer_0_multi_head_att_value_fc.w_0',
        'encoder_layer_0_multi_head_att_value_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_0_multi_head_att_value_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_0_multi_head_att_value_fc.w_0_moment1_0',
        'encoder_layer_0_multi_head_att_value_fc.w_0_moment2_0', 'encoder_layer_0_post_att_layer_norm_bias',
        'encoder_layer_0_post_att_layer_norm_bias_beta1_pow_acc_0',
        'encoder_layer_0_post_att_layer_norm_bias_beta2_pow_acc_0',
        'encoder_layer_0_post_att_layer_norm_bias_moment1_0', 'encoder_layer_0_post_att_layer_norm_bias_moment2_0',
        'encoder_layer_0_post_att_layer_norm_scale', 'encoder_layer_0_post_att_layer_norm_scale_beta1_pow_acc_0',
        'encoder_layer_0_post_att_layer_norm_scale_beta2_pow_acc_0',
        'encoder_layer_0_post_att_layer_norm_scale_moment1_0', 'encoder_layer_0_post_att_layer_norm_scale_moment2_0',
        'encoder_layer_0_post_ffn_layer_norm_bias', 'encoder_layer_0_post_ffn_layer_norm_bias_beta1_pow_acc_0',
        'encoder_layer_0_post_ffn_layer_norm_bias_beta2_pow_acc_0',
        'encoder_layer_0_post_ffn_layer_norm_bias_moment1_0', 'encoder_layer_0_post_ffn_layer_norm_bias_moment2_0',
        'encoder_layer_0_post_ffn_layer_norm_scale', 'encoder_layer_0_post_ffn_layer_norm_scale_beta1_pow_acc_0',
        'encoder_layer_0_post_ffn_layer_norm_scale_beta2_pow_acc_0',
        'encoder_layer_0_post_ffn_layer_norm_scale_moment1_0', 'encoder_layer_0_post_ffn_layer_norm_scale_moment2_0',
        'encoder_layer_1_ffn_fc_0.b_0', 'encoder_layer_1_ffn_fc_0.b_0_beta1_pow_acc_0',
        'encoder_layer_1_ffn_fc_0.b_0_beta2_pow_acc_0', 'encoder_layer_1_ffn_fc_0.b_0_moment1_0',
        'encoder_layer_1_ffn_fc_0.b_0_moment2_0', 'encoder_layer_1_ffn_fc_0.w_0',
        'encoder_layer_1_ffn_fc_0.w_0_beta1_pow_acc_0', 'encoder_layer_1_ffn_fc_0.w_0_beta2_pow_acc_0',
        'encoder_layer_1_ffn_fc_0.w_0_moment1_0', 'encoder_layer_1_ffn_fc_0.w_0_moment2_0',
        'encoder_layer_1_ffn_fc_1.b_0', 'encoder_layer_1_ffn_fc_1.b_0_beta1_pow_acc_0',
        'encoder_layer_1_ffn_fc_1.b_0_beta2_pow_acc_0', 'encoder_layer_1_ffn_fc_1.b_0_moment1_0',
        'encoder_layer_1_ffn_fc_1.b_0_moment2_0', 'encoder_layer_1_ffn_fc_1.w_0',
        'encoder_layer_1_ffn_fc_1.w_0_beta1_pow_acc_0', 'encoder_layer_1_ffn_fc_1.w_0_beta2_pow_acc_0',
        'encoder_layer_1_ffn_fc_1.w_0_moment1_0', 'encoder_layer_1_ffn_fc_1.w_0_moment2_0',
        'encoder_layer_1_multi_head_att_key_fc.b_0', 'encoder_layer_1_multi_head_att_key_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_key_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_key_fc.b_0_moment1_0', 'encoder_layer_1_multi_head_att_key_fc.b_0_moment2_0',
        'encoder_layer_1_multi_head_att_key_fc.w_0', 'encoder_layer_1_multi_head_att_key_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_key_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_key_fc.w_0_moment1_0', 'encoder_layer_1_multi_head_att_key_fc.w_0_moment2_0',
        'encoder_layer_1_multi_head_att_output_fc.b_0',
        'encoder_layer_1_multi_head_att_output_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_output_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_output_fc.b_0_moment1_0',
        'encoder_layer_1_multi_head_att_output_fc.b_0_moment2_0', 'encoder_layer_1_multi_head_att_output_fc.w_0',
        'encoder_layer_1_multi_head_att_output_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_output_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_output_fc.w_0_moment1_0',
        'encoder_layer_1_multi_head_att_output_fc.w_0_moment2_0', 'encoder_layer_1_multi_head_att_query_fc.b_0',
        'encoder_layer_1_multi_head_att_query_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_query_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_query_fc.b_0_moment1_0',
        'encoder_layer_1_multi_head_att_query_fc.b_0_moment2_0', 'encoder_layer_1_multi_head_att_query_fc.w_0',
        'encoder_layer_1_multi_head_att_query_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_query_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_query_fc.w_0_moment1_0',
        'encoder_layer_1_multi_head_att_query_fc.w_0_moment2_0', 'encoder_layer_1_multi_head_att_value_fc.b_0',
        'encoder_layer_1_multi_head_att_value_fc.b_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_value_fc.b_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_value_fc.b_0_moment1_0',
        'encoder_layer_1_multi_head_att_value_fc.b_0_moment2_0', 'encoder_layer_1_multi_head_att_value_fc.w_0',
        'encoder_layer_1_multi_head_att_value_fc.w_0_beta1_pow_acc_0',
        'encoder_layer_1_multi_head_att_value_fc.w_0_beta2_pow_acc_0',
        'encoder_layer_1_multi_head_att_value_fc.w_0_moment1_0',
        'encoder_layer_1_multi_head_att_value_fc.w_0_moment2_0', 'encoder_layer_1_post_att_layer_norm_bias',
        'encoder_layer_1_post_att_layer_norm_bias_beta1_pow_acc_0',
        'encoder_layer_1_post_att_layer_norm_bias_beta2_pow_acc_0',
        'encoder_layer_1_post_att_layer_norm_bias_moment1_0', 'encoder_layer_1_post_att_layer_norm_bias_moment2_0',
        'encoder_layer_1_post_att_layer_norm_scale', 'encoder_layer_1_post_att_layer_norm_scale_beta1_pow_acc_0',
        'encoder_layer_1_post_att_layer_norm_scale_beta2_pow_acc_0',
        'encoder_layer_1_post_att_layer_norm_scale_moment1_0', 'encoder_layer_1_post_att_layer_norm_scale_moment2_0',
        'encoder_layer_1_post_ffn_layer_norm_bias', 'encoder_layer_1_post_ffn_layer_norm_bias_beta1_pow_acc_0',
        'encoder_layer_1_post_ffn_layer_norm_bias_beta2_pow_acc_0',
        'encoder_layer_1_post_ffn_layer_norm_bias_moment1_0', 'encoder_layer_1_post_ffn_layer_norm_bias_moment2_0',
        'encoder_layer_1_post_ffn_layer_norm_scale', 'encoder_layer_1_post_ffn_layer_norm_scale_beta1_pow_acc_0',
        'encoder_layer_1_post_ffn_layer_norm_scale_beta2_pow_acc_0',
        'encoder_layer_1_post_ffn_layer_norm_scale_moment1_0', 'encoder_layer_1_post_ffn_layer_norm_scale_moment2_0',
        'ernie_config.json', 'learning_rate_0', 'mask_lm_out_fc.b_0', 'mask_lm_out_fc.b_0_beta1_pow_acc_0',
        'mask_lm_out_fc.b_0_beta2_pow_acc_0', 'mask_lm_out_fc.b_0_moment1_0', 'mask_lm_out_fc.b_0_moment2_0',
        'mask_lm_trans_fc.b_0', 'mask_lm_trans_fc.b_0_beta1_pow_acc_0', 'mask_lm_trans_fc.b_0_beta2_pow_acc_0',
        'mask_lm_trans_fc.b_0_moment1_0', 'mask_lm_trans_fc.b_0_moment2_0', 'mask_lm_trans_fc.w_0',
        'mask_lm_trans_fc.w_0_beta1_pow_acc_0', 'mask_lm_trans_fc.w_0_beta2_pow_acc_0',
        'mask_lm_trans_fc.w_0_moment1_0', 'mask_lm_trans_fc.w_0_moment2_0', 'mask_lm_trans_layer_norm_bias',
        'mask_lm_trans_layer_norm_bias_beta1_pow_acc_0', 'mask_lm_trans_layer_norm_bias_beta2_pow_acc_0',
        'mask_lm_trans_layer_norm_bias_moment1_0', 'mask_lm_trans_layer_norm_bias_moment2_0',
        'mask_lm_trans_layer_norm_scale', 'mask_lm_trans_layer_norm_scale_beta1_pow_acc_0',
        'mask_lm_trans_layer_norm_scale_beta2_pow_acc_0', 'mask_lm_trans_layer_norm_scale_moment1_0',
        'mask_lm_trans_layer_norm_scale_moment2_0', 'next_sent_fc.b_0', 'next_sent_fc.b_0_beta1_pow_acc_0',
        'next_sent_fc.b_0_beta2_pow_acc_0', 'next_sent_fc.b_0_moment1_0', 'next_sent_fc.b_0_moment2_0',
        'next_sent_fc.w_0', 'next_sent_fc.w_0_beta1_pow_acc_0', 'next_sent_fc.w_0_beta2_pow_acc_0',
        'next_sent_fc.w_0_moment1_0', 'next_sent_fc.w_0_moment2_0', 'pooled_fc.b_0', 'pooled_fc.b_0_beta1_pow_acc_0',
        'pooled_fc.b_0_beta2_pow_acc_0', 'pooled_fc.b_0_moment1_0', 'pooled_fc.b_0_moment2_0', 'pooled_fc.w_0',
        'pooled_fc.w_0_beta1_pow_acc_0', 'pooled_fc.w_0_beta2_pow_acc_0', 'pooled_fc.w_0_moment1_0',
        'pooled_fc.w_0_moment2_0', 'pos_embedding', 'pos_embedding_beta1_pow_acc_0', 'pos_embedding_beta2_pow_acc_0',
        'pos_embedding_moment1_0', 'pos_embedding_moment2_0', 'pre_encoder_layer_norm_bias',
        'pre_encoder_layer_norm_bias_beta1_pow_acc_0', 'pre_encoder_layer_norm_bias_beta2_pow_acc_0',
        'pre_encoder_layer_norm_bias_moment1_0', 'pre_encoder_layer_norm_bias_moment2_0',
        'pre_encoder_layer_norm_scale', 'pre_encoder_layer_norm_scale_beta1_pow_acc_0',
        'pre_encoder_layer_norm_scale_beta2_pow_acc_0', 'pre_encoder_layer_norm_scale_moment1_0',
        'pre_encoder_layer_norm_scale_moment2_0', 'sent_embedding', 'sent_embedding_beta1_pow_acc_0',
        'sent_embedding_beta2_pow_acc_0', 'sent_embedding_moment1_0', 'sent_embedding_moment2_0', 'train_state.json',
        'word_embedding', 'word_embedding_beta1_pow_acc_0', 'word_embedding_beta2_pow_acc_0',
        'word_embedding_moment1_0', 'word_embedding_moment2_0',
    ],
}


def make_data(root):
    """A tiny model config and the first lines of the shipped demo sets, as file lists."""
    demo_filelist(root, "train", 30)
    demo_filelist(root, "valid", 26)
    with open(os.path.join(root, "config.json"), "w") as f:
        json.dump(TINY_DEMO_CONFIG, f)


def argv(root, ckpt, steps, *extra):
    return ["--ernie_config_path", os.path.join(root, "config.json"), "--vocab_path", VOCAB,
            "--train_filelist", os.path.join(root, "train_filelist"),
            "--valid_filelist", os.path.join(root, "valid_filelist"), "--max_seq_len", "128",
            "--batch_size", "512", "--in_tokens", "true", "--skip_steps", "1", "--lr_scheduler", "noam_decay",
            "--warmup_steps", "3", "--learning_rate", "1e-3", "--num_train_steps", str(steps),
            "--save_steps", "3", "--validation_steps", "3", "--validate_at_start", "true",
            "--checkpoints", ckpt, "--random_seed", "7", "--use_cuda", "false"] + [str(x) for x in extra]


def run_logged(args):
    """run(parse_args(args)) with the log messages of the run: (result, messages)."""
    with capture_logs() as logs:
        result = run(parse_args(args))
    return result, logs.messages


def observe(root):
    """The scenario: --epoch 2 of a small file, stopping at the end of the data before --num_train_steps 40,
    validation at 0, every 3 steps and at the end, then --do_test on the last checkpoint."""
    ckpt = os.path.join(root, "ckpt")
    _, messages = run_logged(argv(root, ckpt, 40, "--epoch", 2))
    train = []
    for m in filter(None, map(TRAIN_LINE.match, messages)):
        e, p, n, s, loss, ppl, acc, path, mask, lr = m.groups()
        train.append((int(e), int(p), int(n), int(s), float(loss), float(ppl), float(acc), os.path.basename(path),
                      mask, float(lr)))
    valid = [(int(m.group(1)), int(m.group(2))) + tuple(float(x) for x in m.groups()[2:])
             for m in filter(None, map(VALID_LINE.match, messages))]
    final = os.path.join(ckpt, "step_%d" % train[-1][3])
    _, messages = run_logged(argv(root, os.path.join(root, "unused"), 6, "--do_test", "true", "--test_filelist",
                                  os.path.join(root, "valid_filelist"), "--init_checkpoint", final))
    (test,) = [tuple(float(x) for x in m.groups()) for m in filter(None, map(TEST_LINE.match, messages))]
    return {"train": train, "valid": valid, "test": test, "files": sorted(os.listdir(final))}


def close(got, want):
    """Equal ints and strings; floats as logged (%f, %g) up to float noise between machines."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, float):
            assert g == pytest.approx(w, rel=1e-6, abs=2e-6)
        else:
            assert g == w


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ernie1"))
    make_data(root)
    return observe(root)


def test_losses_and_log_lines_are_those_of_the_ernie1_path_before(observed):
    # two passes over the 30 lines (8 batches each): --epoch 2 ends the run at step 16, before --num_train_steps
    assert [row[3] for row in observed["train"]] == list(range(1, 17))
    for got, want in zip(observed["train"], EXPECTED["train"]):
        close(got, want)
    assert [row[1] for row in observed["valid"]] == [0, 3, 6, 9, 12, 15, 16]
    for got, want in zip(observed["valid"], EXPECTED["valid"]):
        close(got, want)
    close(observed["test"], EXPECTED["test"])


def test_parameter_names_are_those_of_ernie1(observed):
    assert observed["files"] == EXPECTED["files"]
    for name in ("word_embedding", "pos_embedding", "sent_embedding", "mask_lm_trans_fc.w_0",
                 "mask_lm_trans_layer_norm_scale", "mask_lm_out_fc.b_0", "next_sent_fc.w_0", "pooled_fc.w_0",
                 "encoder_layer_0_multi_head_att_query_fc.w_0"):
        assert name in observed["files"], name


def ckpt_files(directory):
    return {n: open(os.path.join(directory, n), "rb").read() for n in os.listdir(directory)
            if n not in ("train_state.json", "checkpoint_complete.json")}


def old_layout(src, dst):
    """A copy of checkpoint ``src`` with the train_state.json train.py wrote for ERNIE 1.0 before it ran as a
    task configuration: the reader's own position and one learning-rate scheduler's state."""
    shutil.copytree(src, dst)
    with open(os.path.join(dst, "train_state.json")) as f:
        state = json.load(f)
    state["reader"] = state["reader"]["readers"]["knowledge_masking"]
    state["scheduler"] = state["scheduler"]["global"]
    del state["extra"]
    with open(os.path.join(dst, "train_state.json"), "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    with open(os.path.join(dst, "checkpoint_complete.json")) as f:
        complete = json.load(f)
    complete["files"]["train_state.json"] = os.path.getsize(os.path.join(dst, "train_state.json"))
    with open(os.path.join(dst, "checkpoint_complete.json"), "w") as f:
        json.dump(complete, f)


def test_resume_is_exact_also_from_a_checkpoint_of_the_ernie1_path_before(tmp_path):
    root = str(tmp_path)
    make_data(root)
    quiet = ["--validation_steps", 0, "--validate_at_start", "false"]
    straight, _ = run_logged(argv(root, str(tmp_path / "a"), 8, *quiet))
    assert os.path.isdir(tmp_path / "a" / "step_3")
    old_layout(str(tmp_path / "a" / "step_3"), str(tmp_path / "old_step_3"))
    for name, start in (("new", tmp_path / "a" / "step_3"), ("old", tmp_path / "old_step_3")):
        resumed, _ = run_logged(argv(root, str(tmp_path / name), 8, "--init_checkpoint", start, *quiet))
        assert [s for s, _ in resumed.history] == [4, 5, 6, 7, 8]
        assert resumed.history == straight.history[3:]                  # losses, accuracies, learning rates
        a, b = ckpt_files(tmp_path / "a" / "step_8"), ckpt_files(tmp_path / name / "step_8")
        assert sorted(a) == sorted(b) and all(a[n] == b[n] for n in a), [n for n in a if a[n] != b[n]]


if __name__ == "__main__":
    import pprint
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        make_data(tmp)
        pprint.pprint(observe(tmp), width=120)
