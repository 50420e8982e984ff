"""The `void` inpainting engine: VOID pass 1 behind the `Inpainter` protocol, on any plate.

For one shot:

1. **Plan** (`planning.py`): one crop around the union of the shot's edit boxes, at the model's
   aspect ratio with context; the plate's frames mapped to VOID's 12 fps (nearest frame); the
   model frames cut into overlapping chunks of at most 197 frames.
2. **Model inputs**, streamed: each needed plate frame's crop becomes display-referred [0, 1]
   RGB area-resized to the model size (VOID: / 255, then area) and its quadmask crop goes
   through VOID's chain (area resize, quantise at 31/95/191, invert, / 255). Only model-size
   frames of the current chunk (and the overlap) are held, never plate-size ones.
3. **Pass 1** per chunk (`pipeline.run_pass1`): mirror-padded to VOID's 4k+1 length, denoised
   with VOID's temporal multidiffusion, decoded, the padding trimmed; then the optional pass-2
   hook. Chunk outputs are blended linearly across their overlaps.
4. **Fills**: each plate frame takes its model frame, resized back to the crop size; the part
   covering the frame's edit box is its `Fill` (display-referred). `process_shot` composites it
   with the feathered band, so pixels outside the band stay bit-exact.

Parts (`PartedInpainter`, `parts.py`): a long shot can also run as parts on different workers.
`prepare` plans the shot (no model load) and writes the plan to `work/void-plan.json`; the parts
are the model's own chunks, whatever the farm's `chunk_frames` (which only splits a shot with
nothing to remove): a "window" part per chunk k runs the model on chunk k alone (seed + k, the
pass-2 hook as in one process), saves its output over each overlap with k - 1 and k + 1 as float32
.npy (model size, atomic), and yields the plate frames only chunk k covers; a "join" part per
overlap (after windows k and k + 1, no model) cross-fades the two saved outputs with
`chunk_weights` and yields the overlap's plate frames. Each part reads only its plate frames
(`shot.stream(start, stop)`). The fills equal `inpaint`'s bit for bit (`tests/test_void_parts.py`).
Lineage keeps a window's overlap files with its part (`written_files`). Prompt embeddings are
recomputed per window (an encode is milliseconds beside a chunk's denoising).

Models load lazily, once per engine instance, and stay for every later shot (`load_count`).
Text: the shot's `bg` prompt (prompt.json) through T5, or precomputed embeddings (`text.py`),
from `ShotFrames.prompt` / `ShotFrames.rate` when given, else the `prompt` / `plate_fps` settings.

Pass-2 hook: `pass2` is an optional callable run on every chunk right after pass 1, at model
size, before the chunks are blended. It gets a `Pass2Request` (the chunk's model-size frames,
VOID's mask, the pass-1 frames, the prompt and its embeddings, an `encode_prompt` for other
prompts such as pass 2's empty negative one, the loaded pass-1 models, the memory placement and
a per-chunk seed) and returns the refined frames, shape (1, 3, n, h, w) in [0, 1]. Its
`name` (and `settings()` when it has one) are recorded in the engine's settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import reduce
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from void_core import quadmask
from void_core.composite import Box
from void_core.errors import InputError
from void_core.inpaint.base import Fill, Frame, InpaintStats, ShotFrames, ShotPart
from void_core.inpaint.void.check import (
    checked_model_folder, model_defaults, spatial_unit, weight_checksums,
)
from void_core.inpaint.void.load import load_void_models
from void_core.inpaint.void.offload import MEMORY_MODES, place
from void_core.inpaint.void.parts import (
    JOIN, WINDOW, frame_parts, load_overlap, overlap_frames, part_model_frames, read_plan,
    save_overlap, window_overlaps, window_parts, write_plan)
from void_core.inpaint.void.pipeline import decode_latents, run_pass1
from void_core.inpaint.void.planning import (
    parse_rate,
    rate_text,
    Chunk,
    ChunkPlan,
    chunk_weights,
    crop_for_model,
    is_void_length,
    map_frames,
    plan_chunks,
)
from void_core.inpaint.void.text import load_prompt_encoder

VOID_SAMPLE_SIZE = (384, 672)  # VOID's sample_size (height, width)
VOID_FPS = Fraction(12)  # VOID's training and output frame rate
VOID_MAX_FRAMES = 197  # VOID's max_video_length
VOID_WINDOW_FRAMES = 85  # VOID's temporal_window_size
VOID_STEPS = 30  # VOID's predict_v2v.py hard-codes 30
VOID_SEED = 42
DEFAULT_OVERLAP = 16
DEFAULT_CONTEXT = 0.25
_DTYPES = ("bfloat16", "float32", "float16")


@dataclass(frozen=True)
class ChunkRun:
    """What one model call processed: model frames [chunk), padded to `padded_frames`."""

    chunk: Chunk
    padded_frames: int


@dataclass(frozen=True)
class Pass2Request:
    """Everything a pass-2 hook needs for one chunk (tensors at model size, batch 1)."""

    video: torch.Tensor  # (1, 3, n, h, w): the shot's frames in [0, 1]
    mask: torch.Tensor  # (1, 1, n, h, w): VOID's mask (1 remove, 192/255, 128/255, 0 keep)
    pass1: torch.Tensor  # (1, 3, n, h, w): pass 1's result in [0, 1]
    prompt: str
    prompt_embeds: torch.Tensor  # (1, 226, dim)
    encode_prompt: Callable[[str], torch.Tensor]
    models: object  # VoidModels of pass 1 (pass 2 shares the VAE and scheduler)
    placement: object  # offload placement (offload.py): activate("vae"), ("transformer") ...
    seed: int
    chunk_index: int


@dataclass
class _Loaded:
    models: object
    prompts: object
    placement: object
    embeddings: dict[str, object] = field(default_factory=dict)


class VoidInpainter:
    """VOID pass 1 as an inpainting engine (see the module docstring)."""

    name = "void"
    version = "0.1.0"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        height: int | None = None,
        width: int | None = None,
        device: str | None = None,
        dtype: str | None = None,
        memory_mode: str = "full",
        seed: int = VOID_SEED,
        steps: int | None = None,
        model_fps: Fraction | int | str | None = VOID_FPS,
        max_chunk_frames: int = VOID_MAX_FRAMES,
        chunk_overlap_frames: int = DEFAULT_OVERLAP,
        window_frames: int = VOID_WINDOW_FRAMES,
        context: float = DEFAULT_CONTEXT,
        prompt: str | None = None,
        plate_fps: Fraction | int | str | None = None,
        pass2: Callable[[Pass2Request], torch.Tensor] | None = None,
    ):
        self.model_dir = checked_model_folder(model_dir)
        defaults = model_defaults(self.model_dir)
        default_height, default_width = defaults.get("sample_size", VOID_SAMPLE_SIZE)
        self.height, self.width = height or default_height, width or default_width
        self.steps = steps or defaults.get("num_inference_steps", VOID_STEPS)
        self.device = device or _default_device()
        self.dtype = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        self.memory_mode = memory_mode
        self.seed = int(seed)
        self.model_fps = parse_rate(model_fps, "model_fps")
        self.plate_fps = parse_rate(plate_fps, "plate_fps")
        self.max_chunk_frames = max_chunk_frames
        self.chunk_overlap_frames = chunk_overlap_frames
        self.window_frames = window_frames
        self.context = context
        self.prompt = prompt
        self.pass2 = self._pass2_hook(pass2)
        self._check_settings()
        self.stats = InpaintStats()
        self.load_count = 0
        self.last_plan: ChunkPlan | None = None
        self.last_runs: list[ChunkRun] = []
        self._loaded: _Loaded | None = None

    # --- protocol ------------------------------------------------------------------------

    def settings(self) -> dict:
        """Everything the pixels depend on, the model files' checksums included (lineage)."""
        return {
            "model_dir": str(self.model_dir), "checksums": self.model_checksums(),
            "height": self.height, "width": self.width, "steps": self.steps, "seed": self.seed,
            "device": self.device, "dtype": self.dtype, "memory_mode": self.memory_mode,
            "model_fps": rate_text(self.model_fps), "plate_fps": rate_text(self.plate_fps),
            "max_chunk_frames": self.max_chunk_frames,
            "chunk_overlap_frames": self.chunk_overlap_frames,
            "window_frames": self.window_frames, "context": self.context, "prompt": self.prompt,
            "pass2": _hook_record(self.pass2),
        }

    def _pass2_hook(self, pass2):
        """A callable as given; a dict (JSON settings, e.g. from the config file) builds
        `void-pass2` from this model folder's transformer_pass2/."""
        if pass2 is None or callable(pass2):
            return pass2
        from void_core.inpaint.void.pass2 import PASS2_TRANSFORMER_FOLDER
        from void_core.inpaint.void.pass2_hook import VoidPass2

        if not (self.model_dir / PASS2_TRANSFORMER_FOLDER / "config.json").is_file():
            raise InputError(self.model_dir, f"no {PASS2_TRANSFORMER_FOLDER}/ for VOID's pass 2",
                             "put VOID's pass-2 checkpoint there (see `void-farm models check`) "
                             "or leave --refiner void-pass2 out")
        return VoidPass2(self.model_dir, keep_on_device=self.memory_mode == "full", **dict(pass2))

    def resources(self) -> dict:
        """What a scheduler must reserve: a GPU of the `void_gpu` class (40 GB or more, as the
        farm's nodes declare it), unless the engine was set to run on the CPU. A farm's
        `[ray.resources] inpaint` replaces the class."""
        if self.device.startswith("cuda"):
            return {"num_gpus": 1, "resources": {GPU_CLASS: 1}}
        return {"num_cpus": 1}

    def model_checksums(self) -> dict[str, str]:
        """sha256 of every file pass 1 reads from the model directory (cached on disk)."""
        return weight_checksums(self.model_dir)

    @property
    def models(self):
        """The loaded pass-1 models (None until the first shot)."""
        return self._loaded.models if self._loaded else None

    def inpaint(self, shot: ShotFrames) -> Iterator[Fill]:
        self.stats = InpaintStats()
        self.last_runs = []
        if all(box.empty for box in shot.boxes):
            for frame in shot.stream():
                yield Fill(frame, shot.boxes[frame.index], None)
            return
        loaded = self._load()
        plan = self.plan(shot)
        self.last_plan = plan
        prompt = self._shot_prompt(shot)
        embeds = self._prompt_embeds(loaded, prompt)
        self._note_plan(shot, plan)
        outputs = self._model_outputs(shot, plan, prompt, embeds)
        try:
            yield from self._fills(shot, plan, outputs, shot.stream())
        finally:
            outputs.close()

    # --- parts (PartedInpainter) ---------------------------------------------------------

    def prepare(self, shot: ShotFrames, work: Path, chunk_frames: int) -> list[ShotPart]:
        """Plan the shot, write the plan under `work`, return its windows and joins (see the
        module docstring). Loads no model. `chunk_frames` sizes the parts of a shot with nothing
        to remove only: VOID's windows are the model's (`max_chunk_frames`)."""
        if all(box.empty for box in shot.boxes):
            plan, parts = None, frame_parts(shot.frame_count, chunk_frames)
        else:
            plan = self.plan(shot)
            parts = window_parts(plan)
        write_plan(work, plan, parts, shot.frame_count, self._plan_settings())
        return parts

    def fill_part(self, shot: ShotFrames, work: Path, part: ShotPart) -> Iterator[Fill]:
        """The fills of plate frames [part.start, part.stop), from `prepare`'s plan and, for a
        join, its two windows' saved overlaps."""
        self.stats = InpaintStats()
        self.last_runs = []
        plan, parts = read_plan(work, shot.frame_count, self._plan_settings())
        part = replace(part, after=tuple(part.after))  # as planned, even if it went through JSON
        if part not in parts:
            raise InputError(work, f"the shot's VOID plan has no part {part}",
                             "run the shot again from its prepare step")
        if plan is None:
            for frame in shot.stream(part.start, part.stop):
                yield Fill(frame, shot.boxes[frame.index], None)
            return
        self.last_plan = plan
        if part.label == JOIN:
            outputs = self._joined_outputs(work, plan, part)
        else:
            outputs = self._window_outputs(shot, work, plan, part)
        span = part_model_frames(plan, part)
        self.stats.notes.append(f"void: {part.label} part {part.index}, model frames "
                                f"[{span.start}, {span.stop}) of {plan.frames.model_frames}")
        yield from self._fills(shot, plan, outputs, shot.stream(part.start, part.stop))

    def written_files(self, work: Path, part: ShotPart) -> list[Path]:
        """A window part's saved overlaps (lineage keeps them with the part)."""
        return window_overlaps(work, part.index) if part.label == WINDOW else []

    def _plan_settings(self) -> dict:
        """What a plan follows from: parts must run with the settings that planned them."""
        return {"version": self.version, "height": self.height, "width": self.width,
                "model_fps": rate_text(self.model_fps), "plate_fps": rate_text(self.plate_fps),
                "max_chunk_frames": self.max_chunk_frames,
                "chunk_overlap_frames": self.chunk_overlap_frames, "context": self.context}

    def _window_outputs(self, shot: ShotFrames, work: Path, plan: ChunkPlan,
                        part: ShotPart) -> Iterator[tuple[int, np.ndarray]]:
        """Runs chunk `part.index` now, saves its overlaps, returns the outputs only it covers."""
        index = part.index
        chunk = plan.chunks[index]
        prompt = self._shot_prompt(shot)
        embeds = self._prompt_embeds(self._load(), prompt)
        sources = plan.frames.sources[chunk.start:chunk.stop]
        frames = shot.stream(int(sources[0]), int(sources[-1]) + 1)
        inputs = list(self._model_inputs(shot, plan.crop, frames, sources))
        output = self._run_chunk(inputs, prompt, embeds, index, chunk)
        for neighbour in (index - 1, index + 1):
            if 0 <= neighbour < len(plan.chunks):
                span = overlap_frames(plan, index, neighbour)
                save_overlap(work, index, neighbour,
                             output[span.start - chunk.start: span.stop - chunk.start])
        # The weights are exactly 1 here; multiplied anyway so the bits are _model_outputs'.
        weights = chunk_weights(plan.chunks)[index].astype(np.float32)
        weighted = output * weights[:, None, None, None]
        return ((m, weighted[m - chunk.start]) for m in part_model_frames(plan, part))

    def _joined_outputs(self, work: Path, plan: ChunkPlan,
                        part: ShotPart) -> Iterator[tuple[int, np.ndarray]]:
        """The overlap of windows `part.after`, cross-faded as `_model_outputs` does it."""
        earlier, later = part.after
        span = overlap_frames(plan, earlier, later)
        shape = (len(span), self.height, self.width, 3)
        weights = chunk_weights(plan.chunks)

        def weighted(index: int, neighbour: int) -> np.ndarray:
            start = span.start - plan.chunks[index].start
            ramp = weights[index][start: start + len(span)].astype(np.float32)
            return load_overlap(work, index, neighbour, shape) * ramp[:, None, None, None]

        # Same float32 products and sum as the one-process blend (a sum of two is commutative).
        blended = weighted(later, earlier) + weighted(earlier, later)
        return zip(span, blended)

    # --- planning ------------------------------------------------------------------------

    def plan(self, shot: ShotFrames) -> ChunkPlan:
        """Crop, frame mapping and chunks for `shot` (needs at least one non-empty box)."""
        region = reduce(Box.union, shot.boxes)
        crop = crop_for_model(region, shot.height, shot.width, self.height, self.width,
                              context=self.context)
        frames = map_frames(shot.frame_count, self._plate_fps(shot), self.model_fps)
        chunks = plan_chunks(frames.model_frames, self.max_chunk_frames, self.chunk_overlap_frames)
        return ChunkPlan(crop, frames, chunks)

    def _plate_fps(self, shot: ShotFrames) -> Fraction | None:
        return parse_rate(shot.rate, "rate") if shot.rate is not None else self.plate_fps

    def _shot_prompt(self, shot: ShotFrames) -> str:
        prompt = shot.prompt or self.prompt
        if not prompt:
            self.stats.notes.append("no bg prompt (prompt.json): VOID ran with an empty prompt")
        return prompt or ""

    def _note_plan(self, shot: ShotFrames, plan: ChunkPlan) -> None:
        crop = plan.crop
        rate = self._plate_fps(shot)
        if rate is None:
            timing = "plate frame rate unknown: frames sent to the model as they are"
        elif self.model_fps is None or rate == self.model_fps:
            timing = "frames as they are"
        else:
            timing = f"{rate_text(rate)} -> {rate_text(self.model_fps)} fps"
        self.stats.notes.append(
            f"void: crop {crop.x1 - crop.x0}x{crop.y1 - crop.y0} at ({crop.x0}, {crop.y0}) -> "
            f"{self.width}x{self.height}, {plan.frames.model_frames} model frames "
            f"({timing}) in {len(plan.chunks)} chunk(s)")

    # --- loading -------------------------------------------------------------------------

    def _load(self) -> _Loaded:
        """Load models and text encoder once per instance, placed per `memory_mode`."""
        if self._loaded is not None:
            return self._loaded
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(None, f"device {self.device!r} is not available on this machine",
                             "run on a GPU node, or set the engine's device to cpu")
        dtype = getattr(torch, self.dtype)
        try:
            with _quiet_diffusers():
                models = load_void_models(self.model_dir, dtype=dtype, device="cpu")
            prompts = load_prompt_encoder(self.model_dir, dtype)
        except (OSError, ValueError) as err:
            raise InputError(self.model_dir, f"cannot load the VOID model ({_first_line(err)})",
                             f"run `void-farm models check {self.model_dir}`") from None
        components = {"vae": models.vae, "transformer": models.transformer, **prompts.modules}
        placement = place(components, self.memory_mode, self.device)
        self._loaded = _Loaded(models, prompts, placement)
        self.load_count += 1
        return self._loaded

    def _prompt_embeds(self, loaded: _Loaded, prompt: str):
        """(1, 226, dim) embeddings of `prompt`, cached per text."""
        if prompt not in loaded.embeddings:
            if loaded.prompts.modules:
                loaded.placement.activate("text_encoder")
                device = loaded.placement.device
            else:
                device = None
            loaded.embeddings[prompt] = loaded.prompts.encode(prompt, device)
        if getattr(loaded.prompts, "source", "") == "embeddings" and not loaded.prompts.has(prompt):
            self.stats.notes.append("prompt_embeds.safetensors has no entry for this prompt: "
                                    "its default embedding was used")
        return loaded.embeddings[prompt]

    # --- model frames --------------------------------------------------------------------

    def _model_inputs(self, shot: ShotFrames, crop: Box, frames: Iterator[Frame],
                      sources: np.ndarray) -> Iterator[tuple[torch.Tensor, np.ndarray]]:
        """Per model frame showing plate frame `sources[j]`, in order: (video (3, h, w) float32
        tensor in [0, 1], VOID's mask (h, w) float32), from the plate `frames`."""
        wanted = 0
        with _closed_after(frames):
            for frame in frames:
                if wanted >= len(sources):
                    return
                if sources[wanted] != frame.index:
                    continue
                model_frame = self._to_model(shot, frame, crop)
                while wanted < len(sources) and sources[wanted] == frame.index:
                    yield model_frame
                    wanted += 1

    def _to_model(self, shot: ShotFrames, frame: Frame, crop: Box) -> tuple[torch.Tensor, np.ndarray]:
        """One frame's crop at model size: display RGB (VOID: / 255 then area) and mask."""
        size = (self.height, self.width)
        display = np.clip(shot.to_display(frame.raw[crop.slices]), 0.0, 1.0).astype(np.float32)
        rgb = torch.from_numpy(np.ascontiguousarray(display)).permute(2, 0, 1)[None]
        video = F.interpolate(rgb, size=size, mode="area")[0]
        # float64 area: exactly quadmask.area_resize (sum / count, then float32), but fast.
        quad = torch.from_numpy(frame.quad[crop.slices].astype(np.float64))[None, None]
        resized = F.interpolate(quad, size=size, mode="area")[0, 0].numpy().astype(np.float32)
        mask = quadmask.invert_scale(quadmask.quantise(resized))
        return video, mask

    def _model_outputs(self, shot: ShotFrames, plan: ChunkPlan, prompt: str,
                       embeds) -> Iterator[tuple[int, np.ndarray]]:
        """(model frame index, (h, w, 3) float32 in [0, 1]) in order, chunk outputs blended."""
        inputs = self._model_inputs(shot, plan.crop, shot.stream(), plan.frames.sources)
        weights = chunk_weights(plan.chunks)
        held: list = []
        held_start, emitted = 0, 0
        pending: np.ndarray | None = None
        try:
            for index, chunk in enumerate(plan.chunks):
                del held[: chunk.start - held_start]
                held_start = chunk.start
                while held_start + len(held) < chunk.stop:
                    held.append(next(inputs))
                output = self._run_chunk(held, prompt, embeds, index, chunk)
                blended = output * weights[index].astype(np.float32)[:, None, None, None]
                if pending is not None:
                    blended[: len(pending)] += pending
                final = plan.chunks[index + 1].start if index + 1 < len(plan.chunks) else chunk.stop
                for model_index in range(emitted, final):
                    yield model_index, blended[model_index - chunk.start]
                pending = blended[final - chunk.start:].copy()
                emitted = final
        finally:
            inputs.close()

    def _run_chunk(self, frames: list, prompt: str, embeds, index: int, chunk: Chunk) -> np.ndarray:
        """Pass 1 (and the pass-2 hook) on one chunk; (n, h, w, 3) float32 in [0, 1]."""
        loaded = self._loaded
        count = len(frames)
        padded = quadmask.padded_length(count, self.window_frames, self.max_chunk_frames)
        order = torch.from_numpy(quadmask.mirror_indices(count, padded))
        video = torch.stack([v for v, _ in frames])  # (n, 3, h, w)
        mask = torch.from_numpy(np.stack([m for _, m in frames]))  # (n, h, w)
        padded_video = video[order].permute(1, 0, 2, 3)[None]
        padded_mask = mask[order][None, None]
        seed = self.seed + index
        generator = torch.Generator("cpu").manual_seed(seed)
        loaded.placement.activate("vae")
        result = run_pass1(padded_video, padded_mask, embeds, loaded.models,
                           num_inference_steps=self.steps, generator=generator,
                           window_frames=self.window_frames, decode=False)
        loaded.placement.activate("vae")
        decoded = decode_latents(loaded.models.vae, result.latents)[:, :, :count].float().cpu()
        self.last_runs.append(ChunkRun(chunk, padded))
        if self.pass2 is not None:
            decoded = self._run_pass2(video, mask, decoded, prompt, embeds, seed, index)
        return decoded[0].permute(1, 2, 3, 0).contiguous().numpy()

    def _run_pass2(self, video, mask, pass1, prompt, embeds, seed, index):
        loaded = self._loaded
        request = Pass2Request(
            video=video.permute(1, 0, 2, 3)[None], mask=mask[None, None], pass1=pass1,
            prompt=prompt, prompt_embeds=embeds,
            encode_prompt=lambda text: self._prompt_embeds(loaded, text),
            models=loaded.models, placement=loaded.placement, seed=seed, chunk_index=index)
        refined = self.pass2(request)
        if tuple(refined.shape) != tuple(pass1.shape):
            raise RuntimeError(f"pass-2 hook returned shape {tuple(refined.shape)}, "
                               f"expected {tuple(pass1.shape)}")
        return refined.float().cpu().clamp(0, 1)

    # --- fills ---------------------------------------------------------------------------

    def _fills(self, shot: ShotFrames, plan: ChunkPlan, outputs: Iterator[tuple[int, np.ndarray]],
               frames: Iterator[Frame]) -> Iterator[Fill]:
        """Each plate frame's fill from the model outputs (model index, frame), both in order."""
        crop = plan.crop
        current, resized = -1, None
        output = None
        for frame in frames:
            box = shot.boxes[frame.index]
            if box.empty:
                yield Fill(frame, box, None)
                continue
            wanted = int(plan.frames.targets[frame.index])
            while current < wanted:
                current, output = next(outputs)
                resized = None
            if resized is None:
                resized = _resize(output, crop.x1 - crop.x0, crop.y1 - crop.y0)
            display = resized[box.y0 - crop.y0: box.y1 - crop.y0, box.x0 - crop.x0: box.x1 - crop.x0]
            # The model's frames are temporally coherent: nothing for a refiner to stabilise.
            yield Fill(frame, box, np.ascontiguousarray(display),
                       unstable=np.zeros(display.shape[:2], bool))

    # --- validation ----------------------------------------------------------------------

    def _check_settings(self) -> None:
        if self.dtype not in _DTYPES:
            raise InputError(None, f"unknown dtype {self.dtype!r}",
                             f"choose one of {', '.join(_DTYPES)}")
        if self.memory_mode not in MEMORY_MODES:
            raise InputError(None, f"unknown memory_mode {self.memory_mode!r}",
                             f"choose one of {', '.join(MEMORY_MODES)}")
        unit = spatial_unit(self.model_dir)
        if self.height % unit or self.width % unit or self.height <= 0 or self.width <= 0:
            void_size = f"{VOID_SAMPLE_SIZE[1]}x{VOID_SAMPLE_SIZE[0]}"
            raise InputError(None, f"model size {self.width}x{self.height} is not a multiple "
                                   f"of {unit}", f"VOID works at {void_size}")
        if not is_void_length(self.max_chunk_frames):
            raise InputError(None, f"max_chunk_frames {self.max_chunk_frames} is not 4k+1 with k "
                                   "odd", f"use VOID's {VOID_MAX_FRAMES}, or e.g. 85, 101, 117")
        if not 0 < 3 * self.chunk_overlap_frames <= self.max_chunk_frames:
            raise InputError(None, f"chunk_overlap_frames {self.chunk_overlap_frames} must be "
                                   f"between 1 and a third of max_chunk_frames")
        if not is_void_length(self.window_frames):
            raise InputError(None, f"window_frames {self.window_frames} is not 4k+1 with k odd",
                             f"VOID's temporal window is {VOID_WINDOW_FRAMES}")
        if self.steps < 1 or self.context < 0:
            raise InputError(None, "steps must be >= 1 and context >= 0")


# --- helpers -------------------------------------------------------------------------------

GPU_CLASS = "void_gpu"  # the Ray custom resource infra/ray/ray-node.sh declares on big GPUs


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _hook_record(hook) -> dict | None:
    if hook is None:
        return None
    name = getattr(hook, "name", None) or getattr(hook, "__qualname__", type(hook).__name__)
    settings = getattr(hook, "settings", None)
    return {"name": name, "settings": settings() if callable(settings) else None}


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame
    upscale = width > frame.shape[1] or height > frame.shape[0]
    interpolation = cv2.INTER_CUBIC if upscale else cv2.INTER_AREA
    return np.clip(cv2.resize(frame, (width, height), interpolation=interpolation), 0.0, 1.0)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


@contextlib.contextmanager
def _closed_after(frames: Iterator[Frame]):
    """Closes a plate stream (a decoder) left part-read; plain iterators have nothing to close."""
    try:
        yield frames
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def _quiet_diffusers():
    """diffusers warns that VOID's `add_noise_in_inpaint_model` key is unexpected: it is known."""
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(level)
