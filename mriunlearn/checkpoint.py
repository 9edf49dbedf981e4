"""Atomic training checkpoints that know which configuration wrote them.

A checkpoint is a ``torch.save``d dict of tensors and plain types (loadable with
``torch.load(..., weights_only=True)``):

``{"format", "config" (canonical JSON text), "epoch", "model", "optimizer", "scheduler",
"history" (list of per-epoch dicts), "extra" (dict)}``
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path, sha256_text
from .errors import CheckpointError

FORMAT = 1


def canonical_config(config: dict[str, Any] | None) -> str:
    """Canonical JSON text of a config dict (sorted keys), the form stored and compared."""
    return json.dumps(config if config is not None else {}, sort_keys=True, separators=(",", ":"),
                      default=str)


def config_hash(config: dict[str, Any] | None) -> str:
    """Short hash of a config (names it in error messages)."""
    return sha256_text(canonical_config(config))[:12]


def save_checkpoint(path: str | os.PathLike[str], model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None, scheduler: Any | None, epoch: int,
                    config: dict[str, Any] | None, *, history: list[dict[str, Any]] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, then rename). ``epoch`` is the last
    completed epoch (0-based). Returns the path."""
    model = getattr(model, "module", model)  # unwrap DDP
    state = {
        "format": FORMAT,
        "config": canonical_config(config),
        "epoch": int(epoch),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scheduler": scheduler.state_dict() if scheduler is not None else {},
        "history": list(history or []),
        "extra": dict(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def read_torch_file(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``.

    Raises:
        CheckpointError: the file is missing, corrupt, truncated or holds more than tensors and plain
            types (message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} {'is a folder' if path.exists() else 'not found'}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError, KeyError, AttributeError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {exc}") from exc


def _is_checkpoint(state: Any) -> bool:
    return isinstance(state, dict) and state.get("format") == FORMAT and "model" in state


def read_model_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The model weights in ``path``: the ``"model"`` of a checkpoint (:func:`save_checkpoint`,
    a run's ``checkpoint.pt``) or a bare state dict (a run cache's ``model.pt``).

    Raises:
        CheckpointError: missing, corrupt or unreadable file, or one holding neither (names it).
    """
    state = read_torch_file(path)
    if _is_checkpoint(state):
        state = state["model"]
    elif isinstance(state, dict) and state.get("format") is not None:
        raise CheckpointError(f"checkpoint {path} has format {state.get('format')!r}; this version "
                              f"reads format {FORMAT}")
    if not (isinstance(state, dict) and state
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise CheckpointError(f"{path} holds neither a mriunlearn checkpoint nor a model state dict "
                              "(a dict of parameter names to tensors)")
    return state


def load_checkpoint(path: str | os.PathLike[str], config: dict[str, Any] | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Args:
        config: if given, the checkpoint must have been written for exactly this config.

    Raises:
        CheckpointError: the file is missing, corrupt or truncated (message names it), or it was
        written for another config (message names both config hashes and the differing keys).
    """
    path = Path(path)
    state = read_torch_file(path, map_location)
    if not _is_checkpoint(state):
        raise CheckpointError(f"checkpoint {path} is not a mriunlearn checkpoint (format {FORMAT})")
    if config is not None:
        wanted = canonical_config(config)
        if state["config"] != wanted:
            stored = json.loads(state["config"])
            diff = _diff_keys(stored, json.loads(wanted))
            raise CheckpointError(
                f"checkpoint {path} was written for config {config_hash(stored)}, not for the "
                f"requested config {config_hash(config)} (differing: {', '.join(diff) or '?'})")
    state["config"] = json.loads(state["config"])
    return state


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}={a!r}->{b!r}"]
