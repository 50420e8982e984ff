"""QC outputs: the before | mask | after preview MP4 and the contact sheet."""

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from scipy import ndimage

from conftest import encode_mask, encode_video
from void_core import quadmask
from void_core.errors import MediaError
from void_core.media import colour
from void_core.media.exr import write_exr_frame
from void_core.media.masks import QuadmaskReader
from void_core.media.video import iter_video_codes, probe_video
from void_core.qc import (
    SHEET_LABEL_HEIGHT, mask_overlay, preview_panel_size, sample_indices,
    write_contact_sheet, write_qc_preview, write_qc_strip,
)

WIDTH, HEIGHT, FRAMES = 96, 64, 10
RATE = Fraction(24000, 1001)
FIRST_EXR = 2051  # EXR numbering need not start at 1001
GREEN = (40, 200, 40)
LABEL_ROWS = 16  # the panel names sit in the top rows; checks look below them


def _regions(index: int) -> tuple[np.ndarray, np.ndarray]:
    """The object (primary) square and its shadow (affected) box in frame `index`."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    left = 12 + 4 * index
    square = (xx >= left) & (xx < left + 18) & (yy >= 22) & (yy < 40)
    shadow = (xx >= left) & (xx < left + 18) & (yy >= 44) & (yy < 58)
    return square, shadow


def _after_codes(index: int) -> np.ndarray:
    """What EXR frame `index` shows once back in display space: a flat colour per frame."""
    return np.array([20 + 20 * index, 128, 210 - 12 * index], np.uint8)


@pytest.fixture
def shot(tmp_path):
    return make_shot(tmp_path)


def make_shot(tmp_path):
    """A grey-blue gradient plate with a green square, its quadmask, and EXRs of flat colours."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    background = np.stack([70 + xx // 2, 90 + yy // 4, 150 + yy // 2], -1).astype(np.uint8)
    frames, masks = [], []
    exr_dir = tmp_path / "out" / "sh010"
    exr_dir.mkdir(parents=True)
    for index in range(FRAMES):
        square, shadow = _regions(index)
        frame = background.copy()
        frame[square] = GREEN
        mask = np.full((HEIGHT, WIDTH), quadmask.KEEP, np.uint8)
        mask[shadow] = quadmask.AFFECTED
        mask[square] = quadmask.PRIMARY
        frames.append(frame)
        masks.append(mask)
        display = np.broadcast_to(_after_codes(index) / 255.0, (HEIGHT, WIDTH, 3))
        linear = colour.to_linear(display, colour.Transfer.REC709).astype(np.float16)
        write_exr_frame(exr_dir / f"sh010.{FIRST_EXR + index:04d}.exr", linear,
                        {"mask.primary": square.astype(np.float16),
                         "mask.affected": shadow.astype(np.float16)},
                        attributes={"void/transfer": "rec709"}, fps=RATE)
    plate = encode_video(tmp_path / "input_video.mp4", frames, RATE)
    quad = encode_mask(tmp_path / "quadmask_0.mp4", masks, RATE)
    return plate, quad, exr_dir


def _decoded(path):
    info = probe_video(path)
    return info, list(iter_video_codes(info))


def _interior(region: np.ndarray, margin: int = 3) -> np.ndarray:
    """Away from edges (outline, chroma subsampling) and the label rows."""
    inner = ndimage.binary_erosion(region, iterations=margin)
    inner[:LABEL_ROWS] = False
    return inner


def test_preview_is_an_h264_strip_of_three_panels_at_the_plates_rate(shot, tmp_path):
    plate, quad, exr_dir = shot
    out = write_qc_preview(plate, quad, exr_dir, tmp_path / "qc" / "sh010_preview.mp4")
    assert out == tmp_path / "qc" / "sh010_preview.mp4"
    info, frames = _decoded(out)
    assert (info.width, info.height) == (3 * WIDTH, HEIGHT)
    assert len(frames) == FRAMES and info.frame_count == FRAMES
    assert info.rate == RATE
    with av.open(str(out)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.name, ctx.pix_fmt) == ("h264", "yuv420p")
        assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace) == (1, 1, 1)
    assert not list(out.parent.glob(".*partial*"))


def test_overlay_panel_is_red_on_the_object_and_yellow_on_its_shadow(shot, tmp_path):
    plate, quad, exr_dir = shot
    _, frames = _decoded(write_qc_preview(plate, quad, exr_dir, tmp_path / "p.mp4"))
    for index in (0, 5, 9):
        strip = frames[index].astype(int)
        before, overlay = strip[:, :WIDTH], strip[:, WIDTH:2 * WIDTH]
        square, shadow = (_interior(r) for r in _regions(index))
        lift = overlay[square].mean(0) - before[square].mean(0)
        assert lift[0] > 60 and lift[1] < -50  # green object tinted towards red
        lift = overlay[shadow].mean(0) - before[shadow].mean(0)
        assert lift[0] > 40 and lift[1] > 30 and lift[2] < -40  # towards yellow
        keep = _interior(~(_regions(index)[0] | _regions(index)[1]), margin=4)
        assert np.abs(overlay[keep] - before[keep]).mean() < 3  # untinted elsewhere
        assert np.abs(before[square] - GREEN).mean() < 8  # 'before' is the plate itself


def test_after_panel_shows_the_exrs_in_display_space(shot, tmp_path):
    plate, quad, exr_dir = shot
    _, frames = _decoded(write_qc_preview(plate, quad, exr_dir, tmp_path / "p.mp4"))
    below_labels = np.s_[LABEL_ROWS:, 2 * WIDTH:]
    for index, strip in enumerate(frames):
        after = strip[below_labels].astype(int)
        assert np.abs(after - _after_codes(index)).mean() < 2.5
        square = _interior(_regions(index)[0])[LABEL_ROWS:]
        assert np.abs(after[square] - GREEN).mean() > 60  # the object is not in the EXRs


def test_preview_fits_max_width_with_even_panels(shot, tmp_path):
    plate, quad, exr_dir = shot
    info, frames = _decoded(write_qc_preview(plate, quad, exr_dir, tmp_path / "p.mp4",
                                             max_width=150))
    assert (info.width, info.height) == (150, 32) == (3 * 50, 32)
    assert preview_panel_size(WIDTH, HEIGHT, 150) == (50, 32)
    assert preview_panel_size(1919, 1081, 1920) == (640, 360)
    assert len(frames) == FRAMES


def test_preview_refuses_exrs_that_do_not_cover_the_plate(shot, tmp_path):
    plate, quad, exr_dir = shot
    (exr_dir / f"sh010.{FIRST_EXR + FRAMES - 1:04d}.exr").unlink()
    with pytest.raises(MediaError, match="9 EXR frames"):
        write_qc_preview(plate, quad, exr_dir, tmp_path / "p.mp4")
    assert not (tmp_path / "p.mp4").exists()


def test_contact_sheet_rows_are_evenly_spaced_frames(shot, tmp_path):
    plate, quad, exr_dir = shot
    out = write_contact_sheet(plate, quad, exr_dir, tmp_path / "qc" / "sh010_contact.png",
                              count=4, thumb_width=48)
    sheet = cv2.imread(str(out))[:, :, ::-1].astype(int)
    row_height = SHEET_LABEL_HEIGHT + 32  # thumbs keep the 96x64 aspect: 48x32
    assert sheet.shape == (4 * row_height, 3 * 48, 3)
    assert sample_indices(FRAMES, 4) == [0, 3, 6, 9]
    for row, index in enumerate([0, 3, 6, 9]):
        top = row * row_height
        bar = sheet[top:top + SHEET_LABEL_HEIGHT]
        assert (bar == 32).mean() > 0.7  # a dark bar carrying the frame number
        after = sheet[top + SHEET_LABEL_HEIGHT:top + row_height, 96:]
        assert np.abs(after - _after_codes(index)).max() <= 1  # the right EXR, PNG is lossless


def test_contact_sheet_never_repeats_frames(shot, tmp_path):
    plate, quad, exr_dir = shot
    out = write_contact_sheet(plate, quad, exr_dir, tmp_path / "c.png", count=50, thumb_width=24)
    assert cv2.imread(str(out)).shape[0] == FRAMES * (SHEET_LABEL_HEIGHT + 16)
    assert sample_indices(5, 1) == [0]


def test_an_exr_sequence_plate_uses_the_given_rate(shot, tmp_path):
    """The EXRs themselves as the plate: no container rate, so `rate` sets the preview's."""
    _, quad, exr_dir = shot
    out = write_qc_preview(exr_dir, quad, exr_dir, tmp_path / "p.mp4", rate=Fraction(25))
    info, frames = _decoded(out)
    assert info.rate == 25 and len(frames) == FRAMES
    before, after = frames[3][LABEL_ROWS:, 4:WIDTH], frames[3][LABEL_ROWS:, 2 * WIDTH + 4:]
    assert np.abs(before.astype(int) - after.astype(int)).mean() < 2


def test_mask_overlay_tints_and_outlines():
    display = np.full((12, 12, 3), 100, np.uint8)
    quad = np.full((12, 12), quadmask.KEEP, np.uint8)
    quad[2:8, 2:8] = quadmask.PRIMARY
    quad[4:6, 4:6] = quadmask.OVERLAP
    quad[9:12, :] = quadmask.AFFECTED
    plain = mask_overlay(display, quad)
    assert tuple(plain[4, 4]) == tuple(plain[3, 3]) == (178, 66, 66)  # 63 is primary too
    assert tuple(plain[10, 5]) == (178, 158, 50)
    assert tuple(plain[0, 0]) == (100, 100, 100)
    outlined = mask_overlay(display, quad, outline=True)
    assert tuple(outlined[2, 5]) == (255, 32, 32) and tuple(outlined[4, 4]) == (178, 66, 66)
    assert tuple(outlined[9, 5]) == (255, 215, 0)


def test_preview_of_a_processed_shot_matches_the_plate_outside_the_mask(disc_shot, tmp_path):
    """Real EXRs from `process_shot`: converted back with the recorded transfer, untouched
    pixels show the plate again, and the removed disc is gone from the after panel."""
    from void_core.pipeline import ShotRequest, process_shot, resolve_shot_folder

    request = ShotRequest(inputs=resolve_shot_folder(disc_shot), out_root=tmp_path / "out",
                          name="sh010")
    process_shot(request)
    out = write_qc_preview(disc_shot / "input_video.mp4", disc_shot / "quadmask_0.mp4",
                           tmp_path / "out" / "sh010", tmp_path / "qc" / "sh010_preview.mp4")
    info, frames = _decoded(out)
    assert (info.width, info.frame_count, info.rate) == (3 * 96, 10, Fraction(12))
    strip = frames[5].astype(int)
    before, after = strip[LABEL_ROWS:, :96], strip[LABEL_ROWS:, 192:]
    assert np.abs(before[:, :20] - after[:, :20]).mean() < 2  # left edge: far from the disc
    quad = list(QuadmaskReader(disc_shot / "quadmask_0.mp4").frames())[5]
    disc = _interior(quad == quadmask.PRIMARY, margin=2)[LABEL_ROWS:]
    assert disc.sum() > 50
    assert np.abs(before[disc] - (220, 30, 30)).mean() < 10  # the red disc, before
    assert np.abs(after[disc] - (220, 30, 30)).mean() > 60  # and gone after


def test_the_qc_strip_is_a_jpeg_of_sampled_rows_within_its_byte_budget(shot, tmp_path):
    plate, quad, exr_dir = shot
    out = write_qc_strip(plate, quad, exr_dir, tmp_path / "qc" / "sh010_strip.jpg", count=3,
                         panel_width=96)
    data = out.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"  # JPEG
    strip = cv2.imread(str(out))[:, :, ::-1].astype(int)
    row_height = SHEET_LABEL_HEIGHT + HEIGHT
    assert strip.shape == (3 * row_height, 3 * WIDTH, 3)
    for row, index in enumerate(sample_indices(FRAMES, 3)):
        top = row * row_height + SHEET_LABEL_HEIGHT
        after = strip[top + 8:top + HEIGHT - 8, 2 * WIDTH + 8:3 * WIDTH - 8]
        assert np.abs(after - _after_codes(index)).max() <= 12  # the right EXR, lossy JPEG


def test_a_qc_strip_over_budget_loses_quality_then_size(shot, tmp_path):
    plate, quad, exr_dir = shot
    roomy = write_qc_strip(plate, quad, exr_dir, tmp_path / "roomy.jpg", panel_width=500)
    assert cv2.imread(str(roomy)).shape[1] == 3 * WIDTH  # never wider than the plate
    budget = roomy.stat().st_size // 3
    tight = write_qc_strip(plate, quad, exr_dir, tmp_path / "tight.jpg", max_bytes=budget)
    assert tight.stat().st_size <= budget
    with pytest.raises(ValueError, match="cannot fit 50 bytes"):
        write_qc_strip(plate, quad, exr_dir, tmp_path / "never.jpg", max_bytes=50)
    assert not (tmp_path / "never.jpg").exists()
