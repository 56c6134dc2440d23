"""Loading, resizing and saving images.

Every image inside painterly is a float32 tensor of shape (1, 3, H, W): RGB, values in 0..1, on the
CPU until a caller moves it. This module turns whatever a user hands over (a path, a PIL image, a
tensor) into that form, with a one-line :class:`~painterly.errors.PainterlyError` for every input a
user can get wrong, and writes results back atomically.
"""

from __future__ import annotations

import errno
import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, PngImagePlugin

from painterly.atomic import atomic_path
from painterly.errors import PainterlyError
from painterly.models.files import special_file_kind

ImageSource = str | os.PathLike | Image.Image | torch.Tensor

#: Smallest accepted height or width, in pixels, of a loaded image (a file; the network's own
#: smallest side, which the output size must keep, is :data:`painterly.options.MIN_SIDE`).
MIN_IMAGE_SIDE = 8

#: Output file extensions and the Pillow format each one selects.
OUTPUT_FORMATS: dict[str, str] = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}

# Tensors may stray this far outside 0..1 (float rounding) before they count as out of range.
_RANGE_TOLERANCE = 1e-4

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


# ---------------------------------------------------------------------------------------------------
# Helpers for messages


def _show(path: str | os.PathLike) -> str:
    """Quote a path for a one-line message (escaped with repr if it holds control characters)."""
    text = os.fsdecode(path)
    if all(ch.isprintable() for ch in text):
        return f"'{text}'"
    return repr(text)


def _one_line(text: object) -> str:
    """Collapse an exception's text to a single line."""
    return " ".join(str(text).split()) or "unknown error"


def _what(role: str, path: str | os.PathLike | None) -> str:
    return f"{role} {_show(path)}" if path is not None else role


# ---------------------------------------------------------------------------------------------------
# Loading


def load_image(source: ImageSource, *, role: str = "image") -> torch.Tensor:
    """Load an image as a float32 (1, 3, H, W) RGB tensor in [0, 1] on the CPU.

    ``source`` may be a path, a PIL image or a tensor. Paths honour the EXIF orientation; any
    Pillow mode is converted to RGB (transparency is composited on white, 16-bit greyscale keeps its
    precision); animated images give their first frame. Tensors may be (3, H, W), (1, 3, H, W) or
    greyscale (H, W), (1, H, W), (1, 1, H, W), either float in [0, 1] or uint8; a detached copy is
    returned. ``role`` ("content image", "style image", ...) names the image in error messages.

    Raises PainterlyError for anything a user can fix: a missing, unreadable, damaged, enormous or
    tiny (< ``MIN_IMAGE_SIDE`` pixels on a side) image, a path that is not a regular file (a FIFO or a
    device, refused before it is opened), or a tensor of the wrong shape, type or range.
    """
    if isinstance(source, torch.Tensor):
        image = _tensor_to_image(source, role)
        path = None
    elif isinstance(source, Image.Image):
        path = None
        pil = _decode(source, role, path)
        image = _pil_to_tensor(pil, role, path)
    elif isinstance(source, (str, os.PathLike)):
        if not os.fspath(source):
            raise PainterlyError(f"no {role} given; pass the path of an image file")
        path = Path(source).expanduser()
        image = _pil_to_tensor(_open_path(path, role), role, path)
    else:
        raise TypeError(f"{role}: expected a path, a PIL image or a torch.Tensor, got {type(source).__name__}")
    _check_size(image, role, path)
    return image


def _open_path(path: Path, role: str) -> Image.Image:
    """Open, fully decode and orient the image at ``path``; every failure becomes a PainterlyError."""
    what = _what(role, path)
    if not path.exists():
        raise PainterlyError(f"{what} does not exist; check the path")
    if path.is_dir():
        raise PainterlyError(f"{what} is a folder, not an image file; give the path of an image file")
    kind = special_file_kind(path)  # before opening: opening a FIFO blocks until a writer comes
    if kind is not None:
        raise PainterlyError(f"{what} is not a regular file ({kind}); give an image file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below; `open` is a module global tests can replace)
    except PermissionError:
        raise PainterlyError(f"cannot read {what}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise PainterlyError(f"cannot read {what}: {_one_line(exc.strerror or exc)}") from None
    with fh, open_header(fh, what) as pil:
        return _decode(pil, role, path)


def open_header(stream: BinaryIO, what: str) -> Image.Image:
    """Read an image's header from ``stream`` (not yet its pixels), with Pillow's decompression-bomb
    limit as an error; an unreadable or oversized image becomes a PainterlyError naming ``what``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pil = Image.open(stream)
            pil.size  # noqa: B018 (the header is read: a bomb is refused here)
            return pil
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PainterlyError(
            f"{what} has more than {Image.MAX_IMAGE_PIXELS} pixels, too large to load safely; downscale it first"
        ) from None
    except Image.UnidentifiedImageError:
        raise PainterlyError(
            f"{what} is not an image Pillow can read; use a PNG, JPEG or other common image file"
        ) from None
    except OSError as exc:
        raise PainterlyError(f"cannot read {what}: {_one_line(exc.strerror or exc)}") from None


def _decode(pil: Image.Image, role: str, path: Path | None) -> Image.Image:
    """Force a full decode (so truncated files fail here) and apply the EXIF orientation."""
    what = _what(role, path)
    try:
        pil.load()
    except MemoryError:
        raise PainterlyError(f"{what} is too large to fit in memory; downscale it first") from None
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, EOFError, ValueError, ...
        raise PainterlyError(
            f"{what} is damaged or truncated ({_one_line(exc)}); re-export or re-download it"
        ) from None
    if pil.width == 0 or pil.height == 0:
        raise PainterlyError(f"{what} is empty ({pil.width}x{pil.height} pixels); use another image")
    try:
        oriented = ImageOps.exif_transpose(pil)
    except Exception:  # a malformed EXIF block should not stop an otherwise good image
        oriented = None
    return oriented if oriented is not None else pil.copy()


def _pil_to_tensor(pil: Image.Image, role: str, path: Path | None) -> torch.Tensor:
    """Convert any Pillow mode to a (1, 3, H, W) float32 RGB tensor in [0, 1]."""
    mode = pil.mode
    if mode in _SIXTEEN_BIT_MODES:
        # Pillow's own conversion to 8 bits clips these to 0..255 (so mid-grey would come out white).
        grey = np.asarray(pil).astype(np.float32) / 65535.0
        rgb = np.repeat(np.clip(grey, 0.0, 1.0)[..., None], 3, axis=2)
    elif mode == "F":
        rgb = np.repeat(_float_grey(np.asarray(pil, dtype=np.float32), role, path)[..., None], 3, axis=2)
    elif mode in _ALPHA_MODES or "transparency" in pil.info:
        if mode == "La":
            pil = pil.convert("LA")
        try:
            rgba = np.asarray(pil.convert("RGBA"), dtype=np.float32) / 255.0
        except ValueError:
            rgba = None
        if rgba is not None:
            alpha = rgba[..., 3:]
            rgb = rgba[..., :3] * alpha + (1.0 - alpha)  # composite on white
        else:
            rgb = _convert_rgb(pil, role, path)
    elif mode == "CMYK":
        rgb = _cmyk_to_rgb(pil)
    else:
        rgb = _convert_rgb(pil, role, path)
    tensor = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))
    return tensor.permute(2, 0, 1).unsqueeze(0).contiguous()


def _convert_rgb(pil: Image.Image, role: str, path: Path | None) -> np.ndarray:
    try:
        return np.asarray(pil.convert("RGB"), dtype=np.float32) / 255.0
    except ValueError:
        raise PainterlyError(
            f"{_what(role, path)} has an unsupported pixel format ({pil.mode}); convert it to RGB first"
        ) from None


def _float_grey(grey: np.ndarray, role: str, path: Path | None) -> np.ndarray:
    """Scale a 32-bit float greyscale image: 0..1 as is, else 0..255, else 0..65535."""
    if not np.isfinite(grey).all():
        raise PainterlyError(f"{_what(role, path)} contains NaN or infinite pixel values; use another image")
    top = float(grey.max()) if grey.size else 0.0
    if top > 255.0:
        grey = grey / 65535.0
    elif top > 1.0:
        grey = grey / 255.0
    return np.clip(grey, 0.0, 1.0)


def _cmyk_to_rgb(pil: Image.Image) -> np.ndarray:
    """CMYK to RGB through the embedded ICC profile when there is one, else Pillow's plain formula."""
    icc = pil.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            transform = ImageCms.buildTransform(
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                "CMYK",
                "RGB",
                renderingIntent=ImageCms.Intent.PERCEPTUAL,
            )
            converted = ImageCms.applyTransform(pil, transform)
            if converted is not None:
                return np.asarray(converted, dtype=np.float32) / 255.0
        except Exception:  # missing littlecms, or a broken profile: fall back to the plain formula
            pass
    return np.asarray(pil.convert("RGB"), dtype=np.float32) / 255.0


def _tensor_to_image(tensor: torch.Tensor, role: str) -> torch.Tensor:
    """Validate a user tensor and return a detached float32 (1, 3, H, W) CPU copy.

    A tensor on the meta device has a shape but no values, and a sparse one cannot be reshaped:
    both are refused by name rather than left to fail inside torch."""
    if tensor.device.type == "meta":
        raise PainterlyError(
            f"{role}: the tensor is on the meta device, which holds no pixel values; pass a tensor with data "
            "(e.g. on the CPU)"
        )
    if tensor.layout != torch.strided:
        raise PainterlyError(f"{role}: a sparse tensor ({tensor.layout}) is not supported; pass tensor.to_dense()")
    shape = tuple(tensor.shape)
    if tensor.dim() == 2:
        image = tensor.reshape(1, 1, *shape).expand(1, 3, *shape)
    elif tensor.dim() == 3 and shape[0] in (1, 3):
        image = tensor.unsqueeze(0).expand(1, 3, *shape[1:])
    elif tensor.dim() == 4 and shape[0] == 1 and shape[1] in (1, 3):
        image = tensor.expand(1, 3, *shape[2:])
    else:
        raise PainterlyError(
            f"{role}: a tensor of shape {list(shape)} is not an image; "
            "expected (3, H, W), (1, 3, H, W) or greyscale (H, W), (1, H, W)"
        )
    image = image.detach()
    if image.dtype == torch.uint8:
        return image.to(device="cpu", dtype=torch.float32).div(255.0).contiguous()
    if not image.is_floating_point():
        raise PainterlyError(
            f"{role}: a tensor of dtype {str(tensor.dtype).removeprefix('torch.')} is not supported; "
            "use float values in [0, 1] or uint8 values in 0..255"
        )
    image = image.to(device="cpu", dtype=torch.float32, copy=True).contiguous()
    if image.numel() == 0:
        return image
    if not torch.isfinite(image).all():
        raise PainterlyError(f"{role}: the tensor contains NaN or infinite values; pass values in [0, 1]")
    low, high = float(image.min()), float(image.max())
    if low < -_RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
        raise PainterlyError(
            f"{role}: tensor values must lie in [0, 1] but range from {low:.4g} to {high:.4g}; "
            "rescale it (divide 0..255 values by 255)"
        )
    return image.clamp_(0.0, 1.0)


def _check_size(image: torch.Tensor, role: str, path: Path | None) -> None:
    height, width = image_size(image)
    what = _what(role, path)
    if height == 0 or width == 0:
        raise PainterlyError(f"{what} is empty ({width}x{height} pixels); use another image")
    if height < MIN_IMAGE_SIDE or width < MIN_IMAGE_SIDE:
        raise PainterlyError(
            f"{what} is too small ({width}x{height} pixels); it must be at least {MIN_IMAGE_SIDE} pixels on each side"
        )


# ---------------------------------------------------------------------------------------------------
# Sizes and resizing


def image_size(image: torch.Tensor) -> tuple[int, int]:
    """Return (height, width) of an image tensor (its last two dimensions)."""
    if image.dim() < 2:
        raise ValueError(f"an image tensor needs at least 2 dimensions, got shape {list(image.shape)}")
    return int(image.shape[-2]), int(image.shape[-1])


def fit_long_side(height: int, width: int, long_side: int) -> tuple[int, int]:
    """Return (height, width) scaled so the longer side is ``long_side``, keeping the aspect ratio.

    The shorter side is rounded to the nearest pixel (halves up) and is at least 1.
    """
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if long_side < 1:
        raise PainterlyError(f"image size must be at least 1 pixel, got {long_side}; pass a positive size")
    if height >= width:
        return long_side, max(1, (2 * width * long_side + height) // (2 * height))
    return max(1, (2 * height * long_side + width) // (2 * width)), long_side


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a (N, C, H, W) or (C, H, W) image to ``size`` = (height, width).

    Bicubic, antialiased when shrinking, clamped to [0, 1]. Returns a new tensor of the same rank.
    """
    new_h, new_w = (int(s) for s in size)
    if new_h < 1 or new_w < 1:
        raise ValueError(f"resize target must be positive, got {new_h}x{new_w}")
    if image.dim() not in (3, 4):
        raise ValueError(f"expected a (N, C, H, W) or (C, H, W) image, got shape {list(image.shape)}")
    batched = image if image.dim() == 4 else image.unsqueeze(0)
    height, width = image_size(batched)
    if (new_h, new_w) == (height, width):
        out = batched.clone()
    else:
        source = batched if batched.is_floating_point() else batched.float()
        out = F.interpolate(
            source,
            size=(new_h, new_w),
            mode="bicubic",
            align_corners=False,
            antialias=new_h < height or new_w < width,
        )
    out = out.clamp(0.0, 1.0)
    return out if image.dim() == 4 else out.squeeze(0)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize so the longer side is ``long_side`` pixels, keeping the aspect ratio."""
    return resize(image, fit_long_side(*image_size(image), long_side))


# ---------------------------------------------------------------------------------------------------
# Saving


def to_pil(image: torch.Tensor) -> Image.Image:
    """Convert a (1, 3, H, W) or (3, H, W) tensor to an 8-bit RGB PIL image (clamped, rounded)."""
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a (1, 3, H, W) or (3, H, W) image, got shape {list(image.shape)}")
    image = image.detach().to(device="cpu", dtype=torch.float32)
    if torch.isnan(image).any():
        raise PainterlyError("the image to save contains NaN values (the optimisation probably diverged)")
    pixels = image.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())


def check_output_path(
    path: str | os.PathLike,
    *,
    inputs: Sequence[str | os.PathLike] | Mapping[str, str | os.PathLike] = (),
) -> Path:
    """Check that an image can be written to ``path`` before any work starts; return it as a Path.

    The extension must be .png, .jpg or .jpeg; the folder must exist and be writable; the path must
    not be a folder nor the same file (also via links) as any of ``inputs``. ``inputs`` is a sequence
    of paths or a mapping from role ("content image") to path, the role being used in the message.
    Items that are not paths (tensors, PIL images) are ignored.
    """
    out = Path(path).expanduser()
    shown = _show(out)
    if out.is_dir():
        raise PainterlyError(f"output path {shown} is a folder; give a file name ending in .png or .jpg")
    if out.suffix.lower() not in OUTPUT_FORMATS:
        got = f"'{out.suffix}'" if out.suffix else "no extension"
        raise PainterlyError(f"output path {shown} has {got}; it must end in .png, .jpg or .jpeg")
    folder = out.parent
    if not folder.exists():
        raise PainterlyError(f"folder {_show(folder)} does not exist; create it first")
    if not folder.is_dir():
        raise PainterlyError(f"{_show(folder)} is not a folder; choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PainterlyError(f"folder {_show(folder)} is not writable; choose another output folder")
    named = inputs.items() if isinstance(inputs, Mapping) else (("input image", p) for p in inputs)
    for role, source in named:
        if not isinstance(source, (str, os.PathLike)):
            continue
        other = Path(source).expanduser()
        if _same_file(out, other):
            raise PainterlyError(
                f"output path {shown} is the same file as the {role} {_show(other)}; choose another name"
            )
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):
        pass
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def save_image(
    image: torch.Tensor,
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
    jpeg_quality: int = 95,
) -> Path:
    """Write ``image`` to ``path`` atomically (temp file in the same folder, then ``os.replace``).

    The format follows the extension (.png, .jpg, .jpeg). PNG gets ``metadata`` as text chunks
    (tEXt, or iTXt for non-Latin-1 values); JPEG gets ``jpeg_quality`` (4:4:4 chroma) and the
    metadata as a JSON comment. On any failure no partial file is left and an existing file at
    ``path`` is untouched; OS errors (permission, disk full) become a PainterlyError. The caller is
    expected to have run :func:`check_output_path` already. Returns the path written.
    """
    out = Path(path).expanduser()
    fmt = OUTPUT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise PainterlyError(f"output path {_show(out)} must end in .png, .jpg or .jpeg")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
    pil = to_pil(image)
    params: dict[str, object] = {}
    if fmt == "PNG":
        if metadata:
            params["pnginfo"] = _png_info(metadata)
    else:
        params.update(quality=jpeg_quality, subsampling="4:4:4")
        if metadata:
            params["comment"] = json.dumps(dict(metadata), ensure_ascii=True, sort_keys=True)

    try:
        with atomic_path(out) as temporary:
            with open(temporary, "wb") as stream:
                pil.save(stream, format=fmt, **params)
            os.chmod(temporary, _new_file_mode(out))
    except OSError as exc:
        raise PainterlyError(f"could not save {_show(out)}: {_os_reason(exc, out)}") from None
    return out


def _png_info(metadata: Mapping[str, str]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"PNG metadata keys and values must be str, got {key!r}: {value!r}")
        try:
            latin1_key = key.encode("latin-1")
        except UnicodeEncodeError:
            latin1_key = b""
        if not 1 <= len(latin1_key) <= 79 or b"\0" in latin1_key:
            raise ValueError(f"PNG metadata key {key!r} must be 1-79 Latin-1 characters without NUL")
        info.add_text(key, value)  # tEXt, or iTXt when the value is not Latin-1
    return info


def _new_file_mode(out: Path) -> int:
    """Permissions for the output: an existing file's, else the usual 0o666 less the umask."""
    try:
        return out.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _os_reason(exc: OSError, out: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device; free some space or choose another folder"
    if exc.errno in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
        return "permission denied; choose a writable folder"
    if exc.errno == errno.ENOENT and not out.parent.exists():
        return f"folder {_show(out.parent)} does not exist; create it first"
    return _one_line(exc.strerror or exc)


def read_png_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Return the text metadata of an image written by :func:`save_image`.

    PNG: every tEXt/zTXt/iTXt chunk. JPEG: the comment parsed as a JSON object (or, if it is not
    one, ``{"comment": text}``); an image without metadata gives ``{}``.
    """
    source = Path(path).expanduser()
    try:
        with Image.open(source) as pil:
            pil.load()
            if pil.format == "PNG":
                return {str(k): str(v) for k, v in pil.text.items()}
            comment = pil.info.get("comment")
    except (OSError, SyntaxError, ValueError) as exc:
        raise PainterlyError(f"cannot read metadata from {_show(source)}: {_one_line(exc)}") from None
    if not comment:
        return {}
    text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return {str(k): str(v) for k, v in parsed.items()}
    return {"comment": text}
