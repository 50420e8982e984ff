"""Analysis engines: what removing the primary object involves (VOID's stage 2), and the masks
drawn from it (stages 3-4).

An engine turns a plate and the primary object's mask into an `Analysis` shaped like VOID's
`vlm_analysis.json`; `write_quadmask` turns that into `quadmask_0.mp4`. Engines: `heuristic`
(CPU: shadows and contacts measured in the video), `gemini` (`GeminiAnalyzer`: VOID's VLM
analysis on Gemini, loaded on first use so that the SDK is imported only when needed) and
`local-vlm` (`local_vlm.engine.LocalVlmAnalyzer`: the same analysis on an open VLM from a local
folder, with constrained decoding).
"""

from void_core.analysis.heuristic import HeuristicAnalyzer
from void_core.analysis.masks import RegionTrack, grey_frame, write_quadmask
from void_core.analysis.schema import AffectedObject, Analysis, read_analysis

__all__ = ["AffectedObject", "Analysis", "GeminiAnalyzer", "HeuristicAnalyzer", "RegionTrack",
           "grey_frame", "read_analysis", "write_quadmask"]


def __getattr__(name: str):
    if name == "GeminiAnalyzer":
        from void_core.analysis.gemini import GeminiAnalyzer

        return GeminiAnalyzer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
