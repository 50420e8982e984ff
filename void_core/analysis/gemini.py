"""The `gemini` analysis engine: VOID's stage 2 (what removing the object involves) on Gemini.

One `generateContent` call per shot through the google-genai SDK, carrying what VOID's stage 2
sends (see `vlm_media`): gridded sample frames, the first frame with the object tinted red,
the shot as a video, and the prompt (`vlm_prompt`). The video goes inline when the proxy is
at most `inline_max_bytes`, else through the Files API (upload, wait until the file is ACTIVE,
refer to it, delete it afterwards). Gemini answers JSON constrained by a pydantic response schema
equivalent to VOID's (`vlm_schema.ReplyAnalysis`); the reply becomes an `Analysis` whose
`scene_description` is the shot's `bg` prompt, and whose grid localisations and trajectories
`analysis.masks` turns into the grey mask (VOID's released code throws them away).

Transport:

- **Key.** Read from the environment when a shot is analysed: the variable named by
  `api_key_env`, else `GEMINI_API_KEY`, else `GOOGLE_API_KEY` (VOID's variable first; the SDK on
  its own would prefer the second). The key is handed to the SDK, which sends it as the
  `x-goog-api-key` header; it is never stored on the engine, never in `settings()` (that goes to
  lineage), and scrubbed from every error message.
- **Endpoint.** `base_url` (a proxy, or a test server), else `GOOGLE_GEMINI_BASE_URL`, else
  Google's. Credentials or a query string in the URL are not recorded in `settings()`.
- **Retries.** HTTP 408, 429, 500, 502, 503, 504 and dropped connections are retried up to
  `max_retries` times, waiting `retry_base_delay * 2**n` seconds (at most `retry_max_delay`,
  with jitter so that a farm's workers do not retry in step); a server's RetryInfo or
  Retry-After wins when longer, within the same cap. The SDK's own retries stay off so there is
  one policy. A request that times out (`timeout` seconds) is not retried: the model was still
  working, and a second try would cost as much again.
- **Failures** are `AnalysisError`s, one line each: no key, the key refused, retries
  exhausted, a timeout, the service unreachable, a refused request, a reply that is blocked,
  cut off, not JSON, or not shaped like the schema.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import ValidationError

from void_core.analysis.vlm_media import ShotMedia, prepare_media
from void_core.analysis.vlm_prompt import PROMPT_DIGEST, SYSTEM_INSTRUCTION, build_prompt
from void_core.analysis.vlm_schema import ReplyAnalysis, fit_to_shot
from void_core.analysis.schema import Analysis
from void_core.engines import WithoutModels
from void_core.errors import AnalysisError

__all__ = ["DEFAULT_MODEL", "GeminiAnalyzer", "KEY_VARIABLES"]

DEFAULT_MODEL = "gemini-3-pro-preview"  # VOID's stage-2 DEFAULT_MODEL
KEY_VARIABLES = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
BASE_URL_VARIABLE = "GOOGLE_GEMINI_BASE_URL"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
KEY_STATUS = frozenset({401, 403})
VIDEO_MIME = "video/mp4"
ENGINE = "gemini"
_MESSAGE_LIMIT = 300

logger = logging.getLogger(__name__)
T = TypeVar("T")

try:  # the SDK sends through httpx2 (a fork of httpx) when it is installed, else httpx
    import httpx2
except ImportError:  # pragma: no cover - depends on the SDK's optional dependency
    httpx2 = None
_HTTP_MODULES = tuple(module for module in (httpx, httpx2) if module is not None)
_TIMEOUTS = tuple(module.TimeoutException for module in _HTTP_MODULES)
_TRANSPORT_ERRORS = tuple(module.TransportError for module in _HTTP_MODULES)
_HTTP_ERRORS = tuple(module.HTTPError for module in _HTTP_MODULES)


class GeminiAnalyzer(WithoutModels):
    """VOID's VLM analysis on Gemini; see the module docstring.

    Args:
        model: the Gemini model (default VOID's, `gemini-3-pro-preview`).
        base_url: another endpoint (a proxy or a test server).
        api_key_env: the environment variable holding the key (default: GEMINI_API_KEY, then
            GOOGLE_API_KEY).
        timeout: seconds each HTTP request may take, and the longest wait for an uploaded
            video to be processed.
        max_retries: retries after the first attempt, on 408/429/5xx and dropped connections.
        retry_base_delay, retry_max_delay: the first wait and the longest, in seconds.
        inline_max_bytes: the largest proxy video sent inline; larger ones go through the
            Files API.
        sample_frames: gridded frames sampled over the shot (VOID: 10).
        video_fps: frames per second Gemini samples from the video (None: the service's
            default, 1).
        image_width, video_width: the widest the sample frames and the proxy video are made.
        temperature: sampling temperature (None: the model's default, which Gemini 3 wants).
        poll_interval: seconds between checks of an uploaded video's processing state.
    """

    name = ENGINE
    version = "0.1.0"

    def __init__(self, *, model: str = DEFAULT_MODEL, base_url: str | None = None,
                 api_key_env: str | None = None, timeout: float = 300.0, max_retries: int = 4,
                 retry_base_delay: float = 2.0, retry_max_delay: float = 60.0,
                 inline_max_bytes: int = 20 * 2**20, sample_frames: int = 10,
                 video_fps: float | None = 4.0, image_width: int = 1024, video_width: int = 768,
                 temperature: float | None = None, poll_interval: float = 2.0):
        _check(bool(model) and isinstance(model, str), "model must be a model name")
        _check(timeout > 0, "timeout must be positive (seconds)")
        _check(isinstance(max_retries, int) and max_retries >= 0,
               "max_retries must be an integer >= 0")
        _check(0 <= retry_base_delay <= retry_max_delay,
               "retry delays must satisfy 0 <= retry_base_delay <= retry_max_delay")
        _check(inline_max_bytes >= 0, "inline_max_bytes must be >= 0")
        _check(isinstance(sample_frames, int) and 1 <= sample_frames <= 60,
               "sample_frames must be an integer from 1 to 60")
        _check(video_fps is None or 0 < video_fps <= 24,
               "video_fps must be in (0, 24] frames per second, or None")
        _check(image_width >= 64 and video_width >= 64,
               "image_width and video_width must be at least 64 pixels")
        _check(poll_interval >= 0, "poll_interval must be >= 0")
        self.model = model
        self.base_url = base_url or os.environ.get(BASE_URL_VARIABLE) or None
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_base_delay = float(retry_base_delay)
        self.retry_max_delay = float(retry_max_delay)
        self.inline_max_bytes = int(inline_max_bytes)
        self.sample_frames = sample_frames
        self.video_fps = video_fps
        self.image_width = image_width
        self.video_width = video_width
        self.temperature = temperature
        self.poll_interval = float(poll_interval)

    def settings(self) -> dict:
        """What decides the analysis, for lineage (never the key itself)."""
        return {"model": self.model, "endpoint": _public_url(self.base_url),
                "api_key_env": self.api_key_env or " or ".join(KEY_VARIABLES),
                "timeout": self.timeout, "max_retries": self.max_retries,
                "retry_base_delay": self.retry_base_delay,
                "retry_max_delay": self.retry_max_delay,
                "inline_max_bytes": self.inline_max_bytes, "sample_frames": self.sample_frames,
                "video_fps": self.video_fps, "image_width": self.image_width,
                "video_width": self.video_width, "temperature": self.temperature,
                "poll_interval": self.poll_interval, "prompt": PROMPT_DIGEST}

    def analyze(self, plate, primary_mask_path: str | Path, instruction: str = "", *,
                on_progress: Callable[[int, int], None] | None = None) -> Analysis:
        """Ask Gemini what removing the masked object involves.

        Args:
            plate: an opened `Plate`.
            primary_mask_path: the object's mask per frame (0 object, 255 not), same size and
                length as the plate.
            instruction: the edit instruction (default: remove the object tinted red).
            on_progress: called with (steps done, steps in total): one step per frame
                prepared, and one for Gemini's answer.

        Returns:
            VOID's analysis, fitted to the shot (`vlm_schema.fit_to_shot`); its
            `scene_description` is the `bg` prompt.

        Raises:
            AnalysisError: no key, or Gemini could not be used or answered nonsense.
            MaskError: the mask does not match the plate, or is empty.
            MediaError: the plate cannot be decoded.
        """
        key = self._api_key()
        total = plate.info.frame_count + 1

        def frame_done(index: int) -> None:
            if on_progress is not None:
                on_progress(index + 1, max(total, index + 2))

        with tempfile.TemporaryDirectory(prefix="void-gemini-") as folder:
            media = prepare_media(plate, primary_mask_path, Path(folder),
                                  sample_count=self.sample_frames, image_width=self.image_width,
                                  video_width=self.video_width, on_frame=frame_done)
            with _Session(self, key) as session:
                analysis = session.analyse(media, instruction)
        if on_progress is not None:
            on_progress(media.frame_count + 1, media.frame_count + 1)
        return analysis

    def _api_key(self) -> str:
        names = (self.api_key_env,) if self.api_key_env else KEY_VARIABLES
        for variable in names:
            key = os.environ.get(variable, "").strip()
            if key:
                return key
        where = (f"{self.api_key_env} (named by the api_key_env setting)" if self.api_key_env
                 else f"{KEY_VARIABLES[0]} (or {KEY_VARIABLES[1]})")
        raise AnalysisError(ENGINE, "no Gemini API key in the environment",
                            f"set {where} to a key from Google AI Studio")

    def retry_delay(self, attempt: int, server_hint: float | None = None) -> float:
        """Seconds to wait before retry `attempt` (0-based)."""
        backoff = self.retry_base_delay * 2**attempt * random.uniform(0.5, 1.0)
        if server_hint is not None:
            backoff = max(backoff, server_hint)
        return min(backoff, self.retry_max_delay)


class _Session:
    """One shot's conversation with Gemini: the client, the uploaded video, the key to scrub."""

    def __init__(self, engine: GeminiAnalyzer, key: str):
        self.engine = engine
        self._key = key
        options = types.HttpOptions(base_url=engine.base_url,
                                    timeout=max(1, round(engine.timeout * 1000)))
        self.client = genai.Client(api_key=key, vertexai=False, http_options=options)
        self.uploaded: str | None = None

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.uploaded is not None:
                self._delete_upload()
        finally:
            self.client.close()

    def analyse(self, media: ShotMedia, instruction: str) -> Analysis:
        prompt = types.Part.from_text(text=build_prompt(media, instruction))
        contents = self._image_parts(media) + [self._video_part(media), prompt]
        config = types.GenerateContentConfig(
            system_instruction=SYSTEM_INSTRUCTION, response_mime_type="application/json",
            response_schema=ReplyAnalysis, temperature=self.engine.temperature,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))

        def generate() -> types.GenerateContentResponse:
            return self.client.models.generate_content(model=self.engine.model,
                                                       contents=contents, config=config)

        response = self.call("asking for the analysis", generate)
        usage = response.usage_metadata
        logger.info("gemini %s answered (%s tokens in, %s out)",
                    response.model_version or self.engine.model,
                    getattr(usage, "prompt_token_count", None),
                    getattr(usage, "candidates_token_count", None))
        reply = self._reply(response)
        rows, cols = media.grid
        return fit_to_shot(reply, instruction=instruction, frame_count=media.frame_count,
                           rows=rows, cols=cols)

    # the request

    @staticmethod
    def _image_parts(media: ShotMedia) -> list[types.Part]:
        frames = list(media.samples) + ([media.object_frame] if media.object_frame else [])
        parts = []
        for frame in frames:
            parts += [types.Part.from_text(text=frame.caption),
                      types.Part.from_bytes(data=frame.jpeg, mime_type="image/jpeg")]
        return parts

    def _video_part(self, media: ShotMedia) -> types.Part:
        fps = self.engine.video_fps
        metadata = types.VideoMetadata(fps=fps) if fps else None
        if media.video_bytes <= self.engine.inline_max_bytes:
            return types.Part(inline_data=types.Blob(data=media.video.read_bytes(),
                                                     mime_type=VIDEO_MIME),
                              video_metadata=metadata)
        uploaded = self._upload(media.video)
        return types.Part(file_data=types.FileData(file_uri=uploaded.uri,
                                                   mime_type=uploaded.mime_type or VIDEO_MIME),
                          video_metadata=metadata)

    def _upload(self, video: Path) -> types.File:
        config = types.UploadFileConfig(mime_type=VIDEO_MIME,
                                        display_name=f"void-farm-{video.stem}.mp4")
        uploaded = self.call("uploading the video",
                             lambda: self.client.files.upload(file=video, config=config))
        self.uploaded = uploaded.name
        deadline = time.monotonic() + self.engine.timeout
        while uploaded.state == types.FileState.PROCESSING:
            if time.monotonic() > deadline:
                raise AnalysisError(ENGINE, f"the uploaded video was still being processed "
                                            f"after {self.engine.timeout:g} s",
                                    "raise the analyzer's timeout setting", retryable=True)
            time.sleep(self.engine.poll_interval)
            name = uploaded.name
            uploaded = self.call("checking the uploaded video",
                                 lambda: self.client.files.get(name=name))
        if uploaded.state == types.FileState.FAILED or not uploaded.uri:
            problem = uploaded.error.message if uploaded.error else "no reason given"
            raise AnalysisError(ENGINE, f"Gemini could not process the uploaded video "
                                        f"({self._clean(problem)})", retryable=True)
        return uploaded

    def _delete_upload(self) -> None:
        name, self.uploaded = self.uploaded, None
        try:
            self.client.files.delete(name=name)
        except (genai_errors.APIError, *_HTTP_ERRORS) as err:
            # Uploaded files expire by themselves (48 h); not worth failing a finished shot.
            logger.warning("gemini: could not delete the uploaded video %s: %s", name,
                           self._clean(str(err)))

    # transport

    def call(self, action: str, request: Callable[[], T]) -> T:
        """`request()`, retried on transient failures; every failure an `AnalysisError`."""
        engine = self.engine
        for attempt in range(engine.max_retries + 1):
            last = attempt == engine.max_retries
            try:
                return request()
            except genai_errors.APIError as err:
                if err.code not in RETRY_STATUS or last:
                    raise self._api_failure(action, err, attempt + 1) from None
                reason = f"{err.code} {err.status or ''}".strip()
                delay = engine.retry_delay(attempt, _server_delay(err))
            except _TIMEOUTS:
                raise AnalysisError(ENGINE, f"no answer within {engine.timeout:g} s while "
                                            f"{action}", "raise the analyzer's timeout setting "
                                    "for long shots, or try again", retryable=True) from None
            except _TRANSPORT_ERRORS as err:
                if last:
                    raise AnalysisError(
                        ENGINE, f"cannot reach Gemini at {_public_url(engine.base_url)} while "
                                f"{action} ({self._clean(str(err) or type(err).__name__)})",
                        "check the network or the base_url setting", retryable=True) from None
                reason, delay = type(err).__name__, engine.retry_delay(attempt)
            logger.warning("gemini: %s while %s; retry %d of %d in %.2f s", reason, action,
                           attempt + 1, engine.max_retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _api_failure(self, action: str, err: genai_errors.APIError,
                     attempts: int) -> AnalysisError:
        what = f"{err.code} {err.status or ''}".strip()
        message = self._clean(err.message or "")
        detail = f"{what}: {message}" if message else what
        if err.code in KEY_STATUS or "API_KEY" in json.dumps(err.details, default=str):
            variable = self.engine.api_key_env or KEY_VARIABLES[0]
            return AnalysisError(ENGINE, f"Gemini refused the API key while {action} ({detail})",
                                 f"check {variable}")
        if err.code in RETRY_STATUS:
            return AnalysisError(ENGINE, f"Gemini still failing after {attempts} attempts while "
                                         f"{action} ({detail})",
                                 "try again later, or raise max_retries", retryable=True)
        return AnalysisError(ENGINE, f"Gemini refused the request while {action} ({detail})",
                             f"check the model name {self.engine.model!r} and the settings")

    # the reply

    def _reply(self, response: types.GenerateContentResponse) -> ReplyAnalysis:
        if not response.candidates:
            feedback = response.prompt_feedback
            reason = feedback.block_reason if feedback and feedback.block_reason else None
            raise AnalysisError(ENGINE, "Gemini returned no answer" +
                                (f" (prompt blocked: {_enum_name(reason)})" if reason else ""),
                                retryable=reason is None)
        finish = response.candidates[0].finish_reason
        text = (response.text or "").strip()
        if finish is not None and _enum_name(finish) not in ("STOP", "FINISH_REASON_UNSPECIFIED"):
            raise AnalysisError(ENGINE, f"Gemini's answer stopped early ({_enum_name(finish)})",
                                "try again; a long shot may need fewer sample_frames",
                                retryable=True)
        if not text:
            raise AnalysisError(ENGINE, "Gemini's answer holds no text", "try again",
                                retryable=True)
        try:
            data = json.loads(_strip_fences(text))
        except json.JSONDecodeError as err:
            raise AnalysisError(ENGINE, f"Gemini's answer is not valid JSON ({err.msg} at "
                                        f"line {err.lineno} column {err.colno}; it begins "
                                        f"{self._clean(text[:60])!r})", "try again",
                                retryable=True) from None
        try:
            return ReplyAnalysis.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "top level"
            raise AnalysisError(ENGINE, f"Gemini's answer does not match the analysis schema "
                                        f"({where}: {first['msg']})", "try again",
                                retryable=True) from None

    def _clean(self, text: str) -> str:
        """`text` on one line, shortened, with the key scrubbed out."""
        if self._key:
            text = text.replace(self._key, "[key]")
        text = " ".join(text.split())
        return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT - 3] + "..."


# --- helpers -------------------------------------------------------------------------------------

def _check(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(problem)


def _public_url(url: str | None) -> str:
    """`url` without user, password, query or fragment (which may carry credentials)."""
    if not url:
        return "default"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _enum_name(value) -> str:
    return getattr(value, "value", None) or str(value)


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _strip_fences(text: str) -> str:
    """A reply wrapped in a Markdown code fence (models add one now and then), unwrapped."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _server_delay(err: genai_errors.APIError) -> float | None:
    """The wait the server asked for: Google's RetryInfo `retryDelay` ("7s") or Retry-After."""
    details = err.details.get("error", {}).get("details", []) if isinstance(err.details, dict) \
        else []
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    headers = getattr(getattr(err, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
