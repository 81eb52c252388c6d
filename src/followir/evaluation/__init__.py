"""Running evaluations and presenting their results."""

from followir.evaluation.results import read_results, write_results
from followir.evaluation.runner import Evaluation, TaskResult, evaluate, evaluate_task
from followir.evaluation.table import paper_table

__all__ = ["Evaluation", "TaskResult", "evaluate", "evaluate_task", "paper_table", "read_results",
           "write_results"]
