"""From bytes to facts: who bounced, with which codes, said by which server.

Two shapes of input reach this module:

- a message (an .eml, one mbox entry, one maildir file). The stdlib `email` parser
  (compat32: the fastest and most forgiving policy) builds the tree once; we walk it
  without descending into the returned original (a message/rfc822 part can be huge and
  only its headers matter), collect RFC 3464 `message/delivery-status` blocks and the
  first human-readable text, then scan that text with per-MTA patterns for bounces that
  carry no DSN (qmail's QSBMF, old Exim and Sendmail, Exchange NDR text, Yahoo, ...).
  A bounce forwarded as an attachment (message/rfc822 around the report) is read from
  the attachment; a recipient the report does not name is taken from a VERP return
  path (`bounces+user=domain@...`) in the bounce's own To:.
- pasted text: SMTP replies copied from a log or a terminal, multi-line (`550-5.7.26
  ...`) or inside a log line (`status=bounced (host ... said: 550 ...)`); or Amazon SES
  bounce notifications as JSON (one object, an array, JSON lines, the SNS envelope).

Every cap here (text, DSN, multipart depth, pasted line and reply length) bounds work
and memory per message; the regexes that run over long text start matches only at the
start of a run, so none is quadratic on megabytes of junk.

Either way the result is a list of `Entry` (one per recipient) plus what kind of
message it was (bounce, delay notice, auto-reply, success DSN, or none of these).
Nothing here classifies: `classify.py` turns an Entry into a reason.

Every function takes untrusted input and must not raise on it; the caller still wraps
each message, so one bad message never stops a folder.
"""

from __future__ import annotations

import contextlib
import email
import email.header
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32
from itertools import islice

from console.bounce.model import (
    KIND_AUTO_REPLY,
    KIND_BOUNCE,
    KIND_DELAYED,
    KIND_DELIVERED,
    KIND_UNKNOWN,
)

TEXT_CAP = 64 * 1024  # characters of human-readable text scanned per message
# Bytes of a delivery-status part read as text: as much as the message cap lets in, so a
# DSN with thousands of recipients is never cut short silently (the cap says so itself).
DSN_CAP = 1024 * 1024
DIAG_CAP = 2000  # characters of one diagnostic kept
# More multipart containers than any bounce has (report, alternative, returned original
# with its own parts ...). The stdlib parser recurses once per level: a message nested
# 1,000 deep raises RecursionError after seconds of work, so the rest is cut off first.
MAX_MULTIPARTS = 64
PASTED_LINES = 100_000  # lines of pasted text read
PASTED_LINE_CAP = 4096  # characters of one pasted line kept (a reply line is at most 512)
PASTED_GROUP_CAP = 100  # lines of one multi-line reply kept

# RFC 3463 status: class.subject.detail. Not inside an IP address or a version number.
STATUS_RE = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")
# A reply code followed by an enhanced status ("550 5.1.1", "550-5.7.26", "550 #5.1.1").
PAIRED_RE = re.compile(
    r"(?<![\w.\[:/-])([245][0-5]\d)(?:[ \t-]|:[ \t])[ \t]*#?([245]\.\d{1,3}\.\d{1,3})(?![\w]|\.\d)"
)
# A reply code alone, where replies start: line start, after "said:", "smtp;", a quote.
REPLY_RE = re.compile(
    r"(?:^|[;'\"(]|said:|returned|reason:|error:|<<<)\s*([245][0-5]\d)(?=[ \t-]|$)",
    re.MULTILINE | re.IGNORECASE,
)
# The lookbehind makes a match start only where a run of address characters starts: without
# it a long run with no "@" (a pasted 8 MB line of junk) is rescanned from every offset, which
# is quadratic and hangs.
ADDRESS_RE = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
)
_CONTINUATION_RE = re.compile(r"^\s*([245]\d\d)([ -])(?:#?([245]\.\d{1,3}\.\d{1,3})\s*)?")
_SPACES_RE = re.compile(r"\s+")
_HOST_RE = re.compile(
    r"\b(?:host|relay=|H=)\s*([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})\.?\s*\[([0-9A-Fa-f.:]+)\]"
)
_TALKING_RE = re.compile(r"while talking to ([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})", re.I)
_QMAIL_HOST_RE = re.compile(
    r"^(?:Connected to )?([0-9a-fA-F.:]{7,}) (?:does not like|but |failed after)", re.MULTILINE
)
_HEADER_LINE_RE = re.compile(rb"^(?:From |[!-9;-~]+:)")

# -- what kind of message -------------------------------------------------------------------

_BOUNCE_FROM_RE = re.compile(r"mailer-daemon|postmaster|mail delivery (?:sub)?system", re.I)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed|failed)|"
    r"failure notice|returned mail|mail delivery failed|could not be delivered|"
    r"non[- ]?remis|unzustellbar|nondeliverable|delivery problem|mail system error|"
    r"returned to sender|rejected:|bounce",
    re.I,
)
_DELAY_SUBJECT_RE = re.compile(
    r"\(delay\)|delayed mail|warning: (?:message .* delayed|could not send message)|"
    r"delivery (?:is )?delayed|delivery delay|not (?:been )?delivered yet|still being retried",
    re.I,
)
_DELAY_TEXT_RE = re.compile(
    r"not (?:yet )?been delivered|has not yet been delivered|not delivered yet|"
    r"will (?:continue to try|keep trying|retry)|still (?:being )?retried|delivery incomplete|"
    r"could not send message for past|no action is required on your part|"
    r"will be retried|warning: message .* delayed",
    re.I,
)
_AUTO_SUBJECT_RE = re.compile(
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response|antwort)|"
    r"autoreply|vacation|abwesenheit|absence|r[ée]ponse automatique|away from (?:my|the) office",
    re.I,
)


@dataclass(slots=True)
class Entry:
    """One recipient as the bounce tells it, before classification."""

    recipient: str = ""
    original_recipient: str | None = None
    action: str | None = None
    status: str | None = None
    reply_code: int | None = None
    diagnostic: str = ""
    remote_mta: str | None = None
    reporting_mta: str | None = None
    last_attempt: str | None = None


@dataclass(slots=True)
class Parsed:
    """One message, read: its kind, its recipients and what it was about."""

    kind: str = KIND_UNKNOWN
    entries: list[Entry] = field(default_factory=list)
    subject: str | None = None
    message_id: str | None = None
    sender: str | None = None  # From: of the bounce itself
    original_message_id: str | None = None
    original_subject: str | None = None
    original_from: str | None = None  # whose mail bounced: the campaign's From
    problem: str | None = None


# -- small helpers --------------------------------------------------------------------------


def clean(value: object) -> str:
    """A header or payload value as plain str: RFC 2047 decoded, no lone surrogates."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        # compat32 wraps raw 8-bit header bytes as "unknown-8bit": try UTF-8, else Latin-1.
        text = ""
        for chunk, charset in email.header.decode_header(value):
            if isinstance(chunk, str):
                text += chunk
                continue
            text += _decode_8bit(chunk, charset)
        return text
    else:
        text = str(value)
        if "=?" in text:
            # A broken encoded-word stays as it was sent.
            with contextlib.suppress(Exception):
                text = str(email.header.make_header(email.header.decode_header(text)))
    # compat32 keeps undecodable header bytes as surrogates; JSON and terminals can't.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _decode_8bit(data: bytes, charset: str | None) -> str:
    if charset and charset not in ("unknown-8bit", "us-ascii"):
        try:
            return data.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def one_line(text: str, cap: int = DIAG_CAP) -> str:
    """Whitespace (folding, newlines) collapsed to single spaces, capped in length."""
    return _SPACES_RE.sub(" ", text).strip()[:cap]


def unfold_reply(text: str) -> str:
    """A multi-line SMTP reply as one line: `550-5.7.26 a` + `550 5.7.26 b` -> `550 5.7.26 a b`.

    Lines that do not all carry the same reply code are simply joined.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        first = _CONTINUATION_RE.match(lines[0])
        if first and all(
            (m := _CONTINUATION_RE.match(line)) and m.group(1) == first.group(1) for line in lines
        ):
            code, status = first.group(1), first.group(3)
            rests = [_CONTINUATION_RE.sub("", line, count=1) for line in lines]
            head = f"{code} {status} " if status else f"{code} "
            return one_line(head + " ".join(rests))
    return _drop_repeats(one_line(" ".join(lines)))


def _drop_repeats(text: str) -> str:
    """Postfix joins a multi-line reply as it came: drop the repeated `550-5.7.26` marks."""
    first = _CONTINUATION_RE.match(text)
    if not first or not first.group(3):
        return text
    mark = re.compile(rf" {first.group(1)}[ -]{re.escape(first.group(3))}(?= )")
    head, rest = text[: first.end()], text[first.end() :]
    return head.replace("-", " ", 1) + mark.sub("", rest)


def extract_status(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in `text` ("5.7.26"), or None.

    A code right after a reply code wins over one standing alone, so an IP-like or
    version-like triple elsewhere in the text is not taken for a status.
    """
    paired = PAIRED_RE.search(text)
    if paired:
        return paired.group(2)
    match = STATUS_RE.search(text)
    return match.group(0) if match else None


def extract_reply_code(text: str) -> int | None:
    """The SMTP reply code (RFC 5321, 2xx-5xx) a diagnostic starts with or quotes, or None."""
    paired = PAIRED_RE.search(text)
    if paired:
        return int(paired.group(1))
    match = REPLY_RE.search(text)
    return int(match.group(1)) if match else None


def _strip_type(value: str) -> str:
    """`rfc822; a@b` -> `a@b`, `smtp; 550 ...` -> `550 ...`, `dns; mx.example` -> `mx.example`."""
    kind, sep, rest = value.partition(";")
    if sep and len(kind) <= 20 and " " not in kind.strip():
        return rest.strip()
    return value.strip()


def _address(value: str) -> str:
    value = _strip_type(clean(value)).strip().strip("<>").strip()
    match = ADDRESS_RE.search(value)
    return match.group(0) if match else value[:320]


def _host(value: str) -> str | None:
    words = _strip_type(clean(value)).split()
    host = words[0].strip("[]").rstrip(".") if words else ""
    return host[:255] or None


def _reply_fields(diagnostic: str) -> tuple[str | None, int | None]:
    return extract_status(diagnostic), extract_reply_code(diagnostic)


# -- reading a message ----------------------------------------------------------------------


def looks_like_message(data: bytes) -> bool:
    """True when `data` starts like an RFC 5322 message (or an mbox "From " line)."""
    head = data.lstrip(b"\r\n\t ")[:1000]
    if head[:1] in (b"{", b"["):  # JSON (an SES notification), not a header line
        return False
    return bool(head) and bool(_HEADER_LINE_RE.match(head))


_MULTIPART_RE = re.compile(rb"content-type:\s*multipart/", re.IGNORECASE)


def limit_nesting(data: bytes) -> bytes:
    """`data` cut before its (MAX_MULTIPARTS + 1)th multipart container, if it has that many."""
    for count, match in enumerate(_MULTIPART_RE.finditer(data), start=1):
        if count > MAX_MULTIPARTS:
            return data[: match.start()]
    return data


def parse_message(data: bytes) -> Parsed:
    """Read one message; never raises on malformed input (defects become best effort)."""
    msg = email.message_from_bytes(limit_nesting(data), policy=compat32)
    return _parse_tree(msg, forwarded=0)


def _parse_tree(msg: Message, forwarded: int) -> Parsed:
    """One parsed message; `forwarded` counts the message/rfc822 levels already opened."""
    parsed = Parsed(
        subject=clean(msg.get("Subject")) or None,
        message_id=clean(msg.get("Message-ID")).strip() or None,
        sender=clean(msg.get("From")) or None,
    )
    dsn_blocks: list[list[dict[str, str]]] = []
    texts: list[str] = []
    text_size = 0
    attached: list[Message] = []
    for part in _parts(msg):
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            dsn_blocks.append(_dsn_blocks(part))
        elif ctype in ("message/rfc822", "message/global", "text/rfc822-headers"):
            _original(part, parsed)
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                attached.append(inner[0])
        elif ctype in ("text/plain", "text/html") or (
            ctype.startswith("text/") and not part.is_multipart()
        ):
            if text_size >= TEXT_CAP:
                continue
            text = _payload_text(part, TEXT_CAP - text_size)
            if ctype == "text/html":
                text = _strip_html(text)
            texts.append(text)
            text_size += len(text)
    text = _without_returned_copy("\n".join(texts)[:TEXT_CAP])
    reporting_mta: str | None = None
    for blocks in dsn_blocks:
        if not blocks:
            continue
        per_message, *per_recipient = blocks
        reporting_mta = _host(per_message.get("reporting-mta", "")) or reporting_mta
        if "final-recipient" in per_message or "action" in per_message:
            per_recipient = [per_message, *per_recipient]  # a DSN without the first block
        for fields in per_recipient:
            entry = _dsn_entry(fields, reporting_mta)
            if entry is not None:
                parsed.entries.append(entry)
    _fill_from_text(parsed, text, msg)
    _fill_from_verp(parsed, msg)
    parsed.kind = _kind(parsed, msg, text, bool(dsn_blocks))
    if parsed.kind == KIND_DELAYED:
        for entry in parsed.entries:
            if entry.action in (None, "failed"):
                entry.action = "delayed"
    if parsed.kind == KIND_UNKNOWN and not parsed.entries and forwarded < 2:
        # A bounce forwarded as an attachment ("Fwd: Undelivered Mail ..." from a colleague
        # or a helpdesk): the report is the attached message, not the note around it.
        for inner in attached:
            if inner.get_content_type() == "multipart/report" or _looks_like_bounce(
                Parsed(subject=clean(inner.get("Subject")), sender=clean(inner.get("From"))),
                inner,
            ):
                found = _parse_tree(inner, forwarded + 1)
                if found.kind != KIND_UNKNOWN:
                    return found
    return parsed


# VERP (variable envelope return path): the bounce goes to `bounces+user=domain@lists...`,
# so the failed address is in the bounce's own To: when the report does not name it. Only
# the "+" delimiter (Postfix, Mailman, most ESPs): with "-" the user part is ambiguous
# (`bounce-first-last=example.org`), and a wrong address is worse than none.
_VERP_RE = re.compile(
    r"(?<![\w.+-])(?!SRS[01][=+-])[\w.-]+\+([\w.!#$%&'*/?^`{|}~-]+)="
    r"([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)@",
    re.IGNORECASE,
)


def verp_recipient(address: str) -> str | None:
    """`bounces+zed=example.org@lists.shop.example.com` -> `zed@example.org`, else None."""
    match = _VERP_RE.search(address)
    return f"{match.group(1)}@{match.group(2)}" if match else None


def _fill_from_verp(parsed: Parsed, msg: Message) -> None:
    if not parsed.entries or all(e.recipient for e in parsed.entries):
        return
    for header in ("X-Original-To", "Delivered-To", "Envelope-To", "To"):
        found = verp_recipient(clean(msg.get(header))[:1000])
        if found:
            for entry in parsed.entries:
                if not entry.recipient:
                    entry.recipient = found
            return


_RETURNED_COPY_RE = re.compile(
    r"^(?:--- Below this line is a copy of the message|"
    r"-+ This is a copy of the message|"
    r"\s*-+ Original message follows -+|"
    r"Original message headers:)",
    re.MULTILINE | re.IGNORECASE,
)


def _without_returned_copy(text: str) -> str:
    """The report without the returned original (whose addresses are not recipients)."""
    match = _RETURNED_COPY_RE.search(text)
    return text[: match.start()] if match else text


def _parts(msg: Message, depth: int = 0) -> Iterator[Message]:
    """The message's leaves and report parts, not descending into returned originals."""
    if depth > 20:  # a pathological nesting: what we have so far is enough
        return
    ctype = msg.get_content_type()
    if ctype in ("message/rfc822", "message/global", "message/delivery-status"):
        yield msg
        return
    if ctype == "message/global-delivery-status":
        yield msg
        return
    if msg.is_multipart():
        payload = msg.get_payload()
        if isinstance(payload, list):
            for sub in payload[:50]:
                if isinstance(sub, Message):
                    yield from _parts(sub, depth + 1)
        return
    yield msg


def _payload_bytes(part: Message, cap: int) -> bytes:
    raw = part.get_payload()
    if isinstance(raw, str) and len(raw) > cap * 2:
        # Decode only a prefix: enough for any bounce text, cheap for a huge part.
        cut = raw[: cap * 2]
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding == "base64":
            cut = cut[: len(cut) - len(cut) % 4]
            import base64
            import binascii

            try:
                return base64.b64decode("".join(cut.split()) + "===", validate=False)[:cap]
            except (binascii.Error, ValueError):
                return cut.encode("ascii", "replace")[:cap]
        if encoding == "quoted-printable":
            import quopri

            return quopri.decodestring(cut.encode("ascii", "replace"))[:cap]
        return cut.encode("utf-8", "surrogateescape")[:cap]
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data[:cap]
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")[:cap]
    return b""


def _payload_text(part: Message, cap: int) -> str:
    data = _payload_bytes(part, cap)
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except (LookupError, ValueError):
        return data.decode("latin-1")


_TAG_RE = re.compile(r"<(?:script|style)\b.*?</(?:script|style)>|<[^>]{0,2000}>", re.I | re.S)


def _strip_html(text: str) -> str:
    import html

    text = re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", text, flags=re.I)
    return html.unescape(_TAG_RE.sub(" ", text))


def _dsn_blocks(part: Message) -> list[dict[str, str]]:
    """The DSN's field blocks: the per-message block first, then one per recipient."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list) and all(isinstance(p, Message) for p in payload):
        # compat32 parses message/delivery-status into one Message per block. All of them:
        # the 1 MiB message cap bounds their number, and a cap here would drop recipients
        # of a large DSN without a word.
        for block in payload:
            fields = {k.lower(): clean(v) for k, v in block.items()}
            if fields:
                blocks.append(fields)
            # message/global-delivery-status (and some broken DSNs) parse as one block
            # of headers whose body holds the remaining blocks as text.
            body = block.get_payload(decode=True) if not block.is_multipart() else None
            if isinstance(body, bytes) and body.strip():
                blocks.extend(parse_dsn_text(body[:DSN_CAP].decode("utf-8", "replace")))
        if blocks:
            return blocks
    text = _payload_text(part, DSN_CAP)
    return parse_dsn_text(text)


_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")


def parse_dsn_text(text: str) -> list[dict[str, str]]:
    """RFC 3464 fields from raw text: blocks split on blank lines, continuations unfolded."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t" and last is not None:
            current[last] += " " + line.strip()
            continue
        match = _FIELD_RE.match(line)
        if match:
            last = match.group(1).lower()
            current[last] = match.group(2).strip()
    if current:
        blocks.append(current)
    return blocks


def _dsn_entry(fields: dict[str, str], reporting_mta: str | None) -> Entry | None:
    recipient = fields.get("final-recipient") or fields.get("original-recipient")
    if not recipient and "action" not in fields and "status" not in fields:
        return None
    diagnostic = unfold_reply(_strip_type(fields.get("diagnostic-code", "")))[:DIAG_CAP]
    status_field = STATUS_RE.search(fields.get("status", ""))
    dsn_status = status_field.group(0) if status_field else None
    remote_status, reply_code = _reply_fields(diagnostic)
    # The remote's own words are usually more precise than the DSN's Status (often a
    # synthesised 5.0.0); but when the classes differ (a 4xx answer, then the reporting
    # MTA gave up with 5.4.7), the DSN's Status says what happened to this delivery.
    status = remote_status or dsn_status
    if (
        remote_status
        and dsn_status
        and remote_status[0] != dsn_status[0]
        and not dsn_status.endswith(".0.0")
    ):
        status = dsn_status
    action = fields.get("action", "").strip().lower().split(" ")[0] or None
    original = fields.get("original-recipient")
    return Entry(
        recipient=_address(recipient or ""),
        original_recipient=_address(original) if original else None,
        action=action,
        status=status,
        reply_code=reply_code,
        diagnostic=diagnostic,
        remote_mta=_host(fields.get("remote-mta", "")),
        reporting_mta=reporting_mta,
        last_attempt=fields.get("last-attempt-date") or None,
    )


def _original(part: Message, parsed: Parsed) -> None:
    """Message-ID, Subject and From of the returned original (headers only)."""
    if parsed.original_message_id is not None:
        return
    headers: Message | None = None
    if part.get_content_type() == "text/rfc822-headers":
        text = _payload_text(part, 64 * 1024)
        try:
            headers = email.message_from_string(text, policy=compat32)
        except Exception:
            return
    else:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            headers = payload[0]
        elif isinstance(payload, str):
            try:
                headers = email.message_from_string(payload[:65536], policy=compat32)
            except Exception:
                return
    if headers is None:
        return
    parsed.original_message_id = clean(headers.get("Message-ID")).strip() or None
    parsed.original_subject = clean(headers.get("Subject")) or None
    parsed.original_from = clean(headers.get("From")) or None


# -- bounces without a DSN (or DSNs missing a diagnostic) ----------------------------------

# Postfix, qmail and Yahoo: "<addr>:" then the reason until a blank line.
_ANGLE_BLOCK_RE = re.compile(
    r"^<([^<>\s]+@[^<>\s]+)>(?: \(expanded from [^)]*\))?:[ \t]*\n?"
    r"(.+?)(?=\n[ \t]*\n|\n<[^<>\s]+@|\n--- |\Z)",
    re.MULTILINE | re.DOTALL,
)
# Exim: an indented address, then more-indented lines.
_EXIM_BLOCK_RE = re.compile(
    r"^ {1,4}(\S+@\S+?)\s*\n((?:(?: {3,}|\t).*(?:\n|\Z))+)",
    re.MULTILINE,
)
# Sendmail: "<addr>" then "(reason: 550 ...)".
_SENDMAIL_RE = re.compile(r"^<?(\S+@[^\s>]+)>?[^\n]*\n\s+\(reason: (.+?)\)\s*$", re.MULTILINE)
_SENDMAIL_TRANSCRIPT_RE = re.compile(
    r"^(?:<<< )?([245]\d\d[ -]+[245]\.\d{1,3}\.\d{1,3} <?(\S+@[^\s>]+?)>?\.\.\. .*)$",
    re.MULTILINE,
)
# Exchange / Microsoft 365 NDR text: "Remote Server returned '550 5.1.10 ...'".
_EXCHANGE_RE = re.compile(r"Remote Server returned '([^'\n]{1,2000})'", re.IGNORECASE)
_GENERATING_RE = re.compile(r"Generating server:\s*(\S+)", re.IGNORECASE)
# Gmail's own text: "The response (from the remote server) was: \n 550 ...".
_GMAIL_RESPONSE_RE = re.compile(
    r"The response(?: from the remote server)? was:\s*\n?(.+?)(?=\n[ \t]*\n|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_GMAIL_RCPT_RE = re.compile(
    r"(?:wasn't|was not|couldn't be) delivered to (\S+@[\w.-]+)|"
    r"There was a (?:temporary )?problem delivering your message to (\S+@[\w.-]+)|"
    r"Your message to (\S+@[\w.-]+) (?:has been blocked|couldn't be delivered)",
    re.IGNORECASE,
)
_REPLY_LINE_RE = re.compile(r"^[ \t]*(?:<<<\s*)?([245]\d\d)[ -].*$", re.MULTILINE)


def scan_text(text: str) -> list[Entry]:
    """Recipients and their replies from a non-standard bounce's human-readable text."""
    entries: list[Entry] = []
    seen: set[str] = set()

    def add(recipient: str, block: str, remote: str | None = None) -> None:
        recipient = recipient.strip().strip("<>").rstrip(".,;:")
        key = recipient.lower()
        if key in seen:
            return
        seen.add(key)
        entries.append(_entry_from_block(recipient, block, remote))

    for match in _EXCHANGE_RE.finditer(text):
        before = text[max(0, match.start() - 600) : match.start()]
        addresses = ADDRESS_RE.findall(before)
        generating = _GENERATING_RE.search(text)
        entry_recipient = addresses[-1] if addresses else ""
        add(entry_recipient, match.group(1))
        if generating and entries:
            entries[-1].reporting_mta = generating.group(1).rstrip(".")
    if entries:
        return entries
    for match in _SENDMAIL_RE.finditer(text):
        add(match.group(1), match.group(2), _remote(text))
    for match in _SENDMAIL_TRANSCRIPT_RE.finditer(text):
        add(match.group(2), match.group(1), _remote(text))
    if entries:
        return entries
    for match in _ANGLE_BLOCK_RE.finditer(text):
        add(match.group(1), match.group(2))
    if entries:
        return entries
    if re.search(
        r"address(?:es)?\(?e?s?\)? failed|could not be delivered|not yet been delivered", text, re.I
    ):
        for match in _EXIM_BLOCK_RE.finditer(text):
            add(match.group(1), match.group(2))
    if entries:
        return entries
    for match in _GMAIL_RESPONSE_RE.finditer(text):
        rcpt = _GMAIL_RCPT_RE.search(text)
        recipient = next((g for g in rcpt.groups() if g), "") if rcpt else ""
        add(recipient, match.group(1))
        break
    return entries


def _remote(block: str) -> str | None:
    match = _HOST_RE.search(block) or _TALKING_RE.search(block)
    if match:
        return match.group(1).rstrip(".")
    qmail = _QMAIL_HOST_RE.search(block)
    return qmail.group(1) if qmail else None


def _entry_from_block(recipient: str, block: str, remote: str | None = None) -> Entry:
    """One recipient's paragraph: keep the reply from its code on, remember the host."""
    remote = remote or _remote(block)
    start = None
    paired = PAIRED_RE.search(block)
    if paired:
        start = paired.start()
    else:
        reply = _REPLY_LINE_RE.search(block) or REPLY_RE.search(block)
        if reply:
            start = reply.start(1)
    diagnostic = unfold_reply(block[start:] if start is not None else block)
    status, code = _reply_fields(diagnostic)
    return Entry(
        recipient=recipient,
        status=status,
        reply_code=code,
        diagnostic=diagnostic[:DIAG_CAP],
        remote_mta=remote,
    )


def _fill_from_text(parsed: Parsed, text: str, msg: Message) -> None:
    """Recipients the DSN lacks (or DSN entries without a diagnostic) from the text part."""
    if parsed.entries and all(e.diagnostic for e in parsed.entries):
        return
    scanned = scan_text(text) if text else []
    if parsed.entries:
        by_rcpt = {e.recipient.lower(): e for e in scanned}
        for entry in parsed.entries:
            found = by_rcpt.get(entry.recipient.lower())
            if found is not None and not entry.diagnostic:
                entry.diagnostic = found.diagnostic
                entry.status = entry.status if entry.status else found.status
                entry.reply_code = entry.reply_code or found.reply_code
                entry.remote_mta = entry.remote_mta or found.remote_mta
        return
    parsed.entries = scanned
    failed = [_address(a) for a in clean(msg.get("X-Failed-Recipients")).split(",") if a.strip()]
    if not parsed.entries and (failed or _looks_like_bounce(parsed, msg)):
        # A bounce we cannot take apart: the first reply line in it, for each recipient.
        reply = _REPLY_LINE_RE.search(text)
        block = reply.group(0) if reply else ""
        for recipient in failed or [""]:
            if block or failed:
                parsed.entries.append(_entry_from_block(recipient, block))
    elif failed and len(parsed.entries) == 1 and not parsed.entries[0].recipient:
        parsed.entries[0].recipient = failed[0]


def _looks_like_bounce(parsed: Parsed, msg: Message) -> bool:
    ctype = msg.get_content_type()
    if ctype == "multipart/report":
        return True
    if msg.get("X-Failed-Recipients"):
        return True
    subject = parsed.subject or ""
    return bool(_BOUNCE_SUBJECT_RE.search(subject) or _DELAY_SUBJECT_RE.search(subject)) or bool(
        _BOUNCE_FROM_RE.search(parsed.sender or "")
    )


def _kind(parsed: Parsed, msg: Message, text: str, has_dsn: bool) -> str:
    actions = {e.action for e in parsed.entries if e.action}
    if has_dsn and actions:
        if "failed" in actions:
            return KIND_BOUNCE
        if "delayed" in actions:
            return KIND_DELAYED
        if actions <= {"delivered", "relayed", "expanded"}:
            return KIND_DELIVERED
    subject = parsed.subject or ""
    if parsed.entries or _looks_like_bounce(parsed, msg):
        if _DELAY_SUBJECT_RE.search(subject) or _DELAY_TEXT_RE.search(text[:4000]):
            return KIND_DELAYED
        if parsed.entries:
            classes = {(e.status or str(e.reply_code or ""))[:1] for e in parsed.entries}
            if classes == {"2"}:
                return KIND_DELIVERED
            return KIND_BOUNCE
    if _is_auto_reply(msg, subject):
        return KIND_AUTO_REPLY
    if parsed.entries:
        return KIND_BOUNCE
    return KIND_UNKNOWN


def _is_auto_reply(msg: Message, subject: str) -> bool:
    """RFC 3834 Auto-Submitted, the de facto X-Autoreply headers, or an away subject."""
    auto = clean(msg.get("Auto-Submitted")).strip().lower()
    if auto and auto != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if clean(msg.get("Precedence")).strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT_RE.search(subject))


# -- pasted SMTP replies --------------------------------------------------------------------

_LOG_RCPT_RE = re.compile(r"\bto=<([^<>\s]*)>|RCPT TO:\s*<([^<>\s]+)>|\*\* (\S+@\S+)", re.I)
_LOG_DEFERRED_RE = re.compile(r"status=deferred|^\S.* == \S+@", re.I)
_LOG_BOUNCED_RE = re.compile(r"status=(?:bounced|undeliverable)|\*\* \S+@", re.I)


_PASTED_LINE_RE = re.compile(r"([^\r\n]*)(?:\r\n|\r|\n|\Z)")


@dataclass(slots=True)
class PastedReply:
    """One reply found in pasted text, with the line it started on (1-based)."""

    line: int
    entry: Entry


def parse_pasted(text: str) -> list[PastedReply]:
    """SMTP replies in text: multi-line replies folded, log lines taken one by one.

    A 4xx reply (or a log line saying `status=deferred`) is a delay, not a failure.
    """
    replies: list[PastedReply] = []
    # Line by line, lazily: a list of every line of 8 MiB of short lines would be 40 MB.
    lines = (match.group(1) for match in _PASTED_LINE_RE.finditer(text))
    group: list[str] = []
    group_start = 0
    group_code = ""
    recipient_hint = ""

    def emit(line_no: int, body: str, context: str) -> None:
        body = body.rstrip()
        if body.endswith(")") and body.count(")") > body.count("("):
            body = body[:-1]  # a log's "status=bounced (... said: 550 ...)" wrapper
        entry = _entry_from_block("", body)
        rcpt = _LOG_RCPT_RE.search(context)
        if rcpt:
            entry.recipient = next(g for g in rcpt.groups() if g is not None)
        elif recipient_hint:
            entry.recipient = recipient_hint
        else:
            address = ADDRESS_RE.search(body)
            entry.recipient = address.group(0) if address else ""
        relay = _HOST_RE.search(context)
        if relay:
            entry.remote_mta = relay.group(1).rstrip(".")
        code_class = (entry.status or str(entry.reply_code or ""))[:1]
        if _LOG_DEFERRED_RE.search(context):
            entry.action = "delayed"
        elif _LOG_BOUNCED_RE.search(context):
            entry.action = "failed"
        else:
            entry.action = "delayed" if code_class == "4" else "failed"
        replies.append(PastedReply(line_no, entry))

    for number, raw in enumerate(islice(lines, PASTED_LINES), start=1):
        line = raw[:PASTED_LINE_CAP].strip()
        continuation = _CONTINUATION_RE.match(line)
        if group:
            if continuation and continuation.group(1) == group_code:
                if len(group) < PASTED_GROUP_CAP:
                    group.append(line)
                if continuation.group(2) == " ":
                    emit(group_start, "\n".join(group), "")
                    group = []
                continue
            emit(group_start, "\n".join(group), "")  # a reply cut short when pasting
            group = []
        if not line:
            continue
        if continuation and continuation.group(2) == "-":
            group, group_start, group_code = [line], number, continuation.group(1)
            continue
        if continuation or PAIRED_RE.search(line) or REPLY_RE.search(line):
            if continuation:
                emit(number, line, "")
            else:
                emit(number, line[_reply_start(line) :], line)
            continue
        hint = _LOG_RCPT_RE.search(line)
        if hint:
            recipient_hint = next(g for g in hint.groups() if g is not None)
    if group:
        emit(group_start, "\n".join(group), "")
    return replies


def _reply_start(line: str) -> int:
    paired = PAIRED_RE.search(line)
    if paired:
        # Keep the words that say who answered ("host mx... said:") out of the reply.
        return paired.start()
    match = REPLY_RE.search(line)
    return match.start(1) if match else 0


# -- Amazon SES bounce notifications (JSON) --------------------------------------------------

# https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html: SES sends bounces
# to SNS (or an event destination) as JSON, not as mail. bounceSubType gives the reason
# when the receiver's reply is not in the notification (SES's own suppression lists).
_SES_SUBTYPE_STATUS = {
    "NoEmail": "5.1.1",
    "MailboxFull": "5.2.2",
    "MessageTooLarge": "5.3.4",
    "AttachmentRejected": "5.6.1",
}
_SES_SUPPRESSED = {
    "Suppressed": "Amazon SES has suppressed sending to this address: it is on the SES "
    "global suppression list (it bounced recently)",
    "OnAccountSuppressionList": "Amazon SES did not send: the address is on the account-level "
    "suppression list",
}
SES_MAX_NOTIFICATIONS = 10_000


def looks_like_ses_json(text: str) -> bool:
    """True when pasted text is JSON that mentions an SES bounce (cheap pre-check)."""
    head = text.lstrip()[:1]
    return head in ("{", "[") and '"bounce' in text[:65536].lower()


def parse_ses_json(text: str) -> list[list[Entry]] | None:
    """Entries per SES bounce notification: one object, an array, JSON lines, or the SNS
    envelope around them. None when the text is not SES JSON (then it is read as replies)."""
    import json

    objects: list[object] = []
    try:
        loaded = json.loads(text)
        objects = loaded if isinstance(loaded, list) else [loaded]
    except ValueError:
        for line in text.splitlines()[:SES_MAX_NOTIFICATIONS]:
            line = line.strip()
            if not line:
                continue
            try:
                objects.append(json.loads(line))
            except ValueError:
                return None
    notifications: list[list[Entry]] = []
    for item in objects[:SES_MAX_NOTIFICATIONS]:
        if isinstance(item, dict) and isinstance(item.get("Message"), str):
            try:  # the SNS envelope: the notification is a JSON string inside it
                item = json.loads(item["Message"])
            except ValueError:
                continue
        if not isinstance(item, dict):
            continue
        kind = item.get("notificationType") or item.get("eventType")
        bounce = item.get("bounce")
        if kind != "Bounce" or not isinstance(bounce, dict):
            continue
        notifications.append(_ses_entries(bounce))
    return notifications or None


def _ses_entries(bounce: dict[str, object]) -> list[Entry]:
    sub_type = str(bounce.get("bounceSubType") or "")
    bounce_type = str(bounce.get("bounceType") or "")
    reporting = _host(str(bounce.get("reportingMTA") or "")) or None
    remote_ip = str(bounce.get("remoteMtaIp") or "") or None
    recipients = bounce.get("bouncedRecipients")
    entries = []
    for rcpt in recipients if isinstance(recipients, list) else []:
        if not isinstance(rcpt, dict):
            continue
        diagnostic = one_line(_strip_type(clean(rcpt.get("diagnosticCode") or "")))
        if not diagnostic and sub_type in _SES_SUPPRESSED:
            diagnostic = _SES_SUPPRESSED[sub_type]
        if not diagnostic:
            diagnostic = (
                f"Amazon SES: {bounce_type or 'Undetermined'} bounce ({sub_type or 'General'})"
            )
        status_field = STATUS_RE.search(clean(rcpt.get("status") or ""))
        status, code = _reply_fields(diagnostic)
        status = status or (status_field.group(0) if status_field else None)
        status = status or _SES_SUBTYPE_STATUS.get(sub_type)
        action = clean(rcpt.get("action") or "failed").strip().lower() or "failed"
        suppressed = sub_type in _SES_SUPPRESSED
        entries.append(
            Entry(
                recipient=_address(clean(rcpt.get("emailAddress") or "")),
                action=action if action in ("failed", "delayed") else "failed",
                status=status,
                reply_code=code,
                diagnostic=diagnostic,
                remote_mta=remote_ip if not suppressed else None,
                # SES names the provider only when SES itself refused (its suppression
                # lists); otherwise the receiver answered, whoever it was.
                reporting_mta=reporting if suppressed or remote_ip else None,
                last_attempt=clean(bounce.get("timestamp") or "") or None,
            )
        )
    return entries
