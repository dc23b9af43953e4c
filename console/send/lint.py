"""Lint a test message before it is sent: what receivers will hold against it.

Each rule yields `send.<slug>` findings with the exact fix: required headers and
RFC 5322 address syntax; whether the From domain can align with DKIM d= or the
envelope sender for DMARC (RFC 9989, relaxed or strict as the From domain's policy
says); RFC 8058 one-click unsubscribe; open-tracking pixels, which Gmail now counts
against a message; links whose text shows another domain than their target; attached
file types Gmail refuses (also inside a zip); size.

The message is the admin's own, but it is still shown literally (`printable`): HTML
and header values in findings are text, never markup. Nothing here raises on odd
input: a header the parser chokes on becomes a finding.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import re
import urllib.parse
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser

from console.auth.dmarc import DmarcDiscovery, aligned, discover_policy
from console.auth.records import InvalidDomain, normalize_domain
from console.auth.resolver import ResolverContext
from console.literal import printable
from console.model import Finding, Status
from console.send.compose import ONE_CLICK_VALUE

GMAIL_CLIP_BYTES = 102 * 1024
"""Gmail shows "[Message clipped]" and hides the rest of an HTML body beyond ~102 KB."""

HTML_WARN_BYTES = 100 * 1024
"""Warn a little before Gmail's clipping point."""

DEFAULT_SIZE_LIMIT = 25 * 1024 * 1024
"""A typical receiving limit (Gmail, Microsoft 365 defaults) when EHLO named no SIZE."""

# fmt: off
GMAIL_BLOCKED_EXTENSIONS = frozenset((
    ".ade", ".adp", ".apk", ".appx", ".appxbundle", ".bat", ".cab", ".chm", ".cmd", ".com",
    ".cpl", ".diagcab", ".diagcfg", ".diagpkg", ".dll", ".dmg", ".ex", ".ex_", ".exe", ".hta",
    ".img", ".ins", ".iso", ".isp", ".jar", ".jnlp", ".js", ".jse", ".lib", ".lnk", ".mde",
    ".mjs", ".msc", ".msi", ".msix", ".msixbundle", ".msp", ".mst", ".nsh", ".pif", ".ps1",
    ".scr", ".sct", ".shb", ".sys", ".vb", ".vbe", ".vbs", ".vhd", ".vxd", ".wsc", ".wsf",
    ".wsh", ".xll",
))
# fmt: on
"""File types Gmail refuses to carry, attached or inside an archive (a message with one
bounces): https://support.google.com/mail/answer/6590"""

GMAIL_BLOCKED_SOURCE = "https://support.google.com/mail/answer/6590"

ZIP_NAMES_READ = 10_000
"""Names read from a zip's central directory at most (never its contents)."""

ADDRESS_HEADERS = ("From", "To", "Cc", "Bcc", "Reply-To", "Sender")
SINGLE_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID")
"""RFC 5322 section 3.6: these may appear at most once."""

KNOWN_TRACKERS: dict[str, str] = {
    "list-manage.com/track": "Mailchimp open tracking",
    "sendgrid.net/wf/open": "SendGrid open tracking",
    "/wf/open": "SendGrid open tracking (branded link domain)",
    "track.hubspot": "HubSpot open tracking",
    "hubspotlinks.com": "HubSpot tracking",
    "/o/eJ": "Mailgun open tracking",
    "mailgun.org/o/": "Mailgun open tracking",
    "/o/": "Mailgun-style open tracking path",
    "open.gif": "open-tracking image",
    "pixel": "tracking pixel",
    "beacon": "tracking beacon",
    "/track/open": "open tracking",
    "/open?": "open tracking",
    "mandrillapp.com/track": "Mandrill open tracking",
    "ct.sendgrid.net": "SendGrid tracking",
    "amazonses.com/open": "Amazon SES open tracking",
    "awstrack.me": "Amazon SES tracking",
    "exct.net": "Salesforce Marketing Cloud tracking",
    "klclick": "Klaviyo tracking",
}
"""URL fragments of open-tracking images (lower-case) and who uses them, as data."""

_URLISH = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?::\d+)?(?:[/?#]\S*)?$",
    re.IGNORECASE,
)
_PX = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$", re.IGNORECASE)
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)
"""Elements without an end tag: never pushed on the open-element stack."""


def _clip(text: str, limit: int = 80) -> str:
    # Lone surrogates (undecodable bytes) would break a terminal's encoder: escape them.
    text = printable(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finding(code: str, severity: Status, message: str, fix: str = "") -> Finding:
    return Finding(f"send.{code}", severity, message, fix)


# -- HTML --------------------------------------------------------------------------


@dataclass(slots=True)
class Image:
    """An <img> as the lint sees it."""

    src: str
    tiny: bool
    hidden: bool
    tracker: str | None


@dataclass(slots=True)
class Link:
    """An <a href> and the text a reader sees in it."""

    href: str
    text: str


def _style(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (value or "").split(";"):
        name, sep, val = part.partition(":")
        if sep:
            out[name.strip().lower()] = val.strip().lower()
    return out


def _tiny(value: str | None) -> bool:
    match = _PX.match(value or "")
    return bool(match) and float(match.group(1)) <= 1


def _hides(attrs: dict[str, str | None]) -> bool:
    style = _style(attrs.get("style"))
    opacity = _PX.match(style.get("opacity", ""))
    return (
        "hidden" in attrs
        or style.get("display", "").startswith("none")
        or style.get("visibility", "").startswith("hidden")
        or (opacity is not None and float(opacity.group(1)) == 0)
    )


def tracker_of(src: str) -> str | None:
    """What kind of open tracking a URL looks like, or None."""
    lowered = src.lower()
    for fragment, label in KNOWN_TRACKERS.items():
        if fragment in lowered:
            return label
    return None


class _Scanner(HTMLParser):
    """Collects images and links; keeps a stack of open elements for hidden ancestors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[Image] = []
        self.links: list[Link] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self._link: tuple[str, list[str], int] | None = None  # href, text, stack depth

    def _hidden(self) -> bool:
        return any(hides for _, hides in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value for name, value in attrs}
        if tag == "img":
            self._image(values)
        elif tag == "a":
            self._close_link()
            href = (values.get("href") or "").strip()
            if href:
                self._link = (href, [], len(self._stack))
        if tag not in _VOID:
            self._stack.append((tag, _hides(values)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self._image({name.lower(): value for name, value in attrs})

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close_link()
        # Pop to the matching open element; a stray end tag changes nothing.
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link[1].append(data)

    def close(self) -> None:
        super().close()
        self._close_link()

    def _close_link(self) -> None:
        if self._link is not None:
            href, parts, _ = self._link
            self.links.append(Link(href, " ".join("".join(parts).split())))
            self._link = None

    def _image(self, values: dict[str, str | None]) -> None:
        src = (values.get("src") or "").strip()
        style = _style(values.get("style"))
        width = values.get("width") or style.get("width")
        height = values.get("height") or style.get("height")
        # 1x1, or one side 1 px and the other left unset: both render as a dot.
        tiny = (_tiny(width) or width is None) and (_tiny(height) or height is None)
        tiny = tiny and (width is not None or height is not None)
        hidden = self._hidden() or _hides(values)
        self.images.append(Image(src, tiny, hidden, tracker_of(src) if src else None))


def scan_html(html: str) -> tuple[list[Image], list[Link]]:
    """Images and links of an HTML body; never raises."""
    scanner = _Scanner()
    try:
        scanner.feed(html)
        scanner.close()
    except Exception:  # html.parser is lenient, but keep a guarantee, not a hope
        pass
    return scanner.images, scanner.links


def _host(url: str) -> str | None:
    try:
        parsed = urllib.parse.urlsplit(url.strip())
        host = parsed.hostname
    except ValueError:
        return None
    if parsed.scheme.lower() not in ("http", "https") or not host:
        return None
    return host.lower().rstrip(".").removeprefix("www.")


def _same_site(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def shown_domain(text: str) -> str | None:
    """The domain a link's text presents as its destination, if the text is a URL/domain."""
    text = text.strip()
    if len(text) > 300:  # a paragraph is not a URL; keeps the match cheap
        return None
    match = _URLISH.match(text)
    if not match:
        return None
    return match.group(1).lower().rstrip(".").removeprefix("www.")


def link_mismatches(links: Iterable[Link]) -> list[tuple[Link, str, str]]:
    """(link, domain shown, domain targeted) for links whose text names another site."""
    out = []
    for link in links:
        shown = shown_domain(link.text)
        target = _host(link.href)
        if shown and target and not _same_site(shown, target):
            out.append((link, shown, target))
    return out


# -- the parts of the message -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachedFile:
    """An attached file as the receiver sees it: its name, and names inside a zip."""

    filename: str
    inner_names: tuple[str, ...] = ()
    encrypted: bool = False
    """A zip with encrypted members: no filter can look inside."""


@dataclass(slots=True)
class _Parts:
    text: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    files: list[AttachedFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _attached_file(filename: str, payload: object) -> AttachedFile:
    """What a filter sees of one attachment: for a zip, also the member names."""
    if not filename.lower().endswith(".zip") or not isinstance(payload, bytes):
        return AttachedFile(filename)
    try:
        # Only the central directory is read: nothing is decompressed, so a zip bomb
        # costs no more than its own bytes.
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = archive.infolist()[:ZIP_NAMES_READ]
    except Exception:  # any zip it cannot read (bad, newer format, truncated): no names
        return AttachedFile(filename)
    return AttachedFile(
        filename,
        tuple(member.filename for member in members),
        any(member.flag_bits & 0x1 for member in members),
    )


def _parts(message: EmailMessage) -> _Parts:
    parts = _Parts()
    try:
        for part in message.walk():
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            filename = part.get_filename()
            if filename or part.get_content_disposition() == "attachment":
                parts.files.append(_attached_file(filename or "", part.get_payload(decode=True)))
                continue
            if ctype not in ("text/plain", "text/html"):
                continue
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                payload = str(part.get_payload()).encode("utf-8", "replace")
            charset = part.get_content_charset() or "utf-8"
            try:
                body = payload.decode(charset, "replace")
            except LookupError:
                body = payload.decode("utf-8", "replace")
            (parts.text if ctype == "text/plain" else parts.html).append(body)
    except Exception as exc:  # a broken MIME tree is a finding, not a crash
        parts.problems.append(f"{type(exc).__name__}: {exc}")
    return parts


def _size(message: EmailMessage) -> int | None:
    try:
        return len(message.as_bytes())
    except Exception:
        return None


# -- headers ------------------------------------------------------------------------


def _modern(message: EmailMessage) -> EmailMessage:
    """The message under `email.policy.default`, whose headers parse addresses.

    A message read with the legacy compat32 policy has plain-string headers; it is
    re-read so address syntax is checked the same way whoever built it.
    """
    if isinstance(message.policy, email.policy.EmailPolicy):
        return message
    try:
        raw = message.as_bytes()
    except Exception:
        return message
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def _header_values(message: EmailMessage, name: str) -> tuple[list[object], str | None]:
    """Parsed values of a header, or the reason the parser failed on them."""
    try:
        return list(message.get_all(name) or []), None
    except Exception as exc:
        return [], f"{type(exc).__name__}: {exc}"


def _header_findings(message: EmailMessage) -> tuple[list[Finding], str | None]:
    """Required headers, single-occurrence rules and address syntax; also the From domain."""
    findings: list[Finding] = []
    from_domain: str | None = None
    values: dict[str, list[object]] = {}
    unparsable: set[str] = set()
    for name in dict.fromkeys((*ADDRESS_HEADERS, *SINGLE_HEADERS)):
        found, error = _header_values(message, name)
        values[name] = found
        if error:
            unparsable.add(name)
            findings.append(
                _finding(
                    "unparsable-header",
                    Status.FAIL,
                    f"The {name} header cannot be parsed ({_clip(error)}); receivers may "
                    "reject the message as not RFC 5322 compliant.",
                    f"Rewrite the {name} header in RFC 5322 syntax.",
                )
            )
    for name in SINGLE_HEADERS:
        if len(values[name]) > 1:
            findings.append(
                _finding(
                    "duplicate-header",
                    Status.FAIL,
                    f"The message has {len(values[name])} {name} headers; RFC 5322 allows "
                    "one, and Gmail rejects such messages as malformed.",
                    f"Keep a single {name} header.",
                )
            )
    required = (
        ("From", "missing-from", "Every message needs a From header (RFC 5322 3.6)."),
        ("Date", "missing-date", "Every message needs a Date header (RFC 5322 3.6)."),
        (
            "Message-ID",
            "missing-message-id",
            "Gmail expects a Message-ID (RFC 5322 3.6.4) and may reject or junk mail without one.",
        ),
    )
    for name, slug, why in required:
        if not values[name] and name not in unparsable:
            findings.append(
                _finding(slug, Status.FAIL, f"No {name} header. {why}", f"Add a {name} header.")
            )
    recipients = ("To", "Cc", "Bcc")
    if not any(values[name] for name in recipients) and not unparsable.intersection(recipients):
        findings.append(
            _finding(
                "missing-recipient",
                Status.FAIL,
                "No To, Cc or Bcc header: the message names no recipient.",
                "Add a To header with the seed address.",
            )
        )
    for name in ADDRESS_HEADERS:
        for value in values[name]:
            findings.extend(_address_findings(name, value))
    from_values = values["From"]
    if from_values:
        addresses = _addresses(from_values[0])
        if len(addresses) > 1:
            findings.append(
                _finding(
                    "multiple-from",
                    Status.FAIL,
                    "From names several addresses; DMARC cannot pick an Author Domain and "
                    "Gmail rejects such mail.",
                    "Put exactly one address in From.",
                )
            )
        if addresses:
            from_domain = addresses[0].rpartition("@")[2].lower().rstrip(".") or None
    subject, error = _header_values(message, "Subject")
    if not error and (not subject or not str(subject[0]).strip()):
        findings.append(
            _finding(
                "missing-subject" if not subject else "empty-subject",
                Status.WARN,
                "The message has no subject; filters treat subject-less bulk mail as "
                "suspicious and readers skip it.",
                "Add a Subject that says what the message is about.",
            )
        )
    return findings, from_domain


def _addresses(value: object) -> list[str]:
    try:
        return [
            str(address.addr_spec)
            for address in getattr(value, "addresses", ())
            if address.domain and address.username
        ]
    except Exception:
        return []


def _address_findings(name: str, value: object) -> list[Finding]:
    try:
        defects = list(getattr(value, "defects", ()))
        addresses = list(getattr(value, "addresses", ()))
        raw = str(value)
    except Exception as exc:
        defects, addresses, raw = [exc], [], ""
    problems = [str(defect) for defect in defects]
    for address in addresses:
        try:
            if not address.username or not address.domain:
                problems.append(f"{address.addr_spec!s} is not a complete address")
        except Exception as exc:
            problems.append(str(exc))
    # `To: undisclosed-recipients:;` (an empty group) is valid; an empty From is not.
    if not problems and not addresses and name in ("From", "Sender", "Reply-To"):
        problems.append("no address found")
    if not problems:
        return []
    return [
        _finding(
            "bad-address",
            Status.FAIL,
            f"The {name} header '{_clip(raw)}' is not valid RFC 5322 syntax "
            f"({_clip('; '.join(dict.fromkeys(problems)), 160)}); Gmail rejects mail that is "
            "not RFC 5322 compliant.",
            f"Write {name} as `Display Name <user@example.com>` or a bare user@example.com.",
        )
    ]


# -- DMARC alignment ----------------------------------------------------------------


def _domain_of(address: str | None) -> str | None:
    if not address:
        return None
    domain = address.strip().strip("<>").rpartition("@")[2] if "@" in address else address
    domain = domain.strip().rstrip(".").lower()
    return domain or None


def _dns_name(domain: str | None) -> str | None:
    if not domain:
        return None
    try:
        return normalize_domain(domain)
    except InvalidDomain:
        return None


async def _dmarc_findings(
    ctx: ResolverContext, from_domain: str, envelope_from: str | None, dkim_domain: str | None
) -> list[Finding]:
    author = _dns_name(from_domain)
    if author is None:
        return [
            _finding(
                "bad-from-domain",
                Status.FAIL,
                f"The From domain '{_clip(from_domain)}' is not a mail domain name, so DMARC "
                "cannot evaluate the message and receivers treat it as unauthenticated.",
                "Send from an address in your own registered domain.",
            )
        ]
    # An identifier that is not a domain name cannot align; it is simply left out.
    envelope = _dns_name(_domain_of(envelope_from))
    return await _alignment_findings(ctx, author, envelope, _dns_name(_domain_of(dkim_domain)))


async def _alignment_findings(
    ctx: ResolverContext,
    from_domain: str,
    envelope_domain: str | None,
    dkim_domain: str | None,
) -> list[Finding]:
    names = list(dict.fromkeys(d for d in (from_domain, envelope_domain, dkim_domain) if d))
    found = await ctx.gather(*(discover_policy(ctx, name) for name in names))
    walks: dict[str, DmarcDiscovery] = dict(zip(names, found, strict=True))
    author = walks[from_domain]
    findings: list[Finding] = []
    if author.error and author.parsed is None:
        return [
            _finding(
                "dmarc-lookup-error",
                Status.ERROR,
                f"Could not look up the DMARC policy of {_clip(from_domain)}: "
                f"{_clip(author.error, 200)}.",
                "Check the resolver and try again.",
            )
        ]
    parsed = author.parsed
    policy = author.applied_policy()
    adkim = parsed.adkim if parsed else "r"
    aspf = parsed.aspf if parsed else "r"

    def org(name: str) -> str | None:
        return walks[name].org_domain

    def check(identifier: str | None, mode: str) -> bool | None:
        """Aligned, not aligned, or None when a DNS failure leaves it open."""
        if not identifier:
            return False
        if identifier == from_domain:
            return True
        if mode == "s":
            return False
        org_a = org(from_domain)
        if org_a is None:
            return None
        # A name outside the From domain's Organizational Domain cannot share it, so
        # its own walk (which may fail on a TLD the resolver cannot see) is not needed.
        if identifier != org_a and not identifier.endswith("." + org_a):
            return False
        org_b = org(identifier)
        if org_b is None:
            return None
        return aligned(from_domain, identifier, mode, org_a, org_b)

    dkim_ok = check(dkim_domain, adkim)
    spf_ok = check(envelope_domain, aspf)
    if not dkim_domain:
        findings.append(
            _finding(
                "unsigned",
                Status.WARN,
                "The message is not DKIM-signed; Gmail, Yahoo and Microsoft require DKIM of "
                "bulk senders, and RFC 8058 one-click unsubscribe needs a signature covering "
                "List-Unsubscribe.",
                f"Sign with a key published under <selector>._domainkey.{_clip(from_domain)}.",
            )
        )
    if dkim_ok or spf_ok:
        return findings
    if dkim_ok is None or spf_ok is None:
        return [
            *findings,
            _finding(
                "dmarc-lookup-error",
                Status.ERROR,
                "Could not determine the Organizational Domains needed for DMARC alignment "
                "(a DNS lookup failed).",
                "Check the resolver and try again.",
            ),
        ]
    severity = Status.FAIL if policy in ("quarantine", "reject") else Status.WARN
    identifiers = " or ".join(
        f"{label}{_clip(value)}"
        for label, value in (("DKIM d=", dkim_domain), ("the envelope sender ", envelope_domain))
        if value
    )
    strict = []
    if dkim_domain and adkim == "s":
        strict.append("adkim=s")
    if envelope_domain and aspf == "s":
        strict.append("aspf=s")
    strict_note = f" (its policy asks for strict alignment: {', '.join(strict)})" if strict else ""
    consequence = {
        "reject": "its policy p=reject has receivers refuse the message",
        "quarantine": "its policy p=quarantine sends the message to spam",
        "none": "its policy is p=none, so nothing is enforced, but Gmail, Yahoo and "
        "Microsoft require bulk mail to pass DMARC",
    }.get(policy or "", "it publishes no DMARC policy, which bulk-sender rules require")
    findings.append(
        _finding(
            "dmarc-unaligned",
            severity,
            f"The From domain {_clip(from_domain)} does not align with "
            f"{identifiers or 'any DKIM or SPF domain (neither was given)'}"
            f"{strict_note}: the message cannot pass DMARC, and {consequence}.",
            f"Sign with d={_clip(from_domain)} (or a subdomain of it), or send with an envelope "
            f"sender (Return-Path) in {_clip(from_domain)}.",
        )
    )
    return findings


# -- unsubscribe, tracking, links, size ---------------------------------------------


def _unsubscribe_findings(message: EmailMessage, dkim_domain: str | None) -> list[Finding]:
    try:
        header = message.get("List-Unsubscribe")
        post = message.get("List-Unsubscribe-Post")
        header_text = str(header) if header is not None else None
        post_text = str(post) if post is not None else None
    except Exception:
        header_text = post_text = None
    fix_headers = (
        "Add `List-Unsubscribe: <https://example.com/unsubscribe?id=...>, "
        "<mailto:unsubscribe@example.com>` and `List-Unsubscribe-Post: "
        f"{ONE_CLICK_VALUE}`, and cover both with the DKIM signature."
    )
    if not header_text:
        return [
            _finding(
                "no-list-unsubscribe",
                Status.WARN,
                "No List-Unsubscribe header: Gmail and Yahoo require RFC 8058 one-click "
                "unsubscribe on marketing and subscribed mail from bulk senders.",
                fix_headers,
            )
        ]
    targets = re.findall(r"<([^<>]*)>", header_text)
    https = [t for t in targets if t.strip().lower().startswith("https://")]
    findings: list[Finding] = []
    if not targets:
        findings.append(
            _finding(
                "bad-list-unsubscribe",
                Status.WARN,
                f"List-Unsubscribe '{_clip(header_text)}' holds no <URI> (RFC 2369 puts each "
                "one in angle brackets).",
                fix_headers,
            )
        )
    if not https:
        findings.append(
            _finding(
                "no-one-click",
                Status.WARN,
                "List-Unsubscribe has no https URL, so one-click unsubscribe (RFC 8058) is not "
                "offered; Gmail and Yahoo require it of bulk senders.",
                fix_headers,
            )
        )
    if post_text is None:
        if https:
            findings.append(
                _finding(
                    "no-one-click",
                    Status.WARN,
                    "List-Unsubscribe-Post is missing, so receivers do not treat the https URL "
                    "as one-click unsubscribe (RFC 8058).",
                    f"Add `List-Unsubscribe-Post: {ONE_CLICK_VALUE}`.",
                )
            )
    elif post_text.strip() != ONE_CLICK_VALUE:
        findings.append(
            _finding(
                "bad-list-unsubscribe-post",
                Status.WARN,
                f"List-Unsubscribe-Post is '{_clip(post_text)}'; RFC 8058 allows only "
                f"{ONE_CLICK_VALUE!r}.",
                f"Set `List-Unsubscribe-Post: {ONE_CLICK_VALUE}`.",
            )
        )
    if https and post_text is not None and not dkim_domain:
        findings.append(
            _finding(
                "one-click-unsigned",
                Status.WARN,
                "One-click unsubscribe counts only when a valid DKIM signature covers "
                "List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 section 4); this message "
                "is not signed.",
                "DKIM-sign the message, including both headers in h=.",
            )
        )
    return findings


def _tracking_findings(images: list[Image]) -> list[Finding]:
    pixels = [image for image in images if image.tiny or image.hidden or image.tracker]
    if not pixels:
        return []
    shown = "; ".join(
        _clip(image.src or "(no src)", 100)
        + f" ({image.tracker or ('hidden' if image.hidden else '1x1 image')})"
        for image in pixels[:3]
    )
    more = f" and {len(pixels) - 3} more" if len(pixels) > 3 else ""
    return [
        _finding(
            "tracking-pixel",
            Status.WARN,
            f"The HTML has {len(pixels)} open-tracking image(s): {shown}{more}. Gmail now counts "
            "open-tracking pixels against a message; opens are no longer a signal to trust.",
            "Remove the tracking pixel (turn off open tracking at your sending service) and "
            "measure clicks and replies instead.",
        )
    ]


def _link_findings(links: list[Link]) -> list[Finding]:
    findings = []
    for link, shown, target in link_mismatches(links)[:5]:
        findings.append(
            _finding(
                "link-text-mismatch",
                Status.WARN,
                f"The link text '{_clip(link.text)}' shows {_clip(shown)} but the link goes to "
                f"{_clip(target)}; filters score this as phishing.",
                f"Make the text match the target, or use a click-tracking domain under "
                f"{_clip(shown)} (a branded link domain).",
            )
        )
    return findings


def blocked_extension(name: str) -> str | None:
    """The extension of `name` Gmail refuses (`.exe`), or None."""
    base = name.replace("\\", "/").rpartition("/")[2].lower().rstrip(". ")
    if "." not in base:
        return None
    extension = "." + base.rpartition(".")[2]
    return extension if extension in GMAIL_BLOCKED_EXTENSIONS else None


_DIRECTION_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Unicode bidi controls: in a file name they make `invoice\u202efdp.exe` display as
`invoiceexe.pdf`."""


def _attachment_findings(files: list[AttachedFile]) -> list[Finding]:
    findings = []
    for file in files:
        shown = _clip(file.filename or "(unnamed)")
        if any(char in _DIRECTION_CONTROLS for char in file.filename):
            findings.append(
                _finding(
                    "attachment-name-spoof",
                    Status.FAIL,
                    f"The file name {shown} holds Unicode direction controls, which make a "
                    "name show another extension than it has (an .exe passed off as a "
                    ".pdf); filters treat such a name as malware.",
                    "Rename the file with plain characters.",
                )
            )
        extension = blocked_extension(file.filename)
        inner = [(name, found) for name in file.inner_names if (found := blocked_extension(name))]
        if extension or inner:
            what = (
                f"the file {shown} ({extension})"
                if extension
                else f"{shown}, which holds {_clip(inner[0][0])} ({inner[0][1]})"
                + (f" and {len(inner) - 1} more such file(s)" if len(inner) > 1 else "")
            )
            findings.append(
                _finding(
                    "blocked-attachment",
                    Status.FAIL,
                    f"The message carries {what}: Gmail refuses this file type, attached or "
                    f"zipped, and bounces the whole message ({GMAIL_BLOCKED_SOURCE}); "
                    "corporate filters such as Microsoft 365's attachment filter block "
                    "most of the same types.",
                    "Share the file as a link (a download page or cloud storage) instead "
                    "of attaching it.",
                )
            )
        elif file.encrypted and any(
            name.lower().endswith((".zip", ".rar", ".7z")) for name in file.inner_names
        ):
            findings.append(
                _finding(
                    "blocked-attachment",
                    Status.FAIL,
                    f"{shown} is password-protected and holds another archive: Gmail "
                    f"cannot scan it and refuses it ({GMAIL_BLOCKED_SOURCE}).",
                    "Send the files unencrypted, or share them as a link.",
                )
            )
        elif file.encrypted:
            findings.append(
                _finding(
                    "encrypted-attachment",
                    Status.WARN,
                    f"{shown} is password-protected: no filter can scan it, so many "
                    "receivers quarantine it or score the message as likely malware.",
                    "Share the file as a link with access control instead of an encrypted "
                    "attachment.",
                )
            )
    return findings


def _size_findings(parts: _Parts, total: int | None, size_limit: int | None) -> list[Finding]:
    findings = []
    html_bytes = sum(len(body.encode("utf-8", "replace")) for body in parts.html)
    if html_bytes > HTML_WARN_BYTES:
        findings.append(
            _finding(
                "html-clipped",
                Status.WARN,
                f"The HTML part is {html_bytes // 1024} KB; Gmail clips HTML beyond about "
                f"{GMAIL_CLIP_BYTES // 1024} KB, hiding the rest (and the unsubscribe link "
                "at the bottom).",
                "Shrink the HTML below 100 KB: inline less CSS, drop comments and whitespace.",
            )
        )
    limit = size_limit or DEFAULT_SIZE_LIMIT
    if total is not None and total > limit:
        source = "the server's EHLO SIZE" if size_limit else "the usual provider limit, 25 MB"
        findings.append(
            _finding(
                "too-big",
                Status.FAIL,
                f"The message is {total:,} bytes, over {limit:,} bytes ({source}); it will "
                "be refused (552 message too big)."
                + (
                    " Attachments travel in base64, a third larger than the files."
                    if parts.files
                    else ""
                ),
                "Send large files as links instead of attachments.",
            )
        )
    return findings


async def lint_message(
    ctx: ResolverContext,
    message: EmailMessage,
    *,
    envelope_from: str | None,
    dkim_domain: str | None,
    bulk: bool = True,
    size_limit: int | None = None,
) -> list[Finding]:
    """Everything receivers will hold against `message`, as findings with fixes.

    Args:
        ctx: how to ask DNS (the From domain's DMARC policy and Organizational Domains).
        message: the message as it will be sent.
        envelope_from: the SMTP MAIL FROM address (SPF identity), if known.
        dkim_domain: the d= the message will be signed with, or None when unsigned.
        bulk: marketing or bulk mail: one-click unsubscribe applies.
        size_limit: the server's EHLO SIZE in bytes, if it announced one.

    Returns:
        Findings in a stable order; an empty list means nothing to fix. Never raises.
    """
    message = _modern(message)
    findings, from_domain = _header_findings(message)
    parts = _parts(message)
    for problem in parts.problems:
        findings.append(
            _finding(
                "bad-mime",
                Status.FAIL,
                f"The MIME structure cannot be read ({_clip(problem)}).",
                "Rebuild the message with a standard library or tool.",
            )
        )
    if from_domain:
        findings.extend(await _dmarc_findings(ctx, from_domain, envelope_from, dkim_domain))
    if bulk:
        findings.extend(_unsubscribe_findings(message, dkim_domain))
    if parts.html and not parts.text:
        findings.append(
            _finding(
                "no-text-part",
                Status.WARN,
                "The message has HTML but no text/plain part; spam filters score HTML-only "
                "mail higher and text-only readers see nothing useful.",
                "Send multipart/alternative with a text/plain version of the content.",
            )
        )
    images: list[Image] = []
    links: list[Link] = []
    for body in parts.html:
        found_images, found_links = scan_html(body)
        images.extend(found_images)
        links.extend(found_links)
    findings.extend(_tracking_findings(images))
    findings.extend(_link_findings(links))
    findings.extend(_attachment_findings(parts.files))
    findings.extend(_size_findings(parts, _size(message), size_limit))
    return findings
