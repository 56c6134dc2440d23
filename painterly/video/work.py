"""The work folder of a video (``OUT.mp4.work/``): the stylised frames done so far and their record.

Each frame is written atomically as ``frame_00001.png``, then ``state.json`` (also atomically)
lists it with its losses, seconds and flicker; a frame counts as done only once both are on
disk, so a crash or Ctrl-C loses at most the frame being computed. ``state.json`` carries a key
of everything that decides the frames (input and painting bytes, settings, start, flow method):
when it changes, the old frames are discarded. The number of frames wanted is not in the key: a
longer run continues a shorter one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from painterly.atomic import write_text_atomically
from painterly.errors import PainterlyError
from painterly.image import load_image, save_image

STATE_FILE = "state.json"


def work_folder(output: Path) -> Path:
    return output.with_name(output.name + ".work")


class WorkFolder:
    """The frames done for one key; ``frames`` holds each done frame's record, in order."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self.frames: list[dict[str, Any]] = []
        self.discarded = False

    @classmethod
    def open(cls, folder: Path, key: str) -> WorkFolder:
        """The folder's frames when its key is ``key``, else an emptied folder (created if needed)."""
        work = cls(folder, key)
        if folder.exists() and not folder.is_dir():
            raise PainterlyError(f"{folder} is a file; painterly keeps the video's frames there: move it away")
        try:
            state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
            same = state.get("key") == key
            records = state.get("frames", []) if same else []
        except (OSError, ValueError, AttributeError):
            same, records = False, []
        if not same and folder.exists():
            work.discarded = any(folder.iterdir())
            shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PainterlyError(f"cannot create the work folder {folder}: {error.strerror or error}") from None
        for record in records:  # only a contiguous run of frames whose files exist
            if not isinstance(record, dict) or record.get("index") != len(work.frames) + 1:
                break
            if not work.frame_path(record["index"]).is_file():
                break
            work.frames.append(record)
        return work

    def frame_path(self, index: int) -> Path:
        return self.folder / f"frame_{index:05d}.png"

    def load_frame(self, index: int) -> torch.Tensor:
        return load_image(self.frame_path(index), role=f"stylised frame {index}")

    def add(self, index: int, image: torch.Tensor, record: dict[str, Any]) -> None:
        """Write frame ``index`` (the next one) and then the state that lists it."""
        save_image(image, self.frame_path(index))
        self.frames.append({"index": index, **record})
        self.write()

    def write(self) -> None:
        write_text_atomically(self.folder / STATE_FILE, json.dumps({"key": self.key, "frames": self.frames}, indent=1))
