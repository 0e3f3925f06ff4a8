"""Fine-tuning: the shared driver (``run``), its flags (``args``) and the tasks (``classifier``, ...).

``run_classifier.py`` -> :mod:`ernie.finetune.classifier`; ``predict_classifier.py`` ->
:mod:`ernie.finetune.predict`; run summaries -> :mod:`ernie.finetune.summary`.
"""
