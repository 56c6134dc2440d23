"""The studio's view of the option schema: the form description and the reading of a request.

Everything comes from :data:`painterly.options.OPTIONS`, so a new option appears in the page's
form and is accepted by ``POST /api/jobs`` without touching either. Values are read with
:func:`painterly.options.parse` and checked with :func:`painterly.options.validate`, so a
mistake is refused with the command line's exact words.

Options that name files on the server (weights, masks) are not taken from a client: the studio
reads no path a request names. ``init`` takes its words (content, palette, noise, style) or an uploaded
image (the ``init`` file field).

Options that choose how the server runs, not what it paints, are the server's
(:data:`SERVER_SETTINGS`): ``device`` (each worker is bound to its GPU, or the CPU; a client's
``cuda`` on a CPU server, or ``cpu`` on a GPU worker, only fails or holds that worker longer) and
``compile`` (torch.compile writes its cache outside the jobs folder and costs tens of seconds a
job on a CPU). A request that sets one is refused (422), naming it. ``memory`` and ``precision``
stay the client's: they change only that job's speed or picture, and the memory check refuses a
run that would not fit.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from painterly import options
from painterly.errors import PainterlyError
from painterly.presets import PRESETS

#: Path options a client may not set (``init`` is handled on its own).
SERVER_PATHS = frozenset(item.name for item in options.OPTIONS if item.path and not item.words)
#: Options only the server sets: how it runs, not what it paints.
SERVER_SETTINGS = frozenset({"compile", "device"})
#: Form fields of ``POST /api/jobs`` that are not options.
RESERVED_FIELDS = frozenset({"content", "style", "options", "preset", "token"})


def _type_name(item: options.Option) -> str:
    if item.choices is not None:
        return "choice"
    return {int: "integer", float: "number", bool: "boolean", str: "string"}.get(item.item, "string")


def describe(item: options.Option) -> dict[str, Any]:
    """One option as the page's form needs it."""
    return {
        "name": item.name,
        "label": item.label,
        "type": _type_name(item),
        "list": item.is_list,
        "nullable": item.nullable,
        "default": options.jsonable(item.default),
        "choices": list(item.choices) if item.choices is not None else None,
        "low": item.low,
        "high": item.high,
        "above": item.above,
        "bounds": item.describe_bounds() or None,
        "help": item.help,
        "common": item.common,
        "words": list(item.words) or None,
        "upload": item.name == "init",
    }


def options_document() -> dict[str, Any]:
    """``GET /api/options``: every option a client may set, and the presets."""
    shown = [describe(item) for item in options.OPTIONS if item.name not in SERVER_PATHS | SERVER_SETTINGS]
    presets = {name: options.jsonable(values) for name, values in PRESETS.items()}
    return {"options": shown, "presets": presets}


def read_options(fields: dict[str, str], options_json: str | None, preset: str | None) -> dict[str, Any]:
    """The options of a request: the preset's values, then the JSON ``options`` field, then single
    form fields, each parsed by the schema. Raises PainterlyError with the CLI's words."""
    values: dict[str, Any] = {}
    if preset:
        if preset not in PRESETS:
            raise PainterlyError(f"unknown preset {preset!r}; use {', '.join(sorted(PRESETS))}")
        values.update(PRESETS[preset])
    if options_json:
        try:
            document = json.loads(options_json)
        except ValueError as error:
            raise PainterlyError(f"the options field is not valid JSON ({error}); send an object") from None
        if not isinstance(document, dict):
            raise PainterlyError("the options field must be a JSON object of option names and values")
        values.update(_client_options(document))
    values.update(_client_options(fields))
    for name in values:
        if name in SERVER_PATHS:
            raise PainterlyError(
                f"{options.option(name).label} names a file on the server, which the studio does not take "
                "from a request; use the command line for it"
            )
    init = values.get("init")
    if init is not None and init not in options.INIT_WORDS:
        raise PainterlyError(
            f"init {init!r} is not one of {', '.join(options.INIT_WORDS)}; to start from an image, upload it "
            "in the init file field"
        )
    return values


def _client_options(document: dict[str, Any]) -> dict[str, Any]:
    """Options a client sent, parsed; one the server sets itself is refused, naming it."""
    for given in document:
        name = options.option(str(given)).name
        if name in SERVER_SETTINGS:
            raise PainterlyError(
                f"{name} is a server-side setting; the studio does not take it from a request (leave it out: "
                "the server runs every job on its own device, without torch.compile)"
            )
    return options.parse(document)


class JobView(BaseModel):
    """A job as ``GET /api/jobs/{id}`` shows it."""

    id: str
    state: str | None = Field(
        description="queued, running, finished, failed, cancelled or interrupted; damaged when one of the "
        "job's files is (the message names it)"
    )
    message: str | None = None
    created: float
    started: float | None = None
    updated: float | None = None
    position: int | None = Field(None, description="place in the queue, 1 = next")
    resumable: bool
    settings: dict[str, Any]
    progress: dict[str, Any] | None = None
    urls: dict[str, Any]
