"""The batch's plan (painterly.batch.plan): folders expanded, output names that say photo and painting
and never collide."""

from __future__ import annotations

import pytest

from painterly.batch.plan import expand, plan_jobs
from painterly.errors import PainterlyError


def test_plan_names_say_photo_and_painting_and_never_collide(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for folder in (a, b):
        (folder / "x.png").write_bytes(b"")
    jobs = plan_jobs([a / "x.png", b / "x.png"], [tmp_path / "s t.jpg"], tmp_path / "out")
    assert [job.name for job in jobs] == ["x__s t.png", "x-2__s t.png"]


def test_expand_reads_folders_and_refuses_missing_or_empty(tmp_path, folders) -> None:
    photos, _ = folders
    assert [path.name for path in expand([photos], "photo")] == ["one.png", "two.jpg.png"]
    with pytest.raises(PainterlyError, match="does not exist"):
        expand([tmp_path / "nope.png"], "photo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PainterlyError, match="holds no image files"):
        expand([tmp_path / "empty"], "photo")


def test_names_never_collide_across_the_separator(tmp_path) -> None:
    jobs = plan_jobs([tmp_path / "a_.png", tmp_path / "a.png"], [tmp_path / "b.png", tmp_path / "_b.png"], tmp_path)
    assert len({job.name.lower() for job in jobs}) == 4
