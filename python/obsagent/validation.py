"""``prometheus_client.validation``: which metric and label names are accepted.

As in prometheus_client 0.26, any UTF-8 name is accepted unless legacy validation is on
(``enable_legacy_validation()``, or ``PROMETHEUS_LEGACY_NAME_VALIDATION`` set to ``true``, ``1``
or ``t`` at import); then names must be in the classic charset (``[a-zA-Z_:][a-zA-Z0-9_:]*``,
label names without ``:``). The setting is the process' and the core's alike: the metric
constructors check names in the core.
"""

from __future__ import annotations

import os
import re
from typing import Any

from . import _native

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
METRIC_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_METRIC_LABEL_NAME_RE = re.compile(r"^__.*$")


def _init_legacy_validation() -> bool:
    """The setting the environment asks for."""
    return os.environ.get("PROMETHEUS_LEGACY_NAME_VALIDATION", "False").lower() in ("true", "1", "t")


_legacy_validation = _init_legacy_validation()
_native.set_legacy_validation(_legacy_validation)


def get_legacy_validation() -> bool:
    """Whether names must be in the classic charset."""
    return _legacy_validation


def disable_legacy_validation() -> None:
    """Accept any UTF-8 metric and label name (the default)."""
    global _legacy_validation
    _legacy_validation = False
    _native.set_legacy_validation(False)


def enable_legacy_validation() -> None:
    """Accept only names in the classic charset."""
    global _legacy_validation
    _legacy_validation = True
    _native.set_legacy_validation(True)


def _validate_metric_name(name: str) -> None:
    """``ValueError`` unless ``name`` is a metric name under the scheme in force."""
    if not name:
        raise ValueError("metric name cannot be empty")
    if _legacy_validation and not METRIC_NAME_RE.match(name):
        raise ValueError("invalid metric name " + name)


def _is_valid_legacy_metric_name(name: str) -> bool:
    """Whether ``name`` is a classic metric name."""
    return bool(name) and METRIC_NAME_RE.match(name) is not None


def _validate_metric_label_name_token(tok: str) -> None:
    """``ValueError`` unless ``tok`` (a label name as parsed, maybe quoted) is valid: a UTF-8
    name must be quoted."""
    if not tok:
        raise ValueError("invalid label name token " + tok)
    quoted = tok[0] == '"' and tok[-1] == '"'
    if (not quoted or _legacy_validation) and not METRIC_LABEL_NAME_RE.match(tok):
        raise ValueError("invalid label name token " + tok)


def _validate_labelname(label: str) -> None:
    """``ValueError`` unless ``label`` is a label name under the scheme in force."""
    if _legacy_validation and not METRIC_LABEL_NAME_RE.match(label):
        raise ValueError("Invalid label metric name: " + label)
    if RESERVED_METRIC_LABEL_NAME_RE.match(label):
        raise ValueError("Reserved label metric name: " + label)


def _is_valid_legacy_labelname(label: str) -> bool:
    """Whether ``label`` is a classic, unreserved label name."""
    return bool(label) and METRIC_LABEL_NAME_RE.match(label) is not None and not label.startswith("__")


def _validate_labelnames(cls: Any, labelnames: Any) -> tuple[str, ...]:
    """``labelnames`` as a tuple; ``ValueError`` for an invalid one or one ``cls`` reserves."""
    labelnames = tuple(labelnames)
    for label in labelnames:
        _validate_labelname(label)
        if label in getattr(cls, "_reserved_labelnames", ()):
            raise ValueError("Reserved label metric name: " + label)
    return labelnames


def _validate_exemplar(exemplar: dict[str, str]) -> None:
    """``ValueError`` for an exemplar label name that is invalid, or labels over 128 characters."""
    runes = 0
    for key, value in exemplar.items():
        _validate_labelname(key)
        runes += len(key) + len(value)
    if runes > 128:
        raise ValueError(f"Exemplar labels have {runes} UTF-8 characters, exceeding the limit of 128")
