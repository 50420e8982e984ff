"""Is this a usable VOID model directory? Checked without a GPU and without loading weights.

A VOID pass-1 model directory (what `load_void_models` and the `void` engine read):

    DIR/transformer/     config.json (CogVideoXTransformer3DModel, in_channels 48) and
                         diffusion_pytorch_model.safetensors (VOID's void_pass1.safetensors;
                         or shards listed in diffusion_pytorch_model.safetensors.index.json)
    DIR/vae/             config.json (AutoencoderKLCogVideoX) + weights, from the base model
    DIR/scheduler/       scheduler_config.json (DDIMScheduler), from the base model
    DIR/text_encoder/    config.json (T5EncoderModel) + model*.safetensors, and
    DIR/tokenizer/       tokenizer.json or spiece.model, both from the base model,
      or DIR/prompt_embeds.safetensors   precomputed prompt embeddings (see `text.py`)
    DIR/void_farm_model.json  optional: the engine's defaults for this model (sample_size, steps)

The check parses every config, reads each safetensors *header* (8-byte length + JSON: names,
dtypes, shapes, byte offsets) to verify that shards are complete, that the file sizes match
their headers (a truncated download fails here), and that the tensors VOID depends on have the
right shapes: the transformer's patch embedding must take 48 input channels (16 noisy + 16
VAE-mask + 16 video latents), its text projection must match the text embeddings' width. It
also lists the sha256 of every weight file (`weight_checksums`, cached beside the files in
`.void-farm-checksums.json` when the folder is writable, so lineage does not re-hash 20 GB).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from void_core.errors import InputError
from void_core.inpaint.void.load import VOID_IN_CHANNELS
from void_core.inpaint.void.text import MAX_SEQUENCE_LENGTH, PROMPT_EMBEDS_FILE
# The file readers moved to model_files; their names stay importable from here.
from void_core.model_files import (CHECKSUM_CACHE, ModelDirProblem,  # noqa: F401
                                   element_count, file_checksums, folder_problem, read_json,
                                   read_safetensors_header, read_weights)

DEFAULTS_FILE = "void_farm_model.json"
PASS1_PARTS = ("transformer", "vae", "scheduler", "text_encoder", "tokenizer")
_SCHEDULERS = ("DDIMScheduler", "CogVideoXDDIMScheduler")


@dataclass
class ComponentReport:
    """What one component folder holds."""

    files: list[str] = field(default_factory=list)
    tensors: int = 0
    parameters: int = 0
    dtypes: dict[str, int] = field(default_factory=dict)
    config: dict = field(default_factory=dict)


@dataclass
class ModelDirReport:
    """The outcome of `check_model_dir`: `problems` (one line each) make the directory unusable."""

    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    components: dict[str, ComponentReport] = field(default_factory=dict)
    text: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        data["ok"] = self.ok
        return data


def check_model_dir(directory: str | Path, *, checksums: bool = True) -> ModelDirReport:
    """Validate a VOID model directory (see the module docstring); never raises for bad content."""
    root = Path(directory)
    report = ModelDirReport(path=root)
    missing = folder_problem(root)
    if missing:
        report.problems.append(missing)
        return report
    transformer = _component(report, root, "transformer", "config.json", "diffusion_pytorch_model")
    vae = _component(report, root, "vae", "config.json", "diffusion_pytorch_model")
    _check_scheduler(report, root)
    text_width = _check_text(report, root)
    if transformer is not None:
        _check_transformer(report, root, transformer, text_width)
    if vae is not None and transformer is not None:
        _check_vae_matches(report, root, vae, transformer)
    _check_pass2(report, root)
    _check_defaults(report, root)
    if checksums and report.ok:
        report.checksums = weight_checksums(root)
    return report


# --- components -----------------------------------------------------------------------------


def _component(report: ModelDirReport, root: Path, name: str, config_name: str,
               weights_stem: str) -> tuple[ComponentReport, dict[str, dict]] | None:
    """Config + weights of one folder; records problems and returns None when unusable."""
    folder = root / name
    if not folder.is_dir():
        report.problems.append(f"{folder}: missing (a VOID model folder needs {name}/)")
        return None
    try:
        config = read_json(folder / config_name)
        tensors, files = read_weights(folder, weights_stem)
    except ModelDirProblem as problem:
        report.problems.append(str(problem))
        return None
    component = ComponentReport(files=files, config=config, tensors=len(tensors))
    for info in tensors.values():
        component.parameters += element_count(info["shape"])
        component.dtypes[info["dtype"]] = component.dtypes.get(info["dtype"], 0) + 1
    report.components[name] = component
    return component, tensors


def _check_transformer(report, root, transformer, text_width: int | None) -> None:
    component, tensors = transformer
    config = component.config
    where = root / "transformer" / "config.json"
    if config.get("_class_name") not in (None, "CogVideoXTransformer3DModel"):
        report.warnings.append(f"{where}: _class_name is {config.get('_class_name')!r}, "
                               "expected CogVideoXTransformer3DModel")
    in_channels = config.get("in_channels")
    if in_channels != VOID_IN_CHANNELS:
        report.problems.append(
            f"{where}: in_channels is {in_channels}, VOID needs {VOID_IN_CHANNELS} (16 noisy + 16 "
            "VAE-mask + 16 video latents; set it to 48 with VOID's transformer weights)")
        return
    try:
        heads, head_dim = int(config["num_attention_heads"]), int(config["attention_head_dim"])
        patch, patch_t = int(config["patch_size"]), config.get("patch_size_t")
    except (KeyError, TypeError, ValueError):
        report.problems.append(
            f"{where}: missing num_attention_heads, attention_head_dim or patch_size")
        return
    inner = heads * head_dim
    if patch_t:
        expected = [inner, in_channels * patch * patch * int(patch_t)]
    else:
        expected = [inner, in_channels, patch, patch]
    _expect_shape(report, root / "transformer", tensors, "patch_embed.proj.weight", expected,
                  "the patch embedding must take VOID's 48 input channels")
    text_dim = config.get("text_embed_dim")
    _expect_shape(report, root / "transformer", tensors, "patch_embed.text_proj.weight",
                  [inner, text_dim], "must match text_embed_dim in config.json")
    if text_width is not None and text_dim is not None and text_width != text_dim:
        report.problems.append(
            f"{root}: the text embeddings are {text_width} wide but transformer/config.json "
            f"text_embed_dim is {text_dim} (text encoder and transformer do not belong together)")


def _check_pass2(report: ModelDirReport, root: Path) -> None:
    """transformer_pass2/ is optional (only `--refiner void-pass2` needs it); when present it
    must be the same 48-channel transformer as pass 1's."""
    if not (root / "transformer_pass2").exists():
        report.warnings.append(f"{root}: no transformer_pass2/ (VOID's pass 2, "
                               "--refiner void-pass2, is not available with this folder)")
        return
    pass2 = _component(report, root, "transformer_pass2", "config.json", "diffusion_pytorch_model")
    first = report.components.get("transformer")
    if pass2 is None or first is None:
        return
    if pass2[0].config.get("in_channels") != VOID_IN_CHANNELS:
        report.problems.append(f"{root / 'transformer_pass2' / 'config.json'}: in_channels is "
                               f"{pass2[0].config.get('in_channels')}, VOID's pass 2 needs "
                               f"{VOID_IN_CHANNELS}")
    elif pass2[0].parameters != first.parameters:
        report.problems.append(f"{root / 'transformer_pass2'}: {pass2[0].parameters} parameters, "
                               f"pass 1's transformer has {first.parameters} (not the same model)")


def _expect_shape(report, folder: Path, tensors: dict, name: str, expected: list, why: str) -> None:
    info = tensors.get(name)
    if info is None:
        report.problems.append(
            f"{folder}: weights have no tensor {name!r} (not a CogVideoX transformer?)")
    elif list(info["shape"]) != list(expected):
        report.problems.append(
            f"{folder}: {name} has shape {info['shape']}, expected {expected} ({why})")


def _check_vae_matches(report, root, vae, transformer) -> None:
    latent = vae[0].config.get("latent_channels")
    if latent is not None and VOID_IN_CHANNELS != 3 * int(latent):
        report.problems.append(
            f"{root / 'vae' / 'config.json'}: latent_channels {latent} does not give the "
            f"transformer's {VOID_IN_CHANNELS} input channels (3 x 16 expected)")
    class_name = vae[0].config.get("_class_name")
    if class_name not in (None, "AutoencoderKLCogVideoX"):
        report.warnings.append(f"{root / 'vae' / 'config.json'}: _class_name is "
                               f"{class_name!r}, expected AutoencoderKLCogVideoX")


def _check_scheduler(report: ModelDirReport, root: Path) -> None:
    path = root / "scheduler" / "scheduler_config.json"
    if not path.parent.is_dir():
        report.problems.append(f"{path.parent}: missing (a VOID model folder needs scheduler/)")
        return
    try:
        config = read_json(path)
    except ModelDirProblem as problem:
        report.problems.append(str(problem))
        return
    report.components["scheduler"] = ComponentReport(files=["scheduler/scheduler_config.json"],
                                                     config=config)
    if config.get("_class_name") not in _SCHEDULERS:
        report.warnings.append(f"{path}: _class_name {config.get('_class_name')!r}; VOID samples "
                               "with DDIMScheduler (the engine builds that class from this config)")
    if config.get("prediction_type") != "v_prediction":
        report.warnings.append(f"{path}: prediction_type {config.get('prediction_type')!r}, "
                               "CogVideoX models predict v (v_prediction)")


def _check_text(report: ModelDirReport, root: Path) -> int | None:
    """The text side; returns the embeddings' width when known."""
    encoder, tokenizer = root / "text_encoder", root / "tokenizer"
    if encoder.is_dir() or tokenizer.is_dir():
        report.text = "t5"
        width = None
        found = _component(report, root, "text_encoder", "config.json", "model")
        if found is not None:
            width = found[0].config.get("d_model")
        if not tokenizer.is_dir():
            report.problems.append(f"{tokenizer}: missing (text_encoder/ needs its tokenizer/)")
        elif not any((tokenizer / name).is_file() for name in ("tokenizer.json", "spiece.model")):
            report.problems.append(f"{tokenizer}: has neither tokenizer.json nor spiece.model")
        else:
            report.components["tokenizer"] = ComponentReport(
                files=sorted(f"tokenizer/{p.name}" for p in tokenizer.iterdir() if p.is_file()))
        return width
    embeds = root / PROMPT_EMBEDS_FILE
    if embeds.is_file():
        report.text = "embeddings"
        try:
            tensors = read_safetensors_header(embeds)
        except ModelDirProblem as problem:
            report.problems.append(str(problem))
            return None
        default = tensors.get("default")
        if default is None:
            report.problems.append(
                f"{embeds}: no 'default' tensor (the embedding used for any prompt)")
            return None
        shape = list(default["shape"])
        if shape[-2:-1] != [MAX_SEQUENCE_LENGTH] or len(shape) not in (2, 3):
            report.problems.append(f"{embeds}: 'default' has shape {shape}, expected "
                                   f"[1, {MAX_SEQUENCE_LENGTH}, width]")
            return None
        report.components["prompt_embeds"] = ComponentReport(
            files=[PROMPT_EMBEDS_FILE], tensors=len(tensors),
            dtypes={default["dtype"]: len(tensors)})
        return shape[-1]
    report.problems.append(f"{root}: no text side: needs text_encoder/ + tokenizer/ (T5 from the "
                           f"base model) or {PROMPT_EMBEDS_FILE}")
    return None


def _check_defaults(report: ModelDirReport, root: Path) -> None:
    path = root / DEFAULTS_FILE
    if not path.exists():
        return
    try:
        read_model_defaults(root)
    except ModelDirProblem as problem:
        report.problems.append(str(problem))


def read_model_defaults(root: Path) -> dict:
    """The optional void_farm_model.json: {"sample_size": [h, w], "num_inference_steps": n}."""
    path = Path(root) / DEFAULTS_FILE
    if not path.is_file():
        return {}
    data = read_json(path)
    size = data.get("sample_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ModelDirProblem(f"{path}: sample_size must be [height, width], got {size!r}")
    steps = data.get("num_inference_steps")
    if steps is not None and not (isinstance(steps, int) and steps > 0):
        raise ModelDirProblem(f"{path}: num_inference_steps must be a positive integer, got {steps!r}")
    return data


# --- checksums ------------------------------------------------------------------------------


def pass1_files(root: Path) -> list[Path]:
    """Every file VOID's pass-1 output depends on: weights, configs, tokenizer, embeddings."""
    files = []
    for part in PASS1_PARTS:
        folder = root / part
        if folder.is_dir():
            files.extend(path for path in sorted(folder.rglob("*"))
                         if path.is_file() and not path.name.startswith("."))
    if (root / PROMPT_EMBEDS_FILE).is_file():
        files.append(root / PROMPT_EMBEDS_FILE)
    return files


def weight_checksums(root: str | Path) -> dict[str, str]:
    """relative path -> "sha256:..." for every pass-1 file (cached; see `model_files`)."""
    return file_checksums(root, pass1_files(Path(root).resolve()))


# --- what the engine checks when it is built ------------------------------------------------

MODEL_PARTS = ("transformer", "vae", "scheduler")


def checked_model_folder(model_dir) -> Path:
    """`model_dir` resolved, checked to be a VOID model folder (one line when it is not)."""
    if model_dir is None:
        raise InputError(None, "the void engine needs a model folder",
                         "pass --model-dir DIR (`void-farm models make-tiny DIR` makes a test one)")
    root = Path(model_dir).expanduser().resolve()
    if not root.is_dir():
        raise InputError(root, "model folder not found" if not root.exists() else "is not a folder")
    missing = [part for part in MODEL_PARTS if not (root / part).is_dir()]
    if missing:
        raise InputError(root, f"not a VOID model folder (no {', '.join(missing)}/)",
                         f"run `void-farm models check {root}`")
    return root


def model_defaults(root: Path) -> dict:
    """The folder's VOID defaults (`read_model_defaults`), a problem as one InputError line."""
    try:
        return read_model_defaults(root)
    except ModelDirProblem as problem:
        raise InputError(None, str(problem)) from None


def spatial_unit(root: Path) -> int:
    """Height and width must divide by VAE compression x patch size (16 for VOID)."""
    try:
        vae = json.loads((root / "vae" / "config.json").read_text())
        transformer = json.loads((root / "transformer" / "config.json").read_text())
        return 2 ** (len(vae["block_out_channels"]) - 1) * int(transformer["patch_size"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(root, "unreadable vae/ or transformer/ config.json",
                         f"run `void-farm models check {root}`") from None
