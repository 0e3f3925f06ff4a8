"""Predict with a fine-tuned ERNIE classifier / regressor; see ernie/cli/finetune/predict.py."""
import sys

from ernie.cli.finetune.predict import main

if __name__ == "__main__":
    sys.exit(main())
