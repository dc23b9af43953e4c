"""The corpus, file by file: each MTA family and reason classified as an admin would.

The corpus (tests/bounce/corpus/) is hand-written: example.* / .test / .invalid domains
and documentation IPs only. One row per recipient: (file, recipient, status, reason,
hard, provider, kind/action). A change in a rule that moves any row fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.bounce import REASONS, analyse_paths
from console.bounce.model import BounceResult

CORPUS = Path(__file__).parent / "corpus"

# file: (recipient, status, reason, hard, provider, action)
# fmt: off
EXPECTED: dict[str, tuple[str, str | None, str, bool, str, str]] = {
    "postfix-gmail-5.7.26-dmarc.eml":
        ("alice@gmail-recipients.test", "5.7.26", "auth-failure", True, "gmail", "failed"),
    "postfix-gmail-5.7.26-unauthenticated.eml":
        ("brian@example-workspace.test", "5.7.26", "auth-failure", True, "gmail", "failed"),
    "postfix-gmail-5.7.32-alignment.eml":
        ("chloe@gmail-recipients.test", "5.7.32", "auth-failure", True, "gmail", "failed"),
    "postfix-user-unknown.eml":
        ("bob@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "postfix-mailbox-full.eml":
        ("carol@example.net", "5.2.2", "mailbox-full", False, "other", "failed"),
    "postfix-spamhaus.eml": ("dave@example.com", "5.7.1", "blocked", True, "other", "failed"),
    "postfix-null-mx.eml": ("erin@nullmx.example", "5.1.10", "not-accept", True, "other", "failed"),
    "postfix-host-unknown.eml":
        ("frank@typo-domain.invalid", "5.4.4", "host-unknown", True, "other", "failed"),
    "postfix-delay-timeout.eml":
        ("gina@example.org", "4.4.1", "network-error", False, "other", "delayed"),
    "postfix-outlook-s3150.eml":
        ("hank@hotmail-recipients.test", "5.7.1", "blocked", True, "microsoft", "failed"),
    "postfix-outlook-s3140.eml":
        ("hedy@outlook-recipients.test", "5.7.1", "blocked", True, "microsoft", "failed"),
    "postfix-outlook-5.7.515.eml":
        ("iris@outlook-recipients.test", "5.7.515", "auth-failure", True, "microsoft", "failed"),
    "postfix-microsoft-spamhaus.eml":
        ("jack@contoso-shop.example", "5.7.1", "blocked", True, "microsoft", "failed"),
    "postfix-yahoo-tss04.eml":
        ("kate@yahoo-recipients.test", "4.7.0", "bad-reputation", False, "yahoo", "failed"),
    "postfix-yahoo-tss09.eml":
        ("liam@yahoo-recipients.test", "4.7.0", "blocked", True, "yahoo", "failed"),
    "postfix-yahoo-bl21.eml":
        ("mona@yahoo-recipients.test", "5.7.1", "blocked", True, "yahoo", "failed"),
    "postfix-aol-5.7.9-policy.eml":
        ("ned@aol-recipients.test", "5.7.9", "policy-violation", True, "yahoo", "failed"),
    "postfix-message-too-big.eml":
        ("olga@example.net", "5.3.4", "message-too-big", True, "other", "failed"),
    "postfix-virus.eml": ("paul@example.com", "5.7.1", "virus-detected", True, "other", "failed"),
    "postfix-gmail-5.7.1-spam.eml":
        ("quinn@gmail-recipients.test", "5.7.1", "spam-detected", True, "gmail", "failed"),
    "postfix-gmail-4.7.28-delay.eml":
        ("rita@gmail-recipients.test", "4.7.28", "rate-limited", False, "gmail", "delayed"),
    "postfix-gmail-5.2.1-disabled.eml":
        ("sam@gmail-recipients.test", "5.2.1", "mailbox-disabled", True, "gmail", "failed"),
    "postfix-gmail-4.2.1-rate.eml":
        ("tina@gmail-recipients.test", "4.2.1", "rate-limited", False, "gmail", "delayed"),
    "postfix-sender-null-mx.eml":
        ("uma@example.org", "5.7.27", "rejected", True, "other", "failed"),
    "postfix-relay-denied.eml":
        ("vera@example.net", "5.7.1", "relay-denied", True, "other", "failed"),
    "postfix-ptr-required.eml":
        ("walt@example.com", "4.7.25", "require-ptr", False, "other", "delayed"),
    "postfix-success.eml": ("xena@example.org", "2.0.0", "other", False, "other", "relayed"),
    "exim-user-unknown.eml": ("yuri@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "exim-gmail-5.7.25-ptr.eml":
        ("zoe@gmail-recipients.test", "5.7.25", "require-ptr", True, "gmail", "failed"),
    "exim-microsoft-5.7.606.eml":
        ("adam@contoso-shop.example", "5.7.606", "blocked", True, "microsoft", "failed"),
    "exim-barracuda.eml": ("beth@example.com", None, "blocked", True, "other", "failed"),
    "exim-spamcop.eml": ("cody@example.net", "5.7.1", "blocked", True, "other", "failed"),
    "exim-delay-greylist.eml":
        ("dana@example.org", "4.7.1", "rate-limited", False, "other", "delayed"),
    "exim-retry-expired.eml": ("eric@example.org", None, "expired", False, "other", "failed"),
    "sendmail-user-unknown.eml":
        ("fred@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "sendmail-relay-denied.eml":
        ("gwen@example.net", "5.7.1", "relay-denied", True, "other", "failed"),
    "sendmail-delay.eml": ("hugo@example.com", "4.4.1", "network-error", False, "other", "delayed"),
    "qmail-user-unknown.eml":
        ("ivan@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "qmail-local-no-mailbox.eml":
        ("jane@shop.example.com", "5.1.1", "user-unknown", True, "other", "failed"),
    "qmail-over-quota.eml": ("karl@example.net", "5.2.2", "mailbox-full", False, "other", "failed"),
    "m365-5.1.10-recipient-not-found.eml":
        ("lena@contoso-shop.example", "5.1.10", "user-unknown", True, "microsoft", "failed"),
    "m365-5.7.708-outbound-ip.eml":
        ("mark@example.org", "5.7.708", "blocked", True, "microsoft", "failed"),
    "m365-5.7.750-unregistered-domain.eml":
        ("nina@example.org", "5.7.750", "policy-violation", True, "microsoft", "failed"),
    "m365-5.4.1-dbeb.eml":
        ("omar@contoso-shop.example", "5.4.1", "user-unknown", True, "microsoft", "failed"),
    "m365-5.7.133-group-restricted.eml":
        ("sales@contoso-shop.example", "5.7.133", "filtered", True, "microsoft", "failed"),
    "exchange-ndr-text-only.eml":
        ("pia@corp.example.com", "5.1.1", "user-unknown", True, "microsoft", "failed"),
    "exchange-mailbox-full.eml":
        ("quin@corp.example.com", "5.2.2", "mailbox-full", False, "other", "failed"),
    "gmail-dsn-user-unknown.eml":
        ("rory@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "gmail-text-delay.eml":
        ("sara@example.net", "4.7.0", "system-error", False, "other", "delayed"),
    "ses-user-unknown.eml": ("tom@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "ses-suppressed.eml":
        ("ursula@example.org", "5.1.1", "user-unknown", True, "amazon-ses", "failed"),
    "pasted-gmail-5.7.26.txt": ("", "5.7.26", "auth-failure", True, "gmail", "failed"),
    "pasted-gmail-5.7.27-spf.txt": ("", "5.7.27", "auth-failure", True, "gmail", "failed"),
    "pasted-gmail-4.7.0-tls.txt": ("", "4.7.0", "security-error", False, "gmail", "delayed"),
    "pasted-null-mx.txt": ("zack@nullmx.example", "5.1.10", "not-accept", True, "other", "failed"),
    "pasted-microsoft-4.7.650.txt":
        ("", "4.7.650", "bad-reputation", False, "microsoft", "delayed"),
    "pasted-postfix-log.txt#1":
        ("amy@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "pasted-postfix-log.txt#2":
        ("ben@gmail-recipients.test", "4.7.28", "rate-limited", False, "gmail", "delayed"),
    "pasted-postfix-log.txt#3":
        ("cleo@outlook-recipients.test", "5.7.515", "auth-failure", True, "microsoft", "failed"),
    "pasted-exim-log.txt#1":
        ("dora@example.net", "5.2.2", "mailbox-full", False, "other", "failed"),
    "pasted-exim-log.txt#2":
        ("eddy@example.com", "4.3.0", "system-error", False, "other", "delayed"),
    "campaign.mbox#1": ("bob@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "campaign.mbox#2": ("karl@example.net", "5.2.2", "mailbox-full", False, "other", "failed"),
    "campaign.mbox#4": ("mark@example.org", "5.7.708", "blocked", True, "microsoft", "failed"),
    "maildir/cur/1795140598.M1P1.host:2,S":
        ("chloe@gmail-recipients.test", "5.7.32", "auth-failure", True, "gmail", "failed"),
    "maildir/new/1795140599.M2P1.host":
        ("beth@example.com", None, "blocked", True, "other", "failed"),
    "hostile-non-utf8.eml": ("fritz@example.net", "5.1.1", "user-unknown", True, "other", "failed"),
    "hostile-truncated.eml": ("gus@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "hostile-markup.eml": ("hal@example.org", "5.7.1", "policy-violation", True, "other", "failed"),
    # Microsoft 365's NDR (text + HTML + DSN) for a remote Gmail rejection.
    "m365-html-dsn-gmail-5.7.26.eml":
        ("carla@gmail-recipients.test", "5.7.26", "auth-failure", True, "gmail", "failed"),
    # The same NDR saved as HTML alone: entities (&#39;) decoded, tags dropped.
    "m365-html-only-5.1.1.eml":
        ("dmitri@contoso-shop.example", "5.1.1", "user-unknown", True, "microsoft", "failed"),
    # Exim, "SMTP error from remote mail server after RCPT TO", Gmail's older 5.7.1 wording.
    "exim-rcpt-to-gmail-5.7.1-unusual-rate.eml":
        ("zara@gmail-recipients.test", "5.7.1", "bad-reputation", True, "gmail", "failed"),
    "exim-text-only-rcpt-to.eml":
        ("eve@example.net", "5.2.1", "mailbox-disabled", True, "other", "failed"),
    # A list bounce whose DSN names no recipient: the VERP return path does.
    "postfix-verp-list.eml":
        ("felix@example.org", "5.2.2", "mailbox-full", False, "other", "failed"),
    # A bounce forwarded as an attachment by a colleague.
    "forwarded-bounce.eml":
        ("gwen@yahoo-recipients.test", "5.0.0", "mailbox-disabled", True, "yahoo", "failed"),
    # Gmail's own text-only notice, quoted-printable, the sender's domain on Spamhaus DBL.
    "gmail-text-only-dbl.eml": ("hana@example.net", "5.7.1", "blocked", True, "other", "failed"),
    # Amazon SES bounce notifications as JSON lines: an SNS envelope, a bare notification
    # (SES's account suppression list: SES is the provider), an event-publishing record.
    "ses-notification.json#1":
        ("ines@example.org", "5.1.1", "user-unknown", True, "other", "failed"),
    "ses-notification.json#2":
        ("jon@example.net", None, "user-unknown", True, "amazon-ses", "failed"),
    "ses-notification.json#3":
        ("kim@example.com", "5.2.2", "mailbox-full", False, "other", "failed"),
}
# fmt: on

NOT_FAILURES = {
    "auto-reply-out-of-office.eml": "auto-reply",
    "auto-reply-x-autoreply.eml": "auto-reply",
    "auto-reply-precedence.eml": "auto-reply",
    "campaign.mbox#3": "auto-reply",
    "not-a-bounce.eml": "unknown",
    "postfix-success.eml": "delivered",
    "postfix-delay-timeout.eml": "delayed",
    "sendmail-delay.eml": "delayed",
    "exim-delay-greylist.eml": "delayed",
    "gmail-text-delay.eml": "delayed",
    "postfix-gmail-4.7.28-delay.eml": "delayed",
}


@pytest.fixture(scope="module")
def results() -> dict[str, BounceResult]:
    found = {}
    for result in analyse_paths([CORPUS]):
        found[str(Path(result.file).relative_to(CORPUS))] = result
    return found


def test_corpus_is_big_enough_and_every_file_is_covered(results) -> None:
    files = {name.partition("#")[0] for name in results}
    assert len(files) >= 40
    assert set(results) <= set(EXPECTED) | set(NOT_FAILURES)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_classification(results, name) -> None:
    result = results[name]
    assert len(result.recipients) == 1, result
    got = result.recipients[0]
    row = (got.recipient, got.status, got.reason, got.hard, got.provider, got.action)
    assert row == EXPECTED[name]
    assert got.reason in REASONS
    assert got.fix


@pytest.mark.parametrize(("name", "kind"), sorted(NOT_FAILURES.items()))
def test_delays_auto_replies_and_others_are_not_failures(results, name, kind) -> None:
    result = results[name]
    assert result.kind == kind
    assert result.failures == []


def test_maildir_tmp_is_never_read(results) -> None:
    assert not any(name.startswith("maildir/tmp") for name in results)


def test_original_message_is_identified(results) -> None:
    result = results["postfix-gmail-5.7.26-dmarc.eml"]
    assert result.original_message_id is not None
    assert result.original_message_id.endswith("@shop.example.com>")
    assert result.original_subject == "November deals"


def test_provider_facts_carry_their_fix_check_and_source(results) -> None:
    dmarc = results["postfix-gmail-5.7.26-dmarc.eml"].recipients[0]
    assert "dmarc" in (dmarc.check or "")
    assert "shop.example.com" in dmarc.fix  # the sending domain from the returned headers
    assert dmarc.source
    assert dmarc.source.startswith("https://support.google.com/")
    ms = results["postfix-outlook-5.7.515.eml"].recipients[0]
    assert ms.check == "spf,dkim,dmarc"
    ptr = results["exim-gmail-5.7.25-ptr.eml"].recipients[0]
    assert ptr.check == "fcrdns"
    spamhaus = results["postfix-spamhaus.eml"].recipients[0]
    assert spamhaus.check == "blocklists"
    tss09 = results["postfix-yahoo-tss09.eml"].recipients[0]
    assert tss09.hard  # a 4xx that "will not succeed"


def test_dsn_fields_are_read(results) -> None:
    got = results["sendmail-relay-denied.eml"].recipients[0]
    assert got.remote_mta == "relay.example.net"
    assert got.reporting_mta == "mail.shop.example.com"
    assert got.last_attempt == "Fri, 27 Nov 2026 02:09:58 GMT"
    assert got.reply_code == 550
    # Gmail's Remote-MTA carries a comment after the host name.
    assert results["gmail-dsn-user-unknown.eml"].recipients[0].remote_mta == "mx.example.org"


def test_multi_line_replies_are_unfolded(results) -> None:
    diagnostic = results["pasted-gmail-5.7.26.txt"].recipients[0].diagnostic
    assert diagnostic.startswith("550 5.7.26 This mail has been blocked")
    assert "550-5.7.26" not in diagnostic
    assert "\n" not in diagnostic


def test_a_forwarded_bounce_is_read_from_the_attachment(results) -> None:
    result = results["forwarded-bounce.eml"]
    assert result.kind == "bounce"
    # The report's own identity, not the helpdesk note around it.
    assert result.subject == "Undelivered Mail Returned to Sender"
    assert result.original_message_id == "<campaign-065@shop.example.com>"


def test_verp_fills_only_a_missing_recipient() -> None:
    from console.bounce.parse import verp_recipient

    assert verp_recipient("list-bounces+felix=example.org@lists.shop.example.com") == (
        "felix@example.org"
    )
    assert (
        verp_recipient("Bounces <b+a.b=sub.example.co.uk@l.example.com>") == "a.b@sub.example.co.uk"
    )
    # SRS and "-" delimiters are ambiguous: no guess.
    assert verp_recipient("SRS0=abcd=XY=example.org=bob@fwd.example.net") is None
    assert verp_recipient("news-bounce-first-last=example.org@shop.example.com") is None
    assert verp_recipient("bob@example.org") is None


def test_ses_json_is_not_mistaken_for_headers_or_replies() -> None:
    from console.bounce import analyse_bytes
    from console.bounce.parse import looks_like_message, parse_ses_json

    compact = b'{"notificationType":"Bounce","bounce":{"bounceType":"Permanent",'
    compact += b'"bounceSubType":"NoEmail","bouncedRecipients":[{"emailAddress":"a@example.org"}]}}'
    assert not looks_like_message(compact)  # `{"notificationType":` is not a header line
    (result,) = analyse_bytes(compact, "ses.json")
    assert result.recipients[0].recipient == "a@example.org"
    assert result.recipients[0].reason == "user-unknown"  # NoEmail, no diagnostic given
    # Complaints and deliveries are not bounces; JSON that is not SES is not either.
    assert parse_ses_json('{"notificationType":"Complaint","complaint":{}}') is None
    assert parse_ses_json('{"bounce": 1}') is None
