"""Uploaded images: read with the loader's checks and messages, kept in the job folder as PNG.

An upload is decoded from memory (never from a path a client chose) with Pillow's
decompression-bomb limit as an error, then checked by :func:`painterly.image.load_image`
(damaged, truncated, tiny images), and written with :func:`painterly.image.save_image`, so the
worker reads a plain RGB PNG whatever was sent. The file's name appears in messages only.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image

from painterly.errors import PainterlyError


class UploadRejected(PainterlyError):
    """An upload that is not a usable image: the request is answered 400 with this message."""


def display_name(filename: str | None) -> str:
    """The client's file name, fit for a one-line message (it is never used as a path)."""
    text = "".join(ch for ch in (filename or "") if ch.isprintable()).strip()
    return text[:80] or "upload"


def store_upload(data: bytes, filename: str | None, role: str, target: Path) -> tuple[int, int]:
    """Check ``data`` as the ``role`` image and save it as the PNG ``target``; (width, height)."""
    from painterly.image import image_size, load_image, open_header, save_image

    what = f"{role} '{display_name(filename)}'"
    if not data:
        raise UploadRejected(f"{what} is empty; choose an image file")
    try:
        pil = open_header(io.BytesIO(data), what)
    except PainterlyError as error:
        raise UploadRejected(str(error)) from None
    except Exception as error:  # Pillow's parsers raise many types on hostile headers
        raise UploadRejected(f"cannot read {what}: {' '.join(str(error).split())[:200]}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = load_image(pil, role=what)
    except PainterlyError as error:
        raise UploadRejected(str(error)) from None
    except Exception as error:
        raise UploadRejected(f"{what} is damaged ({type(error).__name__}); re-export it") from None
    finally:
        pil.close()
    save_image(image, target)
    height, width = image_size(image)
    return width, height
