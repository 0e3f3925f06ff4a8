"""Fine-tune ERNIE for classification, regression or ranking; see ernie/cli/finetune/classifier.py."""
import sys

from ernie.cli.finetune.classifier import main

if __name__ == "__main__":
    sys.exit(main())
