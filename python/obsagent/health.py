"""Health checks: a registry of named checks (sync or async callables, each with a timeout, an
optional cache and a critical flag), served as ``/health`` (the JSON uptime monitors read),
``/livez`` and ``/readyz`` (the probes Kubernetes reads) by an ASGI app, a WSGI app or a server
of their own, and recorded as metrics.

Checks run concurrently. Sync ones run on threads of this module's own (never on an event loop),
async ones on the loop; a check that takes longer than its timeout is reported as timed out at
once. A sync check still hanging is not started again until it returns: the next probe waits on
the same run, so a hung database holds one thread per check, not one per probe."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import inspect
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from ._http_metrics import UNMEASURED
from .metrics import Gauge
from .registry import REGISTRY, CollectorRegistry

CheckFunction = Callable[[], Any]


class CheckFailed(Exception):
    """What a check raises to fail with a message of its own (any exception fails a check)."""


@dataclass(frozen=True)
class Result:
    """One run of one check: `error` is None when it passed."""

    name: str
    critical: bool
    error: str | None
    seconds: float
    finished: float  # time.time() when it ended

    @property
    def ok(self) -> bool:
        return self.error is None


class Check:
    """A named check and what it last did."""

    def __init__(self, name: str, function: CheckFunction, timeout: float, cache_seconds: float, critical: bool):
        if timeout <= 0:
            raise ValueError(f"check {name!r}: timeout must be positive, not {timeout}")
        self.name, self.function, self.timeout = name, function, timeout
        self.cache_seconds, self.critical = cache_seconds, critical
        self.is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004 (an object whose __call__ is async)
        )
        self.last: Result | None = None
        self.ran_seconds = 0.0  # how long the last sync run took, passed or failed
        self.running: concurrent.futures.Future[float] | None = None  # a sync run on its thread
        self.lock = threading.Lock()

    def cached(self) -> Result | None:
        last = self.last
        if last is not None and self.cache_seconds > 0 and time.time() - last.finished < self.cache_seconds:
            return last
        return None

    def call_sync(self) -> None:
        """Runs the check on this thread (async ones on a loop of their own); raises if it fails."""
        if self.is_async:
            asyncio.run(asyncio.wait_for(self.function(), self.timeout))
        else:
            outcome = self.function()
            if inspect.isawaitable(outcome):  # a sync function handing back a coroutine
                getattr(outcome, "close", lambda: None)()
                raise CheckFailed("returned an awaitable: add an async function (async def) instead")
            if outcome is False:
                raise CheckFailed("returned False")

    def timed_call(self) -> float:
        """`call_sync`, returning the seconds it took."""
        began = time.perf_counter()
        try:
            self.call_sync()
        finally:
            self.ran_seconds = time.perf_counter() - began
        return self.ran_seconds

    def thread_run(self, pool: concurrent.futures.ThreadPoolExecutor) -> concurrent.futures.Future[float]:
        """The sync run in flight, or a new one."""
        with self.lock:
            if self.running is None or self.running.done():
                self.running = pool.submit(self.timed_call)
            return self.running


def describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)):
        return f"timed out after {timeout:g} s"
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


class HealthChecks:
    """The checks of one service, their metrics, and the apps serving them.

    ``health_check_status{check}`` (1 passing, 0 failing), ``health_check_duration_seconds{check}``
    (the last run) and ``health_check_last_success_timestamp_seconds{check}`` go to `registry`
    (None: no metrics). `version` is the service's, shown in ``/health``."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY, version: str | None = None) -> None:
        self.version = version
        self.checks: dict[str, Check] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="obsagent-health")
        self._status = Gauge(
            "health_check_status", "1 if the check passed its last run, else 0.", ["check"], registry=registry
        )
        self._duration = Gauge(
            "health_check_duration_seconds", "How long the check's last run took.", ["check"], registry=registry
        )
        self._last_success = Gauge(
            "health_check_last_success_timestamp_seconds",
            "When the check last passed, seconds since the epoch.",
            ["check"],
            registry=registry,
        )
        self.started = time.time()

    def add(
        self,
        name: str,
        function: CheckFunction,
        *,
        timeout: float = 2.0,
        cache_seconds: float = 0.0,
        critical: bool = True,
    ) -> CheckFunction:
        """Adds a check: `function()` (sync or async) passes unless it raises or returns False.
        Its result is kept for `cache_seconds`; a failing check that is not `critical` shows in
        the body without making the service unhealthy or unready."""
        if not name or "/" in name:
            raise ValueError(f"a check's name is a non-empty path segment, not {name!r}")
        if name in self.checks:
            raise ValueError(f"a check named {name!r} is already registered")
        # Its series appear at its first run: a 0 before any probe ran would read as failing.
        self.checks[name] = Check(name, function, timeout, cache_seconds, critical)
        return function

    def check(self, name: str, **settings: Any) -> Callable[[CheckFunction], CheckFunction]:
        """``add`` as a decorator: ``@checks.check("database", timeout=1)``."""
        return lambda function: self.add(name, function, **settings)

    def _selected(self, names: Iterable[str] | None) -> list[Check]:
        if names is None:
            return list(self.checks.values())
        return [self.checks[name] for name in names]

    def _record(self, check: Check, error: str | None, seconds: float) -> Result:
        finished = time.time()
        result = Result(check.name, check.critical, error, seconds, finished)
        check.last = result
        self._status.labels(check.name).set(1 if error is None else 0)
        self._duration.labels(check.name).set(result.seconds)
        last_success = self._last_success.labels(check.name)  # 0 until it first passes
        if error is None:
            last_success.set(finished)
        return result

    async def run_async(self, names: Iterable[str] | None = None) -> list[Result]:
        """Runs the checks (all, or those named) concurrently without blocking the event loop."""
        return list(await asyncio.gather(*(self._run_one_async(check) for check in self._selected(names))))

    async def _run_one_async(self, check: Check) -> Result:
        cached = check.cached()
        if cached is not None:
            return cached
        began = time.perf_counter()
        try:
            if check.is_async:
                outcome = await asyncio.wait_for(check.function(), check.timeout)
                if outcome is False:
                    raise CheckFailed("returned False")
            else:
                running = asyncio.wrap_future(check.thread_run(self._pool))
                await asyncio.wait_for(asyncio.shield(running), check.timeout)
        except Exception as error:
            return self._record(check, describe(error, check.timeout), time.perf_counter() - began)
        return self._record(check, None, time.perf_counter() - began)

    def run(self, names: Iterable[str] | None = None) -> list[Result]:
        """Runs the checks (all, or those named) concurrently on threads; returns within the
        longest timeout."""
        checks = self._selected(names)
        began = time.perf_counter()
        pending = {}
        results: dict[str, Result] = {}
        for check in checks:
            cached = check.cached()
            if cached is not None:
                results[check.name] = cached
            else:
                pending[check.name] = (check, check.thread_run(self._pool))
        for name, (check, future) in pending.items():
            left = check.timeout - (time.perf_counter() - began)
            try:
                seconds = future.result(timeout=max(left, 0))
            except BaseException as error:  # noqa: BLE001 (any failure of the check is its result)
                seconds = check.ran_seconds if future.done() else check.timeout
                results[name] = self._record(check, describe(error, check.timeout), seconds)
            else:
                results[name] = self._record(check, None, seconds)
        return [results[check.name] for check in checks]

    # What the endpoints answer, from results: (status, content type, body).

    def health_body(self, results: list[Result]) -> tuple[int, str, bytes]:
        healthy = all(result.ok for result in results if result.critical)
        body: dict[str, Any] = {
            "status": "healthy" if healthy else "unhealthy",
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "version": self.version,
            "uptime_seconds": round(time.time() - self.started, 3),
            "services": {result.name: "connected" if result.ok else "error" for result in results},
        }
        errors = [f"{result.name}: {result.error}" for result in results if not result.ok]
        if errors:
            body["error"] = "; ".join(errors)
            body["errors"] = {result.name: result.error for result in results if not result.ok}
        return (200 if healthy else 503), "application/json", json.dumps(body).encode() + b"\n"

    @staticmethod
    def probe_body(kind: str, results: list[Result], verbose: bool) -> tuple[int, str, bytes]:
        """``/readyz``'s and ``/livez``'s plain text, as Kubernetes components answer: ``ok``, or
        a line per check (``[+]name ok`` / ``[-]name failed: why``) when verbose or failing."""
        passed = all(result.ok for result in results if result.critical)
        if passed and not verbose:
            return 200, "text/plain; charset=utf-8", b"ok\n"
        lines = [
            f"[+]{result.name} ok"
            if result.ok
            else f"[-]{result.name} failed: {result.error}" + ("" if result.critical else " (not critical)")
            for result in results
        ]
        lines.append(f"{kind} check passed" if passed else f"{kind} check failed")
        return (200 if passed else 503), "text/plain; charset=utf-8", ("\n".join(lines) + "\n").encode()

    def _route(self, path: str, query: str, paths: _Paths) -> tuple[tuple[str, ...] | None, Callable[..., Any]] | None:
        """What a path asks for: the checks to run (None: all) and how to answer them; None for
        a path not served."""
        verbose = "verbose" in parse_qs(query, keep_blank_values=True)
        path = path.rstrip("/") or "/"
        if path == paths.health:
            return None, lambda results: self.health_body(results)
        if path == paths.livez:
            return (), lambda results: self.probe_body("livez", [], verbose)
        if path == paths.readyz:
            return None, lambda results: self.probe_body("readyz", results, verbose)
        if path.startswith(paths.readyz + "/"):
            name = path[len(paths.readyz) + 1 :]
            if name in self.checks:
                return (name,), lambda results: self.probe_body("readyz", results, True)
        return None

    def asgi_app(self, health: str = "/health", livez: str = "/livez", readyz: str = "/readyz") -> Any:
        """An ASGI app answering the three paths (relative to where it is mounted, or in full
        when it is the whole app); anything else is 404. Never measured by obsagent's middleware."""
        paths = _Paths(health, livez, readyz)

        async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[..., Any]) -> None:
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
                return
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):  # Starlette >= 0.33 keeps the mount's prefix in path
                path = path[len(root) :] or "/"
            route = self._route(path, scope.get("query_string", b"").decode("latin-1"), paths)
            if route is None:
                status, content_type, body = 404, "text/plain; charset=utf-8", b"Not Found\n"
            else:
                names, answer = route
                results = await self.run_async(names)
                status, content_type, body = answer(results)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", content_type.encode()), (b"cache-control", b"no-store")],
                }
            )
            await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

        setattr(app, UNMEASURED, True)
        return app

    def wsgi_app(self, health: str = "/health", livez: str = "/livez", readyz: str = "/readyz") -> Any:
        """A WSGI app answering the three paths (relative to where it is mounted); else 404."""
        paths = _Paths(health, livez, readyz)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            route = self._route(environ.get("PATH_INFO", "") or "/", environ.get("QUERY_STRING", ""), paths)
            if route is None:
                status, content_type, body = 404, "text/plain; charset=utf-8", b"Not Found\n"
            else:
                names, answer = route
                results = self.run(names)
                status, content_type, body = answer(results)
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            start_response(f"{status} {reason}", [("Content-Type", content_type), ("Cache-Control", "no-store")])
            return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

        setattr(app, UNMEASURED, True)
        return app

    def start_http_server(
        self, port: int, addr: str = "0.0.0.0", registry: CollectorRegistry | None = REGISTRY, **paths: str
    ) -> HealthServer:
        """A threaded HTTP server of its own answering ``/health``, ``/livez``, ``/readyz`` and
        (with a `registry`) ``/metrics``; ``stop()`` ends it."""
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        from .wsgi import make_wsgi_app

        health = self.wsgi_app(**paths)
        metrics = make_wsgi_app(registry) if registry is not None else None

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if metrics is not None and environ.get("PATH_INFO", "").rstrip("/") == "/metrics":
                return metrics(environ, start_response)
            return health(environ, start_response)

        class Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = make_server(addr, port, app, Server, QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="obsagent-health-server", daemon=True)
        thread.start()
        return HealthServer(server, thread)


@dataclass(frozen=True)
class _Paths:
    health: str
    livez: str
    readyz: str

    def __post_init__(self) -> None:
        for path in (self.health, self.livez, self.readyz):
            if not path.startswith("/"):
                raise ValueError(f"health paths start with '/', not {path!r}")
        object.__setattr__(self, "health", self.health.rstrip("/") or "/")
        object.__setattr__(self, "livez", self.livez.rstrip("/") or "/")
        object.__setattr__(self, "readyz", self.readyz.rstrip("/") or "/")


class HealthServer:
    """What ``HealthChecks.start_http_server`` started."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        self.port = server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# Ready-made checks: each returns a function for ``HealthChecks.add``.


def sqlalchemy_check(engine: Any, statement: str = "SELECT 1") -> CheckFunction:
    """Runs `statement` on a connection of `engine`, a SQLAlchemy ``Engine`` or ``AsyncEngine``."""
    from sqlalchemy import text

    query = text(statement)
    if hasattr(engine, "sync_engine"):  # AsyncEngine

        async def check_async_engine() -> None:
            async with engine.connect() as connection:
                await connection.execute(query)

        return check_async_engine

    def check_engine() -> None:
        with engine.connect() as connection:
            connection.execute(query)

    return check_engine


def redis_check(client: Any) -> CheckFunction:
    """``PING`` with a redis-py client, ``redis.Redis`` or ``redis.asyncio.Redis`` (whose
    ``ping`` is a plain function returning a coroutine)."""
    try:
        import redis.asyncio

        asynchronous = isinstance(client, (redis.asyncio.Redis, redis.asyncio.RedisCluster))
    except ImportError:
        asynchronous = False
    if asynchronous or inspect.iscoroutinefunction(client.ping):

        async def check_async_redis() -> None:
            if not await client.ping():
                raise CheckFailed("PING got no PONG")

        return check_async_redis

    def check_redis() -> None:
        if not client.ping():
            raise CheckFailed("PING got no PONG")

    return check_redis


def http_check(url: str, timeout: float = 2.0, expect_status: Iterable[int] = range(200, 400)) -> CheckFunction:
    """A GET of `url` answering one of `expect_status`."""
    expected = frozenset(expect_status)

    def check_http() -> None:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        if status not in expected:
            raise CheckFailed(f"{url} answered {status}")

    return check_http


def tcp_check(host: str, port: int, timeout: float = 2.0) -> CheckFunction:
    """A TCP connection to `host`:`port` opens."""

    def check_tcp() -> None:
        socket.create_connection((host, port), timeout=timeout).close()

    return check_tcp


def disk_check(path: str = "/", min_free_bytes: int = 0, min_free_ratio: float = 0.0) -> CheckFunction:
    """The filesystem holding `path` has at least `min_free_bytes` and `min_free_ratio` free."""

    def check_disk() -> None:
        usage = shutil.disk_usage(os.fspath(path))
        if usage.free < min_free_bytes or (usage.total and usage.free / usage.total < min_free_ratio):
            raise CheckFailed(f"{path}: {usage.free} bytes free of {usage.total}")

    return check_disk


__all__ = [
    "Check",
    "CheckFailed",
    "HealthChecks",
    "HealthServer",
    "Result",
    "disk_check",
    "http_check",
    "redis_check",
    "sqlalchemy_check",
    "tcp_check",
]
