"""The Pushgateway handlers that send with urllib (client certificates, redirects: what the
native client does not do), apart from ``exposition`` so that importing obsagent, and the
daemon, does not load ``ssl``, ``http.client`` and ``email`` (about 10 MiB) for them."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Callable
from typing import Any


class _KeepMethodRedirect(urllib.request.HTTPRedirectHandler):
    """Follows a redirect with the same method, headers and body (urllib would turn a PUT or
    POST into a GET, or refuse it)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        return urllib.request.Request(newurl, data=req.data, headers=dict(req.header_items()), method=req.get_method())


def _urllib_handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, Any]], data: bytes, *openers: Any
) -> Callable[[], None]:
    """A handler sending the request with urllib, through ``openers``."""

    def handle() -> None:
        request = urllib.request.Request(url, data=data or None, method=method)
        for name, value in headers:
            request.add_header(name, value)
        with urllib.request.build_opener(*openers).open(request, timeout=timeout) as response:
            if response.status >= 400:
                raise OSError(f"error talking to pushgateway: {response.status} {response.reason}")

    return handle


def tls_handler(
    url: str,
    method: str,
    timeout: float | None,
    headers: list[tuple[str, Any]],
    data: bytes,
    certfile: str,
    keyfile: str,
    cafile: str | None,
    protocol: int | None,
    insecure_skip_verify: bool,
) -> Callable[[], None]:
    """``exposition.tls_auth_handler``."""
    context = ssl.SSLContext(protocol=ssl.PROTOCOL_TLS_CLIENT if protocol is None else protocol)
    if cafile is not None:
        context.load_verify_locations(cafile)
    else:
        context.load_default_certs()
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    return _urllib_handler(url, method, timeout, headers, data, urllib.request.HTTPSHandler(context=context))


def redirect_handler(
    url: str, method: str, timeout: float | None, headers: list[tuple[str, Any]], data: bytes
) -> Callable[[], None]:
    """``exposition.passthrough_redirect_handler``."""
    return _urllib_handler(url, method, timeout, headers, data, _KeepMethodRedirect())
