"""Offline data preparation programs (corpora, task data, fine-tuning data): run before training, never imported by the library."""
