"""Turning paths and stdin into labelled messages, then into `BounceResult`s.

Inputs: a single message (.eml or any file starting with headers), an mbox (starts with
a "From " line; split on "From " lines, entries labelled `path#1`, `path#2` ...), a
maildir (its cur/ and new/ files and its Maildir++ .subfolders; tmp/ is skipped) or any
folder of such files, stdin (`-`), and pasted SMTP replies or Amazon SES JSON bounce
notifications (a file or stdin that does not start with headers).

Every message is read up to `MAX_MESSAGE_BYTES`; the rest is skipped without being kept
(a 50 MB attachment costs one pass over the file, not 50 MB of memory or a MIME decode),
and the result says so in `problem`. A file that cannot be read, or a message that
breaks the parser, becomes one result with kind "error" and a one-line problem naming
it; the rest goes on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from console.bounce.classify import classify
from console.bounce.model import (
    KIND_BOUNCE,
    KIND_DELAYED,
    KIND_ERROR,
    KIND_UNKNOWN,
    BounceResult,
    RecipientResult,
)
from console.bounce.parse import (
    Entry,
    looks_like_message,
    looks_like_ses_json,
    parse_message,
    parse_pasted,
    parse_ses_json,
)

MAX_MESSAGE_BYTES = 1024 * 1024
MAX_PASTED_BYTES = 8 * 1024 * 1024
_LINE_CHUNK = 64 * 1024  # readline limit: a 50 MB line without newlines is read in pieces
_SNIFF = 4096


@dataclass(slots=True)
class RawMessage:
    """One message's bytes (at most MAX_MESSAGE_BYTES) and where it came from."""

    label: str
    data: bytes
    truncated: bool = False
    pasted: bool = False  # not a message: SMTP replies pasted as text
    error: str | None = None  # could not be read at all


# -- reading inputs ----------------------------------------------------------------------


def iter_inputs(paths: Iterable[str | Path], stdin: BinaryIO | None = None) -> Iterator[RawMessage]:
    """Every message in `paths` ("-" is stdin), in order; directories walked sorted."""
    for item in paths:
        if str(item) == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            yield from _read_stream(stream, "-")
            continue
        path = Path(item)
        if path.is_dir():
            yield from _read_directory(path)
        else:
            yield from _read_file(path, str(item))


def _read_directory(root: Path) -> Iterator[RawMessage]:
    found = False
    for folder, dirs, files in os.walk(root, onerror=None, followlinks=False):
        names = set(dirs)
        if "cur" in names or "new" in names:
            # A maildir: its messages are in cur/ and new/ (tmp/ holds messages still being
            # written: never read), its dot-folders are Maildir++ subfolders (.Bounces), and
            # the files beside them are the server's indexes (dovecot.index, subscriptions),
            # not messages.
            dirs[:] = sorted(d for d in dirs if d != "tmp" and d not in (".", ".."))
            files = []
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            full = Path(folder) / name
            if not full.is_file():  # sockets, FIFOs and devices: never opened
                continue
            found = True
            yield from _read_file(full, str(full))
    if not found:
        yield RawMessage(str(root), b"", error=f"{root}: no files in this folder")


def _read_file(path: Path, label: str) -> Iterator[RawMessage]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield RawMessage(label, b"", error=f"{label}: cannot read: {exc.strerror or exc}")
        return
    with handle:
        try:
            yield from _read_stream(handle, label)
        except OSError as exc:
            yield RawMessage(label, b"", error=f"{label}: read failed: {exc.strerror or exc}")


def _read_stream(stream: BinaryIO, label: str) -> Iterator[RawMessage]:
    head = stream.read(_SNIFF)
    if head.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark from a Windows editor
        head = head[3:]
    if not head:
        yield RawMessage(label, b"", error=f"{label}: empty")
        return
    if head.startswith(b"From "):
        yield from _split_mbox(head, stream, label)
        return
    pasted = not looks_like_message(head)
    cap = MAX_PASTED_BYTES if pasted else MAX_MESSAGE_BYTES
    data = head + stream.read(max(cap + 1 - len(head), 0))
    truncated = len(data) > cap
    if truncated:
        # The rest is never read: an endless stream (a device, a runaway pipe) cannot hang us.
        data = data[:cap]
    yield RawMessage(label, data, truncated=truncated, pasted=pasted)


def _split_mbox(head: bytes, stream: BinaryIO, label: str) -> Iterator[RawMessage]:
    """mbox entries: a new one starts at each "From " line; ">From " lines are unquoted."""
    index = 0
    parts: list[bytes] = []
    size = 0
    truncated = False
    at_line_start = True
    started = False

    def lines() -> Iterator[bytes]:
        pending = head
        while True:
            newline = pending.find(b"\n")
            if newline >= 0:
                yield pending[: newline + 1]
                pending = pending[newline + 1 :]
                continue
            more = stream.readline(_LINE_CHUNK)
            if not more:
                if pending:
                    yield pending
                return
            pending += more
            if len(pending) > _LINE_CHUNK and b"\n" not in pending:
                yield pending
                pending = b""

    for line in lines():
        if at_line_start and line.startswith(b"From "):
            if started:
                index += 1
                yield _mbox_entry(label, index, parts, truncated)
            parts, size, truncated, started = [], 0, False, True
        else:
            if at_line_start and line.startswith(b">From "):
                line = line[1:]
            if size + len(line) <= MAX_MESSAGE_BYTES:
                parts.append(line)
                size += len(line)
            else:
                truncated = True
        at_line_start = line.endswith(b"\n")
    if started:
        index += 1
        yield _mbox_entry(label, index, parts, truncated)


def _mbox_entry(label: str, index: int, parts: list[bytes], truncated: bool) -> RawMessage:
    data = b"".join(parts)
    name = f"{label}#{index}"
    if not data.strip():
        return RawMessage(name, b"", error=f"{name}: empty mbox entry")
    return RawMessage(name, data, truncated=truncated)


def raw_message(label: str) -> bytes | None:
    """The (capped) bytes of the message a result's `file` label names, read again.

    For the original-message view: `path` for a file, `path#N` for the Nth mbox entry
    (or the Nth reply of a pasted file: then the whole text). None for stdin, or when
    the file changed and the entry is gone.
    """
    if label == "-" or label.startswith("-#"):
        return None
    path, _, index = label.rpartition("#")
    if not path or not index.isdigit():
        path, index = label, ""
    for raw in _read_file(Path(path), path):
        if raw.error is not None:
            return None
        if not index or raw.pasted or raw.label == label:
            return raw.data
    return None


# -- analysing -----------------------------------------------------------------------------


def analyse(raw: RawMessage) -> list[BounceResult]:
    """The results for one input: one per message, one per reply for pasted text."""
    if raw.error is not None:
        return [BounceResult(file=raw.label, kind=KIND_ERROR, problem=raw.error)]
    note = (
        f"{raw.label}: larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB; only the start "
        "was read"
        if raw.truncated
        else None
    )
    try:
        if raw.pasted:
            return _analyse_pasted(raw, note)
        return [_analyse_message(raw, note)]
    except Exception as exc:  # a parser bug on hostile input must not stop the folder
        return [
            BounceResult(
                file=raw.label,
                kind=KIND_ERROR,
                problem=f"{raw.label}: unreadable message ({type(exc).__name__})",
            )
        ]


def analyse_paths(
    paths: Iterable[str | Path], stdin: BinaryIO | None = None
) -> Iterator[BounceResult]:
    """Read and classify every message under `paths`, streaming one result at a time."""
    for raw in iter_inputs(paths, stdin):
        yield from analyse(raw)


def analyse_bytes(data: bytes, label: str = "-") -> list[BounceResult]:
    """Classify one message (or pasted replies) given as bytes: for tests and the pane."""
    pasted = not looks_like_message(data)
    cap = MAX_PASTED_BYTES if pasted else MAX_MESSAGE_BYTES
    return analyse(RawMessage(label, data[:cap], truncated=len(data) > cap, pasted=pasted))


def _analyse_message(raw: RawMessage, note: str | None) -> BounceResult:
    parsed = parse_message(raw.data)
    result = BounceResult(
        file=raw.label,
        kind=parsed.kind,
        subject=parsed.subject,
        message_id=parsed.message_id,
        original_message_id=parsed.original_message_id,
        original_subject=parsed.original_subject,
        problem=note,
    )
    if parsed.kind in (KIND_UNKNOWN,) and not parsed.entries:
        result.problem = note or f"{raw.label}: no bounce, delay notice or auto-reply found"
        return result
    for entry in parsed.entries:
        result.recipients.append(_recipient(entry, parsed.original_from))
    if parsed.kind == KIND_BOUNCE and not result.recipients:
        result.problem = note or f"{raw.label}: a bounce, but no recipient could be read"
    return result


def _analyse_pasted(raw: RawMessage, note: str | None) -> list[BounceResult]:
    text = raw.data.decode("utf-8", "replace")
    if looks_like_ses_json(text):
        notifications = parse_ses_json(text)
        if notifications is not None:
            return _ses_results(raw.label, notifications, note)
    replies = parse_pasted(text)
    if not replies:
        return [
            BounceResult(
                file=raw.label,
                kind=KIND_UNKNOWN,
                problem=note or f"{raw.label}: no SMTP reply or message headers found",
            )
        ]
    results = []
    many = len(replies) > 1
    for number, reply in enumerate(replies, start=1):
        recipient = _recipient(reply.entry, None)
        results.append(
            BounceResult(
                file=f"{raw.label}#{number}" if many else raw.label,
                recipients=[recipient],
                kind=KIND_BOUNCE if recipient.action == "failed" else KIND_DELAYED,
                problem=note,
            )
        )
    return results


def _ses_results(
    label: str, notifications: list[list[Entry]], note: str | None
) -> list[BounceResult]:
    """One result per SES bounce notification (`file#N` when the input holds several)."""
    many = len(notifications) > 1
    results = []
    for number, entries in enumerate(notifications, start=1):
        name = f"{label}#{number}" if many else label
        recipients = [_recipient(entry, None) for entry in entries]
        failed = any(r.action == "failed" for r in recipients)
        results.append(
            BounceResult(
                file=name,
                recipients=recipients,
                kind=KIND_BOUNCE if failed or not recipients else KIND_DELAYED,
                problem=note
                or (None if recipients else f"{name}: an SES bounce without recipients"),
            )
        )
    return results


def _recipient(entry: Entry, sender: str | None) -> RecipientResult:
    verdict = classify(
        status=entry.status,
        reply_code=entry.reply_code,
        diagnostic=entry.diagnostic,
        recipient=entry.recipient,
        remote_mta=entry.remote_mta,
        reporting_mta=entry.reporting_mta,
        sender=sender,
    )
    return RecipientResult(
        recipient=entry.recipient,
        status=entry.status,
        reply_code=entry.reply_code,
        reason=verdict.reason,
        hard=verdict.hard if (entry.action or "failed") == "failed" else False,
        provider=verdict.provider,
        diagnostic=entry.diagnostic,
        fix=verdict.fix,
        action=entry.action or "failed",
        meaning=verdict.meaning,
        check=verdict.check,
        remote_mta=entry.remote_mta,
        reporting_mta=entry.reporting_mta,
        last_attempt=entry.last_attempt,
        source=verdict.source,
    )
