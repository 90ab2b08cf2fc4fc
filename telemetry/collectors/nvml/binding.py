"""Talking to the NVML binding: which errors mean "not reported here", text, optional calls, versions.

Every function takes the binding as its first argument (normally the ``pynvml`` module itself).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# NVML return codes that mean "this board/driver does not report that": the field is absent.
MISSING_ERROR_NAMES = (
    "NVML_ERROR_NOT_SUPPORTED",
    "NVML_ERROR_FUNCTION_NOT_FOUND",
    "NVML_ERROR_NO_PERMISSION",
    "NVML_ERROR_NO_DATA",
    "NVML_ERROR_NOT_FOUND",
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
    "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED",
    "NVML_ERROR_DEPRECATED",
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _error_code(nvml, name: str) -> int | None:
    return getattr(nvml, name, None)


def is_missing_error(nvml, exc: BaseException) -> bool:
    """True when ``exc`` is an NVML error meaning "not reported by this board/driver"."""
    if not isinstance(exc, nvml.NVMLError):
        return False
    codes = {_error_code(nvml, n) for n in MISSING_ERROR_NAMES}
    return getattr(exc, "value", None) in codes


def call_optional(nvml, fn: Callable, *args, default=None):
    try:
        return fn(*args)
    except nvml.NVMLError as exc:
        if not is_missing_error(nvml, exc):
            raise
        return default


def binding_version(nvml) -> str | None:
    try:
        from importlib.metadata import version

        if getattr(nvml, "__name__", "") == "pynvml":
            return version("nvidia-ml-py")
    except Exception:  # noqa: BLE001 - the version is informative only
        pass
    return None
