"""Fine-tune ERNIE for extractive reading comprehension (SQuAD-format JSON); see ernie/cli/finetune/mrc.py."""
import sys

from ernie.cli.finetune.mrc import main

if __name__ == "__main__":
    sys.exit(main())
