"""obsagent.sqlalchemy on a real PostgreSQL, with a sync (psycopg) and an async (asyncpg) engine:
pool gauges while connections are held, checkouts waiting on a full pool, queries timed by
operation and errors counted by type, exactly."""

from __future__ import annotations

import asyncio
import threading
import time

import db_servers
import pytest

import obsagent

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from obsagent.sqlalchemy import instrument, operation  # noqa: E402


@pytest.fixture(scope="module")
def postgres_url():
    server = db_servers.postgres()
    try:
        server.start()
        yield f"postgres@127.0.0.1:{server.port}/postgres"
    finally:
        db_servers.remove(server)


def value(registry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_operation_names():
    assert operation("select 1") == "SELECT"
    assert operation("  (SELECT 1) UNION (SELECT 2)") == "SELECT"
    assert operation("\n insert into t values (1)") == "INSERT"
    assert operation("frobnicate") == "OTHER" and operation("") == "OTHER"


def test_sync_engine_pool_waiting_queries_and_errors(postgres_url, registry):
    engine = instrument(
        sqlalchemy.create_engine(f"postgresql+psycopg://{postgres_url}", pool_size=2, max_overflow=1, pool_timeout=10),
        registry=registry,
    )
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS things (id int)"))
            connection.execute(text("DELETE FROM things"))
            for n in range(5):
                connection.execute(text("INSERT INTO things VALUES (:n)"), {"n": n})
            assert connection.execute(text("SELECT count(*) FROM things")).scalar() == 5
            with pytest.raises(sqlalchemy.exc.ProgrammingError):
                connection.execute(text("SELECT * FROM no_such_table"))
        assert value(registry, "database_query_duration_seconds_count", operation="INSERT") == 5
        assert value(registry, "database_query_duration_seconds_count", operation="DELETE") == 1
        assert value(registry, "database_query_duration_seconds_count", operation="SELECT") >= 1
        assert value(registry, "database_query_errors_total", operation="SELECT", error_type="UndefinedTable") == 1
        assert value(registry, "database_connections_max") == 3
        assert value(registry, "database_pool_size") == 2

        # Hold all three connections (two pooled, one overflow); a fourth checkout waits.
        held = [engine.connect() for _ in range(3)]
        assert value(registry, "database_connections_active") == 3
        assert value(registry, "database_connections_overflow") == 1
        got = threading.Event()

        def fourth():
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                got.set()

        waiter = threading.Thread(target=fourth)
        waiter.start()
        deadline = time.monotonic() + 5
        while value(registry, "database_connections_waiting") != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert value(registry, "database_connections_waiting") == 1
        time.sleep(0.3)
        assert not got.is_set()
        held.pop().close()
        waiter.join(timeout=10)
        assert got.is_set() and value(registry, "database_connections_waiting") == 0
        for connection in held:
            connection.close()
        assert value(registry, "database_connections_active") == 0
        assert value(registry, "database_connections_idle") == 2
        waits = value(registry, "database_connection_wait_seconds_count")
        assert waits >= 5
        # The one that waited took at least the 0.3 s it was held off.
        assert value(registry, "database_connection_wait_seconds_bucket", le="0.1") == waits - 1
        engine.dispose()  # a new pool: still counted
        with engine.connect() as connection:
            assert value(registry, "database_connections_active") == 1
    finally:
        engine.dispose()


def test_async_engine_and_a_second_named_engine_refused_without_name(postgres_url, registry):
    engine = create_async_engine(f"postgresql+asyncpg://{postgres_url}", pool_size=3)
    instrument(engine, registry=registry)
    other = sqlalchemy.create_engine(f"postgresql+psycopg://{postgres_url}")
    with pytest.raises(ValueError, match="name="):
        instrument(other, registry=registry)
    with pytest.raises(ValueError, match="already instrumented"):
        instrument(engine, registry=registry)

    async def work():
        async def one(n: int) -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(0.05)"))

        await asyncio.gather(*(one(n) for n in range(6)))
        active = value(registry, "database_connections_active")
        try:
            async with engine.begin() as connection:
                await connection.execute(text("UPDATE no_such_table SET x = 1"))
        except sqlalchemy.exc.ProgrammingError:
            pass
        await engine.dispose()
        return active

    assert asyncio.run(work()) == 0
    assert value(registry, "database_query_duration_seconds_count", operation="SELECT") == 6
    assert value(registry, "database_query_duration_seconds_sum", operation="SELECT") >= 6 * 0.05
    assert value(registry, "database_query_errors_total", operation="UPDATE", error_type="UndefinedTableError") == 1
    assert value(registry, "database_connections_max") == 3 + 10  # pool_size + the default max_overflow
    assert value(registry, "database_connection_wait_seconds_count") >= 6


def test_named_engines_and_prefix(postgres_url, registry):
    first = instrument(sqlalchemy.create_engine(f"postgresql+psycopg://{postgres_url}"), name="main", registry=registry)
    second = instrument(
        sqlalchemy.create_engine(f"postgresql+psycopg://{postgres_url}"), name="replica", registry=registry
    )
    custom = instrument(
        sqlalchemy.create_engine(f"postgresql+psycopg://{postgres_url}"), registry=registry, prefix="db"
    )
    try:
        for engine in (first, second, second, custom):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        assert value(registry, "database_query_duration_seconds_count", engine="main", operation="SELECT") == 1
        assert value(registry, "database_query_duration_seconds_count", engine="replica", operation="SELECT") == 2
        assert value(registry, "db_query_duration_seconds_count", operation="SELECT") == 1
        assert value(registry, "database_pool_size", engine="replica") == 5
        text_form = obsagent.generate_latest(registry).decode()
        assert 'database_connections_active{engine="main"} 0.0' in text_form
    finally:
        for engine in (first, second, custom):
            engine.dispose()
