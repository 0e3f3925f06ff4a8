"""ERNIE 1.0 pre-training; see ernie/cli/pretrain.py for the flags and the log format."""
from ernie.cli.pretrain import main

if __name__ == "__main__":
    main()
