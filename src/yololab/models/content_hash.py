"""A content hash of a checkpoint: sha256 over every tensor's name, dtype, shape and bytes.

PyTorch does not check the CRCs of the zip it writes, so flipped bytes in a weight load silently;
yololab stores this hash in the checkpoint (key ``content_sha256``) and compares it on load.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

HASH_KEY = "content_sha256"


def _walk(obj: Any, name: str, digest: "hashlib._Hash") -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            if not (name == "" and key == HASH_KEY):
                _walk(obj[key], f"{name}/{key}", digest)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            _walk(value, f"{name}[{i}]", digest)


def content_hash(obj: Any) -> str:
    """Hex sha256 of the tensors in ``obj`` (nested dicts/lists), the stored hash itself left out."""
    digest = hashlib.sha256()
    _walk(obj, "", digest)
    return digest.hexdigest()


def with_hash(obj: dict) -> dict:
    """``obj`` plus its content hash (a new dict; ``obj`` is not changed)."""
    return {**obj, HASH_KEY: content_hash(obj)}
