"""Linting test messages: headers, DMARC alignment on the lab DNS, unsubscribe, HTML."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
import zipfile
from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.model import Status
from console.send.compose import Attachment, TestMessage, build_message
from console.send.lint import (
    blocked_extension,
    link_mismatches,
    lint_message,
    scan_html,
    shown_domain,
)

CLEAN_HTML = (
    '<html><body><p>Hello</p><img src="https://good.test/logo.png" width="120" height="40">'
    '<a href="https://good.test/offer">good.test/offer</a> '
    '<a href="https://click.good.test/x?u=1">Read more</a></body></html>'
)


def good_message(**overrides) -> EmailMessage:
    values = {
        "from_addr": "Ann <ann@good.test>",
        "to": "seed@good.test",
        "subject": "November news",
        "text": "Hello\n",
        "html": CLEAN_HTML,
        "list_unsubscribe_mailto": "unsubscribe@good.test",
        "list_unsubscribe_https": "https://good.test/unsubscribe?id=1",
    }
    values.update(overrides)
    return build_message(TestMessage(**values))


def parse(raw: bytes) -> EmailMessage:
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def codes(findings) -> list[str]:
    return [finding.code for finding in findings]


def by_code(findings, code):
    return next(finding for finding in findings if finding.code == code)


async def test_well_formed_signed_aligned_message_is_clean(ctx):
    findings = await lint_message(
        ctx, good_message(), envelope_from="bounce@good.test", dkim_domain="good.test"
    )
    assert findings == []


# -- required headers and syntax --------------------------------------------------------


async def test_missing_required_headers(ctx):
    raw = b"Subject: \r\nX-Other: 1\r\n\r\nbody\r\n"
    findings = await lint_message(ctx, parse(raw), envelope_from=None, dkim_domain=None)
    got = codes(findings)
    for code in (
        "send.missing-from",
        "send.missing-date",
        "send.missing-message-id",
        "send.missing-recipient",
        "send.empty-subject",
    ):
        assert code in got
    assert by_code(findings, "send.missing-from").severity is Status.FAIL
    assert by_code(findings, "send.empty-subject").severity is Status.WARN


async def test_bad_address_syntax_and_duplicates(ctx):
    raw = (
        b"From: Ann <ann@good.test>\r\nFrom: Bob <bob@good.test>\r\n"
        b"To: seed@@good..test, <unterminated@good.test\r\n"
        b"Date: Fri, 27 Nov 2026 09:30:00 +0000\r\nMessage-ID: <1@good.test>\r\n"
        b"Subject: hi\r\n\r\nbody\r\n"
    )
    findings = await lint_message(ctx, parse(raw), envelope_from=None, dkim_domain=None)
    duplicate = by_code(findings, "send.duplicate-header")
    assert "2 From headers" in duplicate.message
    bad = by_code(findings, "send.bad-address")
    assert "To header" in bad.message
    assert bad.severity is Status.FAIL


async def test_undisclosed_recipients_group_is_valid(ctx):
    message = good_message(to="undisclosed-recipients:;")
    findings = await lint_message(
        ctx, message, envelope_from="bounce@good.test", dkim_domain="good.test"
    )
    assert findings == []


async def test_legacy_policy_messages_are_read_the_same(ctx):
    raw = (
        b"From: ann@@good.test\r\nTo: seed@good.test\r\nSubject: hi\r\n"
        b"Date: Fri, 27 Nov 2026 09:30:00 +0000\r\nMessage-ID: <1@good.test>\r\n\r\nbody\r\n"
    )
    legacy = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    findings = await lint_message(ctx, legacy, envelope_from=None, dkim_domain=None, bulk=False)
    assert "From header" in by_code(findings, "send.bad-address").message


async def test_several_from_addresses(ctx):
    message = good_message(from_addr="ann@good.test, bob@good.test")
    findings = await lint_message(
        ctx, message, envelope_from="bounce@good.test", dkim_domain="good.test"
    )
    assert "send.multiple-from" in codes(findings)


# -- DMARC alignment --------------------------------------------------------------------


async def test_alignment_through_envelope_sender_relaxed(ctx):
    # good.test says aspf=r: a bounce subdomain aligns with the From domain.
    findings = await lint_message(
        ctx, good_message(), envelope_from="bounce@mail.good.test", dkim_domain=None
    )
    assert "send.dmarc-unaligned" not in codes(findings)
    assert "send.unsigned" in codes(findings)


async def test_strict_dkim_alignment_of_good_test(ctx):
    # good.test says adkim=s: d=mail.good.test does not align, and p=reject refuses it.
    findings = await lint_message(
        ctx, good_message(), envelope_from="bounce@sendgrid.net", dkim_domain="mail.good.test"
    )
    unaligned = by_code(findings, "send.dmarc-unaligned")
    assert unaligned.severity is Status.FAIL
    assert "adkim=s" in unaligned.message
    assert "p=reject" in unaligned.message
    assert "d=good.test" in unaligned.fix


async def test_third_party_domains_under_quarantine_and_none(ctx):
    quarantine = await lint_message(
        ctx,
        good_message(from_addr="news@dkim-sendgrid.test"),
        envelope_from="bounces@sendgrid.net",
        dkim_domain="sendgrid.net",
    )
    finding = by_code(quarantine, "send.dmarc-unaligned")
    assert finding.severity is Status.FAIL
    assert "p=quarantine" in finding.message
    monitoring = await lint_message(
        ctx,
        good_message(from_addr="news@dmarc-parkednone.test"),
        envelope_from="bounces@sendgrid.net",
        dkim_domain="sendgrid.net",
    )
    assert by_code(monitoring, "send.dmarc-unaligned").severity is Status.WARN
    no_policy = await lint_message(
        ctx,
        good_message(from_addr="news@dmarc-missing.test"),
        envelope_from=None,
        dkim_domain=None,
    )
    unaligned = by_code(no_policy, "send.dmarc-unaligned")
    assert unaligned.severity is Status.WARN
    assert "no DMARC policy" in unaligned.message


async def test_from_domain_dmarc_cannot_evaluate(ctx):
    findings = await lint_message(
        ctx,
        good_message(from_addr="ann@[192.0.2.10]"),
        envelope_from="bounce@good.test",
        dkim_domain="good.test",
    )
    assert by_code(findings, "send.bad-from-domain").severity is Status.FAIL
    assert "send.dmarc-lookup-error" not in codes(findings)


async def test_dns_failure_is_an_error_not_a_verdict(ctx):
    findings = await lint_message(
        ctx,
        good_message(from_addr="news@servfail.test"),
        envelope_from="bounce@good.test",
        dkim_domain="good.test",
    )
    error = by_code(findings, "send.dmarc-lookup-error")
    assert error.severity is Status.ERROR
    assert "SERVFAIL" in error.message
    assert "send.dmarc-unaligned" not in codes(findings)


# -- one-click unsubscribe -------------------------------------------------------------


async def test_unsubscribe_rules(ctx):
    def lint(message, dkim="good.test"):
        return lint_message(ctx, message, envelope_from="b@good.test", dkim_domain=dkim)

    none = await lint(good_message(list_unsubscribe_mailto=None, list_unsubscribe_https=None))
    assert by_code(none, "send.no-list-unsubscribe").severity is Status.WARN
    mailto_only = await lint(good_message(list_unsubscribe_https=None))
    assert codes(mailto_only) == ["send.no-one-click"]
    no_post = await lint(good_message(one_click=False))
    assert "List-Unsubscribe-Post is missing" in by_code(no_post, "send.no-one-click").message
    wrong = good_message()
    wrong.replace_header("List-Unsubscribe-Post", "One-Click")
    assert "send.bad-list-unsubscribe-post" in codes(await lint(wrong))
    unsigned = await lint(good_message(), dkim=None)
    assert "send.one-click-unsigned" in codes(unsigned)
    transactional = await lint_message(
        ctx,
        good_message(list_unsubscribe_mailto=None, list_unsubscribe_https=None),
        envelope_from="b@good.test",
        dkim_domain="good.test",
        bulk=False,
    )
    assert transactional == []


# -- HTML: tracking pixels, deceptive links, text part, size ------------------------------


def test_tracking_pixels_are_found():
    html = """
    <div style="display:none"><span><img src="https://good.test/a.png"></span></div>
    <img src="https://good.test/b.png" width="1" height="1">
    <img src="https://good.test/c.png" style="width:1px;height:1px">
    <img src="https://good.test/d.png" style="visibility: hidden">
    <img src="https://us1.list-manage.com/track/open.php?u=1" width="600">
    <img src="https://u123.ct.sendgrid.net/wf/open?upn=abc">
    <img src="https://email.mg.good.test/o/eJwFwTE">
    <img src="https://good.test/photo.jpg" width="600" height="300">
    <p hidden><img src="https://good.test/e.png"/></p>
    <img src="https://good.test/after-hidden.png" width="200" height="100">
    """
    images, _ = scan_html(html)
    flagged = {image.src.rsplit("/", 1)[-1] for image in images if image.tiny or image.hidden}
    trackers = {image.src for image in images if image.tracker}
    assert flagged == {"a.png", "b.png", "c.png", "d.png", "e.png"}
    assert len(trackers) == 3
    clean = [image for image in images if not (image.tiny or image.hidden or image.tracker)]
    assert {image.src.rsplit("/", 1)[-1] for image in clean} == {"photo.jpg", "after-hidden.png"}


async def test_tracking_pixel_finding_mentions_gmail(ctx):
    html = CLEAN_HTML + '<img src="https://track.hubspot.com/__ptq.gif?a=1" width="1" height="1">'
    findings = await lint_message(
        ctx, good_message(html=html), envelope_from="b@good.test", dkim_domain="good.test"
    )
    pixel = by_code(findings, "send.tracking-pixel")
    assert pixel.severity is Status.WARN
    assert "track.hubspot.com" in pixel.message
    assert "Gmail" in pixel.message


def test_link_text_domains():
    html = """
    <a href="https://evil.test/login"><b>https://<i>bank.good.test</i></b>/login</a>
    <a href="https://good.test/x">www.good.test</a>
    <a href="https://click.good.test/r?1">good.test/offer</a>
    <a href="https://u1.ct.sendgrid.net/ls/click?x">good.test/news</a>
    <a href="https://good.test">Click here</a>
    <a href="mailto:a@good.test">other.test</a>
    <a href="https://evil.test/">unclosed.test
    """
    _, links = scan_html(html)
    found = {(shown, target) for _, shown, target in link_mismatches(links)}
    assert found == {
        ("bank.good.test", "evil.test"),
        ("good.test", "u1.ct.sendgrid.net"),
        ("unclosed.test", "evil.test"),
    }
    assert shown_domain("Click here") is None
    assert shown_domain("HTTPS://WWW.Good.Test/path?q=1") == "good.test"


async def test_link_mismatch_finding_shows_text_literally(ctx):
    html = '<a href="https://evil.test/">[bold]good.test\x1b[0m</a>'
    findings = await lint_message(
        ctx, good_message(html=html), envelope_from="b@good.test", dkim_domain="good.test"
    )
    # Not a URL-looking text (it carries markup-ish junk): no claim of another domain.
    assert "send.link-text-mismatch" not in codes(findings)
    html = '<a href="https://evil.test/">good.test</a>'
    findings = await lint_message(
        ctx, good_message(html=html), envelope_from="b@good.test", dkim_domain="good.test"
    )
    mismatch = by_code(findings, "send.link-text-mismatch")
    assert "shows good.test" in mismatch.message
    assert "evil.test" in mismatch.message


async def test_html_without_text_part_and_size(ctx):
    findings = await lint_message(
        ctx, good_message(text=None), envelope_from="b@good.test", dkim_domain="good.test"
    )
    assert by_code(findings, "send.no-text-part").severity is Status.WARN
    big_html = "<p>" + "x" * (110 * 1024) + "</p>"
    findings = await lint_message(
        ctx,
        good_message(html=big_html),
        envelope_from="b@good.test",
        dkim_domain="good.test",
        size_limit=50_000,
    )
    assert "102 KB" in by_code(findings, "send.html-clipped").message
    too_big = by_code(findings, "send.too-big")
    assert too_big.severity is Status.FAIL
    assert "EHLO SIZE" in too_big.message


# -- never raises ---------------------------------------------------------------------------

_header_value = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80).map(
    lambda text: text.replace("\r", " ").replace("\n", " ")
)
_html = st.one_of(
    st.text(max_size=400),
    st.lists(
        st.sampled_from(
            [
                "<a href='https://x.test'>",
                "</a>",
                "<img src=pixel width=1 height=1>",
                "<div style='display:none'>",
                "</div>",
                "<a href=",
                "<!--",
                "<![CDATA[",
                "&#x110000;",
                "www.good.test",
                "<img style='width:1px;opacity:0'>",
                "<<>>",
                "<a href='http://[::1'>",
            ]
        ),
        max_size=30,
    ).map("".join),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "From",
                "To",
                "Cc",
                "Reply-To",
                "Subject",
                "Date",
                "Message-ID",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
            ]
        ),
        _header_value,
    ),
    text=st.text(max_size=200),
    html=_html,
    envelope=st.one_of(st.none(), _header_value),
    dkim=st.one_of(st.none(), _header_value),
)
def test_lint_never_raises(lab, headers, text, html, envelope, dkim):
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    boundary = "b0undary"
    raw = (
        f"{head}MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        f"--{boundary}--\r\n"
    ).encode("utf-8", "surrogateescape")
    message = parse(raw)

    async def run():
        context = lab.resolver(timeout=0.5, retries=0)
        try:
            return await lint_message(context, message, envelope_from=envelope, dkim_domain=dkim)
        finally:
            context.close()

    findings = asyncio.run(run())
    for finding in findings:
        assert finding.code.startswith("send.")
        assert "\x1b" not in finding.message


# -- attachments ----------------------------------------------------------------------------


def zipped(*names: str, encrypted: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"data")
    data = bytearray(buffer.getvalue())
    if encrypted:
        # zipfile cannot encrypt: set bit 0 of each central directory entry's flags, as an
        # encrypting tool does (the names stay readable, which is what lint looks at).
        start = 0
        while (start := data.find(b"PK\x01\x02", start)) != -1:
            data[start + 8] |= 0x1
            start += 4
    return bytes(data)


async def attachment_findings(ctx, *files: Attachment):
    findings = await lint_message(
        ctx,
        good_message(attachments=list(files)),
        envelope_from="b@good.test",
        dkim_domain="good.test",
    )
    return [
        f for f in findings if f.code in ("send.blocked-attachment", "send.encrypted-attachment")
    ]


async def test_an_executable_attachment_bounces_at_gmail(ctx):
    (found,) = await attachment_findings(
        ctx, Attachment("Invoice.PDF.exe", "application/octet-stream", b"MZ")
    )
    assert found.code == "send.blocked-attachment"
    assert found.severity is Status.FAIL
    assert "(.exe)" in found.message
    assert "support.google.com/mail/answer/6590" in found.message
    assert "link" in found.fix


async def test_a_blocked_type_inside_a_zip_is_found_from_its_directory(ctx):
    archive = zipped("readme.txt", "tools/setup.js", "more/run.bat")
    (found,) = await attachment_findings(ctx, Attachment("tools.zip", "application/zip", archive))
    assert "tools/setup.js (.js)" in found.message
    assert "1 more" in found.message


async def test_encrypted_zips_warn_and_fail_when_they_hide_an_archive(ctx):
    (warned,) = await attachment_findings(
        ctx, Attachment("a.zip", "application/zip", zipped("a.pdf", encrypted=True))
    )
    assert warned.code == "send.encrypted-attachment"
    assert warned.severity is Status.WARN
    (failed,) = await attachment_findings(
        ctx, Attachment("b.zip", "application/zip", zipped("inner.zip", encrypted=True))
    )
    assert failed.code == "send.blocked-attachment"


def newer_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("setup.exe")
        archive.writestr(info, b"MZ")
        info.extract_version = 70  # a format zipfile refuses to read (NotImplementedError)
    return buffer.getvalue()


async def test_a_zip_it_cannot_read_is_not_broken_mime(ctx):
    findings = await lint_message(
        ctx,
        good_message(
            attachments=[
                Attachment("new.zip", "application/zip", newer_zip()),
                Attachment("run.exe", "application/octet-stream", b"MZ"),
            ]
        ),
        envelope_from="b@good.test",
        dkim_domain="good.test",
    )
    assert "send.bad-mime" not in codes(findings)
    # The walk went on past the zip: the next attachment was still linted.
    assert "(.exe)" in by_code(findings, "send.blocked-attachment").message


async def test_ordinary_and_broken_attachments_pass_quietly(ctx):
    assert not await attachment_findings(
        ctx,
        Attachment("report.pdf", "application/pdf", b"%PDF-1.7"),
        Attachment("photos.zip", "application/zip", zipped("a.jpg", "b.png")),
        Attachment("broken.zip", "application/zip", b"PK\x03\x04 not really"),
        Attachment("no-extension", "application/octet-stream", b"x"),
        Attachment("notes.txt", "text/plain", b"x"),
    )


def test_blocked_extension_reads_the_last_suffix_only():
    assert blocked_extension("setup.EXE") == ".exe"
    assert blocked_extension("dir\\tool.js") == ".js"
    assert blocked_extension("archive.exe.pdf") is None
    assert blocked_extension("exe") is None
    assert blocked_extension("") is None


async def test_an_oversized_message_with_files_says_base64_grows_them(ctx):
    findings = await lint_message(
        ctx,
        good_message(
            attachments=[Attachment("big.bin", "application/octet-stream", b"\0" * 90_000)]
        ),
        envelope_from="b@good.test",
        dkim_domain="good.test",
        size_limit=100_000,
    )
    assert "a third larger" in by_code(findings, "send.too-big").message


async def test_a_file_name_with_direction_controls_is_called_a_spoof(ctx):
    spoof = Attachment("invoice\u202efdp.exe", "application/octet-stream", b"MZ")
    findings = await lint_message(
        ctx, good_message(attachments=[spoof]), envelope_from="b@good.test", dkim_domain="good.test"
    )
    found = by_code(findings, "send.attachment-name-spoof")
    assert found.severity is Status.FAIL
    assert "\u202e" not in found.message  # shown escaped, never acted on by the terminal
    assert "(.exe)" in by_code(findings, "send.blocked-attachment").message
