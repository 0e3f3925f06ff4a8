"""Fine-tune ERNIE for sequence labelling (NER); see ernie/cli/finetune/sequence_labeling.py."""
import sys

from ernie.cli.finetune.sequence_labeling import main

if __name__ == "__main__":
    sys.exit(main())
