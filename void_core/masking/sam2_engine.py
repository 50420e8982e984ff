"""The `sam2` segmenter: SAM 2's video predictor from clicks/boxes, tracked both ways in time.

What VOID's stage 1 does, and what this engine does instead:

- VOID dumps every frame as JPEG and calls `init_state(video_path=dir)`, which holds the whole
  shot as float32 at 1024 x 1024 (12 MiB a frame) on the GPU. Here the plate is decoded once and
  each display-referred frame is resized to the model's square input and kept as uint8 (3 MiB a
  frame at 1024) in RAM, or past `max_resident_frames` in a memory-mapped spill file of those
  uint8 frames (never a JPEG of the shot); a frame is normalised and moved to the device only
  when the model reads it. The inference state is built directly over that frame store.
- VOID propagates forward only, from the earliest prompted frame, so a mask whose first click
  is not on frame 0 comes out shorter than the shot and offset in time. Here tracking runs
  backwards from the earliest prompted frame to frame 0, then forwards to the last frame; every
  prompted frame conditions every tracked frame (SAM 2 attends to all conditioning frames).
- SAM 2 upsamples every mask to the video's size on the device (34 MiB a frame per object for
  4K). Here the state's "video" size is the model's own mask size (image_size / 4), prompts are
  given normalised, and each mask is upsampled to the plate on the CPU only when written,
  exactly as SAM 2 would (bilinear logits, > 0).
- SAM 2 keeps every tracked frame's memory (0.75 MiB a frame per object at 1024) to the end of
  the shot. Here memories further than the model can reach (its memory frames and object
  pointers, derived from the config) from the current frame and from the first prompted frame
  are dropped as tracking advances, so the state stays bounded on any shot length; prompted
  frames are always kept.
- Integral belongings (a bike with its rider) are their own SAM 2 objects, tracked in the same
  pass; their masks are merged into the primary mask on every frame. `segment_objects` writes
  one mask per object instead (the analysis' affected objects, e.g. prompted by
  `analysis.object_masks.localization_prompts` from their grid localisations).

Weights are never downloaded: the checkpoint is a local file and the config is a packaged SAM 2
config name or a local YAML file (read with OmegaConf, so SAM 2's global Hydra is not needed).
The model loads once per engine instance (a GPU worker keeps it resident across shots).
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from void_core.digests import file_digest
from void_core.errors import InputError, MaskError, MediaError
from void_core.masking.prompt import (ClickPrompt, FrameStats, ProgressCallback, SegmentResult,
                                      validate_prompts)
from void_core.masking.sam2_model import CHECKPOINT_HINT, build_predictor, find_config, sam2_version
from void_core.media.encode import MaskVideoWriter
from void_core.media.plate import Plate
from void_core.progress import Progress

OBJECT, BACKGROUND = 0, 255
DEFAULT_CONFIG = "configs/sam2.1/sam2.1_hiera_l.yaml"
DEFAULT_RATE = Fraction(24)  # for image sequences, which carry no rate
MAX_RESIDENT_FRAMES = 256  # model-size frames held in RAM (3 MiB each at 1024) before spilling
DTYPES = ("auto", "float32", "bfloat16", "float16")
IMAGE_MEAN = (0.485, 0.456, 0.406)  # SAM 2's input normalisation
IMAGE_STD = (0.229, 0.224, 0.225)


class Sam2Segmenter:
    """Clicks/boxes on any frames -> SAM 2 masks on every frame (see module docstring).

    Args:
        checkpoint: local SAM 2 checkpoint (`.pt` holding {"model": state_dict}).
        config: a packaged config name ("configs/sam2.1/sam2.1_hiera_l.yaml") or a local YAML.
        device: "cuda", "cuda:N", "cpu", or "auto" (CUDA when torch sees one).
        dtype: autocast precision: "float32", "bfloat16", "float16", or "auto" (bfloat16 on
            CUDA, float32 on CPU). Weights stay float32.
        image_size: the model's square input size (None: the config's, 1024 for SAM 2).
        max_resident_frames: model-size frames kept in RAM; longer shots spill to a
            memory-mapped temporary file of uint8 frames.
        offload_state_to_cpu: keep SAM 2's per-frame memories in host RAM (saves GPU memory at
            some speed).

    Raises:
        InputError: no checkpoint, a checkpoint path that is not a file, an unknown config, or
            a bad setting. A corrupt or mismatched checkpoint is reported when the model loads
            (`load()`, or the first shot).
    """

    name = "sam2"
    version = "1"

    def __init__(self, *, checkpoint: str | Path | None = None, config: str = DEFAULT_CONFIG,
                 device: str = "auto", dtype: str = "auto", image_size: int | None = None,
                 max_resident_frames: int = MAX_RESIDENT_FRAMES,
                 offload_state_to_cpu: bool = False):
        if checkpoint is None:
            raise InputError(None, "the sam2 masker needs a checkpoint (weights are never "
                                   "downloaded)", CHECKPOINT_HINT)
        self.checkpoint = Path(checkpoint).expanduser()
        if not self.checkpoint.is_file():
            raise InputError(self.checkpoint, "SAM 2 checkpoint not found", CHECKPOINT_HINT)
        self.config = str(config)
        self._config_path = find_config(self.config)
        if dtype not in DTYPES:
            raise InputError(None, f"sam2 dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        if image_size is not None and (image_size < 64 or image_size % 16):
            raise InputError(None, f"sam2 image_size {image_size} must be a multiple of 16, "
                                   ">= 64 (SAM 2 is trained at 1024)")
        if max_resident_frames < 1:
            raise InputError(None, f"sam2 max_resident_frames must be >= 1, "
                                   f"got {max_resident_frames}")
        self.device_setting, self.dtype_setting = str(device), dtype
        self.image_size_setting = image_size
        self.max_resident_frames = int(max_resident_frames)
        self.offload_state_to_cpu = bool(offload_state_to_cpu)
        self._predictor = None
        self.load_count = 0  # model loads by this instance (a resident host loads once)
        self._lock = threading.Lock()  # one shot at a time through the resident model

    # ---- engine protocol ----------------------------------------------------------------

    def settings(self) -> dict:
        return {"config": self.config, "checkpoint": str(self.checkpoint),
                "device": self.device_setting, "dtype": self.dtype_setting,
                "image_size": self.image_size_setting,
                "max_resident_frames": self.max_resident_frames,
                "offload_state_to_cpu": self.offload_state_to_cpu,
                "sam2_version": sam2_version()}

    def resources(self) -> dict:
        """What a scheduler must reserve: a GPU when the engine is set to run on CUDA."""
        return {"num_gpus": 1} if self.device_setting.startswith("cuda") else {"num_cpus": 1}

    def model_checksums(self) -> dict[str, str]:
        """{checkpoint file name: "sha256:..."} for lineage (hashed once per process and file
        version, however many instances and stages ask)."""
        return {self.checkpoint.name: file_digest(self.checkpoint)}

    @property
    def predictor(self):
        """The loaded `SAM2VideoPredictor` (loads it on first use)."""
        return self.load()

    def load(self):
        """Build the model from its config and load the checkpoint, once.

        Raises:
            InputError: the checkpoint is not a readable SAM 2 checkpoint, does not match the
                config, or the device is not available.
        """
        if self._predictor is None:
            self._predictor = build_predictor(self._config_path, self.config, self.checkpoint,
                                               self._device(), self.image_size_setting)
            self.load_count += 1
        return self._predictor

    def segment(self, plate: Plate, prompts: Sequence[ClickPrompt], out_path: str | Path, *,
                on_progress: ProgressCallback | None = None,
                belongings: Sequence[Sequence[ClickPrompt]] = ()) -> SegmentResult:
        """Write the primary mask video (0 object, 255 background, lossless, one mask per
        plate frame, at the plate's size) to `out_path`.

        Args:
            plate: the shot.
            prompts: clicks and/or boxes on the primary object, on one or more frames.
            out_path: the mask video (.mp4), written atomically.
            on_progress: called with (steps done, steps in total): a step per frame loaded
                and per frame tracked.
            belongings: prompts for each integral belonging (one sequence per object), tracked
                as separate objects and merged into the primary mask.

        Raises:
            InputError: no prompt, a prompt outside the plate, or a bad checkpoint.
            MaskError: the plate has no frames.
            MediaError: the plate cannot be decoded or the mask cannot be written.
        """
        objects = [prompts, *belongings]
        out_path = Path(out_path)
        with _MaskWriters(plate, [out_path]) as writers:
            notes = self._run(plate, objects, lambda index, masks: writers.write(
                index, [np.logical_or.reduce(masks)]), on_progress)
        result = writers.results[0]
        if belongings:
            notes.append(f"{len(belongings)} integral belonging(s) merged into the primary mask")
        result.notes.extend(notes)
        return result

    def segment_objects(self, plate: Plate, prompts_by_object: Mapping[Hashable,
                        Sequence[ClickPrompt]], out_dir: str | Path, *,
                        on_progress: ProgressCallback | None = None,
                        ) -> dict[Hashable, SegmentResult]:
        """One mask video per object (0 object, 255 rest, plate size), all tracked in one pass.

        For the analysis' affected objects: give each object's prompts (e.g.
        `analysis.object_masks.localization_prompts`); masks are written to
        `out_dir/object_<n>.mp4`, n counting from 1 in the mapping's order.

        Returns:
            {object key: its SegmentResult}, in the mapping's order.

        Raises:
            InputError: no object, an object without a usable prompt, or a bad checkpoint.
            MaskError, MediaError: as for `segment`.
        """
        if not prompts_by_object:
            raise InputError(None, "segment_objects was given no object to segment")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        keys = list(prompts_by_object)
        paths = [out_dir / f"object_{number}.mp4" for number in range(1, len(keys) + 1)]
        with _MaskWriters(plate, paths) as writers:
            notes = self._run(plate, [prompts_by_object[key] for key in keys], writers.write,
                              on_progress)
        for result in writers.results:
            result.notes.extend(notes)
        return dict(zip(keys, writers.results))

    # ---- the run ------------------------------------------------------------------------

    def _run(self, plate: Plate, objects: Sequence[Sequence[ClickPrompt]], write,
             on_progress: ProgressCallback | None) -> list[str]:
        """Track every object through the shot; `write(index, masks)` gets each frame's
        plate-size boolean masks (one per object) in frame order."""
        info = plate.info
        checked = [validate_prompts(prompts, info.width, info.height, info.frame_count,
                                    source=info.path) for prompts in objects]
        started = time.perf_counter()
        progress = Progress(on_progress, 2 * info.frame_count)
        with self._lock, tempfile.TemporaryDirectory(prefix="void-sam2-") as spill:
            predictor = self.load()
            frames = _ModelFrames.from_plate(plate, predictor.image_size,
                                             self.max_resident_frames, Path(spill), progress)
            tracker = _Tracker(predictor, frames, self._device(), self.offload_state_to_cpu)
            with self._precision():
                for obj_id, prompts in enumerate(checked, start=1):
                    tracker.add(obj_id, prompts, info.width, info.height)
                for index, logits in tracker.frames_in_order():
                    write(index, _plate_masks(logits, info.width, info.height))
                    progress.advance()
        seconds = time.perf_counter() - started
        first = min(prompt.frame for prompts in checked for prompt in prompts)
        return [f"sam2 {self.config} at {predictor.image_size}px on {self._device()} "
                f"({self._dtype_name()}): {len(checked)} object(s), tracked back from frame "
                f"{first} to 0 and on to {info.frame_count - 1}, {info.frame_count} frames in "
                f"{seconds:.1f} s ({seconds / max(1, info.frame_count):.3f} s/frame)"
                + (", frames spilled to disk" if frames.spilled else "")]

    def _device(self) -> str:
        import torch

        device = self.device_setting
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(None, f"sam2 device {device!r}, but torch sees no CUDA GPU here",
                             "run the masking stage on a GPU worker, or set device = \"cpu\" "
                             "(about 10 s a frame at 1024)")
        return device

    def _dtype_name(self) -> str:
        if self.dtype_setting != "auto":
            return self.dtype_setting
        return "bfloat16" if self._device().startswith("cuda") else "float32"

    def _precision(self):
        import torch

        name = self._dtype_name()
        if name == "float32":
            return contextlib.nullcontext()
        return torch.autocast(torch.device(self._device()).type, dtype=getattr(torch, name))



# ---- frames at the model's size ----------------------------------------------------------------

class _ModelFrames:
    """The shot resized to the model's square input, uint8 RGB, in RAM or (past `resident`
    frames) in a memory-mapped spill file; indexing gives SAM 2's normalised float tensor.

    This is what SAM 2's inference state reads as `images` (`len()` and `[index]`)."""

    def __init__(self, count: int, size: int, resident: int, spill_dir: Path):
        self.size, self.spilled = size, count > resident
        shape = (count, size, size, 3)
        self._pixels = (np.lib.format.open_memmap(spill_dir / "frames.npy", "w+", np.uint8, shape)
                        if self.spilled else np.empty(shape, np.uint8))
        import torch

        self._mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(IMAGE_STD, dtype=torch.float32)[:, None, None]

    @classmethod
    def from_plate(cls, plate: Plate, size: int, resident: int, spill_dir: Path,
                   progress: Progress) -> _ModelFrames:
        info = plate.info
        if info.frame_count == 0:
            raise MaskError(info.path, "the plate has no frames to mask")
        frames = cls(info.frame_count, size, resident, spill_dir)
        count = 0
        for index, raw in enumerate(plate.frames()):
            if index >= info.frame_count:
                break
            frames._pixels[index] = _model_rgb(plate.display(raw), size)
            count += 1
            progress.advance()
        if count < info.frame_count:
            raise MediaError(info.path, f"decoded {count} frames, the plate says "
                                        f"{info.frame_count}")
        return frames

    def __len__(self) -> int:
        return len(self._pixels)

    def __getitem__(self, index: int):
        import torch

        rgb = torch.from_numpy(np.ascontiguousarray(self._pixels[index]))
        image = rgb.permute(2, 0, 1).float().div_(255.0)
        return image.sub_(self._mean).div_(self._std)


def _model_rgb(display: np.ndarray, size: int) -> np.ndarray:
    """Display-referred [0, 1] RGB at any size -> size x size uint8 (squashed to a square as
    SAM 2's own loader does; each axis area-averaged when it shrinks, interpolated when it
    grows, so a 16:9 frame is not aliased along its long side)."""
    image = np.asarray(display, np.float32)
    height, width = image.shape[:2]
    if width != size:
        image = cv2.resize(image, (size, height), interpolation=_interpolation(width, size))
    if height != size:
        image = cv2.resize(image, (size, size), interpolation=_interpolation(height, size))
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _interpolation(source: int, target: int) -> int:
    return cv2.INTER_AREA if source > target else cv2.INTER_LINEAR


# ---- tracking ----------------------------------------------------------------------------------

class _Tracker:
    """One shot through SAM 2's video predictor: prompts, then tracking both ways."""

    def __init__(self, predictor, frames: _ModelFrames, device: str, offload_state: bool):
        self.predictor = predictor
        self.state = _new_state(predictor, frames, device, offload_state)
        self.reach = _memory_reach(predictor)
        self.prompted: list[int] = []

    def add(self, obj_id: int, prompts: Sequence[ClickPrompt], width: int, height: int) -> None:
        """Give SAM 2 an object's prompts (one call per prompted frame, coordinates
        normalised to the frame so the state's small "video" size does not matter)."""
        for prompt in prompts:
            points, labels = _normalised_points(prompt, width, height)
            box = _normalised_box(prompt.box, width, height)
            self.predictor.add_new_points_or_box(
                self.state, frame_idx=prompt.frame, obj_id=obj_id, points=points,
                labels=labels, box=box, normalize_coords=False)
            self.prompted.append(prompt.frame)

    def frames_in_order(self) -> Iterator[tuple[int, object]]:
        """(frame index, per-object mask logits (objects, 1, h, w) float32 on the CPU) for
        every frame, in order: frames before the first prompt wait for the backward pass."""
        waiting: dict[int, object] = {}
        next_index = 0
        for index, logits in self._tracked():
            waiting[index] = logits
            while next_index in waiting:
                yield next_index, waiting.pop(next_index)
                next_index += 1
        count = self.state["num_frames"]
        if next_index != count:
            raise RuntimeError(f"sam2 tracking produced frames up to {next_index} of {count}")

    def _tracked(self) -> Iterator[tuple[int, object]]:
        """Backwards from the first prompted frame to 0, then forwards to the end."""
        start = min(self.prompted)
        for reverse in (True, False):
            for index, _, logits in self.predictor.propagate_in_video(
                    self.state, start_frame_idx=start, reverse=reverse):
                self._forget_far_memories(index, start)
                if reverse or index != start or start == 0:
                    yield index, logits.float().cpu()

    def _forget_far_memories(self, current: int, anchor: int) -> None:
        """Drop tracked (non-prompted) frames' memories the model can no longer read: further
        than its reach from the current frame and from the first prompted frame (where the
        second pass starts and reads the first pass's memories)."""
        for outputs in self.state["output_dict_per_obj"].values():
            tracked = outputs["non_cond_frame_outputs"]
            for index in [index for index in tracked
                          if abs(index - current) > self.reach
                          and abs(index - anchor) > self.reach]:
                del tracked[index]


def _memory_reach(predictor) -> int:
    """How many frames away SAM 2 reads memories from: its memory frames (every
    `stride`-th) and its object pointers."""
    stride = max(1, int(predictor.memory_temporal_stride_for_eval))
    return max(predictor.num_maskmem * stride, predictor.max_obj_ptrs_in_encoder) + 1


def _new_state(predictor, frames: _ModelFrames, device: str, offload_state: bool) -> dict:
    """SAM 2's inference state, as `SAM2VideoPredictor.init_state` builds it, over our frame
    store instead of frames it loads itself. The state's video size is the model's mask size:
    masks come back unresized and are upsampled to the plate when written."""
    import torch

    compute = torch.device(device)
    mask_size = predictor.image_size // 4
    return {
        "images": frames,
        "num_frames": len(frames),
        "offload_video_to_cpu": True,
        "offload_state_to_cpu": offload_state,
        "video_height": mask_size,
        "video_width": mask_size,
        "device": compute,
        "storage_device": torch.device("cpu") if offload_state else compute,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }


def _normalised_points(prompt: ClickPrompt, width: int, height: int):
    if not prompt.points:
        return None, None
    points = np.array([(x / width, y / height) for x, y in prompt.points], np.float32)
    return points, np.array(prompt.labels, np.int32)


def _normalised_box(box, width: int, height: int):
    if box is None:
        return None
    x0, y0, x1, y1 = box
    return np.clip(np.array([x0 / width, y0 / height, x1 / width, y1 / height], np.float32),
                   0.0, 1.0)


def _plate_masks(logits, width: int, height: int) -> list[np.ndarray]:
    """Per-object low-resolution logits -> plate-size boolean masks (SAM 2's own rule:
    bilinear upsampling of the logits, then > 0)."""
    import torch.nn.functional as F

    masks = []
    for one in logits:
        full = F.interpolate(one[None], size=(height, width), mode="bilinear",
                             align_corners=False)
        masks.append((full[0, 0] > 0).numpy())
    return masks


# ---- output ------------------------------------------------------------------------------------

class _MaskWriters:
    """Lossless 0/255 mask videos, one per output, with per-frame stats."""

    def __init__(self, plate: Plate, paths: Sequence[Path]):
        self.info = plate.info
        self.paths = list(paths)
        self._stack = contextlib.ExitStack()
        self._writers: list[MaskVideoWriter] = []
        self._stats: list[list[FrameStats]] = [[] for _ in self.paths]
        self._results: list[SegmentResult] | None = None

    def __enter__(self) -> _MaskWriters:
        rate = self.info.rate or DEFAULT_RATE
        self._writers = [self._stack.enter_context(MaskVideoWriter(path, rate))
                         for path in self.paths]
        return self

    def __exit__(self, *exc) -> None:
        self._stack.__exit__(*exc)

    def write(self, index: int, masks: Sequence[np.ndarray]) -> None:
        for writer, stats, mask in zip(self._writers, self._stats, masks, strict=True):
            stats.append(FrameStats.of(index, mask))
            writer.write(np.where(mask, OBJECT, BACKGROUND).astype(np.uint8))

    @property
    def results(self) -> list[SegmentResult]:
        """One result per output (the same objects on every access)."""
        if self._results is None:
            self._results = [SegmentResult(path, self.info.width, self.info.height, stats, [])
                             for path, stats in zip(self.paths, self._stats)]
        return self._results

