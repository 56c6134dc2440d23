"""Where a resumed job starts: its last snapshot, made ready as its start image."""

from __future__ import annotations

from painterly.errors import PainterlyError
from painterly.web.store import JobFiles


def starting_point(files: JobFiles) -> str:
    """Make the job's start image ready; the words for its message.

    The last snapshot (``preview``) when it reads; else a start image an earlier resume left;
    else the start, as the job first ran. A damaged snapshot (a disk that filled up, a copied
    folder) so never stops a resume, and no server path appears in the message.
    """
    from painterly.image import load_image, save_image

    snapshot, start = files.preview, files.start
    if not snapshot.is_file():
        return "resumed" if start.is_file() else "resumed from the start"
    try:
        save_image(load_image(snapshot, role="snapshot"), start)
        return "resumed from its last snapshot"
    except PainterlyError:
        pass
    try:
        load_image(start, role="start image")
        return "resumed from an earlier snapshot: its last snapshot is damaged"
    except PainterlyError:
        start.unlink(missing_ok=True)
        return "resumed from the start: its last snapshot is damaged"
