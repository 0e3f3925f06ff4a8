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

Every module of this package is imported here (as fairseq's task registry does), so adding a task is
adding one module with a :class:`PretrainTask` subclass decorated with :func:`register_task`; a task kept
outside the package is loaded with ``--user_dir`` (:func:`import_user_dir`).  The data builder, the
reader, the configuration files and :class:`TaskSet` need no change.  See ``docs/architecture.md``
("How to add a pre-training task") and ``docs/task_format.md``.
"""
import importlib
import pkgutil

from ernie.tasks.base import (BuildContext, NoOptions, PretrainTask, Segment, SentenceTask, TaskError, TaskSample,
                              TaskSet, TokenTask, get_task, get_task_class, import_user_dir, list_tasks,
                              masked_classification, register_task, task_specs)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module("%s.%s" % (__name__, _module.name))

__all__ = ["BuildContext", "NoOptions", "PretrainTask", "Segment", "SentenceTask", "TaskError", "TaskSample",
           "TaskSet", "TokenTask", "get_task", "get_task_class", "import_user_dir", "list_tasks",
           "masked_classification", "register_task", "task_specs"]
