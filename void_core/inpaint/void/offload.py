"""Where VOID's components live while a shot runs: its three GPU memory modes, no accelerate.

VOID's transformer is 11 GB in bf16 and its T5 encoder 9.5 GB; not every GPU holds both. The
modes mirror diffusers' (and VOID's `gpu_memory_mode`):

* `full` -- every component on the execution device for the engine's lifetime.
* `model_offload` -- components rest on the CPU; the one in use is moved to the GPU whole and
  the previously active one moved back (diffusers' `enable_model_cpu_offload`). The transformer
  and T5 activate themselves from a forward pre-hook; the VAE, whose encode/decode are not
  `forward`, is activated by the engine before each use (`ModelOffload.activate`).
* `sequential_offload` -- weights rest on the CPU and every module that owns weights moves them
  to the GPU for its own forward call only (diffusers' `enable_sequential_cpu_offload`; slow,
  smallest footprint). diffusers does this with accelerate's hooks; accelerate is not part of
  the stack, so the same per-module move is done here with plain torch hooks.

In the offload modes a module's parameters report the CPU, so `module.device` no longer says
where to compute. Each placed component therefore carries its *execution device*
(`execution_device(module)`), which the pipeline uses to place its tensors -- the same role as
a diffusers pipeline's `_execution_device`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

MEMORY_MODES: tuple[str, ...] = ("full", "model_offload", "sequential_offload")
_EXECUTION_DEVICE = "_void_execution_device"
STORAGE_DEVICE = torch.device("cpu")


def execution_device(module: nn.Module) -> torch.device:
    """Where `module`'s inputs belong: its placement's execution device, else its own device."""
    placed = getattr(module, _EXECUTION_DEVICE, None)
    if placed is not None:
        return placed
    return next(module.parameters()).device


def place(components: dict[str, nn.Module], mode: str, device: torch.device | str):
    """Put `components` (name -> module) on `device` according to `mode`; return the placement
    (`FullPlacement`, `ModelOffload` or `SequentialOffload`)."""
    device = torch.device(device)
    if mode == "full":
        return FullPlacement(components, device)
    if mode == "model_offload":
        return ModelOffload(components, device)
    if mode == "sequential_offload":
        return SequentialOffload(components, device)
    raise ValueError(f"unknown memory mode {mode!r}; choose one of {', '.join(MEMORY_MODES)}")


class FullPlacement:
    """Everything resident on the execution device."""

    def __init__(self, components: dict[str, nn.Module], device: torch.device):
        self.device = device
        self.moves = 0
        for module in components.values():
            module.to(device)
            setattr(module, _EXECUTION_DEVICE, device)

    def activate(self, name: str) -> None:
        """Nothing to move: every component is already where it computes."""


class ModelOffload:
    """One component on the execution device at a time; `moves` counts the transfers."""

    def __init__(self, components: dict[str, nn.Module], device: torch.device):
        self.device = device
        self.components = components
        self.active: str | None = None
        self.moves = 0
        for name, module in components.items():
            module.to(STORAGE_DEVICE)
            setattr(module, _EXECUTION_DEVICE, device)
            module.register_forward_pre_hook(self._activating(name), with_kwargs=True)

    def activate(self, name: str) -> None:
        """Move `name` to the execution device and the previously active component off it."""
        if self.active == name:
            return
        if self.active is not None:
            self.components[self.active].to(STORAGE_DEVICE)
        self.components[name].to(self.device)
        self.active = name
        self.moves += 1
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _activating(self, name: str):
        def hook(module, args, kwargs):
            self.activate(name)
            return _to_device(args, self.device), _to_device(kwargs, self.device)

        return hook


class SequentialOffload:
    """Every weight-owning module moves its own weights in for its forward call and back out."""

    def __init__(self, components: dict[str, nn.Module], device: torch.device):
        self.device = device
        self.moves = 0
        for module in components.values():
            module.to(STORAGE_DEVICE)
            setattr(module, _EXECUTION_DEVICE, device)
            for part in _weight_owners(module.modules()):
                part.register_forward_pre_hook(self._bring_in, with_kwargs=True)
                part.register_forward_hook(self._send_out)

    def activate(self, name: str) -> None:
        """Nothing to do up front: weights move module by module as they are used."""

    def _bring_in(self, module, args, kwargs):
        _move_own_tensors(module, self.device)
        self.moves += 1
        return _to_device(args, self.device), _to_device(kwargs, self.device)

    def _send_out(self, module, args, output):
        _move_own_tensors(module, STORAGE_DEVICE)
        return output


def _weight_owners(modules: Iterable[nn.Module]) -> list[nn.Module]:
    def owns_tensors(module: nn.Module) -> bool:
        own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        return bool(own)

    return [module for module in modules if owns_tensors(module)]


def _move_own_tensors(module: nn.Module, device: torch.device) -> None:
    for parameter in module.parameters(recurse=False):
        if parameter.device != device:
            parameter.data = parameter.data.to(device)
    for name, buffer in module.named_buffers(recurse=False):
        if buffer.device != device:
            module._buffers[name] = buffer.to(device)


def _to_device(value, device: torch.device):
    """`value` with every tensor inside (tuples, lists, dicts) moved to `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device) if value.device != device else value
    if isinstance(value, tuple):
        return tuple(_to_device(item, device) for item in value)
    if isinstance(value, list):
        return [_to_device(item, device) for item in value]
    if isinstance(value, dict):
        return {key: _to_device(item, device) for key, item in value.items()}
    return value
