"""VOID (Netflix's quadmask-conditioned CogVideoX inpainting) pass 1 on diffusers classes.

The numeric core, proven against golden vectors made with VOID's own code
(tests/data/golden/void, tests/test_void_*.py):

* `preprocess` -- VOID's get_video_mask_input, quadmask branch (resize, quantise, pad);
* `load` -- VAE, transformer (in_channels 48) and DDIM scheduler from a local directory;
* `vae` -- VOID's VAE decode (first latent alone, then pairs) and chunked encode;
* `windows` -- temporal multidiffusion windows, ramp weights and blending;
* `pipeline` -- conditioning, denoising over windows, decode, with every intermediate on request.
"""

from void_core.inpaint.void.load import VoidModels, load_void_models
from void_core.inpaint.void.pipeline import (
    Pass1Output,
    Pass1Trace,
    WindowRecord,
    decode_latents,
    rotary_embedding,
    run_pass1,
    to_uint8_frames,
)
from void_core.inpaint.void.preprocess import PreparedInputs, prepare_inputs
from void_core.inpaint.void.windows import LatentWindow, plan_windows, window_weights

__all__ = [
    "LatentWindow",
    "Pass1Output",
    "Pass1Trace",
    "PreparedInputs",
    "VoidModels",
    "WindowRecord",
    "decode_latents",
    "load_void_models",
    "plan_windows",
    "prepare_inputs",
    "rotary_embedding",
    "run_pass1",
    "to_uint8_frames",
    "window_weights",
]
