"""Keep secrets out of lineage: settings pass through `scrub_settings` before they are stored.

What is dropped (the key and its value, at any depth of nested mappings and lists): keys whose
words (split on `_`, `-`, `.`, spaces and camelCase) include `password`, `passwd`, `passphrase`,
`secret`, `token`, `credential(s)`, `apikey`, `authorization` or `cookie`, or whose last word is
`key` (`api_key`, `GEMINI_API_KEY`, `accessKey`, `private_key`). `max_tokens` and `keyframes`
are kept: `tokens` and `keyframes` are other words.

What is masked inside kept strings (and in error texts): the password of a URL
(`postgresql://user:***@host/db`) and Google API keys (`AIza...`).

Values are made JSON-safe on the way: tuples and sets become lists, paths and fractions become
strings (`"24000/1001"`), numpy scalars become numbers, non-finite floats become strings.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

SECRET_WORDS = frozenset({
    "password", "passwd", "passphrase", "secret", "secrets", "token", "credential",
    "credentials", "apikey", "authorization", "cookie",
})
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*):[^/\s@]*@")
_GOOGLE_API_KEY = re.compile(r"AIza[0-9A-Za-z_\-]{35,}")
MASK = "***"


def is_secret_key(key: str) -> bool:
    """Whether a settings key names a secret (see the module docstring for the rule)."""
    words = [word.lower() for word in _WORDS.findall(key)]
    return bool(words) and (words[-1] == "key" or any(word in SECRET_WORDS for word in words))


def mask_secrets_in_text(text: str) -> str:
    """`text` with URL passwords and API-key-shaped tokens replaced by `***`."""
    text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    return _GOOGLE_API_KEY.sub(MASK, text)


def scrub_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of `settings` without secrets; `None` gives `{}`."""
    if not settings:
        return {}
    if not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a mapping, got {type(settings).__name__}")
    return _scrub_mapping(settings)


def _scrub_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        str(key): _scrub_value(value)
        for key, value in mapping.items()
        if not is_secret_key(str(key))
    }


def _scrub_value(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return mask_secrets_in_text(value)
    if isinstance(value, enum.Enum):
        return _scrub_value(value.value)
    if isinstance(value, Mapping):
        return _scrub_mapping(value)
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_scrub_value(item) for item in value), key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _scrub_mapping(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):  # pydantic models
        return _scrub_mapping(value.model_dump(mode="json"))
    return _scrub_number(value)


def _scrub_number(value: Any) -> Any:
    if isinstance(value, Fraction):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    return mask_secrets_in_text(str(value))
