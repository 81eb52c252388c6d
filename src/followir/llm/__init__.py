"""Talking to generator LLMs: OpenAI-compatible chat endpoints or local transformers models, cached, with
prompts stored as validated templates."""
