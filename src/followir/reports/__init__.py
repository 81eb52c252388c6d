"""Reports in the paper's form: Markdown, CSV, LaTeX, HTML with plots; per-query inspection; MTEB export."""

from followir.reports.collect import ModelRow, load_rows
from followir.reports.inspection import QueryInspection, inspect_query
from followir.reports.mteb_export import export_mteb
from followir.reports.report import FORMATS, Report, build_report, write_report
from followir.reports.table import ReportTable, report_table

__all__ = ["FORMATS", "ModelRow", "QueryInspection", "Report", "ReportTable", "build_report", "export_mteb",
           "inspect_query", "load_rows", "report_table", "write_report"]
