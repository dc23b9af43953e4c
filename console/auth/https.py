"""Fetching a small HTTPS resource the way a mail server must: MTA-STS policies, BIMI assets.

Three properties matter more than convenience, so the fetcher enforces them itself:

- The host name is resolved through the audit's resolver context, never the system
  resolver: `--nameserver` (and the lab) must see every question the audit asks, and a
  policy must come from the address the domain's DNS publishes.
- The certificate is verified for the host name in the URL (WebPKI: the system store,
  plus the service map's extra CA), while the TCP connection goes to the resolved
  address. httpx gets `https://ADDRESS:PORT/...`, a `Host` header, and the
  `sni_hostname` extension; httpcore passes that name as `server_hostname` to the TLS
  handshake, so both SNI and hostname checking use it, not the address.
- Redirects are never followed (RFC 8461 3.3), the body is cut at `max_bytes` while it
  streams, and one deadline covers resolution, connection, handshake and body.

Errors never raise: they become `FetchResult.error`, a one-line account, and
`FetchResult.error_kind`, a stable category callers turn into findings.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from console.auth.resolver import Outcome, ResolverContext

FETCH_TIMEOUT_FACTOR = 2.0
"""With no explicit timeout, a fetch may take this many times the context's DNS timeout."""

MAX_ADDRESSES = 4
"""Addresses tried, in order, when connecting to one fails (refused, unreachable)."""

USER_AGENT = "mailscope (deliverability audit)"

# OpenSSL verification codes worth explaining in plain words (x509_vfy.h).
_VERIFY_REASONS = {
    9: "is not valid yet",
    10: "has expired",
    18: "is self-signed and not trusted",
    19: "chains to a self-signed root that is not trusted",
    20: "was issued by a CA that is not trusted",
    21: "was issued by a CA that is not trusted (incomplete chain?)",
    62: "does not cover the host name",
    64: "does not cover the IP address",
}


class FetchErrorKind(enum.StrEnum):
    """Why a fetch did not yield a complete response."""

    INVALID_URL = "invalid-url"
    """Not an https URL, or no host in it."""
    DNS_ERROR = "dns-error"
    """The host's address lookup failed (timeout, SERVFAIL): could not check."""
    NO_ADDRESS = "no-address"
    """The host does not exist or has no A/AAAA record."""
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    """Refused, unreachable, or reset."""
    CERTIFICATE = "certificate"
    """Untrusted, expired, or not valid for the host name."""
    TLS = "tls"
    """The TLS handshake failed for another reason (protocol, cipher, local CA file)."""
    TOO_LARGE = "too-large"
    PROTOCOL = "protocol"
    """The server did not speak valid HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one GET returned, or why it could not.

    Attributes:
        url: the URL asked for.
        status: the HTTP status, if a response head arrived (also when the body then
            failed, e.g. was too large).
        headers: response headers with lower-case names; repeated ones joined by ", ".
        body: the body read, at most `max_bytes`.
        content_type: the media type alone, lower-case (`text/plain`), or None.
        error: a one-line account of what went wrong, or None.
        error_kind: the category of `error`.
        address: `ADDRESS:PORT` connected to (the last one tried when all failed).
    """

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str | None = None
    error: str | None = None
    error_kind: FetchErrorKind | None = None
    address: str | None = None

    @property
    def ok(self) -> bool:
        """A complete response arrived (any status: a 404 is a response too)."""
        return self.status is not None and self.error is None

    @property
    def location(self) -> str | None:
        """Where a redirect points, never followed."""
        return self.headers.get("location")

    def text(self) -> str:
        """The body decoded as UTF-8, undecodable bytes replaced."""
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class _Target:
    host: str
    port: int
    path: str
    host_header: str


def _parse_url(ctx: ResolverContext, url: str) -> _Target | str:
    """The connection target, or an error text for a URL the fetcher refuses."""
    try:
        parts = urlsplit(url.strip())
        explicit_port = parts.port
    except ValueError as exc:
        return f"invalid URL {url!r}: {exc}"
    if parts.scheme.lower() != "https":
        return f"refusing {url!r}: only https:// URLs are fetched"
    if parts.username is not None or parts.password is not None:
        return f"refusing {url!r}: credentials in the URL"
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        return f"invalid URL {url!r}: no host"
    try:
        host = raw_host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        return f"invalid URL {url!r}: host {raw_host!r} is not a valid name ({exc})"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if explicit_port is not None:
        port = explicit_port
        host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if port == 443:
            host_header = f"[{host}]" if ":" in host else host
    else:
        port = ctx.services.port_for(host, 443)
        host_header = f"[{host}]" if ":" in host else host
    return _Target(host, port, path, host_header)


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def _addresses(ctx: ResolverContext, host: str) -> list[str] | FetchResult:
    """IPv4 addresses first, then IPv6, from the context's resolver (both asked at once)."""
    a_lookup, aaaa_lookup = await ctx.gather(ctx.query(host, "A"), ctx.query(host, "AAAA"))
    found = a_lookup.addresses() + aaaa_lookup.addresses()
    if found:
        return found
    failed = [lookup for lookup in (a_lookup, aaaa_lookup) if lookup.failed]
    if failed:
        return FetchResult(
            url="",
            error=f"could not resolve {host}: {failed[0].describe()}",
            error_kind=FetchErrorKind.DNS_ERROR,
        )
    if a_lookup.outcome is Outcome.NXDOMAIN:
        reason = a_lookup.describe()
    else:
        reason = f"{host} has no A or AAAA record"
    return FetchResult(url="", error=reason, error_kind=FetchErrorKind.NO_ADDRESS)


@functools.lru_cache(maxsize=8)
def _client_context(cafile: str | None) -> ssl.SSLContext:
    """The verification context: system store, plus `cafile` (the lab's CA) when given.

    Built on first use and kept: loading the system store costs milliseconds per fetch.
    """
    context = ssl.create_default_context()
    if not context.cert_store_stats().get("x509_ca"):
        # No system store (a slim container): fall back to Mozilla's bundle.
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    if cafile:
        context.load_verify_locations(cafile=cafile)
    return context


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connect_failure(exc: BaseException, host: str, where: str) -> tuple[FetchErrorKind, str]:
    """Classify a connection-phase failure from the exception chain httpx raised."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = _VERIFY_REASONS.get(cause.verify_code, "was rejected")
            detail = cause.verify_message or str(cause)
            return (
                FetchErrorKind.CERTIFICATE,
                f"the TLS certificate of {host} at {where} {reason} ({detail})",
            )
        if isinstance(cause, ssl.SSLError):
            return FetchErrorKind.TLS, f"{where}: TLS handshake failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return FetchErrorKind.CONNECTION, f"{where}: connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return FetchErrorKind.CONNECTION, f"{where}: {cause.strerror.lower()}"
    text = str(exc) or type(exc).__name__
    if "ssl" in text.lower() or "tls" in text.lower():
        return FetchErrorKind.TLS, f"{where}: TLS handshake failed: {text}"
    return FetchErrorKind.CONNECTION, f"{where}: cannot connect: {text}"


def _headers(response: httpx.Response) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


def _media_type(headers: dict[str, str]) -> str | None:
    value = headers.get("content-type")
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower() or None


async def _fetch_from(
    context: ssl.SSLContext,
    target: _Target,
    address: str,
    url: str,
    max_bytes: int,
    seconds: float,
    form: Mapping[str, str] | None = None,
) -> FetchResult:
    literal = f"[{address}]" if ":" in address else address
    where = f"{literal}:{target.port}"
    request_url = f"https://{where}{target.path}"
    headers = {
        "Host": target.host_header,
        "Accept-Encoding": "identity",  # sizes are counted on the wire; no decompression bombs
        "User-Agent": USER_AGENT,
    }
    status: int | None = None
    response_headers: dict[str, str] = {}
    body = bytearray()

    def result(error: str | None = None, kind: FetchErrorKind | None = None) -> FetchResult:
        return FetchResult(
            url=url,
            status=status,
            headers=response_headers,
            body=bytes(body[:max_bytes]),
            content_type=_media_type(response_headers),
            error=error,
            error_kind=kind,
            address=where,
        )

    async with httpx.AsyncClient(
        verify=context,
        follow_redirects=False,
        trust_env=False,  # no proxies or netrc from the environment: connect where DNS says
        timeout=httpx.Timeout(seconds),
    ) as client:
        try:
            async with client.stream(
                "GET" if form is None else "POST",
                request_url,
                headers=headers,
                data=form,
                extensions={"sni_hostname": target.host},
            ) as response:
                status = response.status_code
                response_headers = _headers(response)
                declared = response_headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    return result(
                        f"{url}: response is {int(declared)} bytes, more than the "
                        f"{max_bytes} allowed",
                        FetchErrorKind.TOO_LARGE,
                    )
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > max_bytes:
                        # Stop reading at once: leaving the block closes the connection.
                        return result(
                            f"{url}: response larger than the {max_bytes} bytes allowed; "
                            "stopped reading",
                            FetchErrorKind.TOO_LARGE,
                        )
        except httpx.TimeoutException:
            return result(
                f"{url}: no complete response from {where} within {seconds:g} s",
                FetchErrorKind.TIMEOUT,
            )
        except httpx.ConnectError as exc:
            kind, text = _connect_failure(exc, target.host, where)
            return result(text, kind)
        except (httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.DecodingError) as exc:
            return result(
                f"{url}: invalid HTTP response from {where}: {exc}", FetchErrorKind.PROTOCOL
            )
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            # ReadError, WriteError (a reset mid-response) and anything else httpx raises.
            kind, text = _connect_failure(exc, target.host, where)
            return result(text, kind)
    return result()


async def fetch(
    ctx: ResolverContext,
    url: str,
    *,
    max_bytes: int,
    timeout: float | None = None,  # noqa: ASYNC109 - one deadline over DNS, TLS and body
    form: Mapping[str, str] | None = None,
) -> FetchResult:
    """GET an https URL (POST `form`, if given), resolving and connecting the way a mail
    server would.

    Args:
        ctx: the resolver context: the host is resolved with `ctx.query` (A, then
            AAAA), the port comes from `ctx.services.port_for(host, 443)` unless the
            URL names one, and `ctx.services.cafile` is trusted besides the system store.
        url: an `https://` URL; any other scheme is refused.
        max_bytes: the most body bytes read; a longer body is cut there, with an error.
        timeout: seconds for everything (lookup, connection, handshake, body); by
            default FETCH_TIMEOUT_FACTOR times the context's DNS timeout.
        form: fields to POST as application/x-www-form-urlencoded (an OAuth token
            request) instead of a GET.

    Returns:
        A FetchResult; never raises for network, TLS, HTTP or DNS trouble. A redirect
        is returned as it is (status 3xx, `location`), never followed.
    """
    limit = timeout if timeout is not None else ctx.timeout * FETCH_TIMEOUT_FACTOR
    target = _parse_url(ctx, url)
    if isinstance(target, str):
        return FetchResult(url=url, error=target, error_kind=FetchErrorKind.INVALID_URL)
    try:
        context = _client_context(str(ctx.services.cafile) if ctx.services.cafile else None)
    except (OSError, ssl.SSLError) as exc:
        return FetchResult(
            url=url,
            error=f"cannot load the trusted CA file {ctx.services.cafile}: {exc}",
            error_kind=FetchErrorKind.TLS,
        )
    last: FetchResult | None = None
    tried: list[str] = []
    try:
        async with asyncio.timeout(limit):
            literal = _ip_literal(target.host)
            if literal is not None:
                addresses: list[str] = [literal]
            else:
                found = await _addresses(ctx, target.host)
                if isinstance(found, FetchResult):
                    return FetchResult(url=url, error=found.error, error_kind=found.error_kind)
                addresses = found
            for address in addresses[:MAX_ADDRESSES]:
                tried.append(
                    f"[{address}]:{target.port}" if ":" in address else f"{address}:{target.port}"
                )
                last = await _fetch_from(context, target, address, url, max_bytes, limit, form)
                # Only a failed connection moves on: a TLS or HTTP answer is the server's word.
                if last.error_kind is not FetchErrorKind.CONNECTION or last.status is not None:
                    return last
    except TimeoutError:
        if tried:
            text = f"{url}: no complete response from {tried[-1]} within {limit:g} s"
        else:
            text = f"{url}: could not resolve {target.host} within {limit:g} s"
        return FetchResult(
            url=url,
            error=text,
            error_kind=FetchErrorKind.TIMEOUT,
            address=tried[-1] if tried else None,
        )
    assert last is not None
    return last
