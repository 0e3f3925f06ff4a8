"""Predict with a fine-tuned ERNIE classifier / regressor; see ernie/finetune/predict.py."""
import sys

from ernie.finetune.predict import main

if __name__ == "__main__":
    sys.exit(main())
