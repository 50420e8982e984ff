"""Is this a usable VLM folder for the `local-vlm` analyzer? Checked without loading weights.

A VLM folder is what `transformers` saves for a Qwen3-VL or Qwen2.5-VL model (the layout of
the models' own releases, copied to the farm's model storage):

    DIR/config.json                    model_type qwen3_vl or qwen2_5_vl, text and vision configs
    DIR/model.safetensors              the weights, or model-0000N-of-0000M.safetensors shards
                                       listed in model.safetensors.index.json
    DIR/generation_config.json         optional (end-of-turn tokens, sampling defaults)
    DIR/processor_config.json          the image and video processors (transformers 5), or the
      or preprocessor_config.json      older separate files (+ video_preprocessor_config.json)
    DIR/tokenizer.json                 the tokenizer (or vocab.json + merges.txt), with
    DIR/tokenizer_config.json          its settings
    DIR/chat_template.jinja            the chat format (or chat_template.json, or a
                                       chat_template key in tokenizer_config.json)

The check parses the configs, reads every safetensors header (shards complete, file sizes as
the headers say: a truncated copy fails here), checks that the token embedding has the shape
the config gives and that the vision tokens the config names exist in it, counts parameters,
estimates the memory the weights take in bfloat16, and lists the sha256 of every file
(`folder_checksums`, cached beside the files), which lineage records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from void_core.analysis.local_vlm.families import BY_MODEL_TYPE, FAMILIES
from void_core.model_files import (ModelDirProblem, element_count, file_checksums,
                                   folder_problem, read_json, read_weights)

PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
VISION_TOKENS = ("image_token_id", "video_token_id", "vision_start_token_id",
                 "vision_end_token_id")


@dataclass
class VlmDirReport:
    """The outcome of `check_vlm_dir`: `problems` (one line each) make the folder unusable."""

    path: Path
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    family: str | None = None
    files: list[str] = field(default_factory=list)
    tensors: int = 0
    parameters: int = 0
    dtypes: dict[str, int] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bf16_gb(self) -> float:
        """The weights' size in bfloat16, in GB (the floor of what a GPU must hold)."""
        return self.parameters * 2 / 1e9

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(path=str(self.path), ok=self.ok, bf16_gb=round(self.bf16_gb, 3))
        return data


def is_vlm_dir(directory: str | Path) -> bool:
    """Whether the folder's config.json names a VLM family (what `models check` dispatches on)."""
    try:
        config = read_json(Path(directory) / "config.json")
    except ModelDirProblem:
        return False
    return config.get("model_type") in BY_MODEL_TYPE


def check_vlm_dir(directory: str | Path, *, checksums: bool = True) -> VlmDirReport:
    """Validate a VLM folder (see the module docstring); never raises for bad content."""
    root = Path(directory)
    report = VlmDirReport(path=root)
    missing = folder_problem(root)
    if missing:
        report.problems.append(missing)
        return report
    try:
        config = read_json(root / "config.json")
    except ModelDirProblem as problem:
        report.problems.append(f"{problem} (a VLM folder needs the model's config.json)")
        return report
    family = BY_MODEL_TYPE.get(config.get("model_type"))
    if family is None:
        report.problems.append(
            f"{root / 'config.json'}: model_type {config.get('model_type')!r} is not a "
            f"supported VLM family ({', '.join(f.model_type for f in FAMILIES.values())})")
        return report
    report.family = family.name
    _check_weights(report, root, config)
    _check_processor(report, root)
    _check_tokenizer(report, root)
    if checksums and report.ok:
        report.checksums = folder_checksums(root)
    return report


def problem_line(report: VlmDirReport) -> str | None:
    """The first problem, with a pointer to the full list; None when the folder is usable."""
    if report.ok:
        return None
    more = len(report.problems) - 1
    tail = f" (+{more} more)" if more else ""
    return f"{report.problems[0]}{tail}"


def folder_checksums(root: str | Path) -> dict[str, str]:
    """relative path -> "sha256:..." for every file of the folder (hidden files aside)."""
    root = Path(root).resolve()
    files = [path for path in sorted(root.rglob("*"))
             if path.is_file() and not any(part.startswith(".")
                                           for part in path.relative_to(root).parts)]
    return file_checksums(root, files)


def _check_weights(report: VlmDirReport, root: Path, config: dict) -> None:
    try:
        tensors, files = read_weights(root, "model")
    except ModelDirProblem as problem:
        report.problems.append(str(problem))
        return
    report.files += [name.split("/", 1)[1] for name in files]
    report.tensors = len(tensors)
    for info in tensors.values():
        report.parameters += element_count(info["shape"])
        report.dtypes[info["dtype"]] = report.dtypes.get(info["dtype"], 0) + 1
    text = config.get("text_config") or config  # Qwen2.5-VL's own config.json is flat
    vocab, hidden = text.get("vocab_size"), text.get("hidden_size")
    embedding = next((info for name, info in sorted(tensors.items())
                      if name.endswith("embed_tokens.weight")), None)
    if embedding is None:
        report.problems.append(f"{root}: the weights hold no token embedding "
                               "(*embed_tokens.weight): not a Qwen VL checkpoint?")
    elif list(embedding["shape"]) != [vocab, hidden]:
        report.problems.append(
            f"{root}: the token embedding has shape {embedding['shape']}, config.json says "
            f"[vocab_size {vocab}, hidden_size {hidden}] (weights and config do not belong "
            "together)")
    for key in VISION_TOKENS:
        token = config.get(key)
        if token is not None and isinstance(vocab, int) and not 0 <= token < vocab:
            report.problems.append(f"{root / 'config.json'}: {key} {token} is outside the "
                                   f"vocabulary of {vocab} tokens")
    if not any(name.startswith(("model.visual.", "visual.")) for name in tensors):
        report.problems.append(f"{root}: the weights hold no vision tower (model.visual.*): "
                               "a text-only checkpoint cannot see the shot")


def _check_processor(report: VlmDirReport, root: Path) -> None:
    found = [name for name in PROCESSOR_FILES if (root / name).is_file()]
    if not found:
        report.problems.append(f"{root}: no {' or '.join(PROCESSOR_FILES)} (the image and video "
                               "processors; copy them with the weights)")
        return
    for name in found:
        try:
            read_json(root / name)
        except ModelDirProblem as problem:
            report.problems.append(str(problem))
            return
        report.files.append(name)


def _check_tokenizer(report: VlmDirReport, root: Path) -> None:
    files = next((names for names in TOKENIZER_FILES
                  if all((root / name).is_file() for name in names)), None)
    if files is None:
        report.problems.append(f"{root}: no tokenizer (tokenizer.json, or vocab.json + "
                               "merges.txt; copy them with the weights)")
        return
    try:
        settings = read_json(root / "tokenizer_config.json")
    except ModelDirProblem as problem:
        report.problems.append(str(problem))
        return
    report.files += [*files, "tokenizer_config.json"]
    templates = [name for name in TEMPLATE_FILES if (root / name).is_file()]
    if not templates and "chat_template" not in settings:
        report.problems.append(f"{root}: no chat template (chat_template.jinja, "
                               "chat_template.json, or tokenizer_config.json's chat_template)")
    report.files += templates


__all__ = ["VlmDirReport", "check_vlm_dir", "folder_checksums", "is_vlm_dir", "problem_line"]
