"""Help texts of the options that several commands share, written once."""

HELP_VERBOSE = "Show debug logging."
HELP_MODEL_REVISION = "Model revision on the hub (a branch, tag or commit) [default: the registered one, else main]."
HELP_BATCH_SIZE = "Batch size [default: per family]."
HELP_DEVICE = "cpu, cuda, cuda:N, mps or auto [default: auto, the best available]."
HELP_TRUST_REMOTE_CODE = "Allow model code from the hub to run (off by default)."
HELP_RESAMPLES = "Bootstrap resamples for the 95% intervals."
HELP_JSON = "Print the result as JSON on stdout instead of a table."
HELP_ENGINE = ("transformers (default), vllm (causal-lm and bi-encoder: pip install 'followir[vllm]') or openai "
               "(causal-lm: a running vLLM or SGLang server at --base-url).")
HELP_RAY = ("Spread the work over a Ray cluster: auto (a running cluster), local (start one here), ray://HOST:10001 "
            "or HOST:6379; one model replica per GPU, else per CPU (pip install 'followir[ray]').")


def _families() -> str:
    from followir.models.registry import FAMILIES

    return ", ".join(sorted(FAMILIES))


HELP_FAMILY = f"Model family of an unregistered model (a hub id or folder): {_families()}."
