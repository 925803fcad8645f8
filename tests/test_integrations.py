"""The framework integrations (``obsagent.django``, ``obsagent.aiohttp``) beside prometheus_client's
own, in the real frameworks, on the same requests: the same status, Content-Type, Allow and
Content-Encoding, and bodies holding the same series. prometheus_client's suite
(``make test-client-suite``) runs these and ``obsagent.twisted`` too; this adds what it does not
ask: OPTIONS, OpenMetrics and gzip negotiation, ``name[]`` through Django, aiohttp's own
compression."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import django
import prometheus_client
import prometheus_client.aiohttp
import prometheus_client.django
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from django.conf import settings

import obsagent
import obsagent.aiohttp
import obsagent.django
from obsagent.parser import text_string_to_metric_families

if not settings.configured:
    settings.configure(DATABASES={}, INSTALLED_APPS=[], ALLOWED_HOSTS=["*"])
    django.setup()

from django.test import RequestFactory  # noqa: E402 (needs the settings above)


def registries() -> tuple[object, object]:
    """The same counter and gauge in an obsagent registry and a prometheus_client one."""
    ours, theirs = obsagent.CollectorRegistry(), prometheus_client.CollectorRegistry()
    for library, registry in ((obsagent, ours), (prometheus_client, theirs)):
        library.Counter("jobs", "Jobs done.", ["queue"], registry=registry).labels("a").inc(3)
        library.Gauge("depth", "Queue depth.", registry=registry).set(7)
    return ours, theirs


def decoded(body: bytes, encoding: str | None) -> bytes:
    return {"gzip": gzip.decompress, "deflate": zlib.decompress}.get(encoding or "", bytes)(body)


def media_type(content_type: str | None) -> str | None:
    """The Content-Type less prometheus_client 0.26's `escaping=` parameter, which obsagent's
    exposition does not write yet (UTF-8 names and escapings are not there, README)."""
    if content_type is None:
        return None
    return "; ".join(part for part in content_type.split("; ") if not part.startswith("escaping="))


def series(body: bytes) -> dict:
    text = body.decode()
    if text.endswith("# EOF\n"):
        from obsagent.openmetrics.parser import text_string_to_metric_families as parse
    else:
        parse = text_string_to_metric_families
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_ACCEPT": "application/openmetrics-text; version=1.0.0"}, {"HTTP_ACCEPT_ENCODING": "gzip"}],
)
def test_django_view_answers_as_prometheus_clients(headers: dict) -> None:
    ours, theirs = registries()
    factory = RequestFactory()
    got = obsagent.django.PrometheusDjangoView.as_view(registry=ours)(factory.get("/metrics", **headers))
    expected = prometheus_client.django.PrometheusDjangoView.as_view(registry=theirs)(
        factory.get("/metrics", **headers)
    )
    assert got.status_code == expected.status_code == 200
    assert media_type(got.headers.get("Content-Type")) == media_type(expected.headers.get("Content-Type"))
    assert got.headers.get("Content-Encoding") == expected.headers.get("Content-Encoding")
    encoding = got.headers.get("Content-Encoding")
    assert series(decoded(got.content, encoding)) == series(decoded(expected.content, encoding))
    assert series(decoded(got.content, encoding))


def test_django_view_filters_by_name() -> None:
    """`?name[]=` keeps the series named, as in every other obsagent server. prometheus_client
    0.26's Django view hands Django's QueryDict to its filter, which reads one string where it
    wants a list, and answers nothing (README, what differs)."""
    ours, theirs = registries()
    request = RequestFactory().get("/metrics", {"name[]": "depth"})
    got = obsagent.django.PrometheusDjangoView.as_view(registry=ours)(request)
    assert series(got.content) == {("depth", ()): 7.0}
    expected = prometheus_client.django.PrometheusDjangoView.as_view(registry=theirs)(request)
    assert series(expected.content) == {}


def test_django_options_lists_the_methods() -> None:
    ours, theirs = registries()
    factory = RequestFactory()
    got = obsagent.django.PrometheusDjangoView.as_view(registry=ours)(factory.options("/metrics"))
    expected = prometheus_client.django.PrometheusDjangoView.as_view(registry=theirs)(factory.options("/metrics"))
    assert (got.status_code, got.headers["Allow"]) == (expected.status_code, expected.headers["Allow"])


def test_aiohttp_handler_answers_as_prometheus_clients() -> None:
    async def fetch(handler, headers: dict) -> tuple:
        app = web.Application()
        app.router.add_get("/metrics", handler)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            async with client.get("/metrics", headers=headers, auto_decompress=False) as response:
                return (
                    response.status,
                    response.headers.get("Content-Type"),
                    response.headers.get("Content-Encoding"),
                    await response.read(),
                )

    ours, theirs = registries()
    for headers in ({}, {"Accept-Encoding": "gzip"}, {"Accept": "application/openmetrics-text; version=1.0.0"}):
        got = asyncio.run(fetch(obsagent.aiohttp.make_aiohttp_handler(ours), headers))
        expected = asyncio.run(fetch(prometheus_client.aiohttp.make_aiohttp_handler(theirs), headers))
        assert (got[0], media_type(got[1]), got[2]) == (expected[0], media_type(expected[1]), expected[2]), headers
        assert series(decoded(got[3], got[2])) == series(decoded(expected[3], expected[2]))
        assert series(decoded(got[3], got[2]))
