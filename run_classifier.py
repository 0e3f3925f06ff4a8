"""Fine-tune ERNIE for classification, regression or ranking; see ernie/finetune/classifier.py."""
import sys

from ernie.finetune.classifier import main

if __name__ == "__main__":
    sys.exit(main())
