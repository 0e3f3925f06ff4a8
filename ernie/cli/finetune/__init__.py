"""Fine-tuning: the shared driver (``run``), its flags (``args``) and the tasks plugged into it.

``run_classifier.py`` -> :mod:`ernie.cli.finetune.classifier`; ``run_sequence_labeling.py`` ->
:mod:`ernie.cli.finetune.sequence_labeling`; ``run_mrc.py`` -> :mod:`ernie.cli.finetune.mrc`;
``predict_classifier.py`` -> :mod:`ernie.cli.finetune.predict`; run summaries -> :mod:`ernie.cli.finetune.summary`.
"""
