"""A farm task's libraries keep to the CPUs it reserved (`void_core.cpus`)."""

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from void_core import cpus
from void_core.media.encode import VideoWriter


@pytest.fixture(autouse=True)
def _no_limit_after():
    yield
    cpus.keep_to(None)


def test_a_budget_limits_opencv_and_the_codecs_and_none_lifts_it():
    cpus.keep_to(1)
    assert cv2.getNumThreads() == 1 and cpus.thread_count() == 1
    cpus.keep_to(2.5)  # a fractional reservation rounds up
    assert cv2.getNumThreads() == 3 and cpus.thread_count() == 3
    cpus.keep_to(None)
    assert cpus.thread_count() == 0 and cv2.getNumThreads() >= 1


def test_the_preview_encoder_starts_the_budgeted_threads(tmp_path):
    cpus.keep_to(1)
    path = tmp_path / "one.mp4"
    with VideoWriter(path, Fraction(24), crf=18, preset="veryfast") as writer:
        for value in range(4):
            writer.write(np.full((64, 96, 3), value * 40, np.uint8))
        assert writer._stream.codec_context.thread_count == 1
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4



def test_spare_threads_only_beyond_one_cpu():
    assert cpus.spare_threads()  # outside a farm task
    cpus.keep_to(1)
    assert not cpus.spare_threads()
    cpus.keep_to(2)
    assert cpus.spare_threads()
