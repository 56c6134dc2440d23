"""Creating a job from a request: the form read and checked, the uploads stored, the job queued.

Two halves, because one must not block the event loop and the other must not hold the whole
body in a thread: :func:`read_submission` reads the multipart form (async), :func:`prepare_job`
stores, checks and queues (blocking: image decoding, the preflight on the network). Every
refusal is a 4xx with one line; a job that is refused leaves nothing behind (its staging folder
is removed), and one that is accepted appears whole (:meth:`JobStore.commit`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from painterly import options
from painterly.errors import PainterlyError
from painterly.settings import Settings
from painterly.web.context import Studio, refuse
from painterly.web.guard import BodyTooLarge
from painterly.web.jobs import QueueFull
from painterly.web.records import MAX_STYLES
from painterly.web.schema import RESERVED_FIELDS, read_options
from painterly.web.store import CONTENT_INPUT, INIT_INPUT, JobFiles, style_input, write_json
from painterly.web.uploads import UploadLimits, UploadRejected, UploadTooLarge, display_name, store_upload

#: The file fields a job takes.
FILE_FIELDS = frozenset({"content", "style", "init"})


@dataclass(frozen=True)
class Upload:
    """One uploaded image: its input name in the job (content, style-1 ... init), its role in
    messages, the name the client gave it, and its bytes."""

    name: str
    role: str
    filename: str | None
    content: bytes


@dataclass(frozen=True)
class Submission:
    """A job request, read and checked for form: its option values (as text) and its images."""

    values: dict[str, Any]
    uploads: list[Upload]

    @property
    def has_init(self) -> bool:
        return any(upload.name == INIT_INPUT for upload in self.uploads)

    @property
    def style_names(self) -> list[str | None]:
        return [upload.filename for upload in self.uploads if upload.role == "style image"]


async def read_submission(request: Request) -> Submission:
    """The multipart form: ``content`` (the photo), ``style`` (one or more paintings), optionally
    ``init``, ``preset``, options as single fields or one JSON ``options`` field."""
    try:
        form = await request.form(max_files=MAX_STYLES + 2, max_fields=200)
    except BodyTooLarge as error:
        raise refuse(413, str(error)) from None
    try:
        files: dict[str, list[UploadFile]] = {}
        fields: dict[str, str] = {}
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.setdefault(name, []).append(value)
            elif name not in RESERVED_FIELDS:
                fields[name] = value
        _check_files(files)
        options_json, preset = form.get("options"), form.get("preset")
        try:
            values = read_options(
                fields, options_json if isinstance(options_json, str) else None,
                preset if isinstance(preset, str) else None,
            )  # fmt: skip
        except PainterlyError as error:
            raise refuse(422, str(error)) from None
        chosen = [(CONTENT_INPUT, "content image", files["content"][0])]
        chosen += [(style_input(index), "style image", upload) for index, upload in enumerate(files["style"], 1)]
        chosen += [(INIT_INPUT, "init image", upload) for upload in files.get("init", [])]
        try:
            uploads = [Upload(name, role, upload.filename, await upload.read()) for name, role, upload in chosen]
        except BodyTooLarge as error:
            raise refuse(413, str(error)) from None
    finally:
        await form.close()  # the spooled upload files
    return Submission(values, uploads)


def _check_files(files: dict[str, list[UploadFile]]) -> None:
    unexpected = set(files) - FILE_FIELDS
    if unexpected:
        raise refuse(422, f"unexpected file field {sorted(unexpected)[0]!r}; send content, style and init")
    if len(files.get("content", [])) != 1:
        raise refuse(422, "send exactly one photo in the content file field")
    if not 1 <= len(files.get("style", [])) <= MAX_STYLES:
        raise refuse(422, f"send one to {MAX_STYLES} paintings in the style file field")
    if len(files.get("init", [])) > 1:
        raise refuse(422, "send at most one init image")


#: What each refusal while preparing a job answers (the first that matches).
_REFUSALS: tuple[tuple[type[BaseException], int], ...] = (
    (UploadTooLarge, 413), (UploadRejected, 400), (QueueFull, 429), (PainterlyError, 422),
)  # fmt: skip


def prepare_job(studio: Studio, submission: Submission) -> str:
    """Save the uploads, check the run and queue it: the blocking part of creating a job; its id."""
    job_id, staged = studio.store.staging()
    try:
        _prepare(studio, job_id, JobFiles(staged), submission)
    except BaseException as error:
        studio.store.discard(staged)
        for kind, status in _REFUSALS:
            if isinstance(error, kind):
                raise refuse(status, str(error)) from None
        raise
    return job_id


def _prepare(studio: Studio, job_id: str, files: JobFiles, submission: Submission) -> None:
    config = studio.config
    chosen = dict(submission.values)
    if config.weights:
        chosen["weights"] = config.weights
    limits = UploadLimits.of(options.validate(chosen), config.max_upload_pixels)
    for upload in submission.uploads:
        store_upload(upload.content, upload.filename, upload.role, files.input(upload.name), limits)
    if submission.has_init:
        chosen["init"] = str(files.init)
    settings = options.validate(chosen)
    styles = [path for path in files.styles(len(submission.uploads)) if path.is_file()]
    _preflight(studio, settings, files.content, styles)
    record = settings.as_dict()
    if submission.has_init:
        record["init"] = files.init.name  # the worker reads it from the job's folder
    write_json(files.settings, record)
    now = time.time()
    names = {"content": display_name(submission.uploads[0].filename),
             "styles": [display_name(filename) for filename in submission.style_names]}  # fmt: skip
    meta = {"id": job_id, "created": now, "queued": now, "styles": len(styles),
            "init_file": submission.has_init, "names": names}  # fmt: skip
    studio.dispatcher.admit(job_id, lambda: studio.store.commit(job_id, files.folder, meta))


def _preflight(studio: Studio, settings: Settings, content: Path, styles: list[Path]) -> None:
    """What would fail the run at its start fails the request instead, with the run's words."""
    try:
        studio.preflight.check(settings, content, styles)
    except (PainterlyError, UploadRejected):
        raise
    except Exception as error:
        text = " ".join(str(error).split())[:300]
        raise PainterlyError(f"the run cannot start ({type(error).__name__}: {text})") from None
