"""Fine-tune ERNIE for sequence labelling (NER); see ernie/finetune/sequence_labeling.py."""
import sys

from ernie.finetune.sequence_labeling import main

if __name__ == "__main__":
    sys.exit(main())
