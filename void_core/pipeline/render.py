"""The frame loop: a plate and its quadmask to clean EXR plates.

    plate + quadmask --> validate --> region of interest (one cheap pass over the mask)
        --> stream frames: crop -> engine fill -> refine -> feathered paste into the linear plate
        --> OUT/<name>/<name>.<frame>.exr (RGB + mask.primary + mask.affected, atomic)

Frames stream: decoding runs in a background thread, EXR writes in a small thread pool, and at
most the engine's look-ahead of raw frames is held in memory. Everything is validated before the
first file is written, so bad input leaves no output behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, astuple
from pathlib import Path

import numpy as np

import void_core
from void_core import naming, quadmask
from void_core.atomic import write_atomically
from void_core.composite import Box, Feather, edit_box, paste
from void_core.cpus import spare_threads
from void_core.digests import file_digest
from void_core.engines import Inpainter, entry, shared_engine
from void_core.errors import InputError, MaskError
from void_core.inpaint.base import Fill, Frame, InpaintStats, ShotFrames, ShotPart, whole_shot
from void_core.media.exr import remove_stale_temporaries, write_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.plate import Plate, open_plate
from void_core.media.plate_values import FrameValues, ShotValues, frame_values
from void_core.pipeline.state import (
    DEFAULT_START_FRAME, ProgressCallback, ShotRequest, ShotResult, part_label,
)
from void_core.vocabulary import EngineKind


def check_shot_name(name: str) -> str:
    if not naming.is_shot_name(name):
        raise InputError(None, f"shot name {name!r} is not usable as a file name",
                         "use letters, digits, '.', '_' and '-'")
    return name


def _scan_mask(reader: QuadmaskReader, feather: Feather) -> tuple[Box, ...]:
    """Each frame's edit box: its non-255 pixels grown by the band plus spatial-fill context."""
    margin = feather.band + 16
    height, width = reader.info.height, reader.info.width
    return tuple(edit_box(quad).grown(margin, height, width) for quad in reader.frames())


def validate_mask(plate: Plate, reader: QuadmaskReader) -> None:
    p, m = plate.info, reader.info
    if (p.width, p.height) != (m.width, m.height):
        raise MaskError(m.path, f"quadmask is {m.width}x{m.height}, the plate {p.path.name} is "
                                f"{p.width}x{p.height}", "the mask must match the plate's resolution")
    if p.frame_count != m.frame_count:
        raise MaskError(m.path, f"quadmask has {m.frame_count} frames, the plate {p.path.name} has "
                                f"{p.frame_count}", "the mask needs one frame per plate frame")


def _background(iterator: Iterator, depth: int = 4) -> Iterator:
    """Run `iterator` in a thread, `depth` items ahead; errors re-raise in the consumer."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(done)
        except BaseException as err:  # handed to the consumer, which re-raises it
            items.put(err)

    thread = threading.Thread(target=produce, name="void-decode", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def inpainter_for(request: ShotRequest):
    """This process's instance of the request's inpainting engine."""
    return shared_engine(EngineKind.INPAINT, request.engine, request.engine_settings)


def refiner_for(request: ShotRequest):
    """This process's instance of the request's refiner (None for "none")."""
    return shared_engine(EngineKind.REFINE, request.refiner, {})


def process_shot(request: ShotRequest, on_progress: ProgressCallback | None = None, *,
                 engine: Inpainter | None = None) -> ShotResult:
    """Remove the masked object from one shot and write its EXR plates.

    `engine` is a ready instance of `request.engine` to reuse (a model resident on a worker);
    by default this process's shared instance.

    Raises:
        InputError / MediaError / MaskError: bad input, found before anything is written.
    """
    started = time.perf_counter()
    plate, reader = open_checked(request)
    engine = engine or inpainter_for(request)
    engine.stats = InpaintStats()  # a shared engine reports on this shot only
    feather = Feather.for_width(plate.info.width)
    boxes = _scan_mask(reader, feather)
    timings = {"scan": time.perf_counter() - started, "decode": 0.0, "fill": 0.0, "write": 0.0}
    shot = _shot_frames(plate, reader, boxes, feather, timings, prompt=_prompt(request))
    writer = _writer(request, plate, engine, timings)
    fills = _render(plate, engine, refiner_for(request), shot, timings,
                    lambda: engine.inpaint(shot), 0, shot.frame_count)
    _write_all(writer, fills, shot.frame_count, on_progress)
    return _shot_result(request, plate, engine.name, writer.first_frame, time.perf_counter() - started,
                        timings, engine.stats, writer.values)


def open_checked(request: ShotRequest) -> tuple[Plate, QuadmaskReader]:
    """The request's plate and quadmask, checked against each other (nothing written)."""
    check_shot_name(request.name)
    plate = open_plate(request.inputs.plate, transfer=request.transfer, rate=request.rate,
                       colour_spec=request.colour)
    reader = QuadmaskReader(request.inputs.mask)
    validate_mask(plate, reader)
    return plate, reader


def _prompt(request: ShotRequest) -> str:
    return str(request.inputs.prompt.get("bg", "") or "")


def _writer(request: ShotRequest, plate: Plate, engine, timings: dict[str, float]) -> _FrameWriter:
    first_frame = first_output_frame(request.start_frame, plate.info.first_frame)
    out_dir = naming.exr_dir(request.out_root, request.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    attributes = _lineage_attributes(request, plate, engine, refiner_for(request))
    return _FrameWriter(out_dir, request.name, first_frame, plate, attributes,
                        request.compression, timings)


def _write_all(writer: _FrameWriter, frames: Iterator[tuple[Frame, np.ndarray]], total: int,
               on_progress: ProgressCallback | None) -> None:
    try:
        for frame, output in frames:
            writer.submit(frame, output)
            if on_progress:
                on_progress(writer.completed(), total)
        writer.finish()
    finally:
        writer.close()
    if on_progress:
        on_progress(total, total)


def _shot_result(request: ShotRequest, plate: Plate, engine_name: str, first_frame: int,
                 seconds: float, timings: dict[str, float], stats: InpaintStats,
                 values: ShotValues) -> ShotResult:
    notes = list(stats.notes)
    if (values_line := values.summary()) is not None:
        notes.append(values_line)
    if stats.hole_pixels and stats.spatial_share > 0.999:
        notes.append("fill was spatial only: no frame showed the background behind the object")
    return ShotResult(
        name=request.name, out_dir=naming.exr_dir(request.out_root, request.name),
        frames=plate.info.frame_count, first_frame=first_frame, width=plate.info.width,
        height=plate.info.height, engine=engine_name, seconds=seconds, timings=timings,
        spatial_share=stats.spatial_share, notes=notes,
    )


# --- a long shot in parts: prepare once, render parts anywhere, finish ---------------------


def prepare_parts(request: ShotRequest, folder: Path, chunk_frames: int, *,
                  engine: Inpainter | None = None) -> list[ShotPart]:
    """What every part needs, once: the mask's edit boxes and the engine's `prepare` (files in
    `folder`); returns the parts. An engine that does not split gives the whole shot.

    Raises:
        InputError / MediaError / MaskError: bad input, found before anything is written.
    """
    started = time.perf_counter()
    plate, reader = open_checked(request)
    engine = engine or inpainter_for(request)
    engine.stats = InpaintStats()
    feather = Feather.for_width(plate.info.width)
    boxes = _scan_mask(reader, feather)
    timings = {"scan": time.perf_counter() - started, "decode": 0.0}
    shot = _shot_frames(plate, reader, boxes, feather, timings, prompt=_prompt(request))
    folder.mkdir(parents=True, exist_ok=True)
    splits = entry(EngineKind.INPAINT, request.engine).splits_shots
    parts = engine.prepare(shot, folder, chunk_frames) if splits else whole_shot(shot.frame_count)
    check_parts(parts, shot.frame_count, engine.name)
    timings["prepare"] = time.perf_counter() - started - timings["scan"]
    write_json(folder / naming.PARTS_PLAN, {
        "frames": shot.frame_count, "boxes": [list(astuple(box)) for box in boxes],
        "parts": [asdict(part) for part in parts], "stats": asdict(engine.stats),
        "timings": timings, "seconds": time.perf_counter() - started})
    return parts


def check_parts(parts: list[ShotPart], frame_count: int, engine_name: str) -> None:
    """The writing parts cover frames [0, frame_count) once each, learning parts lie inside
    the shot, part labels are unique, and every part waits only on earlier parts."""
    covered = sorted((part.start, part.stop) for part in parts if part.writes)
    ends = [0] + [stop for _, stop in covered]
    if [start for start, _ in covered] != ends[:-1] or ends[-1] != frame_count or \
            any(start >= stop for start, stop in covered):
        raise RuntimeError(f"engine {engine_name} split {frame_count} frames into {covered}")
    for position, part in enumerate(parts):
        if part.index != position or any(not 0 <= other < position for other in part.after):
            raise RuntimeError(f"engine {engine_name}: part {part} is out of order")
        if not 0 <= part.start < part.stop <= frame_count:
            raise RuntimeError(f"engine {engine_name}: part {part} is outside the shot's "
                               f"{frame_count} frames")
    labels = [part_label(part) for part in parts]
    if len(set(labels)) != len(labels):
        raise RuntimeError(f"engine {engine_name}: parts share a label: {labels}")


def read_parts(folder: Path) -> list[ShotPart]:
    plan = json.loads((folder / naming.PARTS_PLAN).read_text())
    return [ShotPart(**{**part, "after": tuple(part["after"])}) for part in plan["parts"]]


def render_part(request: ShotRequest, folder: Path, part: ShotPart,
                on_progress: ProgressCallback | None = None, *,
                engine: Inpainter | None = None) -> list[str]:
    """Frames [part.start, part.stop) through fill, refine and composite to their EXRs (the
    same path and names as `process_shot`); a learning part (`part.writes` False) runs the
    engine's `learn_part` instead and writes work files only. The part's stats go to `folder`,
    with the work files it wrote for later parts (a learning part's; a frames part's from the
    engine's optional `written_files(work, part)`). Returns its notes."""
    started = time.perf_counter()
    plate, reader = open_checked(request)
    plan = json.loads((folder / naming.PARTS_PLAN).read_text())
    boxes = tuple(Box(*box) for box in plan["boxes"])
    engine = engine or inpainter_for(request)
    engine.stats = InpaintStats()
    timings = {"decode": 0.0, "fill": 0.0, "write": 0.0}
    shot = _shot_frames(plate, reader, boxes, Feather.for_width(plate.info.width), timings,
                        prompt=_prompt(request))
    files, values = [], {}
    if part.writes:
        writer = _writer(request, plate, engine, timings)
        fills = _render(plate, engine, refiner_for(request), shot, timings,
                        lambda: engine.fill_part(shot, folder, part), part.start, part.stop)
        _write_all(writer, fills, part.frame_count, on_progress)
        values = {str(number): astuple(counts) for number, counts in writer.values.frames.items()}
        handed_on = getattr(engine, "written_files", None)  # e.g. VOID's window overlaps
        files = [str(path) for path in handed_on(folder, part)] if handed_on else []
    else:
        clock = time.perf_counter()
        files = [str(path) for path in engine.learn_part(shot, folder, part)]
        timings["learn"] = time.perf_counter() - clock - timings["decode"]
    write_json(folder / naming.part_stats(part_label(part)), {
        "stats": asdict(engine.stats), "timings": timings, "files": files,
        "seconds": time.perf_counter() - started, "values": values})
    return list(engine.stats.notes)


def part_files(folder: Path, part: ShotPart) -> list[Path]:
    """The work files a part wrote for later parts (from its stats file; none before it ran)."""
    stats = folder / naming.part_stats(part_label(part))
    if not stats.is_file():
        return []
    return [Path(path) for path in json.loads(stats.read_text()).get("files", [])]


def finish_parts(request: ShotRequest, folder: Path, parts: list[ShotPart],
                 engine_name: str) -> ShotResult:
    """The shot's result from prepare's and every part's stats files (the parts ran anywhere)."""
    plate, _ = open_checked(request)
    plan = json.loads((folder / naming.PARTS_PLAN).read_text())
    stats = InpaintStats(**plan["stats"])
    timings, seconds = dict(plan["timings"]), plan["seconds"]
    values = ShotValues()
    for part in parts:
        record = json.loads((folder / naming.part_stats(part_label(part))).read_text())
        part_stats = InpaintStats(**record["stats"])
        stats.hole_pixels += part_stats.hole_pixels
        stats.temporal_pixels += part_stats.temporal_pixels
        stats.spatial_pixels += part_stats.spatial_pixels
        stats.notes += [note for note in part_stats.notes if note not in stats.notes]
        for key, value in record["timings"].items():
            timings[key] = timings.get(key, 0.0) + value
        seconds += record["seconds"]
        for number, counts in record["values"].items():
            values.add(int(number), FrameValues(*counts))
    first_frame = first_output_frame(request.start_frame, plate.info.first_frame)
    return _shot_result(request, plate, engine_name, first_frame, seconds, timings, stats, values)


def write_json(path: Path, data: dict) -> None:
    """Atomically (a part on another worker never reads half a file)."""
    write_atomically(path, json.dumps(data, indent=1).encode())


def first_output_frame(start_frame: int | None, plate_first: int | None) -> int:
    """The first EXR's frame number: `start_frame` if given, else an image sequence's own first
    frame, else 1001."""
    if start_frame is not None:
        if not 0 <= start_frame <= naming.LAST_FRAME_NUMBER:
            raise InputError(None, f"start frame {start_frame} is outside 0-"
                             f"{naming.LAST_FRAME_NUMBER}", "give --start-frame a frame number "
                             "like 1001")
        return start_frame
    return plate_first if plate_first is not None else DEFAULT_START_FRAME


def _lineage_attributes(request: ShotRequest, plate: Plate, engine, refiner) -> dict[str, str]:
    settings = {"engine": engine.settings(), "compression": request.compression,
                "refiner": refiner.settings() if refiner else None}
    return {
        "void/shot": request.name,
        "void/run": request.run_id,
        "void/engine": engine.name,
        "void/engine_version": engine.version,
        "void/engine_settings": json.dumps(settings, sort_keys=True),
        "void/refiner": f"{refiner.name} {refiner.version}" if refiner else "none",
        "void/source": str(plate.info.path.resolve()),
        "void/source_digest": file_digest(plate.info.path),
        "void/source_format": plate.info.description,
        "void/mask": str(request.inputs.mask.resolve()),
        "void/transfer": plate.info.transfer.value,
        "void/engine_encoding": plate.engine_encoding,
        "void/colour_config": plate.info.colour_config,
        "void/input_colorspace": plate.info.colorspace,
        "void/prompt_bg": str(request.inputs.prompt.get("bg", "")),
        "void/software": f"void-farm {void_core.__version__}",
    }


def _shot_frames(plate: Plate, reader: QuadmaskReader, boxes: tuple[Box, ...], feather: Feather,
                 timings: dict[str, float], prompt: str = "") -> ShotFrames:
    def stream(start: int = 0, stop: int | None = None) -> Iterator[Frame]:
        """Frames [start, stop) (default: all), each with its index in the shot."""
        stop = plate.info.frame_count if stop is None else min(stop, plate.info.frame_count)
        if not 0 <= start <= stop:
            raise ValueError(f"frames [{start}, {stop}) are not a range of the shot's "
                             f"{plate.info.frame_count}")

        def decoded() -> Iterator[Frame]:
            clock = time.perf_counter()
            pairs = zip(plate.frames(start, stop), reader.frames(start, stop), strict=False)
            for index, (raw, quad) in enumerate(pairs, start):
                timings["decode"] += time.perf_counter() - clock
                yield Frame(index, raw, quad)
                clock = time.perf_counter()

        return _background(decoded()) if spare_threads() else decoded()

    return ShotFrames(width=plate.info.width, height=plate.info.height,
                      frame_count=plate.info.frame_count, boxes=boxes, feather=feather,
                      stream=stream, to_display=plate.display, rate=plate.info.rate,
                      prompt=prompt)


def _render(plate: Plate, engine: Inpainter, refiner, shot: ShotFrames,
            timings: dict[str, float], engine_fills: Callable[[], Iterator[Fill]], start: int,
            stop: int) -> Iterator[tuple[Frame, np.ndarray]]:
    """Yield (frame, output linear frame) for frames [start, stop) in order; `engine_fills`
    starts the engine's fills of those frames. A refiner restarts at `start`: it carries
    refined fills from frame to frame, so a part's first frame is not blended with the
    previous part's last (no change for engines whose fills are all stable, as classical's)."""
    if all(box.empty for box in shot.boxes):  # nothing to remove: the plate passes through
        for frame in shot.stream(start, stop):
            yield frame, plate.linear(frame.raw)
        return
    expected = start
    clock = time.perf_counter()
    fills = engine_fills()
    if refiner is not None:
        fills = refiner.refine(fills, lambda f: shot.feather.hole(f.frame.quad[f.box.slices]))
    for fill in fills:
        timings["fill"] += time.perf_counter() - clock
        if fill.frame.index != expected:
            raise RuntimeError(f"engine {engine.name} answered frame {fill.frame.index}, expected {expected}")
        expected += 1
        yield fill.frame, _composite(plate, fill, shot.feather)
        clock = time.perf_counter()
    if expected != stop:
        raise RuntimeError(f"engine {engine.name} answered frames {start}-{expected - 1} of "
                           f"{start}-{stop - 1}")


def _composite(plate: Plate, fill: Fill, feather: Feather) -> np.ndarray:
    output = plate.linear(fill.frame.raw)
    if fill.box.empty or fill.display is None:
        return output
    if output is fill.frame.raw:
        output = output.copy()
    rows, cols = fill.box.slices
    alpha = feather.alpha(fill.frame.quad[rows, cols])
    if alpha.any():
        output[rows, cols] = paste(output[rows, cols], plate.from_display(fill.display), alpha)
    return output


class _FrameWriter:
    """Writes EXR frames on a small thread pool, a bounded number in flight."""

    def __init__(self, out_dir: Path, name: str, first_frame: int, plate: Plate,
                 attributes: dict[str, str], compression: str, timings: dict[str, float]):
        self.out_dir, self.name, self.first_frame = out_dir, name, first_frame
        self.plate, self.attributes, self.compression = plate, attributes, compression
        self.timings = timings
        # Writes overlap the next frame's fill on two threads; a task held to one CPU
        # (`void_core.cpus`) writes each frame before it goes on.
        overlap = spare_threads()
        self._pool = cf.ThreadPoolExecutor(max_workers=2 if overlap else 1,
                                           thread_name_prefix="void-exr")
        self._most_inflight = 3 if overlap else 0
        self._inflight: deque[cf.Future] = deque()
        self._done = 0
        self.values = ShotValues()

    def path_for(self, index: int) -> Path:
        return naming.exr_frame(self.out_dir, self.name, self.first_frame + index)

    def submit(self, frame: Frame, rgb: np.ndarray) -> None:
        self._inflight.append(self._pool.submit(self._write, frame, rgb))
        while len(self._inflight) > self._most_inflight:
            self._wait_one()

    def _write(self, frame: Frame, rgb: np.ndarray) -> None:
        clock = time.perf_counter()
        index, quad = frame.index, frame.quad
        attributes = dict(self.attributes)
        if self.plate.info.linear_source:
            values = frame_values(frame.raw, quad)
            self.values.add(self.first_frame + index, values)
            attributes["void/plate_values"] = values.attribute()
        masks = {
            "mask.primary": quadmask.primary(quad).astype(np.float16),
            "mask.affected": quadmask.affected(quad).astype(np.float16),
        }
        attributes["void/source_frame"] = str(index if self.plate.info.first_frame is None
                                              else self.plate.info.first_frame + index)
        write_exr_frame(self.path_for(index), rgb, masks, attributes=attributes,
                        fps=self.plate.info.rate, compression=self.compression,
                        chromaticities=self.plate.chromaticities, colorspace=self.plate.info.working)
        self.timings["write"] += time.perf_counter() - clock

    def _wait_one(self) -> None:
        self._inflight.popleft().result()
        self._done += 1

    def completed(self) -> int:
        while self._inflight and self._inflight[0].done():
            self._wait_one()
        return self._done

    def finish(self) -> None:
        while self._inflight:
            self._wait_one()

    def close(self) -> None:
        # Frames already handed over are finished (each appears whole, atomically) even when the
        # shot is interrupted, so a rerun can count on every file it finds.
        self._pool.shutdown(wait=True)


def summary_line(result: ShotResult) -> str:
    first, last = result.first_frame, result.last_frame
    pattern = naming.exr_range(result.out_dir, result.name, first, last)
    line = (f"{result.name}: {result.frames} frames {result.width}x{result.height} -> {pattern} "
            f"({result.engine}, {result.seconds:.1f} s, {result.seconds_per_frame:.2f} s/frame)")
    for note in result.notes:
        line += f"; {note}"
    return line


def result_record(result: ShotResult) -> dict:
    record = asdict(result)
    record["out_dir"] = str(result.out_dir)
    return record
