"""Write a scene in VOID's folder layout, streaming frame by frame.

    out_dir/input_video.mp4     the plate (H.264, BT.709, high quality)
    out_dir/quadmask_0.mp4      ground-truth quadmask (lossless limited-range luma, as VOID)
    out_dir/prompt.json         {"bg": "<the scene without the object>"}
    out_dir/points.json         one positive click on the object's centre
    out_dir/target/0000.png ... the counterfactual frames (8-bit RGB, lossless)
    out_dir/scene.json          the spec and what the scene holds (written last: the folder is complete)
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from void_core import naming
from void_core.errors import MaskError
from void_core.media.encode import MaskVideoWriter, VideoWriter
from void_core.synth.plan import Body, ScenePlan, plan_scene
from void_core.synth.render import SceneFrame, render_scene
from void_core.synth.spec import SceneSpec
from void_core.synth.sprites import shape_area

VIDEO_NAME = naming.PLATE_VIDEO
TARGET_DIR = "target"
QUADMASK_VALUES = (0, 63, 127, 255)
VIDEO_CRF = 10
# x264 "faster": at crf 10 the picture is visually the same as slower presets, and 4K stays fast.
VIDEO_PRESET = "faster"
# Huffman-only deflate: noisy frames barely compress further, and it is the fastest lossless option.
_PNG_FLAGS = [cv2.IMWRITE_PNG_COMPRESSION, 1,
              cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


@dataclass(frozen=True)
class SceneInfo:
    """What `write_scene` wrote."""

    out_dir: Path
    spec: SceneSpec
    frame_count: int
    fps: Fraction
    video: Path
    mask: Path
    target_dir: Path
    quadmask_counts: dict[int, int]  # pixels of each value over the whole shot
    contact_frame: int | None
    click_frame: int
    click: tuple[int, int]
    seconds: float


def write_scene(spec: SceneSpec, out_dir: str | Path, *,
                mask_name: str = naming.QUADMASK, lossless: bool = False) -> SceneInfo:
    """Render `spec` and write it into `out_dir` in VOID's layout (see the module docstring).

    `lossless=True` stores the plate as 4:4:4 H.264 at qp 0 (only the RGB<->YUV rounding is
    lost) instead of delivery-style 4:2:0 crf 10: quality benchmarks use it so that the codec's
    chroma subsampling of the sensor noise does not hide differences between fills.

    Frames stream through the encoders one at a time; target PNGs are written on a worker thread
    while the next frame renders. Every file appears atomically; files an earlier scene left in
    the folder that would contradict this one (extra target frames, a mask under VOID's other
    name) are removed.

    Raises:
        MaskError: `mask_name` is not a plain `.mp4` file name.
        MediaError: a video cannot be written.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if Path(mask_name).name != mask_name or not mask_name.endswith(".mp4"):
        raise MaskError(out_dir / str(mask_name), "mask name must be a plain .mp4 file name",
                        "use quadmask_0.mp4 or trimask_quadmask.mp4")
    plan = plan_scene(spec)
    (out_dir / TARGET_DIR).mkdir(parents=True, exist_ok=True)
    tally = _stream_frames(spec, plan, out_dir, mask_name, lossless)
    _drop_stale_files(out_dir, spec.frames, mask_name)
    if tally.click_alpha <= 0.5:  # a bug in the layout, not a user error
        raise RuntimeError(f"scene {spec.name!r}: the click {plan.click} on frame "
                           f"{plan.click_frame} is not on the object "
                           f"(alpha {tally.click_alpha:.2f})")
    _write_json(out_dir / naming.PROMPT_JSON, {"bg": plan.prompt})
    _write_json(out_dir / naming.POINTS_JSON, {"frame": plan.click_frame,
                                          "points": [list(plan.click)], "labels": [1]})
    counts = {v: int(tally.counts[v]) for v in QUADMASK_VALUES}
    info = SceneInfo(out_dir, spec, spec.frames, spec.fps, out_dir / VIDEO_NAME,
                     out_dir / mask_name, out_dir / TARGET_DIR, counts, plan.contact_frame,
                     plan.click_frame, plan.click, time.perf_counter() - started)
    _write_json(out_dir / "scene.json", scene_record(plan, info, tally.first_seen))
    return info


@dataclass
class _Tally:
    """What the frames held, gathered while they stream past."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    first_seen: dict[int, int] = field(default_factory=dict)
    click_alpha: float = 0.0

    def add(self, frame: SceneFrame, plan: ScenePlan) -> None:
        frame_counts = np.bincount(frame.quadmask.ravel(), minlength=256)
        self.counts += frame_counts
        for value in QUADMASK_VALUES:
            if frame_counts[value] and value not in self.first_seen:
                self.first_seen[value] = frame.index
        if frame.index == plan.click_frame:
            self.click_alpha = float(frame.object_alpha[plan.click[1], plan.click[0]])


def _video_writer(path: Path, spec: SceneSpec, lossless: bool) -> VideoWriter:
    if lossless:
        return VideoWriter(path, spec.fps, pix_fmt="yuv444p", preset=VIDEO_PRESET, options={"qp": "0"})
    return VideoWriter(path, spec.fps, crf=VIDEO_CRF, preset=VIDEO_PRESET)


def _stream_frames(spec: SceneSpec, plan: ScenePlan, out_dir: Path, mask_name: str,
                   lossless: bool = False) -> _Tally:
    tally = _Tally()
    with _video_writer(out_dir / VIDEO_NAME, spec, lossless) as video, \
            MaskVideoWriter(out_dir / mask_name, spec.fps) as mask, \
            ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future | None = None
        for frame in render_scene(spec):
            video.write(frame.factual)
            mask.write(frame.quadmask)
            if pending is not None:
                pending.result()  # at most one PNG in flight: memory stays flat
            png = out_dir / TARGET_DIR / f"{frame.index:04d}.png"
            pending = pool.submit(_write_png, png, frame.target)
            tally.add(frame, plan)
        if pending is not None:
            pending.result()
    return tally


def scene_record(plan: ScenePlan, info: SceneInfo, first_seen: dict[int, int]) -> dict:
    """The JSON description of a written scene (scene.json)."""
    spec = plan.spec
    primary = plan.primary
    return {
        "name": spec.name,
        "spec": spec.to_json(),
        "frames": info.frame_count,
        "fps": f"{spec.fps.numerator}/{spec.fps.denominator}",
        "size": [spec.width, spec.height],
        "files": {"video": VIDEO_NAME, "quadmask": info.mask.name,
                  "target": f"{TARGET_DIR}/%04d.png", "prompt": "prompt.json",
                  "points": "points.json"},
        "prompt": plan.prompt,
        "background": {"kind": plan.background.kind, "source": plan.background.source,
                       "description": plan.background.description},
        "camera": {"kind": spec.camera, "pan_px": _rounded(plan.camera[-1] - plan.camera[0])},
        "primary": {"shape": primary.shape, "colour": primary.colour_name,
                    "half_size_px": _rounded(primary.half_size),
                    "area_fraction": round(_area(primary) / (spec.width * spec.height), 4),
                    "path_screen_px": [_rounded(plan.on_screen(plan.primary_path[i], i))
                                       for i in (0, len(plan.primary_path) - 1)]},
        "shadow": None if plan.shadow is None else {
            "offset_px": _rounded(plan.shadow.offset),
            "softness_px": round(plan.shadow.softness, 2),
            "strength": round(plan.shadow.strength, 3)},
        "pushed": None if plan.pushed is None else {
            "shape": plan.pushed.shape, "colour": plan.pushed.colour_name,
            "half_size_px": _rounded(plan.pushed.half_size), "contact_frame": plan.contact_frame},
        "click": {"frame": plan.click_frame, "point": list(plan.click)},
        "quadmask_counts": {str(v): n for v, n in info.quadmask_counts.items()},
        "quadmask_first_frame": {str(v): first_seen.get(v) for v in QUADMASK_VALUES},
        "noise_sigma": spec.noise_sigma,
    }


def _area(body: Body) -> float:
    return shape_area(body.shape, *body.half_size)


def _rounded(values) -> list[float]:
    return [round(float(v), 2) for v in values]


def _drop_stale_files(out_dir: Path, frames: int, mask_name: str) -> None:
    """Remove target frames beyond this scene's length, and a mask under VOID's other name."""
    for path in (out_dir / TARGET_DIR).glob("[0-9][0-9][0-9][0-9].png"):
        if int(path.stem) >= frames:
            path.unlink()
    for name in naming.MASK_NAMES:
        if name != mask_name:
            (out_dir / name).unlink(missing_ok=True)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial.png")
    if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _PNG_FLAGS):
        raise OSError(f"cannot write {path}")
    os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
