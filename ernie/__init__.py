"""ERNIE 2.0 on PaddlePaddle 3 (static graph)."""
# Before anything imports Paddle: keep its start-up noise out of the logs (see ernie/_quiet.py).
from ernie import _quiet  # noqa: F401
