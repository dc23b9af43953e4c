"""Reading report files: gzip, zip, folders, stdin, and every kind of hostile input.

Each bad file must be skipped with a one-line message naming it while the good files
next to it are still read; nothing may raise.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from console.bounce import aggregate_input
from console.bounce.aggregate import Loaded, load_reports
from console.bounce.aggregate_input import (
    Document,
    Problem,
    gunzip,
    kind_of,
    read_inputs,
    unpack,
)

RUA = Path(__file__).parent / "rua"
GOOGLE = RUA / "google.com!example.test!1764115200!1764201599.xml"
YAHOO = RUA / "yahoo-example.test-1764201600.xml"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<feedback><report_metadata><org_name>&lol9;</org_name></report_metadata></feedback>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>
"""


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _split(items: list) -> tuple[list[Loaded], list[Problem]]:
    return (
        [item for item in items if isinstance(item, Loaded)],
        [item for item in items if isinstance(item, Problem)],
    )


def test_kind_is_sniffed_from_content_not_the_name() -> None:
    assert kind_of(gzip.compress(b"<feedback/>")) == "gzip"
    assert kind_of(_zip({"a.xml": b"<feedback/>"})) == "zip"
    assert kind_of(b"<?xml version='1.0'?><feedback/>") == "xml"


def test_gz_and_zip_reports_read_like_plain_xml(tmp_path: Path) -> None:
    xml = GOOGLE.read_bytes()
    (tmp_path / "google.xml.gz").write_bytes(gzip.compress(xml))
    (tmp_path / "google.zip").write_bytes(_zip({"google.com!example.test!1!2.xml": xml}))
    (tmp_path / "yahoo-in-zip.zip").write_bytes(
        _zip({"yahoo.xml.gz": gzip.compress(YAHOO.read_bytes())})
    )
    loaded, problems = _split(list(load_reports([tmp_path])))
    assert problems == []
    assert [item.source for item in loaded] == [
        str(tmp_path / "google.xml.gz"),
        f"{tmp_path / 'google.zip'}:google.com!example.test!1!2.xml",
        f"{tmp_path / 'yahoo-in-zip.zip'}:yahoo.xml.gz",
    ]
    assert loaded[1].file == str(tmp_path / "google.zip")
    assert {item.report.org_name for item in loaded} == {"google.com", "Yahoo"}
    assert loaded[0].report == loaded[1].report


def test_stdin_is_read_when_the_name_is_a_dash() -> None:
    stdin = io.BytesIO(gzip.compress(YAHOO.read_bytes()))
    (item,) = list(load_reports(["-"], stdin=stdin))
    assert isinstance(item, Loaded)
    assert item.source == "-"
    assert item.report.org_name == "Yahoo"


def test_folders_are_walked_for_report_files_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.xml").write_bytes(YAHOO.read_bytes())
    (tmp_path / "README.txt").write_text("not a report")
    (tmp_path / ".hidden.xml").write_text("<junk/>")
    items = list(read_inputs([tmp_path]))
    assert [item.source for item in items] == [str(tmp_path / "sub" / "a.xml")]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert list(read_inputs([empty])) == [
        Problem(str(empty), "folder holds no .xml, .gz or .zip file")
    ]


def test_every_bad_file_is_skipped_with_its_name_and_the_good_ones_still_read(
    tmp_path: Path,
) -> None:
    bad = {
        "bomb.xml": BILLION_LAUGHS,
        "xxe.xml": EXTERNAL_ENTITY,
        "truncated.xml.gz": gzip.compress(GOOGLE.read_bytes())[:-30],
        "garbage.gz": b"\x1f\x8b" + b"\x00garbage" * 10,
        "notxml.xml": b"\x89PNG\r\n\x1a\n binary junk \xff\xfe",
        "html.xml": b"<html><head><title>Report</title></head></html>",
        "empty.xml": b"",
        "broken.zip": b"PK\x03\x04" + b"\x00" * 40,
        "many.zip": _zip({f"r{n}.xml": b"<feedback/>" for n in range(300)}),
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    good = tmp_path / "good.xml"
    good.write_bytes(GOOGLE.read_bytes())
    paths = [tmp_path / name for name in bad] + [good, tmp_path / "missing.xml"]
    loaded, problems = _split(list(load_reports(paths)))
    assert [item.source for item in loaded] == [str(good)]
    messages = {Path(problem.source).name: problem.message for problem in problems}
    assert set(messages) == {*bad, "missing.xml"}
    assert "declares entities" in messages["bomb.xml"]
    assert "refused" in messages["xxe.xml"]
    assert messages["truncated.xml.gz"].startswith("truncated gzip")
    assert messages["garbage.gz"].startswith("corrupt gzip")
    assert messages["notxml.xml"].startswith("not XML")
    assert messages["html.xml"] == "not a DMARC aggregate report: root element is <html>"
    assert messages["empty.xml"] == "empty file"
    assert messages["broken.zip"].startswith("corrupt zip")
    assert "holds 300 files" in messages["many.zip"]
    assert messages["missing.xml"].startswith("cannot read")
    assert all("\n" not in message for message in messages.values())


def test_zip_members_with_unsafe_names_or_nested_archives_are_skipped_alone() -> None:
    xml = YAHOO.read_bytes()
    data = _zip(
        {
            "../../etc/cron.d/evil.xml": xml,
            "/abs/path.xml": xml,
            "dir\\win.xml": xml,
            "inner.zip": _zip({"a.xml": xml}),
            "disguised.xml": _zip({"a.xml": xml}),
            "report.xml": xml,
        }
    )
    items = list(unpack("r.zip", data))
    documents = [item for item in items if isinstance(item, Document)]
    problems = {item.source: item.message for item in items if isinstance(item, Problem)}
    assert [document.source for document in documents] == ["r.zip:report.xml"]
    assert problems == {
        "r.zip:../../etc/cron.d/evil.xml": "member skipped: a path leaving the archive (..)",
        "r.zip:/abs/path.xml": "member skipped: an absolute path",
        "r.zip:dir\\win.xml": "member skipped: a backslash or NUL in its name",
        "r.zip:inner.zip": "nested archive, not opened",
        "r.zip:disguised.xml": "nested archive, not opened",
    }


def test_zip_bomb_is_refused_by_its_ratio_without_inflating_it() -> None:
    bomb = _zip({"report.xml": b"<feedback>" + b" " * (40 * 1024 * 1024) + b"</feedback>"})
    assert len(bomb) < 100_000
    (problem,) = list(unpack("bomb.zip", bomb))
    assert isinstance(problem, Problem)
    assert problem.source == "bomb.zip:report.xml"
    assert "expands more than 500 times" in problem.message


def test_zip_member_declaring_more_than_the_cap_is_not_opened(monkeypatch) -> None:
    monkeypatch.setattr(aggregate_input, "MAX_XML_BYTES", 1000)
    data = _zip({"big.xml": b"<feedback>" + b"x" * 2000 + b"</feedback>"}, zipfile.ZIP_STORED)
    (problem,) = list(unpack("big.zip", data))
    assert isinstance(problem, Problem)
    assert problem.message == "member declares 2021 bytes (more than 1000 bytes)"


def test_gzip_bomb_is_stopped_while_reading() -> None:
    bomb = gzip.compress(b"\x00" * (30 * 1024 * 1024))
    with pytest.raises(aggregate_input.InputError, match="expands more than 500 times"):
        gunzip(bomb)
    with pytest.raises(aggregate_input.InputError, match="more than 1000 bytes"):
        gunzip(gzip.compress(b"a" * 5000), limit=1000)


def test_files_beyond_the_size_cap_are_not_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(aggregate_input, "MAX_FILE_BYTES", 100)
    big = tmp_path / "big.xml"
    big.write_bytes(b"<feedback>" + b" " * 200 + b"</feedback>")
    assert list(read_inputs([big])) == [Problem(str(big), "larger than 100 bytes, not read")]
    (weird,) = list(read_inputs(["bad\x00name.xml"]))
    assert isinstance(weird, Problem)
    assert weird.message.startswith("cannot read")


def test_concatenated_gzip_members_are_joined() -> None:
    xml = YAHOO.read_bytes()
    half = len(xml) // 2
    assert gunzip(gzip.compress(xml[:half]) + gzip.compress(xml[half:])) == xml


def test_a_fifo_inside_a_folder_is_never_opened(tmp_path: Path) -> None:
    import os

    (tmp_path / "good.xml").write_bytes(GOOGLE.read_bytes())
    os.mkfifo(tmp_path / "stuck.xml")  # opening it would block until a writer came
    items = list(read_inputs([tmp_path]))
    assert [Path(item.source).name for item in items] == ["good.xml"]
