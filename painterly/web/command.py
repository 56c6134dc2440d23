"""``painterly serve``: the studio on a local job server.

Binding to an address other than the loopback needs a token: one given with ``--token``, or one
made here and printed. ``--weights`` sets the network file of every job (tests use a tiny one);
without it jobs use the default network, like the command line.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from painterly.errors import PainterlyError

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
    parser.add_argument("--max-queue", type=int, default=100, help="most jobs waiting at once (default: 100)")
    parser.add_argument("--weights", metavar="FILE", help="a local VGG weights file for every job "
                                                          "(default: the default network)")  # fmt: skip
    return parser


def serve_command(arguments: Sequence[str]) -> int:
    """Parse the options, then serve until Ctrl-C; returns the exit status."""
    namespace = build_parser().parse_args(arguments)
    if namespace.workers is not None and namespace.workers < 1:
        raise PainterlyError(f"--workers must be at least 1; got {namespace.workers}")
    if namespace.max_queue < 1:
        raise PainterlyError(f"--max-queue must be at least 1; got {namespace.max_queue}")
    if namespace.max_upload_mb <= 0:
        raise PainterlyError(f"--max-upload-mb must be above 0; got {namespace.max_upload_mb:g}")
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
    try:
        jobs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PainterlyError(f"--jobs-dir {jobs_dir}: {error.strerror}; choose a folder you can write") from None

    import uvicorn

    from painterly.web.app import StudioConfig, create_app

    devices = _devices()
    config = StudioConfig(
        jobs_dir=jobs_dir, token=token, workers=namespace.workers or len(devices), devices=devices,
        max_upload_bytes=int(namespace.max_upload_mb * 1_000_000), max_queue=namespace.max_queue, weights=weights,
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
