"""Uploaded images: read with the loader's checks and messages, kept in the job folder as PNG.

An upload is decoded from memory (never from a path a client chose) with Pillow's
decompression-bomb limit as an error, then checked by :func:`painterly.image.load_image`
(damaged, truncated, tiny images), and written with :func:`painterly.image.save_image`, so the
worker reads a plain RGB PNG whatever was sent. The file's name appears in messages only.

Uploads have a memory budget. A compressed file can be tiny and its pixels huge (a 21 KB PNG of
9000x9000 pixels took the server from 460 MB to 3.2 GB as float32 copies), so:

* an image with more than ``--max-upload-pixels`` pixels is refused from its header, before
  anything is decoded (413, with the limit in the message);
* the rest is decoded at about the size the job uses: a JPEG by its decoder's draft mode (1/2,
  1/4 or 1/8 scale while decoding), any image by an integer box reduction before it becomes
  floats, keeping at least twice the job's long side so the run's own antialiased resize sees
  enough pixels (the stored picture is what the run, the page and a resume use);
* at most :data:`DECODE_SLOTS` uploads are decoded at once, whatever the number of requests.

So one upload needs at most the limit times 4 bytes (64 MP: 256 MB, for a 32-bit or RGBA image)
while it is decoded, and about nothing after.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from painterly.errors import PainterlyError
from painterly.settings import Settings

#: The default of ``--max-upload-pixels``: 64 megapixels. Every common camera and phone photo fits
#: (a 61 MP full-frame camera's 9504x6336, a 50 MP phone's 8160x6144), and one decode stays at or
#: under 256 MB; Pillow's own bomb limit (89.5 MP) is the ceiling.
DEFAULT_MAX_UPLOAD_PIXELS = 64_000_000
#: How many uploads are decoded at once (each takes up to ``--max-upload-pixels`` x 4 bytes).
DECODE_SLOTS = 2
_decoding = threading.BoundedSemaphore(DECODE_SLOTS)
#: Pillow's modes that :meth:`PIL.Image.Image.reduce` works on.
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "RGBa", "La", "I", "F", "CMYK", "YCbCr", "HSV", "LAB"})


class UploadRejected(PainterlyError):
    """An upload that is not a usable image: the request is answered 400 with this message."""


class UploadTooLarge(UploadRejected):
    """An upload with more pixels than the server takes: the request is answered 413."""


@dataclass(frozen=True)
class UploadLimits:
    """How large an upload may be, and the long side each kind of upload is used at."""

    max_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS
    photo_side: int | None = None  # the photo and an init image: the job's size
    painting_side: int | None = None  # the paintings: size x style_scale

    @classmethod
    def of(cls, settings: Settings, max_pixels: int) -> UploadLimits:
        """The limits for a job of these validated settings."""
        size = settings.inputs.size
        return cls(max_pixels, size, max(1, math.ceil(size * settings.inputs.style_scale)))

    def side(self, role: str) -> int | None:
        return self.painting_side if role.startswith("style") else self.photo_side


def display_name(filename: str | None) -> str:
    """The client's file name, fit for a one-line message (it is never used as a path)."""
    text = "".join(ch for ch in (filename or "") if ch.isprintable()).strip()
    return text[:80] or "upload"


def store_upload(data: bytes, filename: str | None, role: str, target: Path,
                 limits: UploadLimits | None = None) -> tuple[int, int]:  # fmt: skip
    """Check ``data`` as the ``role`` image and save it as the PNG ``target``, decoded at about the
    size the job uses; (width, height) as stored."""
    from painterly.image import image_size, load_image, open_header, save_image

    limits = limits or UploadLimits()
    what = f"{role} '{display_name(filename)}'"
    if not data:
        raise UploadRejected(f"{what} is empty; choose an image file")
    check_pixels(data, what, limits.max_pixels)
    with _decoding:
        try:
            pil = open_header(io.BytesIO(data), what)
        except PainterlyError as error:
            raise UploadRejected(str(error)) from None
        except Exception as error:  # Pillow's parsers raise many types on hostile headers
            raise UploadRejected(f"cannot read {what}: {' '.join(str(error).split())[:200]}") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = load_image(decode_reduced(pil, what, limits.side(role)), role=what)
        except PainterlyError as error:
            raise UploadRejected(str(error)) from None
        except Exception as error:
            raise UploadRejected(f"{what} is damaged ({type(error).__name__}); re-export it") from None
        finally:
            pil.close()
    save_image(image, target)
    height, width = image_size(image)
    return width, height


def check_pixels(data: bytes, what: str, max_pixels: int) -> None:
    """Refuse an image with more than ``max_pixels`` pixels from its header alone (UploadTooLarge).

    An image Pillow's bomb check refuses outright is over any allowed limit too. A file that does
    not open is left to :func:`painterly.image.open_header`, which says why."""
    limit = f"the server's limit of {max_pixels / 1e6:g} megapixels (--max-upload-pixels {max_pixels})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:
                width, height = pil.size
    except Image.DecompressionBombError:
        raise UploadTooLarge(f"{what} has more pixels than {limit}; downscale it first") from None
    except Exception:
        return
    if width * height > max_pixels:
        raise UploadTooLarge(
            f"{what} is {width}x{height} = {width * height / 1e6:.3g} megapixels, above {limit}; downscale it first"
        )


def decode_reduced(pil: Image.Image, what: str, long_side: int | None) -> Image.Image:
    """``pil`` decoded at no less than twice ``long_side`` on its long side where it is larger.

    A JPEG is decoded at 1/2, 1/4 or 1/8 scale by its decoder (never below the requested size);
    then any image is shrunk by a whole factor (a box filter) before it becomes floats. The short
    side stays at least 32 pixels (a narrow painting is enlarged to 16 there by the run)."""
    from painterly.image import MIN_IMAGE_SIDE

    if long_side is None:
        return pil
    keep = 2 * long_side
    width, height = pil.size
    if max(width, height) > keep:
        scale = keep / max(width, height)
        floor = 4 * MIN_IMAGE_SIDE / max(1, min(width, height))
        scale = min(1.0, max(scale, floor))
        pil.draft(pil.mode, (math.ceil(width * scale), math.ceil(height * scale)))  # JPEG only
    try:
        pil.load()
    except MemoryError:
        raise UploadTooLarge(f"{what} is too large to decode in the server's memory now; downscale it") from None
    except Exception as error:  # the loader's words for a damaged file
        text = " ".join(str(error).split())[:200]
        raise UploadRejected(f"{what} is damaged or truncated ({text}); re-export or re-download it") from None
    factor = min(max(pil.size) // keep, min(pil.size) // (4 * MIN_IMAGE_SIDE))
    if factor < 2 or pil.mode not in _REDUCIBLE:
        return pil
    reduced = pil.reduce(factor)
    reduced.info = dict(pil.info)  # the EXIF orientation, applied by the loader
    return reduced
