"""Fine-tuning: the shared driver (``run``), its flags (``args``) and the tasks plugged into it.

``run_classifier.py`` -> :mod:`ernie.finetune.classifier`; ``run_sequence_labeling.py`` ->
:mod:`ernie.finetune.sequence_labeling`; ``run_mrc.py`` -> :mod:`ernie.finetune.mrc`;
``predict_classifier.py`` -> :mod:`ernie.finetune.predict`; run summaries -> :mod:`ernie.finetune.summary`.
"""
