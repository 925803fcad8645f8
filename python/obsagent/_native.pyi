"""Stubs for obsagent's native core (Rust, PyO3). Users import from `obsagent`, not from here."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, final

from typing_extensions import disjoint_base

__version__: str

# (name, labels, value, timestamp): one sample.
_SampleTuple = tuple[str, dict[str, str], float, float | None]
# (name, documentation, type, unit, samples): one metric family, as collect() yields it.
_FamilyTuple = tuple[str, str, str, str, list[_SampleTuple]]

@disjoint_base
class _Metric:
    """What every native metric shares: identity, labels and a snapshot of its samples."""

    @property
    def _name(self) -> str: ...
    @property
    def _documentation(self) -> str: ...
    @property
    def _type(self) -> str: ...
    @property
    def _unit(self) -> str: ...
    @property
    def _labelnames(self) -> tuple[str, ...]: ...
    @property
    def _labelvalues(self) -> tuple[str, ...]: ...
    def remove(self, *labelvalues: object) -> None: ...
    def clear(self) -> None: ...
    def _samples(self, created: bool = False) -> _FamilyTuple: ...
    def _registration_names(self) -> list[str]: ...

class Counter(_Metric):
    def __new__(
        cls,
        name: str,
        documentation: str,
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[str] | None = None,
    ) -> Counter: ...
    def labels(self, *labelvalues: object, **labelkwargs: object) -> Counter: ...
    def inc(self, amount: float = 1.0) -> None: ...
    def count_exceptions(
        self, exception: type[BaseException] | tuple[type[BaseException], ...] | None = None
    ) -> Any: ...
    def reset(self) -> None: ...

class Gauge(_Metric):
    def __new__(
        cls,
        name: str,
        documentation: str,
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[str] | None = None,
        multiprocess_mode: str = "all",
    ) -> Gauge: ...
    def labels(self, *labelvalues: object, **labelkwargs: object) -> Gauge: ...
    def inc(self, amount: float = 1.0) -> None: ...
    def dec(self, amount: float = 1.0) -> None: ...
    def set(self, value: float) -> None: ...
    def set_to_current_time(self) -> None: ...
    def set_function(self, f: Callable[[], float]) -> None: ...
    def track_inprogress(self) -> Any: ...
    def time(self) -> Any: ...

class Histogram(_Metric):
    DEFAULT_BUCKETS: list[float]
    def __new__(
        cls,
        name: str,
        documentation: str,
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[str] | None = None,
        buckets: Sequence[float] | None = None,
    ) -> Histogram: ...
    def labels(self, *labelvalues: object, **labelkwargs: object) -> Histogram: ...
    def observe(self, amount: float) -> None: ...
    def observe_many(self, values: object) -> None: ...
    def time(self) -> Any: ...
    @property
    def _upper_bounds(self) -> list[float]: ...

class Summary(_Metric):
    def __new__(
        cls,
        name: str,
        documentation: str,
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[str] | None = None,
    ) -> Summary: ...
    def labels(self, *labelvalues: object, **labelkwargs: object) -> Summary: ...
    def observe(self, amount: float) -> None: ...
    def time(self) -> Any: ...

class Info(_Metric):
    def __new__(
        cls,
        name: str,
        documentation: str,
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[str] | None = None,
    ) -> Info: ...
    def labels(self, *labelvalues: object, **labelkwargs: object) -> Info: ...
    def info(self, val: dict[str, str]) -> None: ...

class Enum(_Metric):
    def __new__(
        cls,
        name: str,
        documentation: str,
        labelnames: Iterable[str] | None = None,
        namespace: str = "",
        subsystem: str = "",
        unit: str = "",
        registry: object = None,
        _labelvalues: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
    ) -> Enum: ...
    def labels(self, *labelvalues: object, **labelkwargs: object) -> Enum: ...
    def state(self, state: str) -> None: ...

@final
class Collector:
    """A collector implemented in the core."""

    @staticmethod
    def process(procfs: str = "/proc", pid: int | None = None) -> Collector: ...
    @staticmethod
    def node(
        collectors: list[str],
        procfs: str = "/proc",
        sysfs: str = "/sys",
        rootfs: str = "/",
        textfile_directory: str | None = None,
        filesystem_mount_points_exclude: str | None = None,
        filesystem_fs_types_exclude: str | None = None,
        netdev_device_exclude: str | None = None,
        diskstats_device_exclude: str | None = None,
        gpu_nvml_library: str | None = None,
        gpu_interval: float | None = None,
        gpu_pcie: bool = False,
    ) -> Collector: ...
    @staticmethod
    def constant(metrics: Iterable[Any]) -> Collector: ...
    @staticmethod
    def gc() -> Collector: ...
    @staticmethod
    def series_dropped() -> Collector: ...
    @staticmethod
    def remote_write() -> Collector: ...
    def collect(self) -> list[_FamilyTuple]: ...

def node_collectors() -> list[tuple[str, bool]]: ...
def set_series_limit(limit: int) -> None: ...
def set_label_value_limit(limit: int) -> None: ...
def gpu_sample(nvml_library: str | None = None, interval: float = 1.0) -> dict[str, Any]: ...

@final
class Registry:
    """The native half of a CollectorRegistry: ordered collectors, duplicate checks, encoding."""

    def __new__(cls) -> Registry: ...
    def register(self, collector: object, names: list[str] | None = None) -> None: ...
    def unregister(self, collector: object) -> None: ...
    def collect(self, created: bool = False) -> list[_FamilyTuple]: ...
    def encode(self, openmetrics: bool = False, created: bool = False) -> bytes: ...

@final
class Server:
    """A running HTTP server (hyper on one background thread)."""

    @property
    def port(self) -> int: ...
    @property
    def address(self) -> str: ...
    def stop(self) -> None: ...

def start_http_server(
    registry: Registry,
    host: str,
    port: int,
    created: bool = False,
    max_requests: int = 40,
    header_read_timeout: float = 10.0,
    web_config_file: str | None = None,
) -> Server: ...
def choose_format(accept: str | None = None) -> tuple[bool, str]: ...
def accepts_gzip(accept_encoding: str | None = None) -> bool: ...
def gzip(data: bytes) -> bytes: ...
def pushgateway_url(gateway: str, job: str, grouping_key: list[tuple[str, str]]) -> str: ...
def pushgateway_body(data: bytes, compression: str | None = None) -> tuple[bytes, list[tuple[str, str]]]: ...
def pushgateway_request(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
) -> None: ...

@final
class RemoteWriteEncoder:
    """Remote write request bodies for scrapes of a registry, as a writer makes them."""

    def __new__(cls, registry: Registry, external_labels: list[tuple[str, str]] = ...) -> RemoteWriteEncoder: ...
    def encode(self, timestamp_ms: int) -> bytes: ...

@final
class RemoteWriter:
    """A remote write sender (scraper and sender threads of its own)."""

    def __new__(
        cls,
        registry: Registry,
        url: str,
        interval: float = 15.0,
        external_labels: list[tuple[str, str]] = ...,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        max_buffer_samples: int = 100000,
        max_samples_per_send: int = 2000,
        timeout: float = 30.0,
        min_backoff: float = 0.03,
        max_backoff: float = 5.0,
        created: bool = False,
    ) -> RemoteWriter: ...
    @property
    def url(self) -> str: ...
    @property
    def queued(self) -> int: ...
    def flush(self, timeout: float = 30.0) -> bool: ...
    def stop(self, timeout: float = 5.0) -> None: ...

def validate_metric_name(name: str) -> None: ...
def validate_label_name(name: str) -> None: ...
def _freeze_time(seconds: float | None) -> None: ...
