"""A local stand-in for the Gemini REST API, so tests run the real google-genai client offline.

It speaks the part of the wire protocol the `gemini` analyzer uses (google-genai 3.6.1, API
versions `v1` and `v1beta`):

    POST /upload/{v}/files               resumable upload start -> X-Goog-Upload-URL
    POST /upload-session/{id}            "upload[, finalize]" chunks -> {"file": {...}}
    GET  /{v}/files/{id}                 the file, PROCESSING for `processing_polls` gets
    DELETE /{v}/files/{id}
    POST /{v}/models/{model}:generateContent

Every request is recorded (`requests`). `generateContent` answers from `replies` (scripted
`Reply`s, first in first out: an error status, a body, a delay) and, when none is left, with a
success whose text is `analysis` as JSON. Errors use Google's body shape
`{"error": {"code", "message", "status"}}`. A request without the expected `x-goog-api-key`
gets Google's 400 API_KEY_INVALID.

Use as a context manager: the server runs in a daemon thread on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_VERSION = r"/(?:v1|v1beta)"
_GENERATE = re.compile(_VERSION + r"/models/([^/:]+):generateContent$")
_UPLOAD_START = re.compile(r"/upload" + _VERSION + r"/files$")
_UPLOAD_SESSION = re.compile(r"/upload-session/([0-9a-f]+)$")
_FILE = re.compile(_VERSION + r"/files/([0-9a-f]+)$")
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 408: "DEADLINE_EXCEEDED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@dataclass
class Reply:
    """One scripted answer to generateContent: `body` a dict (sent as JSON) or raw text; None
    gives an error body for an error status, or the default success."""

    status: int = 200
    body: dict | str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


def error_body(status: int, message: str = "", **extra) -> dict:
    """Google's error shape."""
    error = {"code": status, "message": message or HTTPStatus(status).phrase,
             "status": _STATUS_NAMES.get(status, "UNKNOWN")}
    error.update(extra)
    return {"error": error}


def success_body(text: str, model: str = "fake-model") -> dict:
    """A generateContent answer carrying `text`."""
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 100,
                              "totalTokenCount": 1100},
            "modelVersion": model}


class FakeGemini:
    """See the module docstring."""

    def __init__(self, analysis: dict | None = None, *, api_key: str | None = None,
                 processing_polls: int = 1, fail_processing: bool = False):
        self.analysis = analysis or {}
        self.api_key = api_key
        self.processing_polls = processing_polls
        self.fail_processing = fail_processing
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.files: dict[str, dict] = {}  # id -> {"meta": ..., "data": bytearray, "gets": n}
        self.deleted: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def __enter__(self) -> FakeGemini:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first (with FakeGemini(...) as f)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # what the tests look at

    def generate_requests(self) -> list[Recorded]:
        return [r for r in self.requests if _GENERATE.search(r.path)]

    def requests_to(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # routing (called from the handler threads)

    def handle(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes, float]:
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body, time.monotonic()))
        path = path.split("?", 1)[0]
        if _UPLOAD_SESSION.search(path) and method == "POST":
            return self._upload_chunk(_UPLOAD_SESSION.search(path).group(1), headers, body)
        if self.api_key is not None and headers.get("x-goog-api-key") != self.api_key:
            return _json(400, error_body(400, "API key not valid. Please pass a valid API key.",
                                         details=[{"reason": "API_KEY_INVALID"}]))
        if (match := _GENERATE.search(path)) and method == "POST":
            return self._generate(match.group(1))
        if _UPLOAD_START.search(path) and method == "POST":
            return self._upload_start(headers, body)
        if (match := _FILE.search(path)) and method in ("GET", "DELETE"):
            return self._file(method, match.group(1))
        return _json(404, error_body(404, f"no route for {method} {path}"))

    def _generate(self, model: str):
        with self._lock:
            reply = self.replies.popleft() if self.replies else Reply()
        if reply.body is None:
            body: dict | str = (success_body(json.dumps(self.analysis), model)
                                if reply.status == 200 else error_body(reply.status))
        else:
            body = reply.body
        status, headers, data, _ = (_json(reply.status, body) if isinstance(body, dict)
                                    else (reply.status, {"Content-Type": "application/json"},
                                          body.encode(), 0.0))
        headers.update(reply.headers)
        return status, headers, data, reply.delay

    def _upload_start(self, headers: dict[str, str], body: bytes):
        if headers.get("x-goog-upload-command") != "start":
            return _json(400, error_body(400, "expected X-Goog-Upload-Command: start"))
        file_id = uuid.uuid4().hex[:12]
        request = json.loads(body or b"{}").get("file", {})
        meta = {"name": f"files/{file_id}",
                "displayName": request.get("displayName", ""),
                "mimeType": headers.get("x-goog-upload-header-content-type",
                                        request.get("mimeType", "")),
                "sizeBytes": headers.get("x-goog-upload-header-content-length", "0"),
                "uri": f"{self.base_url}/v1beta/files/{file_id}",
                "state": "PROCESSING"}
        with self._lock:
            self.files[file_id] = {"meta": meta, "data": bytearray(), "gets": 0}
        status, out, data, _ = _json(200, {})
        out.update({"X-Goog-Upload-URL": f"{self.base_url}/upload-session/{file_id}",
                    "X-Goog-Upload-Status": "active"})
        return status, out, data, 0.0

    def _upload_chunk(self, file_id: str, headers: dict[str, str], body: bytes):
        entry = self.files.get(file_id)
        if entry is None:
            return _json(404, error_body(404, "no such upload"))
        if int(headers.get("x-goog-upload-offset", "-1")) != len(entry["data"]):
            return _json(400, error_body(400, "wrong upload offset"))
        entry["data"] += body
        command = headers.get("x-goog-upload-command", "")
        if "finalize" not in command:
            status, out, data, _ = _json(200, {})
            out["X-Goog-Upload-Status"] = "active"
            return status, out, data, 0.0
        entry["meta"]["sizeBytes"] = str(len(entry["data"]))
        status, out, data, _ = _json(200, {"file": entry["meta"]})
        out["X-Goog-Upload-Status"] = "final"
        return status, out, data, 0.0

    def _file(self, method: str, file_id: str):
        entry = self.files.get(file_id)
        if entry is None:
            return _json(404, error_body(404, f"files/{file_id} not found"))
        if method == "DELETE":
            self.deleted.append(file_id)
            return _json(200, {})
        entry["gets"] += 1
        if entry["gets"] >= self.processing_polls:
            if self.fail_processing:
                entry["meta"].update(state="FAILED", error={"code": 3, "message": "bad video"})
            else:
                entry["meta"]["state"] = "ACTIVE"
        return _json(200, entry["meta"])

    def sleep(self, seconds: float) -> None:
        """Wait like a slow server, but give up when the fake is shut down."""
        self._stop.wait(seconds)


def _json(status: int, body: dict) -> tuple[int, dict[str, str], bytes, float]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode(), 0.0


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGemini
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, out, data, delay = self.fake.handle(self.command, self.path, headers, body)
        if delay:
            self.fake.sleep(delay)
        try:
            self.send_response(status)
            for name, value in out.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args) -> None:  # keep test output clean
        pass
