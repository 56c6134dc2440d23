"""The work folder of a video (``OUT.mp4.work/``): the stylised frames done so far and their record.

Each frame is written atomically as ``frame_00001.png``, then ``state.json`` (also atomically)
lists it with its losses, seconds and flicker; a frame counts as done only once both are on
disk, so a crash or Ctrl-C loses at most the frame being computed. ``state.json`` carries a key
of everything that decides the frames (input and painting bytes, settings, start, flow method):
when it changes, the old frames are discarded. The number of frames wanted is not in the key: a
longer run continues a shorter one.

The folder is painterly's, but a user may have put files there (or named a folder of their own
so). Painterly only ever deletes the files it writes, recognised by their exact names
(:func:`is_own`): ``state.json``, ``frame_NNNNN.png`` and the ``.NAME-XXXXXXXXXXXX.part``
temporary files of :mod:`painterly.atomic`. Anything else in the folder (a ``notes.txt``, a
``mydocs/`` folder, a link or a folder bearing one of those names) stops the run with a one-line
error before anything is touched: the user asked for a video, not for their files to be mixed
with frames that are removed when the clip is done. Only the files file managers write by
themselves (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``) are tolerated, and kept.

A damaged record (``state.json`` that is not JSON, ``"frames": 5``, a frame without its losses,
a truncated frame) is never a traceback: it is one note, and the frames from the first damaged
one on are recomputed (each later frame starts from the one before it, so they go too).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from painterly.atomic import write_text_atomically
from painterly.errors import PainterlyError
from painterly.image import load_image, save_image

STATE_FILE = "state.json"
#: The names of the files painterly writes in a work folder, and their atomic-write temporaries.
OWN_NAME = re.compile(r"(state\.json|frame_\d{5,}\.png)")
OWN_TEMPORARY = re.compile(r"\.(state\.json|frame_\d{5,}\.png)-[0-9a-f]{12}\.part")
#: Files a file manager writes by itself when the folder is looked at: tolerated, never deleted.
SYSTEM_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
#: What a record's losses must hold (what :func:`painterly.api.stylize_with` reports).
LOSS_NAMES = ("content", "style", "total")
SHOWN_NAMES = 3
# What Pillow raises on a damaged PNG: truncated (OSError), bad chunks (SyntaxError), bad data.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error)


def work_folder(output: Path) -> Path:
    return output.with_name(output.name + ".work")


def is_own(path: Path) -> bool:
    """Whether painterly wrote ``path``: a regular file (not a link) with one of painterly's names."""
    named = OWN_NAME.fullmatch(path.name) or OWN_TEMPORARY.fullmatch(path.name)
    return bool(named) and path.is_file() and not path.is_symlink()


class WorkFolder:
    """The frames done for one key; ``frames`` holds each done frame's record, in order.

    ``notes`` says, in one line each, what was found damaged or made with other settings and
    discarded (the command prints them)."""

    def __init__(self, folder: Path, key: str, size: tuple[int, int] | None = None) -> None:
        self.folder = folder
        self.key = key
        self.size = size  # (height, width) every frame must have; None: not checked
        self.frames: list[dict[str, Any]] = []
        self.notes: list[str] = []

    @property
    def discarded(self) -> bool:
        return bool(self.notes)

    @classmethod
    def open(cls, folder: Path, key: str, size: tuple[int, int] | None = None) -> WorkFolder:
        """The folder's usable frames when its key is ``key``, else a folder emptied of painterly's
        files (created if needed). Refuses a folder holding anything painterly did not write."""
        work = cls(folder, key, size)
        if folder.exists() and not folder.is_dir():
            raise PainterlyError(f"{folder} is a file; painterly keeps the video's frames there: move it away")
        if folder.is_dir():
            _refuse_foreign(folder)
        records = work._read_records()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PainterlyError(f"cannot create the work folder {folder}: {error.strerror or error}") from None
        work._keep_valid(records)
        return work

    def _read_records(self) -> list[Any]:
        """The frame records of ``state.json`` when its key is this one; else [] and a note."""
        path = self.folder / STATE_FILE
        frames = sorted(self.folder.glob("frame_*.png")) if self.folder.is_dir() else []
        if not path.exists():
            if any(is_own(frame) for frame in frames):
                self.notes.append(f"{path} is missing; the {len(frames)} frame(s) in {self.folder} are recomputed")
            return []
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            self.notes.append(f"{path} is damaged ({_short(error)}); its frames are recomputed")
            return []
        if not isinstance(state, dict) or not isinstance(state.get("key"), str):
            self.notes.append(f"{path} is damaged (not painterly's record of frames); its frames are recomputed")
            return []
        if state["key"] != self.key:
            self.notes.append(f"{self.folder} held frames made with other inputs or settings; they were discarded")
            return []
        records = state.get("frames")
        if not isinstance(records, list):
            self.notes.append(f"{path} is damaged (its list of frames is {_shown(records)}); its frames are recomputed")
            return []
        return records

    def _keep_valid(self, records: list[Any]) -> None:
        """Keep the contiguous run of valid records whose frames are whole; discard the rest."""
        for record in records:
            index = len(self.frames) + 1
            problem = _record_problem(record, index) or self._frame_problem(index)
            if problem:
                self.notes.append(
                    f"{self.folder}: frame {index} {problem}; frames {index} to {len(records)} are recomputed"
                )
                break
            self.frames.append(record)
        self.truncate(len(self.frames))

    def _frame_problem(self, index: int) -> str | None:
        """Why frame ``index``'s file cannot be used (a full decode: a few ms, nothing to a stylisation)."""
        path = self.frame_path(index)
        if not is_own(path):
            return "is missing"
        try:
            array = self.read_frame(index)
        except PainterlyError:
            return "is damaged (its PNG cannot be decoded)"
        if self.size is not None and array.shape[:2] != self.size:
            return f"has the wrong size ({array.shape[1]}x{array.shape[0]})"
        return None

    def truncate(self, count: int) -> None:
        """Keep the first ``count`` frames: later records go, and painterly's files of later frames and
        its temporaries are deleted. The state is rewritten when anything changed."""
        changed = len(self.frames) != count or bool(self.notes)
        del self.frames[count:]
        for path in self._own_files():
            match = re.fullmatch(r"frame_(\d+)\.png", path.name)
            if (match and int(match.group(1)) > count) or path.name.endswith(".part"):
                path.unlink(missing_ok=True)
        if changed:
            self.write()

    def _own_files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return [path for path in self.folder.iterdir() if is_own(path)]

    def frame_path(self, index: int) -> Path:
        return self.folder / f"frame_{index:05d}.png"

    def load_frame(self, index: int) -> torch.Tensor:
        """Frame ``index`` as a tensor; a damaged one is discarded with the later frames (one-line error)."""
        try:
            return load_image(self.frame_path(index), role=f"stylised frame {index}")
        except PainterlyError:
            self.truncate(index - 1)
            raise PainterlyError(self._damaged(index)) from None

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an (H, W, 3) uint8 array; PainterlyError when it cannot be decoded."""
        from PIL import Image

        try:
            with Image.open(self.frame_path(index)) as image:
                return np.asarray(image.convert("RGB"))
        except (*DECODE_ERRORS, Image.DecompressionBombError):
            raise PainterlyError(self._damaged(index)) from None

    def saved_frames(self, count: int) -> Iterator[np.ndarray]:
        """Frames 1..``count`` for the encoder. A frame damaged since the folder was opened is discarded
        with the later ones, and named: the clip is not written, and the next run recomputes them."""
        for index in range(1, count + 1):
            try:
                yield self.read_frame(index)
            except PainterlyError:
                self.truncate(index - 1)
                raise

    def _damaged(self, index: int) -> str:
        return (
            f"stylised frame {index} in {self.folder} is damaged (it cannot be decoded); it and the later "
            "frames were discarded: run the same command again to recompute them"
        )

    def add(self, index: int, image: torch.Tensor, record: dict[str, Any]) -> None:
        """Write frame ``index`` (the next one) and then the state that lists it."""
        save_image(image, self.frame_path(index))
        self.frames.append({"index": index, **record})
        self.write()

    def write(self) -> None:
        write_text_atomically(self.folder / STATE_FILE, json.dumps({"key": self.key, "frames": self.frames}, indent=1))

    def remove(self) -> str | None:
        """Delete painterly's files and then the folder, if nothing else is left in it (a note if so)."""
        for path in self._own_files():
            path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except FileNotFoundError:
            return None
        except OSError:
            left = sorted(_printable(path.name) for path in self.folder.iterdir())
            return f"{self.folder} was kept: it holds files painterly did not write ({', '.join(left)})"
        return None


def _refuse_foreign(folder: Path) -> None:
    """One line naming what, in ``folder``, painterly did not write (it would never delete them)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise PainterlyError(f"cannot read the work folder {folder}: {error.strerror or error}") from None
    foreign = [_printable(path.name) for path in entries if not is_own(path) and path.name not in SYSTEM_FILES]
    if foreign:
        shown = ", ".join(foreign[:SHOWN_NAMES])
        if len(foreign) > SHOWN_NAMES:
            shown += f" and {len(foreign) - SHOWN_NAMES} more"
        raise PainterlyError(
            f"the work folder {folder} holds files painterly did not write ({shown}); painterly keeps the "
            "video's frames there and deletes them once the clip is written: move those files elsewhere, "
            "or choose another -o"
        )


def _printable(name: str) -> str:
    """A file name as one line shows it: quoted with escapes when it holds a newline or another control."""
    return name if name.isprintable() else repr(name)


def _record_problem(record: Any, index: int) -> str | None:
    """Why a frame record of ``state.json`` cannot be used, or None. The record's numbers are read by
    the temporal weight (the first frame's total) and by ``--report``; a wrong one would mislead."""
    if not isinstance(record, dict) or not _is_int(record.get("index")) or record["index"] != index:
        return "is not recorded in order in state.json"
    losses = record.get("losses")
    if not isinstance(losses, dict) or not all(_is_number(losses.get(name)) for name in LOSS_NAMES):
        return "has no valid losses in state.json"
    if not _is_number(record.get("seconds")):
        return "has no valid seconds in state.json"
    for name in ("flicker", "reliable"):
        if record.get(name) is not None and not _is_number(record[name]):
            return f"has an invalid {name} in state.json"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isinf(value)


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 20 else text[:20] + "..."


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:80] + "...") if len(text) > 80 else text or type(error).__name__
