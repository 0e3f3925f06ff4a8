"""ERNIE 1.0/2.0 on PaddlePaddle 3 static graph.

Importing the package first, before Paddle is imported: puts the fast CPU kernel and thread settings
into the environment (``ernie.cpu_setup``; ``ERNIE_CPU_TUNING=0`` turns this off), and keeps Paddle's
start-up noise out of the logs (``ernie._quiet``).
"""
from ernie import cpu_setup as _cpu_setup
from ernie import _quiet  # noqa: F401,E402

_cpu_setup.configure()
