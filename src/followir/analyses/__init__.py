"""Analyses of why models fail to follow instructions: length ablation, BEIR keywords, full retrieval, InstructIR."""
