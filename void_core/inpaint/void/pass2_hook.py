"""`void-pass2`: VOID's second pass as the void engine's per-chunk hook.

The engine runs pass 1 on a chunk at model size, then hands the chunk to this hook, which warps
noise along pass 1's optical flow and runs the pass-2 transformer (CFG 6.0, 50 steps) over the
same frames (`pass2.refine_pass1_result`). The pass-2 transformer loads once per hook (so once
per resident engine) from `<model_dir>/transformer_pass2/`; the VAE and scheduler are pass 1's.
In the offload memory modes the pass-2 transformer is on the GPU only while it runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from void_core.inpaint.void.offload import execution_device
from void_core.inpaint.void.pass2 import (
    PASS2_GUIDANCE_SCALE, PASS2_STEPS, PASS2_TRANSFORMER_FOLDER, load_pass2_models,
    refine_pass1_result,
)
from void_core.inpaint.void.warped_noise import make_flow_estimator


class VoidPass2:
    """Callable pass-2 hook with the name and settings lineage records."""

    name = "void-pass2"
    version = "0.1.0"

    def __init__(self, model_dir: str | Path, *, steps: int = PASS2_STEPS,
                 guidance_scale: float = PASS2_GUIDANCE_SCALE, raft_weights: str | None = None,
                 raft_variant: str = "large", keep_on_device: bool = False):
        self.model_dir = Path(model_dir)
        self.steps, self.guidance_scale = int(steps), float(guidance_scale)
        self.raft_weights, self.raft_variant = raft_weights, raft_variant
        self.keep_on_device = keep_on_device
        self.load_count = 0
        self._models = None
        self._checksum: str | None = None

    def settings(self) -> dict:
        return {"steps": self.steps, "guidance_scale": self.guidance_scale,
                "flow": "raft-" + self.raft_variant if self.raft_weights else "dis",
                "raft_weights": self.raft_weights, "transformer_pass2": self.checksum()}

    def checksum(self) -> str:
        """sha256 of the pass-2 weights (hashed once)."""
        if self._checksum is None:
            digest = hashlib.sha256()
            for path in sorted((self.model_dir / PASS2_TRANSFORMER_FOLDER).glob("*.safetensors")):
                with path.open("rb") as handle:
                    while block := handle.read(8 << 20):
                        digest.update(block)
            self._checksum = "sha256:" + digest.hexdigest()
        return self._checksum

    def __call__(self, request) -> torch.Tensor:
        device = execution_device(request.models.transformer)
        dtype = next(request.models.transformer.parameters()).dtype
        request.placement.activate("vae")  # offload modes: pass 1's transformer leaves the GPU
        models = self._load(request.models, dtype)
        models.transformer.to(device)
        try:
            flow = make_flow_estimator(self.raft_weights, raft_variant=self.raft_variant,
                                       device=str(device))
            return refine_pass1_result(
                models, request.video.to(device), request.mask.to(device),
                request.pass1.to(device), prompt_embeds=request.prompt_embeds.to(device),
                negative_prompt_embeds=request.encode_prompt("").to(device),
                generator=torch.Generator("cpu").manual_seed(request.seed), flow=flow,
                steps=self.steps, guidance_scale=self.guidance_scale)
        finally:
            if not self.keep_on_device:
                models.transformer.to("cpu")

    def _load(self, shared, dtype: torch.dtype):
        if self._models is None:
            self._models = load_pass2_models(self.model_dir, shared=shared, dtype=dtype)
            self.load_count += 1
        return self._models
