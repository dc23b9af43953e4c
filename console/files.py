"""Reading a small local file the user named: a key, credentials, an attachment.

A path on the command line or in the config can name anything. A FIFO would block the
reader in `open` until some writer came, a device like /dev/zero never ends, and a huge
file would be read whole: so only a regular file is opened, and never more than the
caller's limit is read.
"""

from __future__ import annotations

import stat
from pathlib import Path


class UnreadableFile(Exception):
    """Why the file was not read, in a few words (`not a regular file`, the OS's words).

    `size` is set when the file was refused for being over the limit: the caller says
    what its limit is for.
    """

    def __init__(self, reason: str, *, size: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.size = size


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, at most `limit` of them.

    Raises:
        UnreadableFile: the path is missing or unreadable, is not a regular file (never
            opened), or holds more than `limit` bytes (`size` set).
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("not a regular file")
        if info.st_size > limit:
            raise UnreadableFile("too large", size=info.st_size)
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    if len(data) > limit:  # it grew between stat and read
        raise UnreadableFile("too large", size=len(data))
    return data
