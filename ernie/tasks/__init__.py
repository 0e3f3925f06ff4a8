"""ERNIE 2.0 pre-training tasks, each a pluggable unit registered by name.

Built-in tasks (default task id, level, classes):

====  ===========================  ========  ===========================================
 id    name                         level     classes
====  ===========================  ========  ===========================================
 0     knowledge_masking            token     vocabulary (masked LM, ERNIE 1.0 head)
 1     capitalization               token     2 (English)
 2     token_document_relation      token     2
 3     sentence_reordering          sentence  Σ_{n=1..m} n! (9 for m = 3)
 4     sentence_distance            sentence  3
 5     discourse_relation           sentence  4 senses (or one per marker)
 6     ir_relevance                 sentence  3
 7     next_sent                    sentence  2 (ERNIE 1.0 NSP, legacy)
====  ===========================  ========  ===========================================

Adding a task = adding a module with a :class:`PretrainTask` subclass
decorated with :func:`register_task` (and importing it, or listing it in
``BUILTIN_MODULES``); the data builder, the reader and :class:`TaskSet`
need no change.  See ``ernie/tasks/base.py`` and ``docs/task_format.md``.
"""
import importlib

from ernie.tasks.base import (BuildContext, PretrainTask, Segment, SentenceTask, TaskError, TaskSample, TaskSet,
                              TokenTask, get_task, get_task_class, list_tasks, masked_classification,
                              register_task, task_specs)

BUILTIN_MODULES = ("knowledge_masking", "capitalization", "token_document_relation", "sentence_reordering",
                   "sentence_distance", "discourse_relation", "ir_relevance", "next_sent")

for _name in BUILTIN_MODULES:
    importlib.import_module("ernie.tasks." + _name)

__all__ = ["BuildContext", "PretrainTask", "Segment", "SentenceTask", "TaskError", "TaskSample", "TaskSet",
           "TokenTask", "get_task", "get_task_class", "list_tasks", "masked_classification", "register_task",
           "task_specs", "BUILTIN_MODULES"]
