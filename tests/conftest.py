"""Shared fixtures: tiny shots written with PyAV, so media tests don't depend on the generator."""

from __future__ import annotations

import json
import os
import uuid
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

import tempfile

os.environ.setdefault("DO_NOT_TRACK", "1")
# Prefect reads its settings at import: give each test process its own home (and so its own
# ephemeral API database), and no telemetry, before any test imports prefect.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="void-farm-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

# CI sets this: there, a missing service or tool is a failure, not a skip.
REQUIRE_ALL = os.environ.get("VOID_FARM_REQUIRE_ALL") == "1"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models' ops are too small to share out: on this shared 2-core machine a second torch
    thread only waits for a core (tests ran 5-10x slower with two), so they run on one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def skip_unless_required(reason: str) -> None:
    """Skip for a missing optional resource on a developer machine; fail in CI."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (VOID_FARM_REQUIRE_ALL=1: CI must run this test)")
    pytest.skip(reason)


def encode_video(path: Path, frames: list[np.ndarray], fps=Fraction(12), codec="libx264",
                 pix_fmt="yuv420p", options=None, src_format="rgb24") -> Path:
    """Write RGB (or gray) frames with PyAV; tagged BT.709 limited range."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options or {"crf": "8"})
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        stream.codec_context.colorspace = 1
        stream.codec_context.color_trc = 1
        stream.codec_context.color_primaries = 1
        stream.codec_context.color_range = 1
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame, format=src_format)
            video_frame = video_frame.reformat(format=pix_fmt, dst_colorspace="itu709",
                                               dst_color_range="MPEG")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def encode_mask(path: Path, masks: list[np.ndarray], fps=Fraction(12)) -> Path:
    """Lossless limited-range luma, as VOID stores quadmasks (Y = 16 + v * 219 / 255)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"qp": "0"})
        stream.width, stream.height = masks[0].shape[1], masks[0].shape[0]
        stream.pix_fmt = "yuv444p"
        for mask in masks:
            luma = np.rint(16 + mask.astype(np.float32) * 219 / 255).astype(np.uint8)
            planes = np.stack([luma, np.full_like(luma, 128), np.full_like(luma, 128)])
            frame = av.VideoFrame.from_ndarray(planes, format="yuv444p")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def moving_disc_shot(folder: Path, width=96, height=64, frames=10, *, mask_name="quadmask_0.mp4",
                     fps=Fraction(12), radius=8, seed=0) -> Path:
    """A textured static background with a red disc moving left to right, plus its quadmask
    (0 on the disc, 127 on a shadow below it from frame 1, 255 elsewhere)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (np.stack([xx * 2 % 256, yy * 3 % 256, (xx + yy) % 256], -1)).astype(np.uint8)
    background = np.clip(background.astype(int) + rng.integers(-10, 10, background.shape), 0, 255).astype(np.uint8)
    video, masks = [], []
    for i in range(frames):
        cx = radius + 2 + i * (width - 2 * radius - 4) // max(1, frames - 1)
        cy = height // 2
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        shadow = ((xx - cx) ** 2 + (yy - cy - radius - 3) ** 2 <= (radius // 2) ** 2) & ~disc
        frame = background.copy()
        frame[shadow] = (frame[shadow] * 0.5).astype(np.uint8)
        frame[disc] = (220, 30, 30)
        mask = np.full((height, width), 255, np.uint8)
        mask[disc] = 0
        if i > 0:
            mask[shadow] = 127
        video.append(frame)
        masks.append(mask)
    encode_video(folder / "input_video.mp4", video, fps)
    encode_mask(folder / mask_name, masks, fps)
    (folder / "prompt.json").write_text(json.dumps({"bg": "a textured wall"}))
    return folder


@pytest.fixture
def disc_shot(tmp_path) -> Path:
    return moving_disc_shot(tmp_path / "sh010")


def quadmask_from_clicks(plate: Path, prompts, out_root: Path, *, name: str = "work",
                         masker: str = "classical", analyzer: str = "heuristic",
                         masker_settings: dict | None = None,
                         analyzer_settings: dict | None = None, instruction: str = ""):
    """Clicks -> quadmask through the pipeline's own ingest, masking and analysis stages; the
    files land in OUT/.void-work/<name>/. Returns the shot's state."""
    from void_core.media.plate import open_plate
    from void_core.pipeline import RunSettings, ShotPlan, run_shot
    from void_core.vocabulary import Stage

    info = open_plate(plate).info
    plan = ShotPlan(name=name, event=1, media=Path(plate), media_problem=None, first_frame=0,
                    frame_count=info.frame_count, rate=info.rate,
                    prompt=[prompt.to_json() for prompt in prompts], instruction=instruction,
                    clicks_win=True)
    settings = RunSettings(run_id="test", cutlist="clicks", out_root=out_root, masker=masker,
                           masker_settings=masker_settings or {}, analyzer=analyzer,
                           analyzer_settings=analyzer_settings or {},
                           stages=(Stage.INGEST, Stage.MASKING, Stage.ANALYSIS))
    return run_shot(settings, plan)


@pytest.fixture(scope="session")
def tiny_vlm(tmp_path_factory) -> Path:
    """A tiny random-weight Qwen3-VL folder (`void-farm models make-tiny-vlm`), made once."""
    from void_core.analysis.local_vlm.tiny import make_tiny_vlm_dir

    return make_tiny_vlm_dir(tmp_path_factory.mktemp("vlm") / "qwen3-vl-tiny")


# The local-vlm settings that make the tiny model answer in seconds on a shared CPU: small
# pictures, short texts, one torch thread, sampling (greedy decoding of random weights fills
# every list to its bound).
TINY_VLM_SETTINGS = {"sample_frames": 3, "image_width": 128, "clip_frames": 4,
                     "clip_width": 128, "max_text_chars": 8, "temperature": 1.0,
                     "cpu_threads": 1, "device": "cpu"}


@dataclass(frozen=True)
class PushScene:
    """A synthetic shot of a ball pushing a box, with the ball's black mask beside it."""

    folder: Path
    video: Path
    black: Path


def push_scene_with_black_mask(folder: Path, width: int, height: int,
                               frames: int) -> PushScene:
    """What the VLM analyzers' tests analyse: the scene and its primary object as a black mask
    (0 object, 255 rest), as the masking stage writes it."""
    from void_core import quadmask
    from void_core.media.encode import write_mask_video
    from void_core.media.masks import QuadmaskReader
    from void_core.synth import SceneSpec, write_scene

    spec = SceneSpec(name="push", width=width, height=height, frames=frames,
                     background="procedural", shadow=False, push=True, seed=3)
    info = write_scene(spec, folder)
    black = [np.where(quadmask.primary(q), 0, 255).astype(np.uint8)
             for q in QuadmaskReader(info.mask).frames()]
    write_mask_video(folder / "black.mp4", black, spec.fps)
    return PushScene(folder, info.video, folder / "black.mp4")


# --- lineage databases ---------------------------------------------------------------------

PG_URL = os.environ.get("VOID_FARM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_admin():
    """An AUTOCOMMIT engine on the test PostgreSQL (skips, or fails in CI, when it is down)."""
    import sqlalchemy as sa

    from void_core.lineage import mask_url

    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3},
                              isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as err:
        engine.dispose()
        skip_unless_required(f"PostgreSQL not reachable at {mask_url(PG_URL)}: {err.orig}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A lineage URL: SQLite in tmp_path, or a fresh schema of the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lineage.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    schema = f"void_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


def lineage_rows(out: Path, query: str) -> list[tuple]:
    """The rows of `query` on OUT's SQLite lineage database."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{out / 'void-farm-lineage.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(query)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


LONG_SHOT_FRAMES = 30  # the pipeline's long shot; parts of 8 -> four parts


@pytest.fixture(scope="module")
def long_plan(tmp_path_factory):
    """A 30-frame panning shot with a shadow and its quadmask, planned from a cut list."""
    from void_core.cutlist import read_cutlist
    from void_core.pipeline import stages
    from void_core.synth import SceneSpec, write_scene
    from void_core.synth.cutlist import write_synthetic_cutlist

    root = tmp_path_factory.mktemp("long")
    scene = write_scene(SceneSpec(name="sh010", width=96, height=64, frames=LONG_SHOT_FRAMES,
                                  camera="pan", shadow=True, seed=2), root / "sh010",
                        mask_name="ground_truth_mask.mp4")
    cut = read_cutlist(write_synthetic_cutlist([scene], root / "reel.otio"))
    return stages.ShotPlan.from_spec(cut.shots[0])
