"""Provider rules checked against the replies providers document (and admins paste).

Each row is one real-world reply shape (addresses and IPs replaced by documentation
ones) and what an email engineer reads in it. The rows pin the review fixes: codes that
mean different things at different providers (Microsoft's 5.1.10 is "recipient not
found", RFC 7505's is null MX), older wordings of Gmail's codes (5.7.1 before 5.7.26 and
5.7.28), receiver-side errors that look like listings (Spamhaus's "open resolver"
answers), and a recipient's own block list, which is not a DNS blocklist.
"""

from __future__ import annotations

import pytest

from console.bounce.classify import (
    GMAIL_ERRORS,
    MS_515,
    PROVIDER_RULES,
    SPAMHAUS_RETURN_CODES,
    YAHOO_ERRORS,
    classify,
)
from console.bounce.parse import extract_reply_code, extract_status

HOSTS = {
    "gmail": "gmail-smtp-in.l.google.com",
    "microsoft": "contoso-shop-example.mail.protection.outlook.com",
    "yahoo": "mta5.am0.yahoodns.net",
    "other": "mx.example.net",
}

# (answering provider, reply, reason, hard)
# fmt: off
CASES: list[tuple[str, str, str, bool]] = [
    # Gmail: the pre-5.7.26 DMARC wording under 5.7.1 gets the DMARC fix, not a generic one.
    ("gmail", "550 5.7.1 Unauthenticated email from shop.example.com is not accepted due to "
     "domain's DMARC policy. Please contact the administrator of shop.example.com domain if "
     "this was a legitimate mail. - gsmtp", "auth-failure", True),
    ("gmail", "550 5.7.1 This message does not have authentication information or fails to "
     "pass authentication checks. - gsmtp", "auth-failure", True),
    ("gmail", "550 5.7.26 This message fails to pass SPF checks for an SPF record with a hard "
     "fail policy (-all). - gsmtp", "auth-failure", True),
    # Gmail: 5.7.1 "unusual rate of unsolicited mail ... blocked" is reputation, not content.
    ("gmail", "550 5.7.1 [2001:db8::1] Our system has detected an unusual rate of unsolicited "
     "mail originating from your IP address. To protect our users from spam, mail sent from "
     "your IP address has been blocked. - gsmtp", "bad-reputation", True),
    ("gmail", "550 5.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited "
     "mail originating from your IP address. - gsmtp", "bad-reputation", True),
    ("gmail", "421 4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited "
     "mail originating from your IP address. To protect our users from spam, mail sent from "
     "your IP address has been temporarily rate limited. - gsmtp", "rate-limited", False),
    # Gmail 4.2.1 "receiving mail too quickly": a rate limit, not a disabled mailbox (4.2.1
    # by RFC 3463 alone would say "mailbox disabled").
    ("gmail", "450 4.2.1 The user you are trying to contact is receiving mail too quickly. "
     "Please resend your message at a later time. - gsmtp", "rate-limited", False),
    ("gmail", "421 4.7.0 IP not in whitelist for RCPT domain, closing connection. - gsmtp",
     "filtered", False),
    ("gmail", "421 4.7.0 TLS required for RCPT domain, closing connection. - gsmtp",
     "security-error", False),
    ("gmail", "421 4.7.0 [192.0.2.1] Our system has detected that this message is suspicious "
     "due to the nature of the content and/or the links within. - gsmtp",
     "spam-detected", False),
    ("gmail", "550 5.7.1 The user or domain that you are sending to (or from) has a policy "
     "that prohibited the mail that you sent. - gsmtp", "filtered", True),
    ("gmail", "550 5.7.1 Messages with multiple addresses in From: header are not accepted. "
     "- gsmtp", "not-compliant-rfc", True),
    ("gmail", "550 5.7.25 The IP address sending this message does not have a PTR record "
     "setup, or the corresponding forward DNS entry does not match the sending IP. - gsmtp",
     "require-ptr", True),
    ("gmail", "421 4.7.30 Your email has been rate limited because DKIM authentication didn't "
     "pass for this message. - gsmtp", "auth-failure", False),
    # Microsoft: 5.1.10 means "recipient not found" there, never null MX.
    ("microsoft", "550 5.1.10 Recipient address rejected: Access denied. AS(201806281)",
     "user-unknown", True),
    ("microsoft", "550 5.1.8 Access denied, bad outbound sender.", "blocked", True),
    ("microsoft", "550 5.7.501 Access denied, spam abuse detected.", "blocked", True),
    ("microsoft", "554 5.2.122 The recipient has exceeded the limit on the number of messages "
     "they can receive per hour.", "exceed-limit", False),
    ("microsoft", "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77714)",
     "rate-limited", False),
    ("microsoft", "550 DY-001 (SNT004-MC1F43) Unfortunately, messages from 192.0.2.1 weren't "
     "sent. Please contact your Internet service provider. You can tell them that Hotmail "
     "does not relay dynamically-assigned IP ranges.", "blocked", True),
    ("microsoft", "550 5.4.1 Relay Access Denied", "relay-denied", True),
    # Yahoo's TS codes.
    ("yahoo", "421 4.7.0 [TS03] All messages from 192.0.2.1 will be permanently deferred; "
     "Retrying will NOT succeed.", "blocked", True),
    ("yahoo", "421 4.7.0 [TS02] Messages from 192.0.2.1 temporarily deferred due to user "
     "complaints", "bad-reputation", False),
    ("yahoo", "553 5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred; "
     "Retrying will NOT succeed.", "blocked", True),
    # Spamhaus "error" answers: the receiver's resolver is refused, the sender is not listed.
    ("other", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
     "zen.spamhaus.org; Error: open resolver; https://www.spamhaus.org/returnc/pub/198.51.100.1",
     "system-error", False),
    ("other", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using "
     "zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1", "blocked", True),
    ("other", "554 5.7.1 <news@shop.example.com>: Sender address rejected: blocked using "
     "dbl.spamhaus.org", "blocked", True),
    ("other", "554 Service unavailable; Client host [192.0.2.1] blocked using Barracuda "
     "Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.1",
     "blocked", True),
    # A recipient's own block list is their rule, not a DNS blocklist.
    ("other", "550 5.7.1 Sender is on user block list", "filtered", True),
    ("other", "554 5.7.1 Rejected by recipient: your address is on the user's blocklist",
     "filtered", True),
    # RFC 3463 X.3.2 is "system not accepting network messages" (shutdown, load), not null MX.
    ("other", "550 5.3.2 Service currently unavailable", "system-error", True),
    # RFC 7505 null MX still reads as not-accept when another server says it.
    ("other", "556 5.1.10 Recipient address has null MX", "not-accept", True),
]
# fmt: on


@pytest.mark.parametrize(("provider", "reply", "reason", "hard"), CASES)
def test_documented_replies_classify_as_an_engineer_reads_them(
    provider: str, reply: str, reason: str, hard: bool
) -> None:
    got = classify(
        status=extract_status(reply),
        reply_code=extract_reply_code(reply),
        diagnostic=reply,
        recipient="someone@example.org",
        remote_mta=HOSTS[provider],
        sender="news@shop.example.com",
    )
    assert (got.reason, got.hard) == (reason, hard)
    assert got.provider == provider
    assert got.fix


def test_gmail_dmarc_under_5_7_1_gets_the_dmarc_fix() -> None:
    reply = (
        "550 5.7.1 Unauthenticated email from shop.example.com is not accepted due to "
        "domain's DMARC policy. - gsmtp"
    )
    got = classify(status="5.7.1", reply_code=550, diagnostic=reply, remote_mta=HOSTS["gmail"])
    assert "dmarc" in (got.check or "")
    assert "shop.example.com" in got.fix  # the domain Gmail names, when From: is unknown
    assert got.source == GMAIL_ERRORS


def test_spamhaus_resolver_errors_say_it_is_not_a_listing() -> None:
    reply = "554 5.7.1 blocked using zen.spamhaus.org; Error: open resolver"
    got = classify(status="5.7.1", reply_code=554, diagnostic=reply)
    assert "not listed" in got.fix
    assert got.source == SPAMHAUS_RETURN_CODES


def test_microsoft_5_7_515_cites_microsoft_and_yahoo_codes_cite_yahoo() -> None:
    ms = classify(
        status="5.7.515",
        reply_code=550,
        diagnostic="550 5.7.515 Access denied, sending domain shop.example.com does not meet "
        "the required authentication level.",
    )
    assert ms.provider == "microsoft"  # the code alone names the provider
    assert ms.source == MS_515
    assert ms.source.startswith("https://support.microsoft.com/")
    yahoo = classify(status="4.7.0", reply_code=421, diagnostic="421 4.7.0 [TSS04] Messages ...")
    assert yahoo.provider == "yahoo"
    assert yahoo.source == YAHOO_ERRORS


def test_every_provider_source_is_a_https_url() -> None:
    for rule in PROVIDER_RULES:
        assert rule.source is not None
        assert rule.source.startswith("https://"), rule


def test_a_deferral_that_expired_is_soft_whatever_the_reason() -> None:
    # Postfix gave up after Yahoo deferred for days: DSN Status 5.4.7, the last reply TSS04.
    got = classify(
        status="5.4.7",
        reply_code=421,
        diagnostic="421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to "
        "unexpected volume or user complaints",
        remote_mta=HOSTS["yahoo"],
    )
    assert got.reason == "bad-reputation"
    assert got.hard is False  # was True: the recipient exists, a later send can work
