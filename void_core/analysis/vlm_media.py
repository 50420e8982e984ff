"""What a VLM analyzer shows its model: gridded sample frames, the object in red, the clip.

The `gemini` and `local-vlm` analyzers show the same pictures; only how they travel differs.
As VOID's stage 2 does, the model gets (1) frames sampled evenly over the shot (VOID's 0, 11, 22,
... 100 %), each with VOID's grid (8 cells on the short side) drawn over it, row numbers down the
left, column numbers along the top and a "Frame N (P%)" label, so that it can answer positions as
grid cells and times as frame numbers; (2) one frame with the object to remove tinted red (40 %)
on the same grid; (3) the shot as a video: for Gemini a proxy file, for a local model the
`clip`, frames sampled evenly and kept in memory with their shot frame numbers. Two departures
from VOID:

- the red frame is the first frame on which the object is present, not frame 0 (VOID's frame-0
  overlay is empty when the object enters later);
- the video is a proxy, not the plate: H.264 at `video_width` (the plate may be a 4K ProRes or
  an EXR sequence, which Gemini cannot read and would not look at in full anyway), with the
  plate's own frame count and rate, so seconds in the video map to shot frames.

The grid is VOID's (`quadmask.grid_shape` of the plate) scaled to the image, so a cell Gemini
names is the cell `analysis.masks` paints at plate resolution. Grid lines are yellow (VOID draws
cyan while its prompt says yellow; here they agree).

Everything is made in one streaming pass over the plate and the primary mask: one frame in
memory, the proxy written as it goes, the sample frames kept as JPEG bytes, the clip's few
small frames as arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from void_core import quadmask
from void_core.errors import MaskError
from void_core.media.encode import VideoWriter
from void_core.media.masks import frames_with_mask

FALLBACK_RATE = Fraction(24)  # image sequences opened without a rate
GRID_RGB = (255, 230, 0)  # yellow
MASK_RGB = (255, 0, 0)
MASK_ALPHA = 0.4
JPEG_QUALITY = 90
PROXY_CRF = 23


@dataclass(frozen=True)
class FrameImage:
    """One picture for the model: a shot frame as JPEG and the caption sent with it."""

    index: int
    jpeg: bytes
    caption: str

    def rgb(self) -> np.ndarray:
        """The picture decoded (8-bit RGB), for a model that takes pixels."""
        bgr = cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@dataclass
class ShotMedia:
    """The pictures, and the proxy video or the clip, made for one shot."""

    video: Path | None  # the proxy (None when none was asked for)
    frame_count: int
    rate: Fraction
    width: int
    height: int
    grid: tuple[int, int]  # (rows, cols) of VOID's grid on the plate
    samples: list[FrameImage] = field(default_factory=list)
    object_frame: FrameImage | None = None  # the first frame with the object, tinted red
    clip: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (shot frame, RGB)

    @property
    def video_bytes(self) -> int:
        return self.video.stat().st_size

    @property
    def duration(self) -> float:
        return float(self.frame_count / self.rate)


def sample_indices(frame_count: int, count: int) -> list[int]:
    """`count` frames spread evenly from the first to the last (VOID's 0, 11, ... 100 % for
    ten), without repeats."""
    last = max(frame_count - 1, 0)
    return sorted({round(float(share) * last) for share in np.linspace(0.0, 1.0, max(count, 1))})


def prepare_media(plate, mask_path: str | Path, out_dir: Path | None, *, sample_count: int,
                  image_width: int, video_width: int, clip_count: int = 0,
                  on_frame: Callable[[int], None] | None = None) -> ShotMedia:
    """Stream `plate` and its primary mask once: keep the gridded sample frames and the red
    object frame; write the proxy video into `out_dir` (None: no proxy); keep `clip_count`
    frames spread over the shot at `video_width` as the clip. `on_frame(index)` follows each
    frame.

    Raises:
        MaskError: the mask does not match the plate, or it never shows the object.
        MediaError: the plate cannot be decoded or the proxy cannot be written.
    """
    mask_path = Path(mask_path)
    info = plate.info
    rate = Fraction(info.rate) if info.rate else FALLBACK_RATE
    grid = quadmask.grid_shape(info.width, info.height)
    image_size = _fit(info.width, info.height, image_width, even=False)
    video_size = _fit(info.width, info.height, video_width, even=True)
    wanted = set(sample_indices(info.frame_count, sample_count))
    in_clip = set(sample_indices(info.frame_count, clip_count)) if clip_count else set()
    proxy = out_dir / "shot_proxy.mp4" if out_dir is not None else None
    media = ShotMedia(proxy, 0, rate, info.width, info.height, grid)

    writing = (VideoWriter(proxy, rate, crf=PROXY_CRF, preset="veryfast") if proxy is not None
               else nullcontext())
    with writing as writer:
        for index, raw, mask in frames_with_mask(plate, mask_path):
            rgb = _display_rgb(plate, raw, image_size)
            if writer is not None or index in in_clip:
                small = (rgb if image_size == video_size else
                         cv2.resize(rgb, video_size, interpolation=cv2.INTER_AREA))
                if writer is not None:
                    writer.write(small)
                if index in in_clip:
                    media.clip.append((index, small))
            primary = quadmask.primary(mask)
            if index in wanted:
                media.samples.append(_sample(rgb, index, info.frame_count, grid))
            if media.object_frame is None and primary.any():
                media.object_frame = _object_frame(rgb, primary, index, grid)
            if on_frame is not None:
                on_frame(index)
    media.frame_count = index + 1
    if media.object_frame is None:
        raise MaskError(mask_path, "the primary mask is empty on every frame: nothing to remove",
                        "click on the object again, or check the masking engine's output")
    return media


def _fit(width: int, height: int, limit: int, *, even: bool) -> tuple[int, int]:
    scale = min(1.0, limit / width)
    size = [max(2, round(width * scale)), max(2, round(height * scale))]
    if even:
        size = [side - side % 2 for side in size]
    return size[0], size[1]


def _display_rgb(plate, raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame as 8-bit display RGB at `size`."""
    if raw.dtype == np.float16:
        raw = raw.astype(np.float32)
    if (raw.shape[1], raw.shape[0]) != size:
        raw = cv2.resize(raw, size, interpolation=cv2.INTER_AREA)
    display = np.clip(plate.display(raw), 0.0, 1.0)
    return np.rint(display * 255).astype(np.uint8)


def _sample(rgb: np.ndarray, index: int, frame_count: int, grid: tuple[int, int]) -> FrameImage:
    share = round(100 * index / max(frame_count - 1, 1))
    label = f"Frame {index} ({share}%)"
    image = draw_grid(rgb, grid, label)
    return FrameImage(index, _jpeg(image), f"Grid sample: frame {index} of the shot ({share}%).")


def _object_frame(rgb: np.ndarray, primary: np.ndarray, index: int,
                  grid: tuple[int, int]) -> FrameImage:
    height, width = rgb.shape[:2]
    if primary.shape != (height, width):
        scaled = cv2.resize(primary.astype(np.uint8) * 255, (width, height),
                            interpolation=cv2.INTER_AREA)
        primary = scaled >= 128
    tinted = rgb.astype(np.float32)
    tinted[primary] = (1 - MASK_ALPHA) * tinted[primary] + MASK_ALPHA * np.array(MASK_RGB)
    image = draw_grid(np.rint(tinted).astype(np.uint8), grid, f"Frame {index}: object in red")
    return FrameImage(index, _jpeg(image),
                      f"Frame {index}, the first frame the object appears on: the object to "
                      "remove is tinted red.")


def draw_grid(rgb: np.ndarray, grid: tuple[int, int], label: str) -> np.ndarray:
    """`rgb` with VOID's grid, its row/column numbers and `label` drawn over it (a copy)."""
    image = rgb.copy()
    height, width = image.shape[:2]
    rows, cols = grid
    ys = np.linspace(0, height, rows + 1).astype(int)
    xs = np.linspace(0, width, cols + 1).astype(int)
    thickness = max(1, round(min(width, height) / 360))
    for y in ys[1:-1]:
        cv2.line(image, (0, int(y)), (width - 1, int(y)), GRID_RGB, thickness)
    for x in xs[1:-1]:
        cv2.line(image, (int(x), 0), (int(x), height - 1), GRID_RGB, thickness)
    cell = min(height / rows, width / cols)
    scale = max(0.4, cell / 80)
    for row in range(rows):
        _text(image, str(row), (3, int(ys[row] + cell * 0.45)), scale)
    for col in range(1, cols):  # column 0 shares the corner with row 0
        _text(image, str(col), (int(xs[col] + 3), int(cell * 0.3)), scale)
    _label(image, label, scale * 1.2)
    return image


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    weight = max(1, round(scale * 1.5))
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), weight + 2,
                cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, GRID_RGB, weight,
                cv2.LINE_AA)


def _label(image: np.ndarray, text: str, scale: float) -> None:
    """`text` on a dark box in the bottom-right corner (away from the row numbers)."""
    weight = max(1, round(scale * 1.5))
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
    pad = max(2, height // 3)
    x1, y1 = image.shape[1] - 1, image.shape[0] - 1
    x0, y0 = x1 - width - 2 * pad, y1 - height - baseline - 2 * pad
    cv2.rectangle(image, (x0, y0), (x1, y1), (0, 0, 0), thickness=-1)
    cv2.putText(image, text, (x0 + pad, y1 - pad - baseline), cv2.FONT_HERSHEY_SIMPLEX, scale,
                GRID_RGB, weight, cv2.LINE_AA)


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # only for an impossible image; a bug, not user input
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()
