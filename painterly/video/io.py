"""Reading and writing clips with PyAV (FFmpeg): frames as (H, W, 3) uint8 RGB arrays.

Frames are decoded one at a time and scaled to the working size by FFmpeg's scaler, so a long
clip never sits in memory. The output is H.264 in MP4 (yuv420p, so the working size is even),
at the input's frame rate; the input's audio packets in the chosen time range are copied
unchanged (no re-encoding). Every failure a user can cause is a one-line PainterlyError.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from painterly.atomic import atomic_path
from painterly.errors import PainterlyError
from painterly.extras import require
from painterly.image import fit_long_side

#: Output containers by extension (H.264 fits all three).
CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
DEFAULT_FPS = Fraction(25)


def import_av() -> Any:
    """The ``av`` module (PyAV), or a one-line error naming the video extra."""
    return require("video", "av")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` finds: the first video stream's size and rate, and whether there is audio."""

    width: int
    height: int
    fps: Fraction
    frames: int  # as the container says; 0 when unknown
    duration: float | None  # seconds, when known
    has_audio: bool


def check_regular_file(path: Path, role: str) -> None:
    """Refuse what is not a regular file, before it is opened or hashed.

    Opening a FIFO blocks until something writes to it, and a device (``/dev/zero``) never ends:
    either would hang the command (FFmpeg's open, or the SHA-256 of the work folder's key)."""
    from painterly.models.files import special_file_kind

    if not path.exists():
        raise PainterlyError(f"{role} {path} does not exist; check the path")
    kind = special_file_kind(path)
    if kind is not None:
        raise PainterlyError(f"{role} {path} is not a regular file ({kind}); give a file")


def _open(path: Path) -> Any:
    av = import_av()
    check_regular_file(path, "input video")
    try:
        return av.open(str(path), "r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, OSError) as error:
        raise PainterlyError(
            f"{path} is not a video PyAV can read ({_short(error)}); give an MP4, MOV, MKV or WebM file"
        ) from None


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:120] + "...") if len(text) > 120 else text or type(error).__name__


def _video_stream(container: Any, path: Path) -> Any:
    streams = [stream for stream in container.streams.video if stream.codec_context is not None]
    if not streams:
        raise PainterlyError(f"{path} has no video stream (audio only?); give a file with a video track")
    stream = streams[0]
    if not stream.codec_context.width or not stream.codec_context.height:
        raise PainterlyError(f"{path}: its video stream has no frame size; the file is damaged")
    return stream


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate, frame count and audio of the first video stream of ``path``."""
    source = Path(path).expanduser()
    container = _open(source)
    try:
        stream = _video_stream(container, source)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = Fraction(rate) if rate and rate > 0 else DEFAULT_FPS
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        return VideoInfo(
            width=int(stream.codec_context.width), height=int(stream.codec_context.height), fps=fps,
            frames=int(stream.frames or 0), duration=duration, has_audio=bool(container.streams.audio),
        )  # fmt: skip
    finally:
        container.close()


def working_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """The frames' size for ``--size``: the long side as given, both sides even (H.264's 4:2:0)."""
    h, w = fit_long_side(height, width, long_side)
    return max(2, h - h % 2), max(2, w - w % 2)


def read_frames(
    path: str | os.PathLike,
    size: tuple[int, int],
    *,
    start: float = 0.0,
    duration: float | None = None,
    frames: int | None = None,
) -> Iterator[np.ndarray]:
    """The frames from ``start`` seconds, for ``duration`` seconds or ``frames`` frames, as (H, W, 3)
    uint8 RGB at ``size`` = (height, width). A frame that cannot be decoded is a one-line error."""
    av = import_av()
    source = Path(path).expanduser()
    container = _open(source)
    height, width = size
    count = 0
    try:
        stream = _video_stream(container, source)
        stream.thread_type = "AUTO"
        if start > 0:
            container.seek(int(start * 1_000_000), any_frame=False)  # the keyframe before start
        end = None if duration is None else start + duration
        decoded = container.decode(stream)
        while frames is None or count < frames:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except (av.error.FFmpegError, ValueError) as error:
                raise PainterlyError(
                    f"{source}: frame {count + 1} cannot be decoded ({_short(error)}); the file is damaged there: "
                    f"use --duration or --frames to stop before it"
                ) from None
            time = float(frame.time) if frame.time is not None else start + count / 25
            if time < start - 1e-6:
                continue
            if end is not None and time >= end - 1e-6:
                break
            count += 1
            yield frame.to_ndarray(format="rgb24", width=width, height=height)
    finally:
        container.close()
    if count == 0:
        where = f" after {start:g} s" if start else ""
        raise PainterlyError(f"{source} has no decodable video frames{where}; check --start or the file")


def check_output(path: str | os.PathLike, source: str | os.PathLike) -> Path:
    """Check before any work that the clip can be written at ``path``."""
    out = Path(path).expanduser()
    if out.suffix.lower() not in CONTAINERS:
        raise PainterlyError(f"output {out} must end in {', '.join(CONTAINERS)} (H.264 video)")
    if out.is_dir():
        raise PainterlyError(f"output {out} is a folder; give a file name ending in .mp4")
    folder = out.parent
    if not folder.is_dir():
        raise PainterlyError(f"folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PainterlyError(f"folder {folder} is not writable; choose another output folder")
    try:
        same = out.exists() and os.path.samefile(out, source)
    except OSError:
        same = False
    if same or out.resolve() == Path(source).expanduser().resolve():
        raise PainterlyError(f"output {out} is the input video; choose another name")
    return out


def write_video(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: Fraction,
    *,
    audio_from: str | os.PathLike | None = None,
    start: float = 0.0,
    duration: float | None = None,
    crf: int = 18,
) -> str | None:
    """Encode ``frames`` (H, W, 3 uint8 RGB, even sides) as H.264 at ``fps`` into ``path``, atomically.

    The audio of ``audio_from`` between ``start`` and ``start + duration`` is copied. Returns a note
    when the audio could not be copied (the video is written all the same), else None.
    """
    av = import_av()
    out = Path(path).expanduser()
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise PainterlyError(f"no frames to write to {out}")
    reader = None
    note = None
    try:
        with atomic_path(out) as temporary:
            container = av.open(str(temporary), "w", format=CONTAINERS.get(out.suffix.lower(), "mp4"))
            try:
                stream = container.add_stream("libx264", rate=fps)
                stream.height, stream.width = int(first.shape[0]), int(first.shape[1])
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf)}
                # Every stream is added before the first packet: the header is written then.
                audio, reader, note = _audio_stream(av, container, audio_from)
                for array in itertools.chain([first], iterator):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
                    container.mux(stream.encode(frame))
                container.mux(stream.encode(None))
                if audio is not None and reader is not None:
                    note = _copy_audio(av, container, reader, audio, start, duration)
            finally:
                container.close()
                if reader is not None:
                    reader.close()
    except OSError as error:
        raise PainterlyError(f"could not write {out}: {error.strerror or error}") from None
    except av.error.FFmpegError as error:
        raise PainterlyError(f"could not encode {out}: {_short(error)}") from None
    return note


def _audio_stream(av: Any, container: Any, source: str | os.PathLike | None) -> tuple[Any, Any, str | None]:
    """(the output audio stream, the open input, a note): the input's first audio stream, to be copied."""
    if source is None:
        return None, None, None
    try:
        reader = av.open(str(source), "r")
    except (av.error.FFmpegError, OSError):
        return None, None, "the audio could not be read; the video has none"
    if not reader.streams.audio:
        reader.close()
        return None, None, None
    incoming = reader.streams.audio[0]
    try:
        return container.add_stream_from_template(incoming), reader, None
    except (av.error.FFmpegError, ValueError) as error:
        reader.close()
        name = incoming.codec_context.name
        why = f"the audio ({name}) cannot be copied into this container ({_short(error)}); the video has none"
        return None, None, why


def _copy_audio(
    av: Any, container: Any, reader: Any, outgoing: Any, start: float, duration: float | None
) -> str | None:
    """Remux the audio packets in [start, start + duration), shifted to start at 0 (no re-encoding)."""
    incoming = reader.streams.audio[0]
    base = incoming.time_base
    offset = round(start / base) if base else 0
    end = None if duration is None else start + duration
    try:
        for packet in reader.demux(incoming):
            if packet.pts is None or packet.dts is None:
                continue
            time = float(packet.pts * base)
            if time + float((packet.duration or 0) * base) <= start:  # ends before the start
                continue
            if end is not None and time >= end:
                break
            packet.pts -= offset
            packet.dts -= offset
            packet.stream = outgoing
            container.mux(packet)
    except av.error.FFmpegError as error:
        return f"the audio was cut short ({_short(error)})"
    return None
