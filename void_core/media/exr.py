"""OpenEXR frames: write plates with mask channels and lineage attributes; read them back.

Conventions (DESIGN.md): R, G, B half (scene-linear, `chromaticities` and the OCIO `colorspace`
name set: Rec.709 unless the plate or the run says otherwise), plus
`mask.primary` and `mask.affected` (half, 0 or 1); ZIP by default; lineage in `void/*` string
attributes. A frame appears atomically: it is written under a temporary name in the same folder
and renamed, so a reader never sees half a frame and a crash leaves no partial file.
"""

from __future__ import annotations

import fractions
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenEXR

from void_core.errors import MediaError, OutputError
from void_core.media.colour import REC709_CHROMATICITIES
from void_core.ownership import temporary_tag, writer_gone

COMPRESSIONS = {
    "none": OpenEXR.NO_COMPRESSION,
    "zip": OpenEXR.ZIP_COMPRESSION,
    "zips": OpenEXR.ZIPS_COMPRESSION,
    "piz": OpenEXR.PIZ_COMPRESSION,
    "dwaa": OpenEXR.DWAA_COMPRESSION,
}
TEMP_MARKER = ".partial-"


@dataclass(frozen=True)
class ExrFrame:
    """One frame read back: RGB (H, W, 3), optional mask channels, header attributes."""

    rgb: np.ndarray
    masks: dict[str, np.ndarray]
    header: dict


def write_exr_frame(
    path: str | Path,
    rgb: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    *,
    attributes: Mapping[str, str | int | float] | None = None,
    fps: fractions.Fraction | None = None,
    compression: str = "zip",
    chromaticities: tuple[float, ...] = REC709_CHROMATICITIES,
    colorspace: str | None = None,
) -> Path:
    """Write one plate frame atomically.

    Args:
        path: final file name (`<shot>.<frame>.exr`).
        rgb: (H, W, 3) float16 (or float32, kept as FLOAT) scene-linear, in the colour space
            `chromaticities` and `colorspace` describe (default: Rec.709 primaries, D65).
        masks: layer name -> (H, W) array, e.g. {"mask.primary": ..., "mask.affected": ...};
            stored as half.
        attributes: extra header attributes (lineage), str/int/float values.
        fps: frame rate, stored exactly as `framesPerSecond`.
        compression: one of COMPRESSIONS; ZIP (lossless) by default.
        chromaticities: (Rx, Ry, Gx, Gy, Bx, By, Wx, Wy) of the RGB's primaries and white.
        colorspace: the OCIO colour space name, as the `colorspace` attribute Nuke and OIIO read.
    """
    path = Path(path)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}")
    header: dict = {
        "compression": COMPRESSIONS[compression],
        "type": OpenEXR.scanlineimage,
        "chromaticities": tuple(chromaticities),
    }
    if colorspace:
        header["colorspace"] = colorspace
    if fps is not None:
        header["framesPerSecond"] = fractions.Fraction(fps)
    header.update(attributes or {})
    channels = {"RGB": np.ascontiguousarray(rgb)}
    for name, mask in (masks or {}).items():
        channels[name] = np.ascontiguousarray(mask, dtype=np.float16)
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{uuid.uuid4().hex[:8]}-{temporary_tag()}")
    try:
        with OpenEXR.File(header, channels) as exr:
            exr.write(str(temp))
        os.replace(temp, path)
    except OSError as err:
        raise OutputError.from_os_error(path.parent, err) from None
    except RuntimeError as err:  # the bindings report a failed write as RuntimeError
        raise _write_error(path, err) from None
    finally:
        if temp.exists():
            temp.unlink()
    return path


def _write_error(path: Path, err: RuntimeError) -> Exception:
    """The OS error inside the bindings' message as one actionable line; else the bug as is."""
    import errno

    text = str(err)
    for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
        if os.strerror(code) in text:
            return OutputError.from_os_error(path.parent, OSError(code, os.strerror(code)))
    return err


def read_exr_frame(path: str | Path) -> ExrFrame:
    """Read RGB (dtype as stored), every other channel by name, and the header.

    A multi-part file gives its first part with R, G, B channels (RGBA's alpha is left out of
    `masks`); the other parts are not read into the frame.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "EXR file not found")
    try:
        with OpenEXR.File(str(path), separate_channels=True) as exr:
            parts = [(dict(part.header), {name: ch.pixels for name, ch in part.channels.items()})
                     for part in exr.parts]
    except Exception as err:  # the bindings raise plain Exception on corrupt files
        raise MediaError(path, f"cannot read EXR ({err})") from None
    header, channels = next(((h, c) for h, c in parts if _rgb_channel_names(c)), parts[0])
    rgb_names = _rgb_channel_names(channels)
    if rgb_names is None:
        names = ", ".join(sorted(n for _, c in parts for n in c)[:8])
        raise MediaError(path, f"EXR has no R, G, B channels (it has {names})")
    rgb = np.stack([channels[n] for n in rgb_names], axis=-1)
    for name in {*rgb_names, "A"}:
        channels.pop(name, None)
    return ExrFrame(rgb=rgb, masks=channels, header=header)


def _rgb_channel_names(channels: Mapping[str, np.ndarray]) -> tuple[str, str, str] | None:
    for prefix in ("", "rgba.", "beauty."):
        names = tuple(f"{prefix}{c}" for c in "RGB")
        if all(n in channels for n in names):
            return names
    if "Y" in channels:
        return ("Y", "Y", "Y")
    return None


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary frames whose writer is gone (a crashed or killed process); returns how
    many. A live writer's temporaries stay, whichever run it belongs to."""
    removed = 0
    now = time.time()
    for temporary in folder.glob(f".*{TEMP_MARKER}*"):
        tag = temporary.name.split(TEMP_MARKER, 1)[1][9:]  # after "<uuid8>-"
        try:
            age = now - temporary.stat().st_mtime
        except FileNotFoundError:
            continue  # its writer renamed it into place meanwhile
        if writer_gone(tag, age):
            temporary.unlink(missing_ok=True)
            removed += 1
    return removed
