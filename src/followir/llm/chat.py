"""Chat models: the ``ChatModel`` protocol, its two implementations, and ``load_chat_model`` for specs.

- ``OpenAIChat``: any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, Ollama, TGI), with
  retries, bounded concurrency and a requests-per-minute limit;
- ``LocalChat``: a local transformers causal LM with its chat template.

Both cache every request and answer in SQLite. A spec names one of them:
``openai:MODEL`` (with ``base_url`` for self-hosted servers) or ``local:REGISTERED_NAME_OR_PATH``.
"""

from __future__ import annotations

from followir.errors import UnknownNameError
from followir.llm.base import CachedChatModel, ChatModel, GenerationOptions, Messages
from followir.llm.local_chat import LocalChat
from followir.llm.openai_chat import OpenAIChat

__all__ = ["ChatModel", "CachedChatModel", "GenerationOptions", "LocalChat", "Messages", "OpenAIChat",
           "load_chat_model"]


def load_chat_model(spec: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                    options: GenerationOptions | None = None, concurrency: int = 4,
                    requests_per_minute: float | None = None, max_retries: int = 6, timeout: float = 120.0,
                    cache_path: str | None = None, device: str | None = None,
                    prices: tuple[float, float] | None = None) -> CachedChatModel:
    """``openai:MODEL`` or ``local:NAME_OR_PATH`` -> a chat model.

    >>> load_chat_model("openai:gpt-4o-mini", base_url="http://127.0.0.1:8000/v1").name
    'openai:gpt-4o-mini'
    """
    kind, sep, target = spec.partition(":")
    if not sep or not target:
        raise UnknownNameError(f"generator {spec!r} is not 'openai:MODEL' or 'local:NAME_OR_PATH'. Fix: e.g. "
                               f"openai:gpt-3.5-turbo-1106 (with --base-url for vLLM/Ollama/TGI) or "
                               f"local:smollm2-135m-instruct")
    if kind == "openai":
        return OpenAIChat(target, base_url=base_url, api_key_env=api_key_env, options=options,
                          concurrency=concurrency, requests_per_minute=requests_per_minute,
                          max_retries=max_retries, timeout=timeout, cache_path=cache_path, prices=prices)
    if kind == "local":
        if base_url:
            raise ValueError(f"base_url applies to openai: generators, not {spec!r}")
        return LocalChat.from_name(target, options=options, cache_path=cache_path, device=device)
    raise UnknownNameError(f"generator kind {kind!r} in {spec!r} is unknown; use 'openai:MODEL' or "
                           f"'local:NAME_OR_PATH'")
