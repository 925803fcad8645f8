"""NVIDIA GPU readings from NVML, sampled by the core on a thread of its own.

``sample()`` returns the latest sweep as a dict; it does no NVML call itself (no ctypes in
the caller's path). The daemon's ``gpu`` collector serves the same readings as
``nvidia_gpu_*`` metrics."""

from __future__ import annotations

from typing import Any

from . import _native


def sample(nvml_library: str | None = None, interval: float = 1.0) -> dict[str, Any]:
    """The latest GPU sample of this process.

    If nothing in this process samples the GPUs yet, sampling starts with ``nvml_library``
    (default ``libnvidia-ml.so.1``) every ``interval`` seconds; the first sweep is made before
    the first call returns. Keys: ``taken`` (Unix time), ``age_seconds``, ``sweep_seconds``,
    ``sweeps`` (made so far),
    ``driver_version``, ``cuda_version``, ``count`` (GPUs), ``error`` (why there is no data,
    or None) and ``devices``: one dict per GPU and MIG device with ``gpu``, ``uuid``, ``name``,
    ``gpu_instance``, ``compute_instance``, ``lost``, each reading the device reports
    (``utilization_percent``, ``memory_used_bytes``, ``power_watts``, ... as the metric
    names without ``nvidia_gpu_``; a reading the device doesn't support is absent),
    ``ecc_errors_total``, ``clock_throttle_reasons``, ``clock_throttle_seconds_total`` (by
    reason), ``nvlinks`` (``link``, ``active``, ``transmit_bytes_total``,
    ``receive_bytes_total``, ``errors_total`` by type), ``xid_errors_total`` (by XID; None when
    the GPU delivers no XID events), ``xid_last`` (``(xid, unix time)`` or None),
    ``pci_bus_id``, ``vbios_version``, ``serial``, ``compute_capability`` (None when unknown)
    and ``processes``."""
    return _native.gpu_sample(nvml_library, interval)
