"""Reading DMARC aggregate report files safely: plain XML, gzip, zip, stdin, folders.

Reports arrive as mail attachments from strangers, so every container is treated as
hostile. Nothing is ever extracted to disk (a member named `../../etc/passwd` is only a
label); decompression runs in chunks and stops at a size cap and a ratio cap, so a
42 KB zip bomb costs a few megabytes of work, not the machine; archives with many
members or nested archives are refused. Each problem becomes a `Problem` naming the
file (and member), and reading goes on with the next one.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MIB = 1024 * 1024

MAX_FILE_BYTES = 50 * MIB
"""Largest input file (compressed or not) read at all."""

MAX_XML_BYTES = 50 * MIB
"""Largest decompressed report: a big receiver's daily report is a few megabytes."""

MAX_RATIO = 500
"""Decompressed-to-compressed ratio allowed beyond `RATIO_FLOOR`. Report XML compresses
20-60:1, a report of near-identical rows about 230:1; deflate's ceiling, reached by a
bomb of zeros, is about 1000:1. The size caps are the real limit; this cuts earlier."""

RATIO_FLOOR = 1 * MIB
"""Below this many decompressed bytes the ratio is not checked (tiny files compress oddly)."""

MAX_MEMBERS = 32
"""Zip members looked at: a receiver sends one report per archive."""

MAX_ARCHIVE_BYTES = 100 * MIB
"""Decompressed bytes read from one archive in all."""

CHUNK = 64 * 1024

REPORT_SUFFIXES = (".xml", ".gz", ".zip")
"""Files picked up when a folder is given (named files are read whatever they are called)."""


def _size(limit: int) -> str:
    return f"{limit // MIB} MB" if limit >= MIB else f"{limit} bytes"


class InputError(Exception):
    """A file (or member) that cannot be used; its message is one line, for people."""


@dataclass(frozen=True, slots=True)
class Document:
    """One report's bytes, ready for the XML parser, and where they came from."""

    source: str
    """The file name, `-` for stdin, `archive.zip:member.xml` for a zip member."""
    data: bytes
    file: str = ""
    """The file it was read from (`source` without the member), for counting files."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A file or member skipped, and why (one line)."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


def read_inputs(
    paths: Iterable[str | Path], stdin: BinaryIO | None = None
) -> Iterator[Document | Problem]:
    """Every report document in `paths` (files, folders, `-` for stdin), in order.

    Folders are walked recursively (symlinked folders are not followed) for files
    ending in .xml, .gz or .zip; hidden files are left out.
    """
    for path in paths:
        text = str(path)
        if text == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            try:
                data = _read_capped(stream, "-")
            except InputError as exc:
                yield Problem("-", str(exc))
                continue
            yield from unpack("-", data)
            continue
        target = Path(text)
        try:
            is_dir = target.is_dir()
        except (OSError, ValueError) as exc:  # a NUL in the name, a name too long
            yield Problem(text, f"cannot read: {exc}")
            continue
        if is_dir:
            found = False
            for file in _walk(target):
                found = True
                yield from _read_file(file)
            if not found:
                yield Problem(text, "folder holds no .xml, .gz or .zip file")
            continue
        yield from _read_file(target)


def _walk(folder: Path) -> Iterator[Path]:
    """Report files under `folder`, sorted; only regular files.

    A FIFO named `x.xml` in a folder would block `open` until a writer comes, so
    sockets, FIFOs and devices found while walking are never opened (a file named
    on the command line is read whatever it is: `<(zcat …)` is a pipe).
    """
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(REPORT_SUFFIXES):
                path = Path(root) / name
                try:
                    regular = path.is_file()
                except OSError:
                    regular = True  # let _read_file report why it cannot be read
                if regular:
                    yield path


def _read_file(path: Path) -> Iterator[Document | Problem]:
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = _read_capped(handle, source)
    except InputError as exc:
        yield Problem(source, str(exc))
        return
    except OSError as exc:
        yield Problem(source, f"cannot read: {exc.strerror or exc}")
        return
    except ValueError as exc:  # a NUL in the name
        yield Problem(source, f"cannot read: {exc}")
        return
    yield from unpack(source, data)


def _read_capped(stream: BinaryIO, source: str) -> bytes:
    try:
        data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    if data is None:
        data = b""
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"larger than {_size(MAX_FILE_BYTES)}, not read")
    return bytes(data)


def kind_of(data: bytes) -> str:
    """`gzip`, `zip` or `xml`, from the first bytes (names and extensions can lie)."""
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    return "xml"


def unpack(source: str, data: bytes) -> Iterator[Document | Problem]:
    """The report documents in `data`: itself, its gunzipped content, or its zip members."""
    kind = kind_of(data)
    if kind == "xml":
        if not data.strip():
            yield Problem(source, "empty file")
        else:
            yield Document(source, data, source)
        return
    if kind == "gzip":
        try:
            yield Document(source, gunzip(data), source)
        except InputError as exc:
            yield Problem(source, str(exc))
        return
    yield from _unzip(source, data)


def gunzip(data: bytes, limit: int = MAX_XML_BYTES) -> bytes:
    """Decompress gzip `data` in chunks, refusing more than `limit` bytes or a bomb's ratio."""
    return _drain(gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"), len(data), limit, "gzip")


def _drain(stream: BinaryIO, compressed: int, limit: int, what: str) -> bytes:
    out = bytearray()
    try:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            out += chunk
            if len(out) > limit:
                raise InputError(f"{what} decompresses to more than {_size(limit)} (refused)")
            if len(out) > RATIO_FLOOR and len(out) > MAX_RATIO * max(1, compressed):
                raise InputError(
                    f"{what} expands more than {MAX_RATIO} times (a decompression bomb?)"
                )
    except EOFError:
        raise InputError(f"truncated {what}: the data ends before the end of the stream") from None
    except (OSError, zlib.error) as exc:
        # gzip.BadGzipFile is an OSError; a CRC mismatch is too.
        raise InputError(f"corrupt {what}: {exc}") from None
    except zipfile.BadZipFile as exc:
        raise InputError(f"corrupt {what}: {exc}") from None
    return bytes(out)


def _unsafe_name(name: str) -> str | None:
    """Why a member name would be dangerous to extract (we never do; we still refuse it)."""
    if "\\" in name or "\x00" in name:
        return "a backslash or NUL in its name"
    pure = PurePosixPath(name)
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in pure.parts:
        return "a path leaving the archive (..)"
    return None


def _unzip(source: str, data: bytes) -> Iterator[Document | Problem]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        yield Problem(source, f"corrupt zip: {exc}")
        return
    with archive:
        files = [info for info in members if not info.is_dir()]
        if not files:
            yield Problem(source, "zip archive holds no file")
            return
        if len(files) > MAX_MEMBERS:
            yield Problem(
                source,
                f"zip archive holds {len(files)} files (more than {MAX_MEMBERS}): not a "
                "report attachment, not opened",
            )
            return
        total = 0
        for info in files:
            label = f"{source}:{info.filename}"
            unsafe = _unsafe_name(info.filename)
            if unsafe:
                yield Problem(label, f"member skipped: {unsafe}")
                continue
            lower = info.filename.lower()
            if lower.endswith((".zip", ".jar")):
                yield Problem(label, "nested archive, not opened")
                continue
            if info.flag_bits & 0x1:
                yield Problem(label, "encrypted member, not opened")
                continue
            if info.file_size > MAX_XML_BYTES:
                yield Problem(
                    label,
                    f"member declares {_size(info.file_size)} (more than {_size(MAX_XML_BYTES)})",
                )
                continue
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(
                1, info.compress_size
            ):
                yield Problem(label, f"member expands more than {MAX_RATIO} times (a zip bomb?)")
                continue
            remaining = MAX_ARCHIVE_BYTES - total
            if remaining <= 0:
                yield Problem(label, f"archive already gave {_size(MAX_ARCHIVE_BYTES)}")
                continue
            try:
                # Declared sizes can lie: the real output is capped while reading.
                with archive.open(info) as member:
                    content = _drain(
                        member,  # type: ignore[arg-type]
                        info.compress_size,
                        min(MAX_XML_BYTES, remaining),
                        "zip member",
                    )
            except InputError as exc:
                yield Problem(label, str(exc))
                continue
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                yield Problem(label, f"cannot open member: {exc}")
                continue
            total += len(content)
            kind = kind_of(content)
            if kind == "zip":
                yield Problem(label, "nested archive, not opened")
            elif kind == "gzip":
                try:
                    yield Document(label, gunzip(content, min(MAX_XML_BYTES, remaining)), source)
                except InputError as exc:
                    yield Problem(label, str(exc))
            elif not content.strip():
                yield Problem(label, "empty member")
            else:
                yield Document(label, content, source)
