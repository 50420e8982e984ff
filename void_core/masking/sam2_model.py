"""Building SAM 2's video predictor from a local checkpoint and config, without SAM 2's global
Hydra: the config is found (a name packaged with `sam2`, or a local YAML), instantiated with the
overrides `build_sam2_video_predictor` applies, and the weights checked against it."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from collections.abc import Mapping
from pathlib import Path

from void_core.errors import InputError

CHECKPOINT_HINT = ("give the local path of a SAM 2 checkpoint that matches the config, e.g. "
                    "sam2.1_hiera_large.pt with configs/sam2.1/sam2.1_hiera_l.yaml")
_PACKAGED_CONFIGS = ("configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml",
                     "configs/sam2/sam2_hiera_{t,s,b+,l}.yaml")

# What `build_sam2_video_predictor` sets on top of a config (its `apply_postprocessing`).
_PREDICTOR_OVERRIDES = {
    "model._target_": "sam2.sam2_video_predictor.SAM2VideoPredictor",
    "model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability": True,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta": 0.05,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh": 0.98,
    "model.binarize_mask_from_pts_for_mem_enc": True,
}
FILL_HOLE_AREA = 8  # needs SAM 2's CUDA extension; without it every frame would warn

def sam2_version() -> str:
    try:
        return importlib.metadata.version("sam2")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def find_config(config: str) -> Path:
    """A local YAML file, else a config packaged with sam2 (".yaml" optional)."""
    local = Path(config).expanduser()
    if local.suffix in (".yaml", ".yml") and local.is_file():
        return local
    name = config if config.endswith((".yaml", ".yml")) else f"{config}.yaml"
    try:
        packaged = importlib.resources.files("sam2") / name
    except ModuleNotFoundError:
        raise InputError(None, "the sam2 package is not installed",
                         "SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2==1.1.0 "
                         "(SAM2_BUILD_CUDA=1 on GPU workers)") from None
    if packaged.is_file():
        return Path(str(packaged))
    raise InputError(local, "not a SAM 2 config: neither a YAML file nor a config packaged "
                            "with sam2", f"use one of {', '.join(_PACKAGED_CONFIGS)}, or a "
                                         "local .yaml path")


def build_predictor(config_path: Path, config_name: str, checkpoint: Path, device: str,
                     image_size: int | None):
    """Config -> SAM2VideoPredictor with the checkpoint's weights, on `device`, in eval mode."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(config_path)
    if "model" not in cfg:
        raise InputError(config_path, "not a SAM 2 model config (no `model` section)")
    overrides = dict(_PREDICTOR_OVERRIDES)
    overrides["model.fill_hole_area"] = FILL_HOLE_AREA if has_cuda_extension() else 0
    if image_size is not None:
        overrides["model.image_size"] = image_size
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    _load_weights(model, checkpoint, config_name)
    model.memory_attention.register_forward_pre_hook(_memory_in_query_dtype, with_kwargs=True)
    return model.to(torch.device(device)).eval()


def _memory_in_query_dtype(_module, args, kwargs):
    """SAM 2 stores its memories as bfloat16 whatever the precision. With object pointers in the
    memory, concatenation promotes it back to float32; without them (an object tracked before its
    first prompt) float32 attention meets bfloat16 memories and fails. Cast them to the query's
    dtype, which is a no-op under autocast."""
    import torch

    curr = kwargs.get("curr", args[0] if args else None)
    query = curr[0] if isinstance(curr, list) else curr
    if query is None or torch.is_autocast_enabled(query.device.type):
        return None
    for key in ("memory", "memory_pos"):
        value = kwargs.get(key)
        if value is not None and value.dtype != query.dtype:
            kwargs[key] = value.to(query.dtype)
    return args, kwargs


def has_cuda_extension() -> bool:
    try:
        import sam2._C  # noqa: F401
    except ImportError:
        return False
    return True


def _load_weights(model, checkpoint: Path, config_name: str) -> None:
    import pickle
    import zipfile

    import torch

    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError,
            zipfile.BadZipFile) as err:
        raise InputError(checkpoint, f"not a readable SAM 2 checkpoint "
                                     f"({type(err).__name__}: {str(err).splitlines()[0][:160]})",
                         CHECKPOINT_HINT) from None
    weights = saved.get("model") if isinstance(saved, dict) else None
    if not isinstance(weights, dict):
        raise InputError(checkpoint, "not a SAM 2 checkpoint: it holds no \"model\" weights",
                         CHECKPOINT_HINT)
    problem = _weights_mismatch(model.state_dict(), weights)
    if problem:
        raise InputError(checkpoint, f"does not match the config {config_name}: {problem}",
                         CHECKPOINT_HINT)
    model.load_state_dict(weights)


def _weights_mismatch(expected: Mapping, given: Mapping) -> str:
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    reshaped = [key for key in expected if key in given
                and tuple(getattr(given[key], "shape", ())) != tuple(expected[key].shape)]
    parts = [f"{len(keys)} {what} (e.g. {keys[0]})" for keys, what in
             ((missing, "missing weights"), (unexpected, "unexpected weights"),
              (reshaped, "weights of another shape")) if keys]
    return ", ".join(parts)
