"""Reading and writing weight files (safetensors and PyTorch state dicts), safely and atomically.

Nothing here knows about VGG: these functions move tensors between disk and memory and turn
every way a file can be wrong into a one-line :class:`PainterlyError`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from painterly.errors import PainterlyError

SAFETENSORS = "safetensors"
TORCH = "torch"


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
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PainterlyError(
            f"{path} is not a readable safetensors file ({reason}); it may be truncated or not a weights file"
        ) from None
    return tensors, metadata


def read_torch(path: Path, *, label: str | None = None) -> Mapping[str, object]:
    """The state dict in a ``.pth`` file, loaded with ``weights_only=True`` (no code can run).

    ``label`` names the file in error messages (default: its path).
    """
    name = label or str(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only" in str(error).lower():
            raise PainterlyError(
                f"refusing to load {name}: it is not a plain state dict (it pickles Python objects, "
                "which could run code when loaded); save `model.state_dict()` or use a .safetensors file"
            ) from None
        raise PainterlyError(f"{name} is not a readable PyTorch weights file ({error})") from None
    except Exception as error:  # torch raises RuntimeError, EOFError, KeyError ... for damaged files
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PainterlyError(
            f"{name} is not a readable PyTorch weights file ({reason}); it may be truncated or corrupt"
        ) from None
    # Checkpoints often wrap the state dict: {"state_dict": {...}}.
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not any(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise PainterlyError(f"{name} does not hold a state dict (a mapping from names to tensors)")
    return loaded


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``destination``; on success it replaces ``destination``.

    Readers never see a half-written file: the data is flushed to disk before ``os.replace``,
    and the temporary file is removed if anything fails.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its files are private (0600); this one gets the umask's permissions.
    temp_path = destination.parent / f".{destination.name}-{secrets.token_hex(6)}.part"
    temp_path.open("xb").close()
    try:
        yield temp_path
        with open(temp_path, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temp_path, destination)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    _fsync_directory(destination.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened this way on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Write float32 CPU copies of ``tensors`` atomically, with string ``metadata``."""
    prepared: dict[str, torch.Tensor] = {}
    storages: set[int] = set()
    for key, tensor in tensors.items():
        tensor = tensor.detach().to("cpu", torch.float32).contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in storages:  # safetensors refuses tensors that share memory
            tensor = tensor.clone()
        storages.add(tensor.untyped_storage().data_ptr())
        prepared[key] = tensor
    with atomic_path(path) as temp_path:
        save_file(prepared, str(temp_path), metadata={str(k): str(v) for k, v in metadata.items()})
