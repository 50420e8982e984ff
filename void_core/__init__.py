"""void-farm's library layer: cut lists, media, quadmasks, engines, compositing, lineage.

Pure Python on numpy/torch/OpenCV/OTIO/OpenEXR. Nothing here imports Prefect or Ray; the
orchestration layers (`tasks/`, `flows/`) call into this package, never the other way round.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
