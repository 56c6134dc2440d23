"""How much memory a stylisation needs, how much is free, and a clear refusal before an out-of-memory crash.

The peak of a run is reached during one evaluation (forward + backward) at the final scale,
with the optimiser's state alive beside it. :func:`estimate_peak_bytes` adds up:

- the network's weights (float32, plus the bfloat16 copies autocast caches);
- the activations autograd keeps for the backward pass, every ReLU and pooling output up to the
  deepest requested layer plus the input, in the network's precision (max pooling also keeps
  int64 indices); with recomputation (``RunShape.recompute``, the ``memory`` option's low path,
  :mod:`painterly.models.vgg`) the input and each block's output, plus the larger of the requested
  layers (alive until the losses' backward has run) and the largest block's activations, which
  its backward pass recomputes (block 1: 64 + 64 channels at full resolution, and its pooling);
- the copies the losses keep for the backward pass: the content layers in float32 (the content
  loss upcasts bf16 activations; counted for channels_last fp32 runs too), and with a margin the
  style layers' cropped activations, in the network's precision (the Gram matrix reads uncropped
  activations in place, and since its gradient's product runs in bf16 it keeps no float32 copy:
  see :func:`painterly.losses.gram_matrix`);
- the gradients alive at once in the backward pass, a calibrated multiple of the largest
  activation (the first block: 64 channels at full resolution);
- the content targets, the Gram matrices and their gradients;
- the image, its gradient and the best image so far, plus Adam's two moments or L-BFGS's
  history of ``2 x lbfgs_history`` vectors of 3 x H x W float32 and its line-search vectors
  (painterly's L-BFGS keeps fewer pairs for large images, see :mod:`painterly.lbfgs`);
- a fixed overhead of the runtime (allocator and library workspaces).

Calibrated on this project's CPU (vgg16-hed and a VGG-19, 128-1024 px) by the growth of the peak
resident set size over one evaluation and over short L-BFGS and Adam runs, measured with glibc
returning freed blocks at once (``MALLOC_MMAP_THRESHOLD_=65536``), and checked on CUDA against
``torch.cuda.max_memory_allocated`` (``python -m benchmarks``): the estimate is meant to be at
least the measurement (to within a few percent) everywhere, and close to it at the sizes where
memory runs out. The fixed overhead is kept as a margin, so the estimate is loosest at small
sizes, where it weighs most. With glibc's
default allocator a small run may hold more than measured (freed blocks below 32 MB stay in the
heap); from about 1024 px on every large block is returned. On CUDA the same parts are counted
with 1 GiB of fixed overhead for the libraries' workspaces.

With recomputation the peak comes at the end of the forward pass, before the gradients that the
sum adds exist, so the estimate is safe there but less tight. For a small image recomputation can
cost more memory than it saves (its first pass's one-time costs). The measured ratios, the sizes
and the commands that re-measure them (``scripts/memory_probe.py``) are in
docs/benchmarks/README.md ("Lower-memory path" and "Measurements behind choices in the code").
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

from painterly.errors import PainterlyError
from painterly.lbfgs import HISTORY_BYTES, MAX_HISTORY, MIN_HISTORY
from painterly.models.vgg import VGGArchitecture, group_by_block
from painterly.options import MAX_SIZE, MIN_SIDE

# The longest side a painting may be scaled to by --style-scale: the largest --size (the option
# checks in painterly.options refuse the same). Beyond it the style targets alone need tens of
# GB; check_fits refuses it for API callers too, naming --style-scale rather than memory.
MAX_PAINTING_SIDE = MAX_SIZE  # the same limit as --size (named for what it bounds here)
# Where the kernel's files are (/proc, /sys); tests pass, or put here, a fake tree instead.
SYSTEM_ROOT = Path("/")
# cgroup v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages): treat anything above as none.
_NO_LIMIT = 2**60

# Gradients alive at once in the backward pass, in float32 copies of the largest activation,
# measured per configuration: (precision, channels_last) -> factor.
_BACKWARD_FACTORS = {("fp32", True): 2.1, ("fp32", False): 3.1, ("bf16", True): 1.5, ("bf16", False): 1.5}
# Vectors of 3 x H x W float32 beside the history pairs: image, gradient, best image, and the
# L-BFGS direction, previous gradient and line-search copies, or Adam's two moments.
_LBFGS_VECTORS = 10
_ADAM_VECTORS = 5
_FIXED_OVERHEAD = {"cpu": 64 * 2**20, "cuda": 2**30, "mps": 512 * 2**20}
# The first step of torch.optim.Adam loads code worth about this much on the CPU (measured).
_ADAM_CPU_OVERHEAD = 64 * 2**20


@dataclass(frozen=True)
class RunShape:
    """What decides a run's memory besides its size: the network, the layers and how it runs.

    ``layers`` are all loss layers (conv or relu names); ``content_layers`` those of them whose
    activations are kept as float32 targets. ``lbfgs_history`` is the number of L-BFGS update
    pairs alive at the peak; None: as many as painterly's L-BFGS keeps at this size
    (:func:`painterly.lbfgs.history_size_for`: at most 100 pairs and about 2 GiB).
    ``final_evaluations``, the evaluations planned at the final scale, caps the pairs (one per
    L-BFGS iteration at most). ``style_scale`` is the painting's long side as a multiple of the
    output's. ``recompute``: each VGG block's activations are recomputed in the backward pass
    (the ``memory`` option's lower-memory path) instead of kept. ``margin``: the pixels optimised
    around the output on every side (:mod:`painterly.margin`); sizes given to the functions below
    are the output's, without it.
    """

    arch: VGGArchitecture
    layers: Sequence[str]
    precision: str
    optimizer: str
    lbfgs_history: int | None = None
    final_evaluations: int | None = None
    content_layers: Sequence[str] = ()
    channels_last: bool = True
    pooling: str = "avg"
    device_type: str = "cpu"
    style_scale: float = 1.0
    recompute: bool = False
    margin: int = 0
    method: str = "gatys"  # a later method's own tensors are counted too (painterly.methods)
    painting_pixels: float = 1.0  # the painting's pixels over its long side squared

    def __post_init__(self) -> None:
        # precision ("fp32"/"bf16") and optimizer are checked by painterly.options.
        if not self.layers:
            raise ValueError("no layers given")


@dataclass(frozen=True)
class MemoryEstimate:
    """The parts of :func:`estimate_peak_bytes`, in bytes."""

    weights: int
    activations: int  # kept for the backward pass, in the network's precision
    loss_copies: int  # what the losses keep: float32 content layers, a margin's cropped style layers
    backward: int  # gradients alive at once in the backward pass
    targets: int  # content targets, Gram matrices and their gradients
    optimizer: int  # image, gradient, best image and the optimiser's state
    overhead: int  # allocator and library workspaces
    method: int = 0  # a later method's own: the painting's vectors, distance matrices (painterly.methods)

    @property
    def total(self) -> int:
        return sum(getattr(self, part.name) for part in fields(self))

    def as_dict(self) -> dict[str, int]:
        return {**{part.name: getattr(self, part.name) for part in fields(self)}, "total": self.total}


def estimate_memory(run: RunShape, height: int, width: int) -> MemoryEstimate:
    """The parts of the peak memory of `run` when its final scale is ``height`` x ``width``."""
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {height}x{width}")
    arch, precision, optimizer = run.arch, run.precision, run.optimizer
    wanted = {arch.resolve_layer(name) for name in run.layers}
    content = {arch.resolve_layer(name) for name in run.content_layers}
    deepest = max(arch.depth_of(name) for name in wanted)
    act_bytes = 2 if precision == "bf16" else 4

    # Elements of each tensor in forward order, at the output's size and at the painting's.
    def stage_elements(h: int, w: int) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for name in arch.layer_names()[: deepest + 1]:
            block = int(name[4]) if name.startswith("relu") else int(name[4:])
            if name.startswith("pool"):
                h, w = h // 2, w // 2
            sizes[name] = arch.channels[block - 1] * max(h, 0) * max(w, 0)
        return sizes

    elements = stage_elements(height + 2 * run.margin, width + 2 * run.margin)  # the canvas the network sees
    pixels = (height + 2 * run.margin) * (width + 2 * run.margin)
    parameters = sum(
        math.prod(shape)
        for key, shape in arch.parameter_shapes().items()
        if arch.depth_of("relu" + key.split(".")[0][len("conv") :]) <= deepest
    )
    weights = parameters * (4 + (2 if precision == "bf16" else 0))
    copy_needed = precision == "bf16" or run.channels_last
    if run.recompute:
        activations = _recomputed_activations(elements, wanted, pixels, act_bytes, run.pooling)
    else:
        activations = (3 * pixels + sum(elements.values())) * act_bytes
        if run.pooling == "max":
            activations += 8 * sum(count for name, count in elements.items() if name.startswith("pool"))
    # The content loss keeps its layers' differences from the targets in float32; the Gram matrix
    # keeps the style layers' activations as they are (its float32 copy for G is freed at once),
    # except that the cropped activations of a margin are a copy it cannot read in place.
    loss_copies = 4 * sum(elements[name] for name in content & wanted) if copy_needed else 0
    if run.margin:
        loss_copies += act_bytes * sum(elements[name] for name in wanted - content)
    largest = max(elements.values())
    backward = int(_BACKWARD_FACTORS[(precision, run.channels_last)] * 4 * largest)
    grams = sum(arch.channels[int(name[4]) - 1] ** 2 for name in wanted if name.startswith("relu"))
    targets = 4 * (2 * sum(elements[name] for name in content & set(elements)) + 4 * grams)
    vector = 3 * pixels * 4
    if optimizer == "lbfgs":
        pair = 2 * vector
        if run.lbfgs_history is None:  # painterly's rule, without its rounding down (keeps the estimate monotone)
            history = min(MAX_HISTORY * pair, max(HISTORY_BYTES, MIN_HISTORY * pair))
        else:
            history = max(0, run.lbfgs_history) * pair
        if run.final_evaluations is not None:
            history = min(history, max(0, run.final_evaluations) * pair)
        optimizer_bytes = history + _LBFGS_VECTORS * vector
    else:
        optimizer_bytes = _ADAM_VECTORS * vector
    overhead = _FIXED_OVERHEAD.get(run.device_type, _FIXED_OVERHEAD["cuda"])
    if optimizer == "adam" and run.device_type == "cpu":
        overhead += _ADAM_CPU_OVERHEAD

    # The painting's targets are computed without gradients before the optimisation of a scale:
    # its loss layers plus two activations in flight, at most a square of the painting's long side,
    # in the network's precision, and in bf16 the float32 copy that one Gram matrix at a time is
    # formed from. Only a large style_scale makes this the peak.
    painting_side = max(1, round(max(height, width) * run.style_scale))
    painting = stage_elements(painting_side, painting_side)
    painting_peak = (sum(painting[name] for name in wanted) + 2 * max(painting.values())) * act_bytes
    if precision == "bf16":
        painting_peak += 4 * max(painting[name] for name in wanted - content or wanted)
    evaluation = activations + loss_copies + backward + optimizer_bytes
    if painting_peak > evaluation:
        activations += painting_peak - evaluation
    method = _method_bytes(run, elements, painting_side, wanted, act_bytes)
    return MemoryEstimate(weights, activations, loss_copies, backward, targets, optimizer_bytes, overhead, method)


def _method_bytes(run: RunShape, elements: dict[str, int], painting_side: int, wanted: set[str], act_bytes: int) -> int:
    """The bytes of a later method's own tensors at the final scale (:mod:`painterly.methods`).

    Both keep the photo's activations at their layers. STROTSS: the painting's vectors (d numbers
    each: RGB and its layers' channels), d x d covariances with their gradients, the picture's
    cost matrices against the painting and itself, three copies each. NNST: hypercolumns at a
    quarter of the sides (C numbers: its layers' channels) of the query, the targets and the
    picture (with gradients), the painting's in four rotations, one chunk of distances; its final
    pass keeps every layer of the painting in four rotations, and a distance matrix of at most
    (64 x 64) by four times as many painting positions per layer, with its gradient. Both counts
    keep the matrices' gradients, which the backward pass no longer forms (only the matched
    distances are differentiated: :func:`~painterly.methods.strotss.cosine_remd`,
    :func:`~painterly.methods.features.nearest_distances`), so they are upper bounds.
    """
    if run.method == "gatys":
        return 0
    from painterly.methods import features, strotss

    arch = run.arch
    channels = [arch.channels[int(name[4]) - 1] for name in wanted]
    photo = sum(elements[name] for name in wanted) * act_bytes
    if run.method == "strotss":
        d = 3 + sum(channels)
        samples, style = strotss.SAMPLES, strotss.STYLE_SAMPLES
        return photo + 4 * (style * d + 4 * d * d + 4 * samples * d + 3 * samples * style + 6 * samples**2)
    quarter = max(1, elements["relu1_1"] // arch.channels[0] // 16)  # (H / 4) (W / 4) of the canvas
    painting_quarter = max(1, round(painting_side**2 * run.painting_pixels / 16))
    columns = sum(channels)
    dense = 4 * columns * (5 * quarter + 4 * painting_quarter)
    painting_layers = 4 * 4 * sum(elements[name] for name in wanted) * painting_side**2 * run.painting_pixels
    painting_layers /= max(1, elements["relu1_1"] // arch.channels[0])
    split = 2 * 4 * 64 * 64 * 4 * 64 * 64
    return photo + dense + features.CHUNK_BYTES + int(painting_layers) + split


def _recomputed_activations(
    elements: dict[str, int], wanted: set[str], pixels: int, act_bytes: int, pooling: str
) -> int:
    """Bytes of activations when each block is recomputed in its backward pass (:mod:`painterly.models.vgg`).

    Kept through the whole pass: the input and each block's output (the next block's input).
    Besides them, the larger of the requested layers (alive until the losses' backward has run,
    which comes before every block's) and the largest block's activations recomputed in its
    backward pass (with max pooling's indices): the two are never alive at once.
    """
    blocks = group_by_block(list(elements))  # elements are in forward order
    kept = {names[-1] for names in blocks[:-1]}
    requested = sum(elements[name] for name in wanted - kept) * act_bytes
    indices = 8 if pooling == "max" else 0
    largest = max(
        sum(elements[name] * (act_bytes + (indices if name.startswith("pool") else 0)) for name in names)
        for names in blocks
    )
    return (3 * pixels + sum(elements[name] for name in kept)) * act_bytes + max(requested, largest)


def estimate_peak_bytes(run: RunShape, height: int, width: int) -> int:
    """Estimated peak memory in bytes of `run` at ``height`` x ``width`` (grows with the size)."""
    return estimate_memory(run, height, width).total


def available_bytes(device: torch.device | str, *, root: Path | None = None) -> int:
    """Memory free for a new run on ``device``: CUDA's free memory, else the system's available memory.

    On the CPU (and MPS, which shares it) this is the smaller of MemAvailable of /proc/meminfo (else
    the free physical pages) and what this process's cgroup memory limit leaves (containers,
    systemd slices; see :func:`cgroup_memory`): the kernel kills a process at its cgroup's limit
    however much the machine has free. When nothing can be read it returns a very large number
    (nothing is refused). ``root`` replaces :data:`SYSTEM_ROOT` (``/``) for the files read (tests
    build fake trees).
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        allocated = getattr(torch.mps, "driver_allocated_memory", None)
        if recommended is not None and allocated is not None:
            return max(0, int(recommended()) - int(allocated()))
    return _system_available_bytes(SYSTEM_ROOT if root is None else root)


def _system_available_bytes(root: Path) -> int:
    free = _meminfo_available(root)
    limited = cgroup_memory(root)
    return free if limited is None else min(free, limited.available)


def _meminfo_available(root: Path) -> int:
    try:
        with open(root / "proc" / "meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if root != Path("/"):  # a fake tree without meminfo: do not read the real machine's pages
        return 2**62
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return int(os.sysconf(pages)) * int(os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            continue
    return 2**62


@dataclass(frozen=True)
class CgroupLimit:
    """The tightest memory limit among this process's cgroups, and what it leaves free, in bytes."""

    limit: int
    available: int  # the limit less the usage, not counting page cache the kernel can reclaim


# (controller line in /proc/self/cgroup, mount point under /sys/fs/cgroup, limit, usage, reclaimable in memory.stat)
_CGROUP_V2 = ("", "", "memory.max", "memory.current", "inactive_file")
_CGROUP_V1 = ("memory", "memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")


def cgroup_memory(root: Path | None = None) -> CgroupLimit | None:
    """The memory limit of this process's cgroup (v2 or v1) or any of its parents; None if unlimited.

    The process's cgroup comes from ``/proc/self/cgroup`` (v2: the ``0::`` line; v1: the line of
    the ``memory`` controller), its files from the usual mount points ``/sys/fs/cgroup`` (v2) and
    ``/sys/fs/cgroup/memory`` (v1). In a container the cgroup's path is often not visible under
    the mount point; then the mount point's own files (the container's) are read. Each level with
    a limit counts ("max" or a huge number means none); missing or unreadable files are skipped.
    ``root`` replaces :data:`SYSTEM_ROOT`.
    """
    root = SYSTEM_ROOT if root is None else root
    paths = _cgroup_paths(root / "proc" / "self" / "cgroup")
    found = []
    for layout in (_CGROUP_V2, _CGROUP_V1):
        controller, mount, *_ = layout
        if controller in paths:
            base = root / "sys" / "fs" / "cgroup" / mount
            limits = (_limit_in(folder, layout) for folder in _cgroup_folders(base, paths[controller]))
            found += [limit for limit in limits if limit is not None]
    return min(found, key=lambda limit: limit.available, default=None)


def _cgroup_paths(proc_cgroup: Path) -> dict[str, str]:
    """Controller ("" for v2, "memory" for v1) -> the process's cgroup path, from /proc/self/cgroup."""
    try:
        lines = proc_cgroup.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    paths: dict[str, str] = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hierarchy, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths.setdefault(controller, path.strip())
    return paths


def _cgroup_folders(base: Path, path: str) -> list[Path]:
    """The cgroup's folder and its parents up to the mount point (only the mount point if not visible)."""
    relative = Path(path.strip().lstrip("/"))
    if ".." in relative.parts or not (base / relative).is_dir():
        return [base]
    folder = base / relative
    return [folder, *[parent for parent in folder.parents if parent.is_relative_to(base)]]


def _limit_in(folder: Path, layout: tuple[str, ...]) -> CgroupLimit | None:
    _controller, _mount, limit_file, usage_file, reclaimable_key = layout
    limit = _read_bytes(folder / limit_file)
    if limit is None or limit >= _NO_LIMIT:
        return None
    usage = _read_bytes(folder / usage_file) or 0
    reclaimable = min(_read_stat(folder / "memory.stat", reclaimable_key), usage)
    return CgroupLimit(limit, max(0, limit - (usage - reclaimable)))


def _read_bytes(path: Path) -> int | None:
    """The number in a cgroup file; None when missing, unreadable or "max" (no limit)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _read_stat(path: Path, key: str) -> int:
    """One entry of memory.stat (0 when absent): the page cache the kernel would reclaim first."""
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except (OSError, UnicodeDecodeError):
        pass
    return 0


def largest_fitting_size(run: RunShape, height: int, width: int, *, available: int) -> int:
    """The largest long side (rounded down to 100 px above 1000, 10 px above 100) whose estimate fits in ``available``.

    The aspect ratio of ``height`` x ``width`` is kept. Returns 0 when not even 16 px fits.
    """
    aspect_h, aspect_w = height / max(height, width), width / max(height, width)

    def fits(long_side: int) -> bool:
        h, w = max(1, round(long_side * aspect_h)), max(1, round(long_side * aspect_w))
        return estimate_peak_bytes(run, h, w) <= available

    if not fits(MIN_SIDE):
        return 0
    low, high = MIN_SIDE, MIN_SIDE * 2
    while fits(high):
        low, high = high, high * 2
        if high > 2**20:
            return low
    while high - low > 1:  # fits(low), not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    step = 100 if low >= 1000 else 10 if low >= 100 else 1
    return max(MIN_SIDE, low // step * step)


def check_fits(run: RunShape, height: int, width: int, *, available: int | None = None) -> None:
    """Raise a one-line :class:`PainterlyError` when `run` would not fit in its device's free memory.

    ``available`` overrides :func:`available_bytes` (for tests). The message names the real
    cause: a ``--style-scale`` that makes the painting larger than :data:`MAX_PAINTING_SIDE` or
    than memory allows (with the largest scale that fits), else the memory needed and free (and
    the container's limit when that is what binds) and the largest size that fits.
    """
    long_side = max(height, width)
    painting_side = _painting_side(run, long_side)
    if painting_side > MAX_PAINTING_SIDE:
        raise PainterlyError(
            f"--style-scale {run.style_scale:g} makes the painting {painting_side} px on its long side for a "
            f"{long_side} px output, more than the {MAX_PAINTING_SIDE} px painterly allows; lower --style-scale "
            f"to {_round_down(MAX_PAINTING_SIDE / long_side):g} or less"
        )
    needed = estimate_peak_bytes(run, height, width)
    free = available_bytes(run.device_type) if available is None else available
    if needed <= free:
        return
    free_text = f"{format_bytes(free)} is free{_limit_note(run, free) if available is None else ''}"
    if run.style_scale > 1 and estimate_peak_bytes(replace(run, style_scale=1.0), height, width) <= free:
        scale = _largest_fitting_style_scale(run, height, width, free)
        raise PainterlyError(
            f"--style-scale {run.style_scale:g} makes the painting {painting_side} px on its long side, which needs "
            f"about {format_bytes(needed)} on {run.device_type} but {free_text}; lower --style-scale to {scale:g} "
            "or less"
        )
    how = " with activations recomputed (--memory low)" if run.recompute else ""
    raise PainterlyError(
        f"a {long_side} px output needs about {format_bytes(needed)} on {run.device_type}{how} but {free_text}; "
        f"{_size_advice(run, height, width, free)}"
    )


def choose_recompute(
    run: RunShape, height: int, width: int, memory: str = "auto", *, available: int | None = None
) -> bool:
    """Whether `run` recomputes activations (the ``memory`` option); :func:`check_fits`'s refusal if it does not fit.

    ``memory``: "normal" never recomputes, "low" always, "auto" only when the normal path does not
    fit and the recomputing one does (it costs time: see the module's docstring). When neither
    fits, "auto" refuses with the recomputing path's needs and the largest size that fits with
    it. ``available`` overrides :func:`available_bytes` (for tests).
    """
    if memory not in ("auto", "normal", "low"):
        raise ValueError(f"memory must be auto, normal or low, got {memory!r}")
    if memory != "low":
        try:
            check_fits(replace(run, recompute=False), height, width, available=available)
            return False
        except PainterlyError:
            if memory == "normal":
                raise
    check_fits(replace(run, recompute=True), height, width, available=available)
    return True


def _size_advice(run: RunShape, height: int, width: int, free: int) -> str:
    """The largest size that fits (or that nothing does), and whether Adam instead of L-BFGS, or
    recomputed activations, would fit."""
    largest = largest_fitting_size(run, height, width, available=free)
    other = " or --device cpu" if run.device_type != "cpu" else ""
    if largest:
        advice = f"the largest size that fits is about {largest} px (use --size {largest}{other})"
    else:
        advice = f"not even {MIN_SIDE} px fits; free some memory{other.replace(' or', ', or use')}"
    if run.optimizer == "lbfgs" and estimate_peak_bytes(replace(run, optimizer="adam"), height, width) <= free:
        advice += "; --optimizer adam would fit at this size"
    if not run.recompute and estimate_peak_bytes(replace(run, recompute=True), height, width) <= free:
        advice += "; --memory low (or auto) would fit at this size"
    return advice


def _painting_side(run: RunShape, long_side: int) -> int:
    """The painting's long side at the final scale, as :func:`estimate_memory` counts it."""
    return max(1, round(long_side * run.style_scale))


def _largest_fitting_style_scale(run: RunShape, height: int, width: int, free: int) -> float:
    """The largest --style-scale (two significant digits, rounded down, at least 1) that fits in ``free``."""
    long_side = max(height, width)
    low, high = long_side, _painting_side(run, long_side)  # the painting's side: fits at low, not at high

    def fits(side: int) -> bool:
        return estimate_peak_bytes(replace(run, style_scale=side / long_side), height, width) <= free

    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return max(1.0, _round_down(low / long_side))


def _round_down(value: float) -> float:
    """``value`` rounded down to two significant digits (3.87 -> 3.8, 0.0641 -> 0.064)."""
    if value <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(value)) - 1)
    return math.floor(value / step + 1e-9) * step


def _limit_note(run: RunShape, free: int) -> str:
    """The note " under this container's memory limit of N" when a cgroup limit is what leaves ``free``."""
    if run.device_type == "cuda":
        return ""
    limited = cgroup_memory()
    if limited is None or limited.available > free * 1.05:
        return ""
    return f" under this container's memory limit of {format_bytes(limited.limit)}"


def format_bytes(count: int) -> str:
    """1.5 GB, 85 GB, 640 MB (decimal units)."""
    if count >= 10e9:
        return f"{count / 1e9:.0f} GB"
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB"
    return f"{max(count, 0) / 1e6:.0f} MB"
