"""Orchestration cost: the `cleanup-cutlist` flow on Ray versus a plain loop over the same calls.

    python benchmarks/orchestration.py [--shots 8] [--width 640 --height 360 --frames 48]
                                       [--long-frames 480] [--chunk-frames 120]

One process, one run of everything (the machine is shared and noisy; ratios within a run are what
to read). For the same synthetic shots it measures:
- the plain loop: `void_core.pipeline.stages.run_shot` for each shot in turn, in this process,
  its libraries kept to one thread as a flow task on one Ray CPU is (`void_core.cpus`);
- the flow with 1 and with 2 Ray CPUs, each into a fresh output folder (nothing skipped);
- the one-time start-up, separately: Prefect's embedded API (a first, empty flow run), Ray's start
  and the warm-up of its workers (importing Prefect and void-farm), for each CPU count.
Each runner first cleans a one-shot cut list (warm-up: imports and first-use costs), then the
timed N shots. Overhead per shot = (flow on 1 CPU - plain loop) / N: what orchestration adds in
steady state when nothing runs in parallel (the flow's per-run work, lineage run, conformed
OTIO and artifacts, included). Last, the round trip of an empty task on the same Ray:
orchestration with no work at all.

The long-shot case: one shot of `--long-frames` frames (the panning scene with a shadow, its
quadmask given, so the shot is ingest -> inpaint -> qc) through the flow on the same Ray with 1
and with 2 CPUs, start-up excluded (Ray and its workers are warm from the runs above). The
classical engine splits it into parts of `--chunk-frames`: `inpaint prepare` (the plan), the
learning parts (camera motion per block, background sightings per block, the canvas that merges
them), the frames parts, `inpaint finish`; then the QC as `qc prepare`, one part per range
(preview segment, sheet and strip rows) and `qc finish` (segments joined). The table gives the
shot's wall time, the inpaint's and the QC's wall times (first start to last end, from lineage),
the tasks and the speed-up of 2 CPUs over 1; below it, the 1-CPU run's seconds by step and the
Amdahl bound its serial steps leave for 2 CPUs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A fresh PREFECT_HOME migrates its database on the first flow: about 20 s here, Prefect's
# default patience for its embedded API.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="void-farm-bench-prefect-"))


def make_shots(root: Path, count: int, width: int, height: int, frames: int):
    from void_core.synth import standard_scenes, write_scene
    from void_core.synth.cutlist import write_synthetic_cutlist

    catalogue = standard_scenes(width, height, frames)
    scenes = []
    for index in range(count):
        name = f"sh{10 * (index + 1):03d}"
        spec = catalogue[index % len(catalogue)]
        spec = spec.__class__(**{**spec.__dict__, "seed": index + 1})
        scenes.append(write_scene(spec, root / "media" / name, mask_name="ground_truth_mask.mp4"))
    names = [f"sh{10 * (i + 1):03d}" for i in range(count)]
    everything = write_synthetic_cutlist(scenes, root / "bench_reel.otio", clip_names=names)
    first_only = write_synthetic_cutlist(scenes[:1], root / "bench_one.otio", clip_names=names[:1])
    return everything, first_only


def plain_loop(cutlist: Path, out: Path) -> float:
    from dataclasses import replace

    from void_core.cpus import keep_to
    from void_core.cutlist import read_cutlist
    from void_core.lineage import open_store
    from void_core.pipeline import stages

    keep_to(1)  # as a flow task on one Ray CPU: OpenCV and x264 on one thread
    started = time.perf_counter()
    cut = read_cutlist(cutlist)
    settings = stages.RunSettings(run_id="", cutlist=cut.name, out_root=out.resolve())
    out.mkdir(parents=True, exist_ok=True)
    with open_store(settings.lineage_url) as store:
        run_id = store.start_run(cut.name, kind="cutlist")
        plans = [replace(stages.ShotPlan.from_spec(spec), shot_id=store.start_shot(run_id, spec.name))
                 for spec in cut.shots]
    for plan in plans:
        stages.run_shot(replace(settings, run_id=run_id), plan)
    keep_to(None)
    return time.perf_counter() - started


def prefect_startup() -> float:
    from prefect import flow

    @flow(name="void-farm-warmup")
    def warmup() -> int:
        return 1

    started = time.perf_counter()
    warmup()
    return time.perf_counter() - started


def ray_startup(cpus: int) -> tuple[float, float]:
    """(ray.init seconds, worker warm-up seconds)."""
    import ray

    from flows.ray_runner import connect_ray

    started = time.perf_counter()
    connect_ray(num_cpus=cpus)
    init = time.perf_counter() - started

    @ray.remote(num_cpus=1)
    def warm() -> int:
        import prefect_ray  # noqa: F401  the runner's task wrapper imports these on each worker

        import tasks.shot_stages  # noqa: F401
        import void_core.pipeline.stages  # noqa: F401
        from void_core.inpaint.classical import ClassicalInpainter  # noqa: F401
        time.sleep(0.5)  # hold the CPU so the next warm-up lands on another worker
        return os.getpid()

    started = time.perf_counter()
    ray.get([warm.remote() for _ in range(cpus)])
    return init, time.perf_counter() - started


def flow_run(cutlist: Path, out: Path, cpus: int, **parameters) -> tuple[float, dict]:
    from flows.cutlist_flow import cleanup_cutlist
    from flows.ray_runner import FarmRayTaskRunner

    flow = cleanup_cutlist.with_options(task_runner=FarmRayTaskRunner(num_cpus=cpus))
    started = time.perf_counter()
    state = flow(cutlist=str(cutlist), out=str(out.resolve()), return_state=True, **parameters)
    seconds = time.perf_counter() - started
    from flows.cutlist_flow import summary_from

    summary = summary_from(state) or {}
    return seconds, summary


def make_long_shot(root: Path, width: int, height: int, frames: int,
                   name: str = "long") -> Path:
    """One long panning shot with its quadmask beside the media, in a cut list of its own."""
    from dataclasses import replace

    from void_core.synth import standard_scenes, write_scene
    from void_core.synth.cutlist import write_synthetic_cutlist

    spec = replace(standard_scenes(width, height, frames)[1], name="sh100")
    scene = write_scene(spec, root / f"media_{name}" / "sh100")
    return write_synthetic_cutlist([scene], root / f"bench_{name}.otio", clip_names=["sh100"])


def step_times(out: Path) -> dict:
    """From lineage: per stage (inpaint, qc), its wall seconds (first start to last end) and
    task count, and the seconds of every step by kind (prepare, motion, sightings, canvas,
    frames for the inpaint; parts for the qc)."""
    from datetime import datetime

    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT stage, started, finished, part, seconds FROM stage_run "
            "WHERE stage IN ('inpaint', 'qc')")).all()
    engine.dispose()
    times: dict = {}
    for stage in ("inpaint", "qc"):
        mine = [row for row in rows if row[0] == stage]
        started = min(datetime.fromisoformat(str(row[1])) for row in mine)
        finished = max(datetime.fromisoformat(str(row[2])) for row in mine)
        steps: dict = {}
        for _, _, _, part, seconds in mine:
            if part is None:
                continue  # the finish's record of the whole: the parts' seconds summed
            kind = _step_kind(stage, part)
            steps[kind] = steps.get(kind, 0.0) + (seconds or 0.0)
        times[stage] = {"wall": (finished - started).total_seconds(), "tasks": len(mine),
                        "steps": steps}
    return times


def _step_kind(stage: str, part: str) -> str:
    if part == "prepare":
        return f"{stage} prepare"
    label = part.split("-")[0]
    if stage == "qc" or label.isdigit():
        return f"{stage} parts" if stage == "qc" else "inpaint frames"
    return f"inpaint {label}"


# Steps that run alone (the finishes are not in lineage apart: well under a second each).
SERIAL_STEPS = ("inpaint prepare", "inpaint canvas", "qc prepare")


def empty_task_round_trip(cpus: int, count: int = 30) -> float:
    """Seconds per Prefect task on Ray that does nothing, submitted one after another as a
    shot's stages are: the orchestration cost alone, without any work to compete with."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows.ray_runner import FarmRayTaskRunner

    @task(cache_policy=NO_CACHE, persist_result=False)
    def nothing(value: int) -> int:
        return value + 1

    @flow(name="void-farm-empty-tasks", task_runner=FarmRayTaskRunner(num_cpus=cpus))
    def chain() -> float:
        nothing.submit(0).result()  # the worker's first task imports Prefect
        started = time.perf_counter()
        value = 0
        for _ in range(count):
            value = nothing.submit(value).result()
        return (time.perf_counter() - started) / count

    return chain()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--long-frames", type=int, default=480,
                        help="Frames of the long shot (0: leave the long-shot case out).")
    parser.add_argument("--chunk-frames", type=int, default=None,
                        help="Part length of the long shot (default: the engine's, 120).")
    parser.add_argument("--keep", type=Path, help="Work folder to keep (default: a temporary one).")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="void-farm-bench-orch-"))
    import ray

    cutlist, one_shot = make_shots(root, args.shots, args.width, args.height, args.frames)
    long_cut = make_long_shot(root, args.width, args.height, args.long_frames) \
        if args.long_frames else None
    # a small shot in two parts warms both workers' part path before the timed long shot
    long_warm = make_long_shot(root, 160, 96, 16, name="long_warm") if args.long_frames else None
    long_rows = []
    loop_one = plain_loop(one_shot, root / "out_loop_one")  # warm-up: imports, first use
    loop = plain_loop(cutlist, root / "out_loop")
    api = prefect_startup()
    rows, warmups = [], {}
    for cpus in (1, 2):
        init, warm = ray_startup(cpus)
        # warm-up: a first run pays the workers' imports and first-use costs
        warmups[cpus], _ = flow_run(one_shot, root / f"out_ray_one{cpus}", cpus)
        seconds, summary = flow_run(cutlist, root / f"out_ray{cpus}", cpus)
        ok = summary.get("succeeded", 0)
        rows.append((cpus, init, warm, seconds, ok))
        if long_cut is not None:
            flow_run(long_warm, root / f"out_long_warm{cpus}", cpus, chunk_frames=8)
            long_out = root / f"out_long{cpus}"
            long_seconds, long_summary = flow_run(long_cut, long_out, cpus,
                                                  chunk_frames=args.chunk_frames)
            long_rows.append((cpus, long_seconds, step_times(long_out),
                              long_summary.get("succeeded", 0)))
        if cpus == 1:
            per_task = empty_task_round_trip(cpus)
        ray.shutdown()

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {args.shots} shots of {args.width}x{args.height}, "
          f"{args.frames} frames; classical engines\n")
    print(f"one-time start-up: Prefect embedded API (first flow) {api:.1f} s")
    print(f"\n| runner | Ray start s | worker warm-up s | {args.shots} shots wall s | s/shot | speed vs loop | "
          "overhead s/shot | shots ok |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| plain loop | - | - | {loop:.1f} | {loop / args.shots:.2f} | 1.00x | - | {args.shots} |")
    for cpus, init, warm, seconds, ok in rows:
        overhead = (seconds - loop) / args.shots if cpus == 1 else None
        print(f"| flow on Ray, {cpus} CPU{'s' if cpus > 1 else ''} | {init:.1f} | {warm:.1f} | "
              f"{seconds:.1f} | {seconds / args.shots:.2f} | {loop / seconds:.2f}x | "
              f"{'%.2f' % overhead if overhead is not None else '-'} | {ok} |")
    print(f"\nwarm-up runs of one shot before the timed ones: loop {loop_one:.1f} s, flow on 1 CPU "
          f"{warmups[1]:.1f} s, on 2 CPUs {warmups[2]:.1f} s")
    stages_per_shot = 5
    print(f"\nempty Prefect task on Ray (1 CPU), one after another: {per_task * 1000:.0f} ms; "
          f"x {stages_per_shot} stages = {per_task * stages_per_shot:.2f} s per shot of pure "
          "orchestration (the overhead column adds the loop's in-process caches and threads)")
    if long_rows:
        print_long_shot(long_rows, args)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


def print_long_shot(rows: list, args) -> None:
    print(f"\nlong shot: 1 shot of {args.long_frames} frames {args.width}x{args.height} (pan, "
          f"quadmask given), classical, parts of {args.chunk_frames or 'the default 120'} frames; "
          f"load average at the end {os.getloadavg()[0]:.1f} (1 min)")
    print("\n| Ray CPUs | shot wall s | inpaint wall s | qc wall s | tasks | speed-up (shot) | "
          "speed-up (inpaint) | speed-up (qc) | ok |")
    print("|---|---|---|---|---|---|---|---|---|")
    base_shot, base = rows[0][1], rows[0][2]
    for cpus, shot, times, ok in rows:
        tasks = times["inpaint"]["tasks"] + times["qc"]["tasks"]
        print(f"| {cpus} | {shot:.1f} | {times['inpaint']['wall']:.1f} | "
              f"{times['qc']['wall']:.1f} | {tasks} | {base_shot / shot:.2f}x | "
              f"{base['inpaint']['wall'] / times['inpaint']['wall']:.2f}x | "
              f"{base['qc']['wall'] / times['qc']['wall']:.2f}x | {ok} |")
    steps = {**base["inpaint"]["steps"], **base["qc"]["steps"]}
    print("\n1-CPU run, seconds by step (summed over its tasks): " + ", ".join(
        f"{kind} {seconds:.1f}" for kind, seconds in steps.items()))
    serial = sum(seconds for kind, seconds in steps.items() if kind in SERIAL_STEPS)
    parallel = sum(steps.values()) - serial
    if serial + parallel:
        print(f"serial steps {serial:.1f} s, the rest {parallel:.1f} s: with 2 CPUs the inpaint "
              f"and QC can be at most {(serial + parallel) / (serial + parallel / 2):.2f}x faster "
              "(Amdahl, 1-CPU times)")


if __name__ == "__main__":
    main()
