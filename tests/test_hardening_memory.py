"""The memory check against container limits and huge --style-scale values (issue 13).

cgroup files are read from fake /proc and /sys trees built in tmp_path: v2 (memory.max,
memory.current, memory.stat), v1 (memory.limit_in_bytes, memory.usage_in_bytes), "max" and
v1's huge number for "no limit", limits on a parent cgroup, containers whose cgroup path is not
visible, and missing or garbled files.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from painterly import memory
from painterly.errors import PainterlyError
from painterly.memory import RunShape, available_bytes, check_fits, estimate_peak_bytes
from painterly.models.vgg import VGG16

GB = 10**9
MACHINE_FREE = 64 * GB  # MemAvailable of the fake machine
V1_NO_LIMIT = "9223372036854771712"
SHAPE = RunShape(VGG16, ("conv4_2", "conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"), "bf16", "lbfgs",
                 lbfgs_history=24, content_layers=("conv4_2",))  # fmt: skip


def fake_system(root: Path, cgroup: str | None, files: dict[str, str], *, meminfo: bool = True) -> Path:
    """A fake / with /proc/meminfo, /proc/self/cgroup (unless None) and ``files`` under sys/fs/cgroup."""
    (root / "proc" / "self").mkdir(parents=True)
    if meminfo:
        (root / "proc" / "meminfo").write_text(f"MemTotal: 134217728 kB\nMemAvailable: {MACHINE_FREE // 1024} kB\n")
    if cgroup is not None:
        (root / "proc" / "self" / "cgroup").write_text(cgroup)
    for name, text in files.items():
        path = root / "sys" / "fs" / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


def free_in(root: Path) -> int:
    return available_bytes("cpu", root=root)


def test_cgroup_v2_limit_less_usage_and_reclaimable_cache(tmp_path: Path) -> None:
    root = fake_system(
        tmp_path,
        "0::/user.slice/app.scope\n",
        {
            "user.slice/app.scope/memory.max": str(1_500_000_000),
            "user.slice/app.scope/memory.current": str(300_000_000),
            "user.slice/app.scope/memory.stat": "anon 200000000\ninactive_file 100000000\nactive_file 5",
        },
    )
    assert free_in(root) == 1_500_000_000 - (300_000_000 - 100_000_000)
    limit = memory.cgroup_memory(root)
    assert limit is not None and limit.limit == 1_500_000_000


def test_cgroup_v2_parent_limit_counts(tmp_path: Path) -> None:
    root = fake_system(
        tmp_path,
        "0::/user.slice/app.scope\n",
        {
            "user.slice/app.scope/memory.max": "max",
            "user.slice/app.scope/memory.current": str(100_000_000),
            "user.slice/memory.max": str(GB),
            "user.slice/memory.current": str(400_000_000),
        },
    )
    assert free_in(root) == 600_000_000


def test_cgroup_v2_in_a_container_reads_the_mount_point(tmp_path: Path) -> None:
    # Without a cgroup namespace the path names the host's hierarchy, which is not visible inside.
    files = {"memory.max": str(2 * GB), "memory.current": str(GB // 2)}
    root = fake_system(tmp_path, "0::/docker/0123abcd\n", files)
    assert free_in(root) == 2 * GB - GB // 2


@pytest.mark.parametrize("no_limit", ["max", V1_NO_LIMIT])
def test_no_limit_leaves_the_machines_memory(tmp_path: Path, no_limit: str) -> None:
    root = fake_system(
        tmp_path,
        "4:memory:/\n0::/\n",
        {"memory.max": no_limit, "memory.current": "5", "memory/memory.limit_in_bytes": V1_NO_LIMIT},
    )
    assert free_in(root) == MACHINE_FREE
    assert memory.cgroup_memory(root) is None


def test_cgroup_v1_limit(tmp_path: Path) -> None:
    root = fake_system(
        tmp_path,
        "9:cpuset,memory:/docker/abc\n0::/\n",
        {
            "memory/docker/abc/memory.limit_in_bytes": str(1_500_000_000),
            "memory/docker/abc/memory.usage_in_bytes": str(200_000_000),
            "memory/docker/abc/memory.stat": "cache 90000000\ntotal_inactive_file 50000000",
            "memory/memory.limit_in_bytes": V1_NO_LIMIT,
        },
    )
    assert free_in(root) == 1_500_000_000 - 150_000_000


def test_tightest_of_v1_v2_and_meminfo(tmp_path: Path) -> None:
    root = fake_system(
        tmp_path,
        "4:memory:/a\n0::/b\n",
        {"memory/a/memory.limit_in_bytes": str(3 * GB), "b/memory.max": str(2 * GB), "b/memory.current": "0"},
    )
    assert free_in(root) == 2 * GB


@pytest.mark.parametrize(
    ("cgroup", "files"),
    [
        (None, {"memory.max": str(GB)}),  # no /proc/self/cgroup
        ("0::/\n", {}),  # no memory files
        ("0::/\n", {"memory.max": "garbage"}),
        ("not a cgroup line\n", {"memory.max": str(GB)}),
        ("0::/../../escape\n", {}),
    ],
)
def test_missing_or_garbled_files_are_ignored(tmp_path: Path, cgroup: str | None, files: dict[str, str]) -> None:
    assert free_in(fake_system(tmp_path, cgroup, files)) == MACHINE_FREE


def test_cgroup_limit_without_meminfo(tmp_path: Path) -> None:
    root = fake_system(tmp_path, "0::/\n", {"memory.max": str(GB), "memory.current": "0"}, meminfo=False)
    assert free_in(root) == GB


def test_run_larger_than_the_container_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needed = estimate_peak_bytes(SHAPE, 1024, 768)
    assert 1.5 * GB < needed < MACHINE_FREE
    files = {"memory.max": str(1_500_000_000), "memory.current": str(100_000_000)}
    monkeypatch.setattr(memory, "SYSTEM_ROOT", fake_system(tmp_path, "0::/\n", files), raising=False)
    with pytest.raises(PainterlyError) as raised:
        check_fits(SHAPE, 1024, 768)
    message = str(raised.value)
    assert "but 1.4 GB is free under this container's memory limit of 1.5 GB" in message, message
    assert "the largest size that fits" in message


# --- --style-scale -------------------------------------------------------------------------------


def test_huge_style_scale_names_the_painting_size_not_memory() -> None:
    with pytest.raises(PainterlyError) as raised:
        check_fits(replace(SHAPE, style_scale=1e6), 512, 384, available=MACHINE_FREE)
    message = str(raised.value)
    assert "free some memory" not in message
    assert message.startswith("--style-scale 1e+06 makes the painting 512000000 px on its long side"), message
    match = re.search(r"lower --style-scale to ([\d.]+) or less", message)
    assert match and float(match.group(1)) * 512 <= memory.MAX_PAINTING_SIDE


def test_style_scale_that_does_not_fit_names_the_largest_that_does() -> None:
    run = replace(SHAPE, style_scale=8.0)
    free = estimate_peak_bytes(replace(run, style_scale=2.0), 1024, 768)
    with pytest.raises(PainterlyError) as raised:
        check_fits(run, 1024, 768, available=free)
    message = str(raised.value)
    assert message.startswith("--style-scale 8 makes the painting 8192 px on its long side, which needs about ")
    assert "free some memory" not in message and "--size" not in message
    scale = float(re.search(r"lower --style-scale to ([\d.]+) or less", message).group(1))  # type: ignore[union-attr]
    assert 1.9 <= scale <= 2.0
    check_fits(replace(run, style_scale=scale), 1024, 768, available=free)


def test_size_is_blamed_when_the_output_itself_does_not_fit() -> None:
    with pytest.raises(PainterlyError, match=r"^a 8192 px output needs about .* the largest size that fits"):
        check_fits(replace(SHAPE, style_scale=2.0), 8192, 6144, available=8 * GB)
