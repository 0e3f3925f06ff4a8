"""ERNIE 1.0/2.0 on PaddlePaddle 3 static graph.

Importing the package first puts the fast CPU kernel and thread settings into the environment
(``ernie.cpu_setup``; ``ERNIE_CPU_TUNING=0`` turns this off), before Paddle reads them.
"""
from ernie import cpu_setup as _cpu_setup

_cpu_setup.configure()
