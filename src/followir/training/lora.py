"""LoRA fine-tuning of a causal LM into a yes/no reranker, on the prompt and true/false target evaluation uses.

The defaults are the paper's (Appendix C): LoRA rank 8, alpha 16 on q/k/v/o projections, learning rate
3e-5 with a cosine schedule, effective batch 32, maximum length 2048, bf16, 8 epochs. Training runs on
``transformers.Trainer`` with ``peft``; the Trainer handles devices and distribution, so the same call runs
under ``accelerate launch``, ``torchrun`` or DeepSpeed unchanged. Checkpoints go to ``OUTPUT/checkpoints``
and a run started again resumes from the last complete one. A held-out split of whole (query,
instruction) groups is scored during training: eval loss, and the AUC and accuracy of p(true).

    OUTPUT/followir_model.json   family, template, base model, weights, config, data hash, metrics
    OUTPUT/adapter/              the LoRA adapter (always)
    OUTPUT/merged/               base model with the adapter folded in (export="merged")
    OUTPUT/checkpoints/          Trainer checkpoints;   OUTPUT/followir_run.json  what defines the run
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from followir.models.library_warnings import peft_quietly
from followir.models.runtime import require
from followir.models.trained import EXPORTS, TrainedModel, write_trained_model
from followir.training.base_model import BaseModel, load_causal_lm, resolve_base_model, scorer_for
from followir.training.checkpoints import prepare_run
from followir.training.examples import PadCollator, PromptEncoder, file_sha256, read_train_file, split_pairs
from followir.training.export import (
    ADAPTER_DIR,
    MERGED_DIR,
    folder_sha256,
    merge_adapter,
    swap_into_place,
    temporary_folder,
)
from followir.training.separation import AnswerProbability, SeparationMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoraConfig:
    """Training settings; the defaults reproduce FollowIR-7B's recipe (paper, Appendix C)."""

    rank: int = 8
    alpha: int = 16
    # The paper trained with LLaMA-Factory and lists no dropout; LLaMA-Factory's default is 0.
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    learning_rate: float = 3e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # gradient clipping (the Trainer's and LLaMA-Factory's default); 0 turns it off
    effective_batch_size: int = 32  # per-device batch x gradient accumulation x number of processes
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int | None = None  # None: derived from the effective batch size
    max_length: int = 2048  # prompt tokens, as in evaluation (only the document is cut)
    bf16: bool = True  # on CUDA GPUs that support it; elsewhere training runs in float32
    gradient_checkpointing: bool = True  # less memory for long prompts, about 30% slower
    epochs: float = 8.0
    max_steps: int = -1  # > 0 overrides epochs
    eval_fraction: float = 0.05  # share of (query, instruction) groups held out; 0: train on everything
    eval_steps: int = 50
    eval_on_start: bool = True  # score the held-out split before the first step (the "before" numbers)
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 10
    seed: int = 42
    template: str | None = None  # None: the registry's template for registered models, else "chat"
    revision: str | None = None  # of a hub base model
    trust_remote_code: bool = False
    export: str = "adapter"  # or "merged": the adapter folded into a full copy of the base model
    resume: bool = True  # continue from the last checkpoint in the output folder
    deepspeed: str | None = None  # a DeepSpeed config file, passed to the Trainer
    report_to: tuple[str, ...] = ()  # e.g. ("wandb",) or ("tensorboard",)

    def __post_init__(self):
        for key in ("target_modules", "report_to"):  # lists (from JSON or a CLI) become tuples
            value = getattr(self, key)
            object.__setattr__(self, key, (value,) if isinstance(value, str) else tuple(value))
        positive = {"rank": self.rank, "alpha": self.alpha, "learning_rate": self.learning_rate,
                    "effective_batch_size": self.effective_batch_size,
                    "per_device_batch_size": self.per_device_batch_size, "max_length": self.max_length,
                    "epochs": self.epochs, "eval_steps": self.eval_steps, "save_steps": self.save_steps,
                    "logging_steps": self.logging_steps}
        for key, value in positive.items():
            if not value > 0:
                raise ValueError(f"LoraConfig.{key}={value!r} must be positive")
        if self.gradient_accumulation_steps is not None and self.gradient_accumulation_steps < 1:
            raise ValueError(f"gradient_accumulation_steps={self.gradient_accumulation_steps} must be >= 1 "
                             f"(or None to derive it from effective_batch_size)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"LoRA dropout {self.dropout} must be in [0, 1)")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio {self.warmup_ratio} must be in [0, 1) (a share of the training steps)")
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"eval_fraction {self.eval_fraction} must be in [0, 1); 0 trains on everything")
        if self.export not in EXPORTS:
            raise ValueError(f"export {self.export!r} must be one of {EXPORTS}")
        if not self.target_modules:
            raise ValueError("target_modules is empty; the paper uses q_proj, k_proj, v_proj, o_proj")

    def accumulation_steps(self, world_size: int) -> int:
        """Gradient accumulation that makes the effective batch (rounded when it does not divide)."""
        if self.gradient_accumulation_steps is not None:
            return self.gradient_accumulation_steps
        per_step = self.per_device_batch_size * world_size
        steps = max(1, round(self.effective_batch_size / per_step))
        if steps * per_step != self.effective_batch_size:
            log.warning("effective batch %d is not a multiple of %d per step (per-device batch x %d processes); "
                        "using %d", self.effective_batch_size, per_step, world_size, steps * per_step)
        return steps

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _has_accelerator(torch) -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(torch.cuda.is_available() or torch.backends.mps.is_available() or (xpu and xpu.is_available()))


def _warmup(transformers, ratio: float) -> dict:
    """Warm-up as a share of the steps: ``warmup_steps`` takes a ratio below 1 in transformers 5 (which dropped
    ``warmup_ratio``); transformers 4 takes ``warmup_ratio``."""
    fields = {f.name: f for f in dataclasses.fields(transformers.TrainingArguments)}
    return {"warmup_ratio": ratio} if "warmup_ratio" in fields else {"warmup_steps": ratio}


def _checkpointing(transformers, enabled: bool) -> dict:
    """Activation (gradient) checkpointing under the name the installed transformers takes: later transformers
    5 releases renamed ``gradient_checkpointing`` to ``activation_checkpointing`` (the old name warns)."""
    fields = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False} if enabled else None}


def train(train_file: Path, base_model: str, output_dir: Path, config: LoraConfig) -> Path:
    """Fine-tune ``base_model`` on ``train_file`` (jsonl: query, instruction, document, label, id) into
    ``output_dir``; returns the folder, which ``followir evaluate --model`` loads with no other flags."""
    torch = require("torch", "train")
    transformers = require("transformers", "train")
    peft = require("peft", "train")
    train_file, output_dir = Path(train_file), Path(output_dir)

    base = resolve_base_model(base_model, config.template, config.revision, config.trust_remote_code)
    pairs = read_train_file(train_file)
    data_hash = file_sha256(train_file)
    train_pairs, held_pairs = split_pairs(pairs, config.eval_fraction, config.seed)
    encoder = PromptEncoder(scorer_for(base, config.max_length))
    train_rows = [encoder.encode(p) for p in train_pairs]
    eval_rows = [encoder.encode(p) for p in held_pairs]
    log.info("%d training pairs, %d held out (%d groups of %d)", len(train_rows), len(eval_rows),
             len({p.group for p in held_pairs}), len({p.group for p in pairs}))

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_bf16 = bool(config.bf16 and torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    dtype = torch.bfloat16 if use_bf16 else torch.float32
    checkpoints = output_dir / "checkpoints"
    has_eval = bool(eval_rows)
    args = transformers.TrainingArguments(
        output_dir=str(checkpoints), use_cpu=not _has_accelerator(torch),  # CPU processes under torchrun: gloo DDP
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.accumulation_steps(world_size),
        learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler,
        **_warmup(transformers, config.warmup_ratio), weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        num_train_epochs=config.epochs, max_steps=config.max_steps,
        bf16=use_bf16, **_checkpointing(transformers, config.gradient_checkpointing),
        eval_strategy="steps" if has_eval else "no", eval_steps=config.eval_steps,
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps, seed=config.seed, data_seed=config.seed,
        report_to=list(config.report_to) or "none", deepspeed=config.deepspeed,
        remove_unused_columns=False, label_names=["labels"], ddp_find_unused_parameters=False,
    )
    identity = {"data_sha256": data_hash, "base_model": base.model_id, "gguf_file": base.gguf_file,
                "revision": base.revision, "template": base.template, "rank": config.rank, "alpha": config.alpha,
                "dropout": config.dropout, "target_modules": list(config.target_modules),
                "max_length": config.max_length, "eval_fraction": config.eval_fraction, "seed": config.seed}
    with args.main_process_first(desc="checkpoints"):
        resume_from = prepare_run(output_dir, checkpoints, identity, config.resume, args.process_index == 0)
    args.eval_on_start = bool(config.eval_on_start and has_eval and resume_from is None)

    transformers.set_seed(config.seed)
    model = load_causal_lm(base, dtype)
    model.config.use_cache = False
    if config.gradient_checkpointing:
        model.enable_input_require_grads()
    lora = peft.LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                           target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM")
    with peft_quietly():
        model = peft.get_peft_model(model, lora)
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=train_rows, eval_dataset=eval_rows or None,
        data_collator=PadCollator(encoder.pad_id, multiple_of=8 if use_bf16 else 1),
        compute_metrics=SeparationMetrics(encoder.true_id) if has_eval else None,
        preprocess_logits_for_metrics=AnswerProbability(encoder.true_id, encoder.false_id) if has_eval else None,
    )
    resumed_state = _checkpoint_state(resume_from) if resume_from else None
    with contextlib.redirect_stdout(sys.stderr), peft_quietly():  # Trainer logs to stderr; stdout is the caller's
        if resumed_state is not None and _finished(resumed_state, config):
            # the Trainer would take one more step from a finished checkpoint: load it and go on to the export
            log.info("%s already holds every step of this run: nothing left to train", resume_from.name)
            trainer._load_from_checkpoint(str(resume_from))
            trainer.state = transformers.TrainerState.load_from_json(str(resume_from / "trainer_state.json"))
        else:
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        metrics = _eval_metrics(trainer, has_eval)
    start_step = resumed_state["global_step"] if resumed_state else 0
    adapter_dir = output_dir / ADAPTER_DIR
    is_main = trainer.is_world_process_zero()
    tmp = temporary_folder(adapter_dir) if is_main else adapter_dir.with_name(f".{ADAPTER_DIR}.tmp")
    trainer.accelerator.wait_for_everyone()
    with peft_quietly():
        trainer.save_model(str(tmp))  # called on every rank (DeepSpeed gathers the weights); the main one writes
    if is_main:
        swap_into_place(tmp, adapter_dir)
    global_step = trainer.state.global_step
    del trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

    with args.main_process_first(desc="export"):
        if args.process_index == 0:
            _export(base, output_dir, config, dtype, {
                "training": {**config.to_dict(), "global_step": global_step, "world_size": world_size,
                             "precision": "bf16" if use_bf16 else "float32",
                             "resumed_from": resume_from.name if resume_from else None,
                             "steps_this_run": global_step - start_step},
                "data": {"path": str(train_file.resolve()), "sha256": data_hash, "pairs": len(pairs),
                         "train": len(train_rows), "held_out": len(eval_rows),
                         "relevant": sum(p.label for p in pairs)},
                "metrics": metrics,
            })
    return output_dir


def _checkpoint_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))


def _finished(state: dict, config: LoraConfig) -> bool:
    """Whether a checkpoint's Trainer state already reached the end of the run ``config`` asks for."""
    if config.max_steps > 0:
        return state["global_step"] >= config.max_steps
    return (state["global_step"] >= state["max_steps"] and state["num_train_epochs"] == math.ceil(config.epochs)
            and state["train_batch_size"] == config.per_device_batch_size)


def _eval_metrics(trainer, has_eval: bool) -> dict:
    """Held-out metrics before training (step 0) and at the end, from the Trainer's log."""
    if not has_eval:
        return {}
    evals = [e for e in trainer.state.log_history if "eval_loss" in e]
    if not evals or evals[-1].get("step") != trainer.state.global_step:
        final = trainer.evaluate()
        evals.append({**final, "step": trainer.state.global_step})
    def strip(e: dict) -> dict:
        return {k.removeprefix("eval_"): v for k, v in e.items()
                if k.startswith("eval_") and not k.endswith(("_runtime", "_per_second"))}

    out = {"final": {**strip(evals[-1]), "step": evals[-1].get("step")}}
    start = [e for e in evals if e.get("step") == 0]
    if start:
        out["before"] = strip(start[0])
    log.info("held-out separation: %s", out)
    return out


def _export(base: BaseModel, output_dir: Path, config: LoraConfig, dtype, extra: dict) -> None:
    adapter_dir = output_dir / ADAPTER_DIR
    card = output_dir / "followir_model.json"
    if card.exists():
        card.unlink()  # rewritten last, once the weights are complete
    merged = None
    if config.export == "merged":
        merge_adapter(base, adapter_dir, output_dir / MERGED_DIR, dtype)
        merged = MERGED_DIR
    trained = TrainedModel(folder=output_dir, family="causal-lm", template=base.template, model_id=base.model_id,
                           export=config.export, fingerprint=folder_sha256(adapter_dir), revision=base.revision,
                           gguf_file=base.gguf_file, adapter=ADAPTER_DIR, merged=merged, base_model=base.name,
                           extra=extra)
    path = write_trained_model(trained)
    log.info("wrote %s (%s)", path, config.export)
