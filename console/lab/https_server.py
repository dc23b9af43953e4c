"""The lab's HTTPS server: MTA-STS policies and BIMI assets for the demo domains.

One listener on 127.0.0.1 serves every lab web host. The TLS handshake picks each
host's own certificate from the SNI name (as a real shared host does), issued by the
lab CA, so the console verifies it exactly as it verifies a public one, and a host
whose certificate names someone else fails the way it would in production. Requests
are answered by a deliberately small HTTP/1.1 responder (one request per connection,
`Connection: close`): the lab must misbehave on purpose (redirect, wrong media type,
endless body, silence), which a full framework would get in the way of.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

from console.lab.ca import BIMI_USAGE, IssuedCert, LabCA

READ_TIMEOUT = 10.0
"""Seconds a client may take to send its request head."""

SILENT_HOLD = 120.0
"""Seconds a silent resource holds the connection before giving up (clients time out first)."""

ENDLESS_LIMIT = 64 * 1024 * 1024
"""Bytes an endless body sends at most, so a client that never stops cannot pin the lab."""

_CHUNK = 16 * 1024

Behaviour = Literal["normal", "silent", "endless"]


@dataclass(frozen=True, slots=True)
class Resource:
    """What one path answers.

    Attributes:
        status: HTTP status code.
        body: the body sent (for `endless`, the pattern repeated).
        content_type: the Content-Type header, or None to send none.
        headers: extra headers, e.g. ("Location", ...) for a redirect.
        behaviour: `normal`; `silent` (accept the request, never answer); `endless`
            (a body with no length that never ends, up to ENDLESS_LIMIT).
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    behaviour: Behaviour = "normal"


@dataclass(slots=True)
class Site:
    """One web host: its paths and the names its certificate carries.

    Attributes:
        resources: path -> Resource; any other path is 404.
        cert_names: names on the certificate; None means the host's own name.
        certificate: the certificate presented, filled in at start.
    """

    resources: dict[str, Resource] = field(default_factory=dict)
    cert_names: tuple[str, ...] | None = None
    certificate: IssuedCert | None = None


class LabHttpsServer:
    """An HTTPS server on loopback with a certificate per SNI name.

    Args:
        ca: the lab CA that issues each site's certificate.
        sites: host name -> Site; None serves the demo content of `demo_sites`.
        host: address to listen on.
        port: port to listen on; 0 picks a free one.
    """

    def __init__(
        self,
        ca: LabCA,
        sites: Mapping[str, Site] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.ca = ca
        self.sites: dict[str, Site] = (
            {name.lower(): site for name, site in sites.items()}
            if sites is not None
            else demo_sites(ca)
        )
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._writers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        for name, site in self.sites.items():
            if site.certificate is None:
                site.certificate = self.ca.issue(site.cert_names or (name,))
            self._contexts[name] = site.certificate.server_context()
        # Clients that send no SNI, or an unknown name, get a certificate for neither.
        default = self.ca.issue(["lab.test"]).server_context()
        default.sni_callback = self._pick_certificate
        self._server = await asyncio.start_server(
            self._handle,
            self.host,
            self._requested_port,
            ssl=default,
            ssl_handshake_timeout=READ_TIMEOUT,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Python 3.11's wait_closed does not wait for open connections: end them here,
        # abruptly, since a client that is not reading would never finish a TLS close.
        for writer in list(self._writers.values()):
            writer.transport.abort()
        if self._writers:
            await asyncio.wait(list(self._writers), timeout=2)
        for task in list(self._writers):
            task.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    def _pick_certificate(
        self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        if server_name:
            chosen = self._contexts.get(server_name.lower().rstrip("."))
            if chosen is not None:
                connection.context = chosen

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._writers[task] = writer
        try:
            await self._serve(reader, writer)
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away or stalled: nothing to answer
        except asyncio.CancelledError:
            # Only stop() cancels a connection; finishing quietly keeps asyncio's
            # client_connected_cb from logging the cancellation as an error.
            pass
        except asyncio.LimitOverrunError:
            with contextlib.suppress(OSError):
                await _respond(writer, Resource(431, b"request head too large\n"), head_only=False)
        finally:
            self._writers.pop(task, None)
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await _respond(writer, Resource(400, b"bad request line\n"), head_only=False)
            return
        method, target, _ = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        host = headers.get("host", "")
        # Host is `name`, `name:port` or `[v6]:port`.
        host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
        if not host:  # RFC 9112 3.2: a request without Host is a 400
            await _respond(writer, Resource(400, b"Host header required\n"), head_only=False)
            return
        site = self.sites.get(host.lower().rstrip("."))
        if method not in ("GET", "HEAD"):
            await _respond(writer, Resource(405, b"only GET and HEAD\n"), head_only=False)
            return
        if site is None:
            await _respond(
                writer, Resource(421, b"no such site here\n"), head_only=method == "HEAD"
            )
            return
        if target.startswith("https://") or target.startswith("http://"):
            target = "/" + target.split("/", 3)[-1] if target.count("/") >= 3 else "/"
        path = target.split("?", 1)[0]
        resource = site.resources.get(path, Resource(404, b"not found\n"))
        if resource.behaviour == "silent":
            # Hold the connection without a byte of answer until the client gives up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), SILENT_HOLD)
            return
        await _respond(writer, resource, head_only=method == "HEAD")


async def _respond(writer: asyncio.StreamWriter, resource: Resource, *, head_only: bool) -> None:
    try:
        reason = HTTPStatus(resource.status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {resource.status} {reason}"]
    if resource.content_type is not None:
        lines.append(f"Content-Type: {resource.content_type}")
    if resource.behaviour != "endless":
        lines.append(f"Content-Length: {len(resource.body)}")
    lines.append("Cache-Control: no-store")
    lines.extend(f"{name}: {value}" for name, value in resource.headers)
    lines.append("Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if head_only:
        await writer.drain()
        return
    if resource.behaviour == "endless":
        pattern = resource.body or b"x"
        block = pattern * max(1, _CHUNK // len(pattern))
        sent = 0
        while sent < ENDLESS_LIMIT:
            writer.write(block)
            await writer.drain()
            sent += len(block)
            # drain() only yields when the buffer is full; a client that hung up leaves it
            # empty (writes are dropped), so yield to let connection_lost run, then look.
            await asyncio.sleep(0)
            if writer.transport.is_closing():
                return
        return
    writer.write(resource.body)
    await writer.drain()


# -- the demo content ---------------------------------------------------------------------

STS_PATH = "/.well-known/mta-sts.txt"


def sts_policy(mode: str, mx: tuple[str, ...], max_age: int, *, newline: str = "\r\n") -> bytes:
    """An MTA-STS policy file (RFC 8461 3.2) as served."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {host}" for host in mx)]
    lines.append(f"max_age: {max_age}")
    return (newline.join(lines) + newline).encode("ascii")


def _svg(title: str, *, body: str = "", attributes: str = "") -> bytes:
    root = (
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" '
        f'viewBox="0 0 100 100"{attributes}>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{root}\n"
        f"  <title>{title}</title>\n"
        '  <rect width="100" height="100" fill="#1a5fb4"/>\n'
        '  <circle cx="50" cy="50" r="32" fill="#ffffff"/>\n'
        '  <path d="M34 50 L46 62 L68 38" stroke="#1a5fb4" stroke-width="8" fill="none"/>\n'
        f"{body}"
        "</svg>\n"
    ).encode()


GOOD_LOGO = _svg("Good Test")
"""A valid SVG Tiny PS logo: version 1.2, baseProfile tiny-ps, a title, square, no scripts."""

BAD_LOGO = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    b'version="1.1" x="0" y="0" viewBox="0 0 200 100">\n'
    b'  <rect width="200" height="100" fill="#c01c28"/>\n'
    b'  <image xlink:href="https://cdn.example/logo.png" width="200" height="100"/>\n'
    b"  <script>alert(1)</script>\n"
    b"</svg>\n"
)
"""Plain SVG 1.1 as design tools export it: no profile, no title, a script, an external
image, not square. Mailbox providers refuse every one of these."""

BIG_LOGO = _svg(
    "Big Test",
    body="".join(
        f'  <circle cx="{i % 100}" cy="{(i * 7) % 100}" r="1" fill="#26a269"/>\n'
        for i in range(900)
    ),
)
"""A valid tiny-ps logo over the 32 KB providers accept (embedded detail, unoptimised)."""


def demo_sites(ca: LabCA) -> dict[str, Site]:
    """The web hosts of the demo domains, keyed by host name.

    Args:
        ca: issues the VMC-like certificates served as BIMI evidence documents.
    """
    now = dt.datetime.now(dt.UTC)
    # One mark certificate for the lab's brand, covering the demo domains that share its logo.
    good_vmc = ca.issue(
        [
            "good.test",
            "bimi-nodmarc.test",
            "bimi-novmc.test",
            "bimi-badsvg.test",
            "bimi-bigsvg.test",
            "bimi-nologo.test",
            "bimi-spnone.test",
        ],
        usages=[BIMI_USAGE],
        label="vmc-good.test",
    )
    expired_vmc = ca.issue(
        ["bimi-badvmc.test"],
        usages=[BIMI_USAGE],
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=35),
        label="vmc-bimi-badvmc.test",
    )
    good_policy = sts_policy("enforce", ("mx1.good.test", "*.good.test"), 604800)
    padding = "".join(f"x-padding-{i}: {'.' * 96}\r\n" for i in range(800)).encode()

    def policy(body: bytes, **kwargs: object) -> dict[str, Resource]:
        return {STS_PATH: Resource(body=body, **kwargs)}  # type: ignore[arg-type]

    sites = {
        "mta-sts.good.test": Site(policy(good_policy)),
        # An id is published, but the web host has no policy file: 404.
        "mta-sts.sts-nopolicy.test": Site({}),
        "mta-sts.mtasts-testing.test": Site(
            policy(sts_policy("testing", ("mx.mtasts-testing.test",), 86400))
        ),
        "mta-sts.mtasts-redirect.test": Site(
            {
                STS_PATH: Resource(
                    302,
                    b"moved\n",
                    headers=(("Location", f"https://www.mtasts-redirect.test{STS_PATH}"),),
                )
            }
        ),
        # Where the redirect points: a valid policy that a sender must never fetch.
        "www.mtasts-redirect.test": Site(
            policy(sts_policy("enforce", ("mx.mtasts-redirect.test",), 604800))
        ),
        # A valid policy behind a certificate made out to another name.
        "mta-sts.mtasts-badcert.test": Site(
            policy(sts_policy("enforce", ("mx.mtasts-badcert.test",), 604800)),
            cert_names=("www.mtasts-badcert.test", "mtasts-badcert.test"),
        ),
        # The policy still lists the old provider's MX hosts after a migration.
        "mta-sts.mtasts-mismatch.test": Site(
            policy(sts_policy("enforce", ("mx1.old-provider.test", "*.old-provider.test"), 604800))
        ),
        "mta-sts.mtasts-ctype.test": Site(
            policy(
                sts_policy("enforce", ("mx.mtasts-ctype.test",), 604800),
                content_type="text/html; charset=utf-8",
            )
        ),
        "mta-sts.mtasts-huge.test": Site(
            {
                STS_PATH: Resource(
                    body=sts_policy("enforce", ("mx.mtasts-huge.test",), 604800) + padding
                ),
                "/endless": Resource(body=b"0123456789abcdef", behaviour="endless"),
            }
        ),
        "mta-sts.mtasts-silent.test": Site({STS_PATH: Resource(behaviour="silent")}),
        "mta-sts.mtasts-syntax.test": Site(
            policy(
                b"version: STSv2\r\nmode: enforcing\r\nmx: mx..mtasts-syntax.test\r\n"
                b"mx: *.*.mtasts-syntax.test\r\nmax_age: 99999999\r\nthis line has no colon\r\n"
            )
        ),
        "mta-sts.mtasts-short.test": Site(
            policy(sts_policy("enforce", ("mx.mtasts-short.test",), 3600, newline="\n"))
        ),
        "mta-sts.mtasts-multiple.test": Site(
            policy(sts_policy("enforce", ("mx.mtasts-multiple.test",), 604800))
        ),
        "mta-sts.mtasts-badtxt.test": Site(
            policy(sts_policy("enforce", ("mx.mtasts-badtxt.test",), 604800))
        ),
        "bimi.good.test": Site(
            {
                "/logo.svg": Resource(body=GOOD_LOGO, content_type="image/svg+xml"),
                "/vmc.pem": Resource(
                    body=good_vmc.pem + ca.pem, content_type="application/pem-certificate-chain"
                ),
            }
        ),
        "bimi.bimi-badsvg.test": Site(
            {"/logo.svg": Resource(body=BAD_LOGO, content_type="image/svg+xml")}
        ),
        "bimi.bimi-bigsvg.test": Site(
            {"/logo.svg": Resource(body=BIG_LOGO, content_type="image/svg+xml")}
        ),
        "bimi.bimi-badvmc.test": Site(
            {
                "/logo.svg": Resource(body=GOOD_LOGO, content_type="image/svg+xml"),
                "/vmc.pem": Resource(
                    body=expired_vmc.pem, content_type="application/pem-certificate-chain"
                ),
                "/notpem.pem": Resource(body=b"<html>VMC coming soon</html>\n"),
            }
        ),
        # The logo URL is published, the file is not: 404.
        "bimi.bimi-nologo.test": Site({}),
    }
    return sites
