"""Reports in the paper's form: Markdown, CSV, LaTeX, HTML with plots; per-query inspection; MTEB export."""
