"""Pictures as HTTP sends them: read whole, with a strong validator (ETag) the browser revalidates.

Every picture is sent with ``Cache-Control: no-cache``: the browser keeps it but asks again each
time, with ``If-None-Match``, and an unchanged picture costs a 304 and no body instead of the
whole PNG. The tag is the file's identity (inode, size and modification time in nanoseconds),
read from the open file, so it always belongs to the bytes sent with it: the worker replaces a
snapshot atomically (a new file, renamed over the old one), and every replacement gets a new tag.
The same tag versions the pictures' URLs in the job view, so a URL changes only when its picture
does.
"""

from __future__ import annotations

import os
import stat as kinds
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Picture:
    """A picture file's bytes and the strong ETag (quoted) of exactly those bytes."""

    content: bytes
    etag: str


def _tag(stat: os.stat_result) -> str:
    return f"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"


def read_picture(path: Path) -> Picture | None:
    """The file read in one go with its tag, or None when it is missing or unreadable.

    One read of one open file: a file renamed over this one meanwhile is not mixed in."""
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            content = file.read()
    except OSError:
        return None
    return Picture(content, f'"{_tag(stat)}"')


def version(path: Path) -> str | None:
    """The picture's tag without quotes, for a URL's ``?v=``; None when there is no such file."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _tag(stat) if kinds.S_ISREG(stat.st_mode) else None


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether a request's ``If-None-Match`` names this tag (``*`` names any; ``W/`` is ignored, as
    RFC 9110 compares weakly for this header)."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False
