"""The `local-vlm` analysis engine: VOID's stage 2 on an open VLM from a local folder.

The same contract as `gemini`: the same pictures (`vlm_media`: gridded sample frames, the
first frame with the object tinted red, the shot as a clip), the same prompt (`vlm_prompt`),
the same reply schema fitted to the shot (`vlm_schema.fit_to_shot`), the scene description
becoming the shot's `bg` prompt. Only the model differs: a Qwen3-VL (or Qwen2.5-VL, see
`families`) loaded with `transformers` from `model_dir`, never from a hub; nothing reaches the
network.

The answer is decoded under the shot's JSON schema (`decoding`), so it is valid JSON of the
right shape by construction. Two outcomes remain that are not an analysis: the token budget
(`max_new_tokens`) running out before the answer closes (an `AnalysisError` that says so), and
an answer that is valid but empty (nothing affected, no scene description): the stage reports
that in its notes rather than inventing effects.

The model loads on the first shot (or `load()`), once per engine instance: a resident host
(`tasks/engine_host.py`) keeps it for the whole run (`load_count`). `resources()` asks for the
GPUs `device` names, and a GPU of the farm's large class (`void_gpu`, 40 GB or more) when the
weights do not fit a 24 GB card; `model_checksums()` hashes every file of the folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from void_core.analysis.local_vlm.check import check_vlm_dir, folder_checksums, problem_line
from void_core.analysis.local_vlm.families import BY_MODEL_TYPE, clip_kwargs
from void_core.analysis.schema import Analysis
from void_core.analysis.vlm_media import ShotMedia, prepare_media
from void_core.analysis.vlm_prompt import (ANSWER_FORMAT, PROMPT_DIGEST, SYSTEM_INSTRUCTION,
                                           answer_format, build_prompt)
from void_core.analysis.vlm_schema import ReplyAnalysis, decoding_schema, fit_to_shot
from void_core.errors import AnalysisError, InputError

__all__ = ["ENGINE", "LocalVlmAnalyzer"]

ENGINE = "local-vlm"
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "bfloat16", "float16", "float32")
SMALL_GPU_GB = 24  # a model whose weights and working memory exceed this asks for `void_gpu`
LARGE_GPU_RESOURCE = "void_gpu"  # infra/ray: GPUs with at least 40 GB
WORKING_MEMORY = 1.3  # activations, KV cache and the vision tower's frames, over the weights
MODEL_HINT = ("point [analysis.local-vlm] model_dir at a Qwen3-VL or Qwen2.5-VL folder; "
              "`void-farm models check DIR` lists what is wrong with one")

logger = logging.getLogger(__name__)


class LocalVlmAnalyzer:
    """VOID's VLM analysis on local weights; see the module docstring.

    Args:
        model_dir: the model folder (`void-farm models check` describes the layout).
        device: "cuda", "cuda:N", "cpu", or "auto" (CUDA when torch sees one; the scheduler
            then reserves no GPU, so name the device on a farm).
        gpus: GPUs one model is spread over (`device_map="auto"`), for models larger than a
            card; only with a CUDA device.
        dtype: "bfloat16", "float16", "float32", or "auto" (bfloat16 on CUDA, float32 on CPU).
        sample_frames: gridded frames sampled over the shot (VOID: 10).
        image_width: the widest the sample frames are made (pixels).
        clip_frames: frames of the shot shown as the video (spread evenly; even counts suit
            the models' 2-frame temporal patches).
        clip_width: the widest the clip's frames are made (pixels).
        max_new_tokens: the answer's token budget.
        temperature: 0 decodes greedily (the same answer every time); above 0 samples.
        seed: the sampling seed (recorded in lineage with the rest).
        max_text_chars: caps every free-text field of the answer (None: VOID's limits); a
            short cap makes small models on a CPU answer faster.
        cpu_threads: torch's CPU threads while this engine's process runs a model on the CPU
            (None: torch's default; a small model is fastest on 1 when cores are shared).

    Raises:
        InputError: no model_dir, a folder that is missing or incomplete (one line naming the
            first problem), or a bad setting.
    """

    name = ENGINE
    version = "0.1.0"

    def __init__(self, *, model_dir: str | Path | None = None, device: str = "auto",
                 gpus: int = 1, dtype: str = "auto", sample_frames: int = 10,
                 image_width: int = 448, clip_frames: int = 16, clip_width: int = 448,
                 max_new_tokens: int = 4096, temperature: float = 0.0, seed: int = 0,
                 max_text_chars: int | None = None, cpu_threads: int | None = None):
        if model_dir is None:
            raise InputError(None, "the local-vlm analyzer needs a model folder (weights are "
                                   "never downloaded)", MODEL_HINT)
        self.model_dir = Path(model_dir).expanduser()
        report = check_vlm_dir(self.model_dir, checksums=False)
        if not report.ok:
            raise InputError(None, f"local-vlm model folder unusable: {problem_line(report)}",
                             f"`void-farm models check {self.model_dir}` lists every problem")
        self.family = report.family
        self.weights_gb = report.bf16_gb
        _check(device.split(":")[0] in DEVICES, f"device {device!r} is not one of "
               "auto, cpu, cuda, cuda:N")
        _check(dtype in DTYPES, f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        _check(isinstance(gpus, int) and gpus >= 1, "gpus must be an integer >= 1")
        _check(gpus == 1 or device.startswith("cuda"), "gpus > 1 needs device = \"cuda\"")
        _check(isinstance(sample_frames, int) and 1 <= sample_frames <= 60,
               "sample_frames must be an integer from 1 to 60")
        _check(isinstance(clip_frames, int) and 0 <= clip_frames <= 256,
               "clip_frames must be an integer from 0 to 256")
        _check(min(image_width, clip_width) >= 32, "image_width and clip_width must be >= 32")
        _check(isinstance(max_new_tokens, int) and max_new_tokens >= 64,
               "max_new_tokens must be an integer >= 64")
        _check(temperature >= 0, "temperature must be >= 0")
        _check(max_text_chars is None or max_text_chars >= 1, "max_text_chars must be >= 1")
        _check(cpu_threads is None or cpu_threads >= 1, "cpu_threads must be >= 1")
        self.device, self.gpus, self.dtype = device, gpus, dtype
        self.sample_frames, self.image_width = sample_frames, image_width
        self.clip_frames, self.clip_width = clip_frames, clip_width
        self.max_new_tokens, self.temperature, self.seed = max_new_tokens, temperature, seed
        self.max_text_chars, self.cpu_threads = max_text_chars, cpu_threads
        self.load_count = 0
        self._loaded = None
        self._lock = threading.Lock()  # one shot at a time through the resident model

    # ---- engine protocol ------------------------------------------------------------------

    def settings(self) -> dict:
        from void_core.analysis.local_vlm.decoding import library_version

        return {"model_dir": str(self.model_dir), "family": self.family,
                "device": self.device, "gpus": self.gpus, "dtype": self.dtype,
                "sample_frames": self.sample_frames, "image_width": self.image_width,
                "clip_frames": self.clip_frames, "clip_width": self.clip_width,
                "max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "seed": self.seed, "max_text_chars": self.max_text_chars,
                "cpu_threads": self.cpu_threads,
                "prompt": PROMPT_DIGEST + "+" + _digest(ANSWER_FORMAT),
                "decoding": library_version()}

    def resources(self) -> dict:
        """The GPUs `device` names (the large class when the model needs it), else one CPU."""
        if not self.device.startswith("cuda"):
            return {"num_cpus": 1}
        wanted = {"num_gpus": self.gpus, "num_cpus": 1}
        if self.weights_gb * WORKING_MEMORY / self.gpus > SMALL_GPU_GB:
            wanted["resources"] = {LARGE_GPU_RESOURCE: self.gpus}
        return wanted

    def model_checksums(self) -> dict[str, str]:
        """{file of the model folder: "sha256:..."} (hashed once, cached beside the files)."""
        return folder_checksums(self.model_dir)

    # ---- the model --------------------------------------------------------------------------

    def load(self):
        """Load the processor, the model and the grammar's view of the tokenizer, once."""
        with self._lock:
            if self._loaded is None:
                self._loaded = _Loaded(self)
                self.load_count += 1
            return self._loaded

    def analyze(self, plate, primary_mask_path: str | Path, instruction: str = "", *,
                on_progress: Callable[[int, int], None] | None = None) -> Analysis:
        """What removing the masked object involves, as the local model sees it.

        Args:
            plate: an opened `Plate`.
            primary_mask_path: the object's mask per frame (0 object, 255 not).
            instruction: the edit instruction (default: remove the object tinted red).
            on_progress: called with (steps done, steps in total): one step per frame
                prepared, and one for the answer.

        Returns:
            VOID's analysis fitted to the shot; its `scene_description` is the `bg` prompt.

        Raises:
            AnalysisError: the answer did not close within max_new_tokens, or the model
                could not run.
            MaskError / MediaError: as `gemini` (mask does not match, plate unreadable).
        """
        total = plate.info.frame_count + 1

        def frame_done(index: int) -> None:
            if on_progress is not None:
                on_progress(index + 1, max(total, index + 2))

        media = prepare_media(plate, primary_mask_path, None, sample_count=self.sample_frames,
                              image_width=self.image_width, video_width=self.clip_width,
                              clip_count=self.clip_frames, on_frame=frame_done)
        loaded = self.load()
        with self._lock:
            reply = loaded.answer(media, instruction)
        if on_progress is not None:
            on_progress(media.frame_count + 1, media.frame_count + 1)
        rows, cols = media.grid
        return fit_to_shot(reply, instruction=instruction, frame_count=media.frame_count,
                           rows=rows, cols=cols)

    def schema_for(self, media: ShotMedia, instruction: str) -> dict:
        """The JSON schema this shot's answer is decoded against."""
        rows, cols = media.grid
        schema = decoding_schema(rows=rows, cols=cols, frame_count=media.frame_count,
                                 sample_count=len(media.samples), instruction=instruction)
        if self.max_text_chars is not None:
            _cap_text(schema, self.max_text_chars)
        return schema


class _Loaded:
    """The processor, model and grammar of one engine instance."""

    def __init__(self, engine: LocalVlmAnalyzer):
        import torch
        import transformers

        from void_core.analysis.local_vlm.decoding import Grammar

        self.engine = engine
        device = engine.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(None, f"local-vlm device {device!r} is not available on this "
                                   "machine", "run on a GPU node, or set device = \"cpu\"")
        if device == "cpu" and engine.cpu_threads:
            torch.set_num_threads(engine.cpu_threads)
        dtype = engine.dtype if engine.dtype != "auto" else (
            "bfloat16" if device.startswith("cuda") else "float32")
        family = BY_MODEL_TYPE[_model_type(engine.model_dir)]
        # accelerate spreads a model over several GPUs; one device needs no placement map
        placement = {"device_map": "auto"} if engine.gpus > 1 else {}
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(
                engine.model_dir, local_files_only=True)
            model_class = getattr(transformers, family.model_class)
            self.model = model_class.from_pretrained(
                engine.model_dir, dtype=getattr(torch, dtype), local_files_only=True,
                **placement).eval()
            if not placement:
                self.model.to(device)
        except (OSError, ValueError, KeyError) as err:
            raise AnalysisError(ENGINE, f"cannot load the model from {engine.model_dir} "
                                        f"({_one_line(err)})",
                                f"`void-farm models check {engine.model_dir}`") from None
        self.family = family
        self.device = self.model.device
        self.stop_ids = _stop_ids(self.model, self.processor.tokenizer)
        vocab = self.model.get_output_embeddings().weight.shape[0]
        self.grammar = Grammar(self.processor.tokenizer, vocab_size=vocab,
                               stop_ids=self.stop_ids)
        logger.info("local-vlm: %s loaded from %s on %s (%s)", family.name, engine.model_dir,
                    self.device, dtype)

    def answer(self, media: ShotMedia, instruction: str) -> ReplyAnalysis:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        engine = self.engine
        schema = engine.schema_for(media, instruction)
        inputs = self._inputs(media, instruction, schema)
        constraint = self.grammar.constraint(schema)
        sampling = engine.temperature > 0
        config = GenerationConfig(
            max_new_tokens=engine.max_new_tokens, do_sample=sampling,
            temperature=engine.temperature if sampling else None, top_k=None, top_p=None,
            eos_token_id=self.stop_ids, pad_token_id=self.stop_ids[0])
        prompt_length = inputs["input_ids"].shape[1]
        with torch.inference_mode(), torch.random.fork_rng(devices=_cuda_devices(self.device)):
            torch.manual_seed(engine.seed)
            output = self.model.generate(**inputs, generation_config=config,
                                         logits_processor=LogitsProcessorList([constraint]))
        written = output[0, prompt_length:].tolist()
        closed = bool(written) and written[-1] in self.stop_ids
        logger.info("local-vlm: %d prompt tokens, %d answer tokens", prompt_length, len(written))
        if not closed or not constraint.complete:
            raise AnalysisError(ENGINE, f"the answer did not close within max_new_tokens "
                                        f"({engine.max_new_tokens} tokens)",
                                "raise max_new_tokens, or set max_text_chars")
        text = self.processor.tokenizer.decode(written[:-1], skip_special_tokens=True)
        return ReplyAnalysis.model_validate(json.loads(text))

    def _inputs(self, media: ShotMedia, instruction: str, schema: dict) -> dict:
        """The chat (system, then the user turn: captioned pictures, the clip, the prompt)
        made into the processor's tensors on the model's device."""
        pictures = list(media.samples) + ([media.object_frame] if media.object_frame else [])
        content = []
        for picture in pictures:
            content += [{"type": "text", "text": picture.caption + "\n"}, {"type": "image"}]
        videos, options = None, {}
        if media.clip:
            indices = [index for index, _ in media.clip]
            content += [{"type": "text", "text": "\nThe shot as a video:\n"}, {"type": "video"}]
            import numpy as np

            videos = [np.stack([frame for _, frame in media.clip])]
            options = {"videos_kwargs": {**clip_kwargs(indices, media.rate, media.frame_count),
                                         **self.family.video_options}}
        content.append({"type": "text", "text": "\n" + build_prompt(media, instruction) +
                        answer_format(schema)})
        messages = [{"role": "system", "content": SYSTEM_INSTRUCTION},
                    {"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)
        inputs = self.processor(text=[text], images=[picture.rgb() for picture in pictures],
                                videos=videos, return_tensors="pt", **options)
        return {key: value.to(self.device) if hasattr(value, "to") else value
                for key, value in inputs.items()}


# --- helpers ---------------------------------------------------------------------------------


def _check(condition: bool, problem: str) -> None:
    if not condition:
        raise InputError(None, f"local-vlm setting: {problem}")


def _cap_text(schema: dict, limit: int) -> None:
    """Lower every string's maxLength in `schema` to `limit` (in place)."""
    if isinstance(schema, dict):
        if schema.get("type") == "string" and "maxLength" in schema:
            schema["maxLength"] = min(schema["maxLength"], limit)
            schema["minLength"] = min(schema.get("minLength", 0), limit)
        for value in schema.values():
            _cap_text(value, limit)
    elif isinstance(schema, list):
        for value in schema:
            _cap_text(value, limit)


def _model_type(model_dir: Path) -> str:
    return json.loads((model_dir / "config.json").read_text())["model_type"]


def _stop_ids(model, tokenizer) -> list[int]:
    """The tokens that end the model's turn: its generation config's, else the tokenizer's."""
    configured = model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    ids = [int(token) for token in ids if token is not None]
    return ids or [int(tokenizer.eos_token_id)]


def _cuda_devices(device) -> list[int]:
    return [device.index or 0] if getattr(device, "type", "") == "cuda" else []


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."
