"""Reading FollowIR tasks: TREC files, the two Hugging Face layouts, local directories, the hub."""

from followir.data.loading import load_task, load_tasks, resolve_task_names
from followir.data.trec import read_qrels, read_run, read_topics, write_qrels, write_run

__all__ = [
    "load_task",
    "load_tasks",
    "resolve_task_names",
    "read_qrels",
    "read_run",
    "read_topics",
    "write_qrels",
    "write_run",
]
