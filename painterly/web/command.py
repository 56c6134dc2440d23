"""``painterly serve``: the studio on a local job server.

Binding to an address other than the loopback needs a token: one given with ``--token``, or one
made here and printed. ``--weights`` sets the network file of every job (tests use a tiny one);
without it jobs use the default network, like the command line.
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from PIL import Image

from painterly.errors import PainterlyError
from painterly.extras import require
from painterly.web.uploads import DEFAULT_MAX_UPLOAD_PIXELS

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="painterly serve",
        description="Start the studio: a browser page and a REST API (/docs) that run stylisation jobs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--jobs-dir", default="studio-jobs", help="folder of the jobs (default: ./studio-jobs)")
    parser.add_argument("--token", help="access token every request must carry (made and printed when the "
                                        "host is not the loopback)")  # fmt: skip
    parser.add_argument("--workers", type=int, help="worker processes (default: one per device)")
    parser.add_argument("--max-upload-mb", type=float, default=50, help="largest request body (default: 50)")
    parser.add_argument("--max-upload-pixels", type=float, default=DEFAULT_MAX_UPLOAD_PIXELS, metavar="N",
                        help="most pixels an uploaded image may have, e.g. 64e6 (default: 64000000, 64 megapixels: "
                             "every common camera photo; one decode then needs at most 256 MB)")  # fmt: skip
    parser.add_argument("--max-queue", type=int, default=100, help="most jobs waiting at once (default: 100)")
    parser.add_argument("--weights", metavar="FILE", help="a local VGG weights file for every job "
                                                          "(default: the default network)")  # fmt: skip
    return parser


def serve_command(arguments: Sequence[str]) -> int:
    """Parse the options, then serve until Ctrl-C; returns the exit status."""
    namespace = build_parser().parse_args(arguments)
    uvicorn = require_studio()
    if namespace.workers is not None and namespace.workers < 1:
        raise PainterlyError(f"--workers must be at least 1; got {namespace.workers}")
    if namespace.max_queue < 1:
        raise PainterlyError(f"--max-queue must be at least 1; got {namespace.max_queue}")
    if not math.isfinite(namespace.max_upload_mb) or namespace.max_upload_mb <= 0:
        raise PainterlyError(f"--max-upload-mb must be a number above 0; got {namespace.max_upload_mb:g}")
    max_pixels = namespace.max_upload_pixels
    if not (math.isfinite(max_pixels) and 1 <= max_pixels <= Image.MAX_IMAGE_PIXELS):
        raise PainterlyError(
            f"--max-upload-pixels must be 1 to {Image.MAX_IMAGE_PIXELS} (Pillow's decompression-bomb limit); "
            f"got {max_pixels:g}"
        )
    if not 0 <= namespace.port <= 65535:
        raise PainterlyError(f"--port must be 0 to 65535; got {namespace.port}")
    weights = None
    if namespace.weights:
        path = Path(namespace.weights).expanduser().resolve()
        if not path.is_file():
            raise PainterlyError(f"--weights {namespace.weights} does not exist; give a .safetensors or .pth file")
        weights = str(path)
    token = access_token(namespace.host, namespace.token)
    jobs_dir = Path(namespace.jobs_dir).expanduser()
    check_writable(jobs_dir)

    from painterly.web.app import StudioConfig, create_app

    devices = _devices()
    config = StudioConfig(
        jobs_dir=jobs_dir, token=token, workers=namespace.workers or len(devices), devices=devices,
        max_upload_bytes=int(namespace.max_upload_mb * 1_000_000), max_upload_pixels=int(max_pixels),
        max_queue=namespace.max_queue, weights=weights,
    )  # fmt: skip
    host = f"[{namespace.host}]" if ":" in namespace.host else namespace.host
    address = f"http://{host}:{namespace.port}/" + (f"?token={token}" if token else "")
    print(f"painterly studio: {address}  (jobs in {jobs_dir.resolve()}; Ctrl-C stops)", file=sys.stderr, flush=True)
    settings = uvicorn.Config(
        create_app(config), host=namespace.host, port=namespace.port, log_level="warning",
        timeout_graceful_shutdown=3, lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(settings)
    server.run()
    return 0


def require_studio() -> ModuleType:
    """The studio's optional packages (the studio extra), checked before anything is made; uvicorn.

    FastAPI needs python-multipart only when the app is built (its upload routes), which would
    otherwise fail with a traceback after the jobs folder was made."""
    require("studio", "fastapi")
    require("studio", "python_multipart")
    return require("studio", "uvicorn")


def check_writable(jobs_dir: Path) -> None:
    """Make the jobs folder and write (then remove) a file in it, before the server starts.

    A folder that exists but cannot be written (``/proc/self``, a read-only mount, a full disk)
    would otherwise start a server that answers every new job with 500."""
    probe = jobs_dir / f".write-test-{secrets.token_hex(4)}"
    try:
        jobs_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PainterlyError(
            f"--jobs-dir {jobs_dir}: cannot write there ({reason}); choose a folder you can write"
        ) from None


def access_token(host: str, given: str | None) -> str | None:
    """The token requests must carry: the one given; else, off the loopback, a new random one."""
    if given is not None:
        if not given.strip():
            raise PainterlyError("--token is empty; give a long random string, or leave it out")
        return given
    return None if host in LOCAL_HOSTS else secrets.token_urlsafe(24)


def _devices() -> list[int | None]:
    """One worker per GPU where there are GPUs, else one on the CPU."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return list(range(count)) if count else [None]
