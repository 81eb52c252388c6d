"""followir: evaluate and teach instruction-following retrieval (the FollowIR benchmark and beyond)."""

__version__ = "0.1.0"

from followir.data import load_task, load_tasks  # noqa: E402
from followir.evaluation import evaluate  # noqa: E402
from followir.metrics import p_mrr, score_followir  # noqa: E402
from followir.models import load_model  # noqa: E402
from followir.records import Document, Qrels, Query, Run, Task  # noqa: E402

__all__ = [
    "Document",
    "Qrels",
    "Query",
    "Run",
    "Task",
    "__version__",
    "evaluate",
    "load_model",
    "load_task",
    "load_tasks",
    "p_mrr",
    "score_followir",
]
