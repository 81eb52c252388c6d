"""``followir train``: LoRA fine-tuning of a causal LM into a yes/no reranker (registered on the shared app)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from followir.cli.common import app, fail, print_json, say, setup_logging
from followir.cli.help_texts import HELP_TRUST_REMOTE_CODE, HELP_VERBOSE
from followir.errors import FollowIRError


@app.command("train")
def train_command(
    data: Path = typer.Option(..., "--data", "-d", exists=True, dir_okay=False,
                              help="Training pairs, jsonl: query, instruction, document, label, id."),
    base_model: str = typer.Option(..., "--base-model", "-b",
                                   help="A registered causal-lm name (e.g. mistral-7b-instruct), a hub id, "
                                        "a local folder or a .gguf file."),
    output: Path = typer.Option(..., "--output", "-o", file_okay=False,
                                help="Folder for checkpoints, the adapter and followir_model.json."),
    epochs: float = typer.Option(8.0, "--epochs", help="Training epochs (paper: 8)."),
    max_steps: int = typer.Option(-1, "--max-steps", help="Stop after this many optimizer steps (overrides "
                                  "--epochs when > 0)."),
    lr: float = typer.Option(3e-5, "--lr", help="Peak learning rate, cosine schedule (paper: 3e-5)."),
    rank: int = typer.Option(8, "--rank", help="LoRA rank (paper: 8)."),
    alpha: int = typer.Option(16, "--alpha", help="LoRA alpha (paper: 16)."),
    dropout: float = typer.Option(0.0, "--dropout", help="LoRA dropout."),
    effective_batch: int = typer.Option(32, "--effective-batch",
                                        help="Examples per optimizer step over all processes (paper: 32)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per device per forward pass."),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Gradient accumulation steps "
                                             "[default: effective batch / (batch size x processes)]."),
    max_length: int = typer.Option(2048, "--max-length", help="Maximum prompt tokens; only documents are cut."),
    eval_fraction: float = typer.Option(0.05, "--eval-fraction",
                                        help="Share of (query, instruction) groups held out for evaluation."),
    eval_steps: int = typer.Option(50, "--eval-steps", help="Evaluate the held-out split every N steps."),
    save_steps: int = typer.Option(50, "--save-steps", help="Write a checkpoint every N steps."),
    template: Optional[str] = typer.Option(None, "--template", help="Prompt template [default: the registered "
                                           "model's, else chat]."),
    export: str = typer.Option("adapter", "--export", help="adapter, or merged (the adapter folded into a copy "
                               "of the base model)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from the last checkpoint in "
                                "--output (--no-resume deletes them and starts over)."),
    gradient_checkpointing: bool = typer.Option(True, "--gradient-checkpointing/--no-gradient-checkpointing",
                                                help="Recompute activations to save memory (slower)."),
    seed: int = typer.Option(42, "--seed", help="Random seed for data order and LoRA initialisation."),
    deepspeed: Optional[Path] = typer.Option(None, "--deepspeed", exists=True, dir_okay=False,
                                             help="DeepSpeed config file."),
    report_to: Optional[str] = typer.Option(None, "--report-to", help="Comma-separated: wandb, tensorboard, ..."),
    model_revision: Optional[str] = typer.Option(None, "--model-revision", help="Revision of a hub base model."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help=HELP_TRUST_REMOTE_CODE),
    as_json: bool = typer.Option(False, "--json", help="Print followir_model.json to stdout."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=HELP_VERBOSE),
) -> None:
    """Fine-tune a causal LM with LoRA into a yes/no reranker on the prompt evaluation uses.

    Run it under accelerate launch, torchrun or deepspeed for several GPUs or nodes, unchanged.
    Then: followir evaluate --model OUTPUT.
    """
    setup_logging(verbose)
    from followir.training.lora import LoraConfig, train

    try:
        config = LoraConfig(
            rank=rank, alpha=alpha, dropout=dropout, learning_rate=lr, effective_batch_size=effective_batch,
            per_device_batch_size=batch_size, gradient_accumulation_steps=grad_accum, max_length=max_length,
            gradient_checkpointing=gradient_checkpointing, epochs=epochs, max_steps=max_steps,
            eval_fraction=eval_fraction, eval_steps=eval_steps, save_steps=save_steps, seed=seed,
            template=template, revision=model_revision, trust_remote_code=trust_remote_code, export=export,
            resume=resume, deepspeed=str(deepspeed) if deepspeed else None,
            report_to=tuple(x.strip() for x in report_to.split(",") if x.strip()) if report_to else ())
        folder = train(data, base_model, output, config)
    except (FollowIRError, ValueError) as e:
        fail(e)
    card = folder / "followir_model.json"
    if int(os.environ.get("RANK", "0")) != 0 or not card.is_file():  # other processes of a distributed run
        return
    if as_json:
        print_json(json.loads(card.read_text(encoding="utf-8")))
        return
    metrics = json.loads(card.read_text(encoding="utf-8")).get("metrics", {})
    for when in ("before", "final"):
        if when in metrics:
            m = metrics[when]
            say(f"held-out {when}: AUC {m.get('auc', float('nan')):.3f}, accuracy "
                          f"{m.get('accuracy', float('nan')):.3f}, loss {m.get('loss', float('nan')):.4f}")
    say(f"trained model written to {folder}; evaluate it with: followir evaluate --model {folder}")
