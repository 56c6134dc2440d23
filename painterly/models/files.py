"""Reading and writing weight files (safetensors and PyTorch state dicts), safely and atomically.

Nothing here knows about VGG: these functions move tensors between disk and memory and turn
every way a file can be wrong into a one-line :class:`PainterlyError`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from painterly.atomic import atomic_path
from painterly.errors import PainterlyError
from painterly.hashing import file_kind

SAFETENSORS = "safetensors"
TORCH = "torch"
# The safetensors metadata entry holding :func:`tensors_sha256` of the tensors, written by
# :func:`write_safetensors` so that damage to the tensor data is noticed when the file is read.
TENSORS_HASH_KEY = "painterly_tensors_sha256"



def special_file_kind(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is not a regular file ("a FIFO", "a folder" ...), else None.

    Opening a FIFO or a device blocks or reads forever, so callers check this before opening.
    Links are followed; a path that cannot be examined gives None (opening it reports why).
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else file_kind(mode)


def require_regular_file(path: Path, *, what: str, advice: str) -> None:
    """Raise a one-line error when ``path`` exists but is not a regular file (a FIFO, a device ...)."""
    kind = special_file_kind(path)
    if kind is not None:
        raise PainterlyError(f"{what} {path} is not a regular file ({kind}); {advice}")


def sniff_format(path: Path) -> str | None:
    """``"safetensors"``, ``"torch"`` or None, from the first bytes of the file."""
    with open(path, "rb") as file:
        head = file.read(9)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":  # torch zip archive or legacy pickle
        return TORCH
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 0:
        return SAFETENSORS
    return None


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors (on the CPU) and the metadata of a safetensors file."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as file:
            metadata = dict(file.metadata() or {})
            tensors = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118 (not a dict)
    except Exception as error:  # safetensors raises its own SafetensorError, or OSError
        raise PainterlyError(
            f"{path} is not a readable safetensors file ({_first_line(error)}); it may be truncated or not a "
            "weights file"
        ) from None
    return tensors, metadata


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """A sha256 over the names, dtypes, shapes and bytes of ``tensors`` (in name order).

    Hashing the tensors rather than the file makes the value independent of how safetensors
    lays the file out, and lets it live in the file's own metadata. Linear in the size (a timing:
    docs/benchmarks/README.md, "Measurements behind choices in the code").
    """
    digest = hashlib.sha256()
    for key in sorted(tensors):
        tensor = tensors[key].detach().to("cpu").contiguous()
        digest.update(f"{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())  # one tensor at a time
    return digest.hexdigest()


def recorded_hash_matches(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bool | None:
    """Whether ``tensors`` match the :data:`TENSORS_HASH_KEY` in ``metadata``; None when none is recorded."""
    recorded = metadata.get(TENSORS_HASH_KEY)
    if not recorded:
        return None
    return tensors_sha256(tensors) == recorded.strip().lower()


def read_torch(path: Path, *, label: str | None = None) -> Mapping[str, object]:
    """The state dict in a ``.pth`` file, loaded with ``weights_only=True`` (no code can run).

    ``label`` names the file in error messages (default: its path). Three failures are told
    apart: a file that is not PyTorch's at all (random bytes, text; neither a zip archive nor a
    pickle), a damaged one, and a genuine pickle of Python objects other than tensors.
    """
    name = label or str(path)
    try:
        kind = sniff_format(path)
    except OSError as error:
        raise PainterlyError(f"cannot read {name} ({error.strerror or error})") from None
    if kind != TORCH:
        raise PainterlyError(
            f"{name} is not a readable PyTorch weights file: it is neither a PyTorch zip archive nor a "
            "pickle (corrupt, or another kind of file); give a .pth/.pt state dict or a .safetensors file"
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise PainterlyError(_unpickling_message(name, error)) from None
    except Exception as error:  # torch raises RuntimeError, EOFError, KeyError ... for damaged files
        raise PainterlyError(
            f"{name} is not a readable PyTorch weights file ({_first_line(error)}); it may be truncated or corrupt"
        ) from None
    # Checkpoints often wrap the state dict: {"state_dict": {...}}.
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not any(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise PainterlyError(f"{name} does not hold a state dict (a mapping from names to tensors)")
    return loaded


def _unpickling_message(name: str, error: pickle.UnpicklingError) -> str:
    """Only a pickle that names a Python object (a GLOBAL) could run code; other failures are damage.

    torch's weights-only unpickler says "Unsupported global" for such objects and "Unsupported
    operand" (or similar) for bytes that are no valid pickle at all.
    """
    if "unsupported global" in str(error).lower():
        return (
            f"refusing to load {name}: it is not a plain state dict (it pickles Python objects, "
            "which could run code when loaded); save `model.state_dict()` or use a .safetensors file"
        )
    return f"{name} is not a readable PyTorch weights file (its pickle data is invalid); it is corrupt or truncated"


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    """Write float32 CPU copies of ``tensors`` atomically, with string ``metadata``; return their hash.

    The metadata also records :func:`tensors_sha256` of what is written (:data:`TENSORS_HASH_KEY`),
    which readers check with :func:`recorded_hash_matches`.
    """
    prepared: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for key, tensor in tensors.items():
        tensor = tensor.detach().to("cpu", torch.float32).contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in storages:  # safetensors refuses tensors that share memory
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        prepared[key] = tensor
    entries = {str(k): str(v) for k, v in metadata.items()}
    entries[TENSORS_HASH_KEY] = tensors_sha256(prepared)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp_path:
        save_file(prepared, str(temp_path), metadata=entries)
    return entries[TENSORS_HASH_KEY]
