"""An OTIO cut list over synthetic scenes: what an editor would hand the farm.

Each scene becomes a clip on one video track, referencing the scene's `input_video.mp4`, with a
marker at the click frame whose text is the instruction (`VOID: remove the ball`) and whose
`"void"` metadata holds the click and the scene after removal, as docs/cutlists.md describes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from void_core.synth.write import SceneInfo

FIRST_FRAME = 1001


def write_synthetic_cutlist(scenes: Sequence[SceneInfo], path: str | Path, *,
                            name: str | None = None, clip_names: Sequence[str] | None = None) -> Path:
    """Write `path` (.otio) with one clip per scene, in order; returns the path."""
    path = Path(path)
    rate = float(scenes[0].fps) if scenes else 24.0
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for index, scene in enumerate(scenes):
        clip_name = clip_names[index] if clip_names else scene.spec.name
        track.append(_clip(scene, clip_name, rate))
    timeline = otio.schema.Timeline(name=name or path.stem)
    timeline.tracks.append(track)
    timeline.global_start_time = RationalTime(86400 * rate, rate)  # 01:00:00:00, as editors do
    path.parent.mkdir(parents=True, exist_ok=True)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def _clip(scene: SceneInfo, name: str, rate: float) -> otio.schema.Clip:
    # The plate's frames carry VFX numbering (1001 ...), as a pulled plate's timecode would.
    frames = TimeRange(RationalTime(FIRST_FRAME, rate), RationalTime(scene.frame_count, rate))
    reference = otio.schema.ExternalReference(target_url=scene.video.resolve().as_uri(),
                                              available_range=frames)
    clip = otio.schema.Clip(name=name, media_reference=reference, source_range=frames)
    removal = "remove the moving object and its shadow" if scene.spec.shadow else \
        "remove the moving object"
    clip.markers.append(otio.schema.Marker(
        name=f"VOID: {removal}",
        marked_range=TimeRange(RationalTime(FIRST_FRAME + scene.click_frame, rate),
                               RationalTime(1, rate)),
        metadata={"void": {"frame": scene.click_frame, "points": [list(scene.click)],
                           "labels": [1], "bg": "the same scene without the object"}}))
    return clip


__all__ = ["write_synthetic_cutlist"]
