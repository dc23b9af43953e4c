"""The HTTPS fetcher, over real TLS to the lab's HTTPS server on loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import pytest

from console.auth.https import FetchErrorKind, fetch
from console.auth.resolver import ResolverContext
from console.lab import Lab
from console.lab.ca import LabCA
from console.lab.https_server import LabHttpsServer, Resource, Site
from console.services import ServiceMap

GOOD_POLICY = "https://mta-sts.good.test/.well-known/mta-sts.txt"


async def test_fetches_a_lab_only_name_through_the_context_resolver(
    ctx: ResolverContext, lab: Lab
) -> None:
    result = await fetch(ctx, GOOD_POLICY, max_bytes=65536)
    assert result.ok
    assert result.status == 200
    assert result.content_type == "text/plain"
    assert result.text().startswith("version: STSv1\r\nmode: enforce\r\n")
    # Connected to the address the lab DNS gave, on the port the service map gave.
    assert result.address == f"127.0.0.1:{lab.ports[443]}"
    # The fetch asked the context: the same question now comes from its cache.
    hits = ctx.stats.cache_hits
    await ctx.query("mta-sts.good.test", "A")
    assert ctx.stats.cache_hits == hits + 1


async def test_never_uses_the_system_resolver(ctx: ResolverContext) -> None:
    # The system resolver knows localhost; the lab DNS refuses it. Only the context counts.
    result = await fetch(ctx, "https://localhost/", max_bytes=1024)
    assert result.error_kind is FetchErrorKind.DNS_ERROR
    assert result.address is None
    assert "REFUSED" in (result.error or "")


async def test_redirect_is_returned_not_followed(ctx: ResolverContext) -> None:
    result = await fetch(
        ctx, "https://mta-sts.mtasts-redirect.test/.well-known/mta-sts.txt", max_bytes=65536
    )
    assert result.ok
    assert result.status == 302
    assert result.location == "https://www.mtasts-redirect.test/.well-known/mta-sts.txt"
    # The target serves a valid policy; the body we got is the redirect's own.
    assert b"version" not in result.body
    assert ctx.stats.queries == 2  # A and AAAA of mta-sts.mtasts-redirect.test, nothing else


async def test_certificate_for_another_name_fails(ctx: ResolverContext, lab: Lab) -> None:
    # Same address and port as the good host: only the name checked differs.
    result = await fetch(
        ctx, "https://mta-sts.mtasts-badcert.test/.well-known/mta-sts.txt", max_bytes=65536
    )
    assert result.status is None
    assert result.error_kind is FetchErrorKind.CERTIFICATE
    assert "does not cover the host name" in (result.error or "")
    assert "mta-sts.mtasts-badcert.test" in (result.error or "")
    assert result.address == f"127.0.0.1:{lab.ports[443]}"


async def test_sni_and_host_name_come_from_the_url_not_the_address(lab: Lab) -> None:
    # An explicit port bypasses the service map; the certificate is still checked by name.
    ctx = lab.resolver(timeout=2.0)
    url = f"https://mta-sts.good.test:{lab.ports[443]}/.well-known/mta-sts.txt"
    result = await fetch(ctx, url, max_bytes=65536)
    assert result.status == 200
    assert result.text().startswith("version: STSv1")


async def test_lab_certificate_is_untrusted_without_the_lab_ca(lab: Lab) -> None:
    services = ServiceMap(ports=lab.services.ports)  # no cafile
    ctx = ResolverContext.from_options([lab.nameserver], timeout=2.0, services=services)
    result = await fetch(ctx, GOOD_POLICY, max_bytes=65536)
    assert result.error_kind is FetchErrorKind.CERTIFICATE
    assert "not trusted" in (result.error or "")


async def test_endless_body_is_cut_at_max_bytes(ctx: ResolverContext) -> None:
    started = time.monotonic()
    result = await fetch(
        ctx, "https://mta-sts.mtasts-huge.test/endless", max_bytes=10_000, timeout=5
    )
    assert result.error_kind is FetchErrorKind.TOO_LARGE
    assert result.status == 200
    assert len(result.body) == 10_000
    assert result.body.startswith(b"0123456789abcdef")
    assert time.monotonic() - started < 4  # stopped reading; did not wait for the deadline


async def test_declared_length_over_max_bytes_is_refused_unread(ctx: ResolverContext) -> None:
    result = await fetch(
        ctx, "https://mta-sts.mtasts-huge.test/.well-known/mta-sts.txt", max_bytes=65536
    )
    assert result.error_kind is FetchErrorKind.TOO_LARGE
    assert "more than the 65536 allowed" in (result.error or "")
    assert result.body == b""


async def test_silent_server_times_out(ctx: ResolverContext, lab: Lab) -> None:
    started = time.monotonic()
    result = await fetch(
        ctx,
        "https://mta-sts.mtasts-silent.test/.well-known/mta-sts.txt",
        max_bytes=1024,
        timeout=0.5,
    )
    assert result.error_kind is FetchErrorKind.TIMEOUT
    assert "within 0.5 s" in (result.error or "")
    assert result.address == f"127.0.0.1:{lab.ports[443]}"
    assert time.monotonic() - started < 5  # the silent server holds for 120 s


async def test_silent_dns_times_out_inside_the_same_deadline(lab: Lab) -> None:
    ctx = lab.resolver(timeout=5.0, retries=0)
    started = time.monotonic()
    result = await fetch(ctx, "https://www.silent.test/", max_bytes=1024, timeout=0.5)
    assert result.error_kind is FetchErrorKind.TIMEOUT
    assert "could not resolve www.silent.test" in (result.error or "")
    assert time.monotonic() - started < 4  # under the resolver's own 5 s


async def test_missing_host_and_dns_failure_differ(ctx: ResolverContext) -> None:
    missing = await fetch(ctx, "https://nothing-here.good.test/", max_bytes=1024)
    assert missing.error_kind is FetchErrorKind.NO_ADDRESS
    assert "NXDOMAIN" in (missing.error or "")
    failed = await fetch(ctx, "https://www.servfail.test/", max_bytes=1024)
    assert failed.error_kind is FetchErrorKind.DNS_ERROR
    assert "SERVFAIL" in (failed.error or "")


async def test_refused_connection(ctx: ResolverContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await fetch(ctx, f"https://mta-sts.good.test:{port}/", max_bytes=1024)
    assert result.error_kind is FetchErrorKind.CONNECTION
    assert "refused" in (result.error or "")


@pytest.mark.parametrize(
    "url",
    [
        "http://mta-sts.good.test/.well-known/mta-sts.txt",
        "ftp://mta-sts.good.test/",
        "https://user:secret@mta-sts.good.test/",
        "https:///no-host",
        "https://mta-sts.good.test:99999/",
        "not a url",
    ],
)
async def test_refuses_what_is_not_a_plain_https_url(ctx: ResolverContext, url: str) -> None:
    result = await fetch(ctx, url, max_bytes=1024)
    assert result.error_kind is FetchErrorKind.INVALID_URL
    assert result.address is None
    assert ctx.stats.queries == 0


async def test_not_found_is_a_response_not_an_error(ctx: ResolverContext) -> None:
    result = await fetch(
        ctx, "https://mta-sts.sts-nopolicy.test/.well-known/mta-sts.txt", max_bytes=1024
    )
    assert result.ok
    assert result.status == 404


# -- the lab's HTTPS server itself ---------------------------------------------------------


async def test_each_host_gets_its_own_certificate_by_sni(lab: Lab) -> None:
    client = ssl.create_default_context(cafile=str(lab.cafile))
    for name in ("mta-sts.good.test", "bimi.good.test"):
        _, writer = await asyncio.open_connection(
            "127.0.0.1", lab.ports[443], ssl=client, server_hostname=name
        )
        names = [value for _, value in writer.get_extra_info("peercert")["subjectAltName"]]
        assert names == [name]
        writer.close()


async def test_server_survives_plain_text_and_headless_requests(
    ctx: ResolverContext, lab: Lab
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lab.ports[443])
    writer.write(b"GET / HTTP/1.1\r\nHost: mta-sts.good.test\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # no TLS, no answer
    writer.close()
    client = ssl.create_default_context(cafile=str(lab.cafile))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", lab.ports[443], ssl=client, server_hostname="mta-sts.good.test"
    )
    writer.write(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n\r\n")
    await writer.drain()
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 400 ")
    writer.close()
    assert (await fetch(ctx, GOOD_POLICY, max_bytes=65536)).status == 200


async def test_custom_sites_and_a_quick_stop_with_a_silent_client() -> None:
    ca = LabCA()
    server = LabHttpsServer(
        ca,
        {
            "a.example.test": Site({"/": Resource(body=b"hello", content_type="text/plain")}),
            "b.example.test": Site({"/": Resource(behaviour="silent")}),
        },
    )
    await server.start()
    try:
        client = ssl.create_default_context(cafile=str(ca.cafile))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=client, server_hostname="a.example.test"
        )
        writer.write(b"GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"\r\n\r\nhello")
        writer.close()
        _, silent = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=client, server_hostname="b.example.test"
        )
        silent.write(b"GET / HTTP/1.1\r\nHost: b.example.test\r\n\r\n")
        await silent.drain()
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 1.5  # stop() would wait 2 s for a polite close
        silent.close()
    finally:
        await server.stop()
        ca.cleanup()
