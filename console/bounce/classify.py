"""From what the server said to what it means: reason, hard/soft, provider, fix, check.

Classification is a first-match walk over three layers, most specific first:

1. `PROVIDER_RULES`: codes a mailbox provider or blocklist documents (Gmail's 5.7.26,
   Microsoft's 5.7.515 and S3140, Yahoo's TSS04, Spamhaus ...), matched on the enhanced
   status, the diagnostic text, and (where a code means different things at different
   providers, like 5.7.27) the provider. Each carries the documented meaning, the fix
   and the console check that confirms it, with the source in a comment.
2. `TEXT_RULES`: the phrases MTAs use for each reason ("User unknown", "over quota").
3. RFC 3463 / RFC 5248 enhanced status codes by subject and detail, then the bare reply
   code (RFC 5321), then "other".

`hard` is true when retrying the same recipient cannot succeed: always false for the
transient reasons (a full mailbox, rate limits, connection trouble, expiry), otherwise
true for a permanent (5.x.x / 5xx) answer, unless a rule says otherwise (Yahoo's TSS09
is a 4xx that "will not succeed").

No DNS, no network: everything here is table look-ups and precompiled regexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Reasons that are transient by nature: a retry later can succeed whatever the code.
SOFT_REASONS = frozenset(
    {
        "mailbox-full",
        "rate-limited",
        "too-many-connections",
        "system-full",
        "network-error",
        "expired",
    }
)

GMAIL_ERRORS = "https://support.google.com/a/answer/3726730"
GMAIL_GUIDELINES = "https://support.google.com/a/answer/81126"
MS_NDR = (
    "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/"
    "non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online"
)
MS_OLC = "https://sendersupport.olc.protection.outlook.com/pm/troubleshooting.aspx"
# Microsoft's own page for the 2025 high-volume sender rejection.
MS_515 = (
    "https://support.microsoft.com/en-au/topic/"
    "fix-ndr-error-550-5-7-515-in-outlook-com-34cfe8f8-6fbf-457e-9e8b-9e4dbaf4e0ef"
)
SPAMHAUS_RETURN_CODES = "https://www.spamhaus.org/faqs/dnsbl-usage/"
BARRACUDA_LOOKUP = "https://www.barracudacentral.org/lookups"
YAHOO_ERRORS = "https://senders.yahooinc.com/smtp-error-codes/"
SES_NOTIFICATIONS = "https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html"
IANA_CODES = "https://www.iana.org/assignments/smtp-enhanced-status-codes"
RFC7505 = "https://www.rfc-editor.org/rfc/rfc7505"

# Default fix and console check per reason, used when no rule gives its own.
# {domain} is the sending domain (From of the returned original) when known,
# {rdomain} the recipient's domain.
FIXES: dict[str, tuple[str, str | None]] = {
    "auth-failure": (
        "Publish SPF and DKIM for {domain} and a DMARC record (at least p=none) whose "
        "domain aligns with From:; confirm with `mailscope check {domain} --checks "
        "spf,dkim,dmarc`.",
        "spf,dkim,dmarc",
    ),
    "blocked": (
        "The sending IP or domain is refused: look it up on the blocklists, fix the cause "
        "(compromised account, bad list), then ask for delisting; `mailscope check {domain} "
        "--checks blocklists --ip YOUR-IP`.",
        "blocklists",
    ),
    "bad-reputation": (
        "Slow down, send only to engaged recipients, remove bouncing and complaining "
        "addresses; watch the spam rate with `mailscope postmaster {domain}`.",
        "postmaster",
    ),
    "require-ptr": (
        "Give the sending IP a PTR record whose name resolves back to the same IP; "
        "`mailscope check {domain} --checks fcrdns --ip YOUR-IP`.",
        "fcrdns",
    ),
    "policy-violation": (
        "The receiver's sender policy refused the message: meet the bulk-sender rules "
        "(authentication, unsubscribe, spam rate) and read the provider's page in the "
        "diagnostic.",
        None,
    ),
    "security-error": (
        "Send over TLS (STARTTLS) and authenticate where the server requires it; "
        "`mailscope probe --mx {rdomain}` shows what the receiving side offers.",
        "ports",
    ),
    "rejected": (
        "The envelope sender (MAIL FROM) was refused: use a sender address in a domain "
        "with a working MX and valid SPF; `mailscope check {domain} --checks mx,spf`.",
        "mx",
    ),
    "spam-detected": (
        "The content was judged spam: check links, tracking pixels and headers with the "
        "send lint (`mailscope send`), and send to engaged recipients only.",
        "send",
    ),
    "not-compliant-rfc": (
        "The message breaks RFC 5322 formatting (From, Date, Message-ID, line endings); "
        "the send lint (`mailscope send`) shows the header problems.",
        "send",
    ),
    "virus-detected": (
        "A virus or malware scanner refused the message: remove the attachment or link "
        "it flagged, and check the sending machine.",
        None,
    ),
    "content-error": (
        "The receiver refused the message's content type or encoding (attachment type, "
        "MIME structure): send plain, well-formed MIME.",
        "send",
    ),
    "rate-limited": (
        "Too much mail too fast: lower the sending rate and concurrency to this provider "
        "and let the queue retry; the mail is not lost yet.",
        "postmaster",
    ),
    "too-many-connections": (
        "Open fewer simultaneous connections to this provider's servers.",
        None,
    ),
    "relay-denied": (
        "The server is not this recipient domain's MX and will not relay: check the "
        "recipient domain's MX (`mailscope check {rdomain} --checks mx`) and your "
        "smarthost/connector settings.",
        "mx",
    ),
    "message-too-big": ("Send a smaller message (link large files instead).", None),
    "exceed-limit": (
        "A per-message or per-day limit was reached (recipients, messages): split the "
        "send or wait for the quota to reset.",
        None,
    ),
    "user-unknown": (
        "The address does not exist: remove it from the list (keep it suppressed).",
        None,
    ),
    "host-unknown": (
        "The recipient's domain does not resolve to a mail server: check for a typo and "
        "remove it; `mailscope check {rdomain} --checks mx`.",
        "mx",
    ),
    "not-accept": (
        "The recipient's domain accepts no mail (null MX, RFC 7505): remove the address; "
        "`mailscope check {rdomain} --checks mx`.",
        "mx",
    ),
    "mailbox-disabled": (
        "The mailbox is disabled or closed: suppress the address.",
        None,
    ),
    "has-moved": (
        "The recipient has moved: update the address if the new one was given, "
        "otherwise suppress it.",
        None,
    ),
    "filtered": (
        "A rule on the recipient's side (allow list, group restriction, user block) "
        "refused the message: the recipient or their admin must allow the sender.",
        None,
    ),
    "mailbox-full": (
        "The mailbox is full: retry later; suppress the address if it stays full for weeks.",
        None,
    ),
    "system-full": ("The receiving system is out of storage: retry later.", None),
    "expired": (
        "Retries gave up: the receiving server kept failing or deferring; look at the "
        "last diagnostic for why.",
        None,
    ),
    "network-error": (
        "The receiving server could not be reached or dropped the connection: retry "
        "later; check the recipient domain's MX (`mailscope check {rdomain} --checks mx`).",
        "mx",
    ),
    "system-error": ("A temporary fault on the receiving system: retry later.", None),
    "mailer-error": ("The receiving mail system failed internally: retry or tell its admin.", None),
    "syntax-error": (
        "The receiving server did not understand a command: check the sending software "
        "or its SMTP client settings.",
        None,
    ),
    "other": ("Read the diagnostic; no known rule matched it.", None),
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One documented code or phrase: when it matches and what it means.

    A rule matches when every given condition holds: the status is one of `statuses`,
    the provider one of `providers`, `pattern` is found in the diagnostic. `hard`
    overrides the class-based default.
    """

    reason: str
    meaning: str
    statuses: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    providers: tuple[str, ...] = ()
    fix: str | None = None
    check: str | None = None
    hard: bool | None = None
    source: str | None = None

    def matches(self, status: str | None, provider: str, diagnostic: str) -> bool:
        if self.statuses and status not in self.statuses:
            return False
        if self.providers and provider not in self.providers:
            return False
        return self.pattern is None or self.pattern.search(diagnostic) is not None


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# fmt: off
PROVIDER_RULES: tuple[Rule, ...] = (
    # -- Gmail ------------------------------------------------------------------------------
    # https://support.google.com/a/answer/3726730 (Gmail SMTP errors and codes) and
    # https://support.google.com/a/answer/81126 (sender guidelines)
    Rule("auth-failure", "Gmail: the message failed DMARC for the From: domain, whose policy "
         "asks to reject (or quarantine) unauthenticated mail.",
         statuses=("5.7.26", "4.7.26", "5.7.1"), pattern=_re(r"DMARC"), providers=("gmail",),
         fix="Make SPF or DKIM pass *aligned* with the From: domain {domain} (DKIM-sign "
             "with d={domain}); `mailscope check {domain} --checks dmarc,dkim,spf`.",
         check="dmarc,dkim,spf", source=GMAIL_ERRORS),
    Rule("auth-failure", "Gmail: SPF failed for a domain whose SPF record ends in -all "
         "(hard fail), so the message was blocked.",
         statuses=("5.7.26", "4.7.26"), providers=("gmail",),
         pattern=_re(r"SPF checks for an SPF record with a hard fail"),
         fix="Add the sending IP or service to the SPF record of the envelope sender's "
             "domain ({domain} or your bounce domain); `mailscope check {domain} --checks spf`.",
         check="spf", source=GMAIL_ERRORS),
    Rule("auth-failure", "Gmail: the sender is unauthenticated; Gmail requires SPF or DKIM "
         "to pass (bulk senders: both, plus DMARC).",
         statuses=("5.7.26", "4.7.26"), providers=("gmail",),
         fix="Publish SPF including the sending IP and DKIM-sign with a key in DNS for "
             "{domain}; `mailscope check {domain} --checks spf,dkim`.",
         check="spf,dkim", source=GMAIL_ERRORS),
    # Before 5.7.26 existed Gmail said the same under 5.7.1; the wording is still seen.
    Rule("auth-failure", "Gmail: the message has no authentication or fails authentication "
         "checks (SPF and DKIM); Gmail blocked it.", statuses=("5.7.1", "4.7.1"),
         providers=("gmail",),
         pattern=_re(r"authentication information|fails to pass\s+authentication"),
         fix="Publish SPF including the sending IP and DKIM-sign with a key in DNS for "
             "{domain}; `mailscope check {domain} --checks spf,dkim`.",
         check="spf,dkim", source=GMAIL_ERRORS),
    Rule("auth-failure", "Gmail: SPF did not pass for this message (4.7.27 rate-limited, "
         "5.7.27 blocked).", statuses=("5.7.27", "4.7.27"), providers=("gmail",),
         pattern=_re(r"SPF|unauthenticated"),
         fix="Add the sending IP or service to {domain}'s SPF record; `mailscope check "
             "{domain} --checks spf`.", check="spf", source=GMAIL_ERRORS),
    Rule("auth-failure", "Gmail: DKIM did not pass for this message; bulk senders must "
         "DKIM-sign.", statuses=("5.7.30", "4.7.30"), providers=("gmail",),
         fix="DKIM-sign every message with a published key for {domain}; `mailscope check "
             "{domain} --checks dkim`.", check="dkim", source=GMAIL_ERRORS),
    Rule("auth-failure", "Gmail: the sending domain has no DMARC policy; bulk senders need "
         "at least p=none.", statuses=("5.7.40", "4.7.40", "4.7.31", "5.7.31"),
         providers=("gmail",), pattern=_re(r"DMARC"),
         fix="Publish _dmarc.{domain} with at least `v=DMARC1; p=none; rua=...`; "
             "`mailscope check {domain} --checks dmarc`.", check="dmarc",
         source=GMAIL_ERRORS),
    Rule("auth-failure", "Gmail: the From: domain is not aligned with the SPF or DKIM domain "
         "that passed (DMARC alignment).", statuses=("5.7.32", "4.7.32"),
         providers=("gmail",),
         fix="Sign with DKIM d={domain} (or use a MAIL FROM in {domain}) so one of them "
             "aligns with From:; `mailscope check {domain} --checks dmarc,dkim`.",
         check="dmarc,dkim", source=GMAIL_ERRORS),
    Rule("security-error", "Gmail: the message was not sent over TLS; Gmail rate-limits or "
         "blocks unencrypted mail.", statuses=("5.7.29", "4.7.29"), providers=("gmail",),
         fix="Enable STARTTLS on the sending MTA for outbound mail.", check="ports",
         source=GMAIL_ERRORS),
    Rule("require-ptr", "Gmail: the sending IP has no PTR record, or the PTR name does not "
         "resolve back to the IP.", statuses=("5.7.25", "4.7.25", "4.7.23", "5.7.23"),
         providers=("gmail",), pattern=_re(r"PTR|reverse|pointer"),
         fix="Publish a PTR for the sending IP whose hostname has an A/AAAA back to it; "
             "`mailscope check {domain} --checks fcrdns --ip YOUR-IP`.", check="fcrdns",
         source=GMAIL_ERRORS),
    Rule("require-ptr", "Gmail: IPv6 mail must have PTR records and authentication.",
         statuses=("4.7.0", "5.7.1"), providers=("gmail",), pattern=_re(r"IPv6 sending"),
         check="fcrdns", source=GMAIL_ERRORS),
    Rule("rate-limited", "Gmail: an unusual rate of unsolicited mail from this IP or domain; "
         "Gmail is deferring it.", statuses=("4.7.28", "4.7.0"), providers=("gmail",),
         pattern=_re(r"unusual rate|unsolicited|rate limited"),
         fix="Lower the volume to Gmail, send only to engaged recipients and check the "
             "spam rate: `mailscope postmaster {domain}`.", check="postmaster",
         source=GMAIL_ERRORS),
    Rule("bad-reputation", "Gmail: an unusual rate of unsolicited mail from this IP; the "
         "mail was blocked.", statuses=("5.7.28",), providers=("gmail",),
         fix="Stop the campaign to Gmail, clean the list, bring the spam rate below 0.3% "
             "(`mailscope postmaster {domain}`), then ramp up slowly.", check="postmaster",
         source=GMAIL_ERRORS),
    Rule("bad-reputation", "Gmail: an unusual rate of unsolicited mail from this IP; the "
         "mail was blocked (the older 5.7.1 wording of 5.7.28).", statuses=("5.7.1",),
         providers=("gmail",), pattern=_re(r"unusual rate of\s+unsolicited"),
         fix="Stop the campaign to Gmail, clean the list, bring the spam rate below 0.3% "
             "(`mailscope postmaster {domain}`), then ramp up slowly.", check="postmaster",
         source=GMAIL_ERRORS),
    Rule("security-error", "Gmail: TLS is required for this recipient domain (a Workspace "
         "admin setting) or the connection must use STARTTLS.",
         statuses=("4.7.0", "5.7.0"), providers=("gmail",),
         pattern=_re(r"TLS required|must issue a STARTTLS|STARTTLS"),
         fix="Send to Google over STARTTLS with a current TLS version.", check="ports",
         source=GMAIL_ERRORS),
    Rule("filtered", "Gmail: the recipient's Google Workspace domain accepts mail only "
         "from listed IPs (an inbound gateway or allow-list setting).",
         providers=("gmail",), pattern=_re(r"IP not in whitelist for RCPT domain"),
         fix="The recipient's admin must add your sending IP to their allowed list (or "
             "route the mail through their gateway).", source=GMAIL_ERRORS),
    Rule("rate-limited", "Gmail: this recipient is receiving mail too fast; Gmail defers "
         "more until later.", providers=("gmail",),
         pattern=_re(r"receiving mail (?:too quickly|at a rate)"),
         fix="Nothing to fix on your side: let the queue retry later, and avoid sending "
             "bursts to the same recipient.", source=GMAIL_ERRORS),
    Rule("filtered", "Gmail: a policy of the recipient's (or sender's) Google Workspace "
         "domain prohibited the message.", providers=("gmail",),
         pattern=_re(r"has a policy that prohibited"), source=GMAIL_ERRORS),
    Rule("not-compliant-rfc", "Gmail: the message is not RFC 5322 compliant (for example "
         "several addresses in From:, a missing or duplicated header).",
         providers=("gmail",),
         pattern=_re(r"not RFC 5322 compliant|multiple addresses in From"),
         check="send", source=GMAIL_ERRORS),
    Rule("filtered", "Gmail: a Google Workspace admin's custom rule (gcdp) refused it.",
         providers=("gmail",), pattern=_re(r"\bgcdp\b"), source=GMAIL_ERRORS),
    Rule("blocked", "Gmail: this IP is not allowed to send directly to Gmail (a dynamic or "
         "residential address); use your provider's relay.", providers=("gmail",),
         pattern=_re(r"not authorized to send email directly"),
         fix="Relay through your ISP's or mail provider's smarthost, or give the server "
             "a static IP with a proper PTR.", check="fcrdns", source=GMAIL_ERRORS),
    Rule("bad-reputation", "Gmail: the message is suspicious because of the very low "
         "reputation of the sending domain or IP.", providers=("gmail",),
         pattern=_re(r"low reputation"), check="postmaster", source=GMAIL_ERRORS),
    Rule("spam-detected", "Gmail: the message is likely unsolicited mail (content and "
         "sender signals).", providers=("gmail",),
         pattern=_re(r"likely unsolicited mail|likely suspicious|suspicious due to the "
                     r"nature of the content"), check="send",
         source=GMAIL_ERRORS),
    Rule("virus-detected", "Gmail: the content presents a potential security issue (an "
         "attachment or link).", providers=("gmail",),
         pattern=_re(r"potential security issue|blocked because its content"),
         source=GMAIL_ERRORS),
    # -- Microsoft (Outlook.com, Exchange Online / Microsoft 365) ---------------------------
    # 5.7.515: the 2025 high-volume sender requirement for outlook.com/hotmail.com/live.com
    # (5,000+ messages with the same From: domain); Microsoft's NDR page is MS_515.
    Rule("auth-failure", "Microsoft (Outlook.com, since May 2025): the From: domain does "
         "not meet the required authentication level; high-volume senders need SPF pass, "
         "DKIM pass and DMARC (at least p=none) aligned.", statuses=("5.7.515",),
         fix="Make SPF and DKIM both pass for {domain} and publish DMARC aligned with "
             "From:; `mailscope check {domain} --checks spf,dkim,dmarc`.",
         check="spf,dkim,dmarc", source=MS_515),
    Rule("auth-failure", "Exchange Online: the sending domain failed DMARC and its policy "
         "is reject.", statuses=("5.7.509",), check="dmarc,dkim,spf", source=MS_NDR),
    Rule("blocked", "Exchange Online: outbound traffic from this IP is not accepted because "
         "it looks suspicious (commonly seen for new or trial tenants).",
         statuses=("5.7.708",),
         fix="The tenant's outbound mail is refused for reputation: verify the tenant's "
             "domains, stop the bad traffic, and contact Microsoft support.",
         check="blocklists", source=MS_NDR),
    Rule("policy-violation", "Exchange Online: the tenant may not send from a domain it has "
         "not registered (accepted domains).", statuses=("5.7.750",),
         fix="Add and verify the sending domain as an accepted domain in the Microsoft "
             "365 tenant.", source=MS_NDR),
    Rule("blocked", "Microsoft: the sending IP is banned (5.7.606-5.7.649); delisting is "
         "requested at https://sender.office.com.",
         pattern=_re(r"\b5\.7\.6(?:0[6-9]|[1-4]\d)\b|banned sending IP"),
         fix="Fix the cause, then request delisting at https://sender.office.com; "
             "`mailscope check {domain} --checks blocklists --ip YOUR-IP`.",
         check="blocklists", source=MS_NDR),
    Rule("blocked", "Outlook.com: part of the sender's network is on Microsoft's block list "
         "(S3140/S3150); delisting through Outlook.com sender support.",
         pattern=_re(r"\bA?S3(?:140|150)\b|\bSC-00[1-4]\b"),
         fix="Ask Outlook.com sender support for mitigation (https://olcsupport.office.com) "
             "and check the IP: `mailscope check {domain} --checks blocklists --ip "
             "YOUR-IP`; SNDS shows its status.", check="blocklists", source=MS_OLC),
    Rule("blocked", "Outlook.com: mail from this IP was refused for policy reasons "
         "(legacy codes: SC- block lists, DY- dynamic IP ranges, OU- policy or reputation).",
         pattern=_re(r"\b(?:SC|DY|OU)-00[1-9]\b"),
         fix="Send through a static IP with a proper PTR, then ask Outlook.com sender "
             "support for mitigation; `mailscope check {domain} --checks blocklists,fcrdns "
             "--ip YOUR-IP`.", check="blocklists", source=MS_OLC),
    Rule("bad-reputation", "Outlook.com: temporarily rate limited because of the IP's "
         "reputation.", statuses=("4.7.650", "4.7.651"),
         fix="Slow down to Outlook.com and check the IP's SNDS colour: `mailscope "
             "postmaster --snds-key KEY`.", check="postmaster", source=MS_OLC),
    Rule("rate-limited", "Outlook.com: temporarily deferred (4.7.500-4.7.699 range, commonly "
         "seen while an IP builds reputation or after a volume spike).",
         providers=("microsoft",), pattern=_re(r"\b4\.7\.[56]\d\d\b"),
         fix="Slow down to Outlook.com and let the queue retry; check the IP in SNDS "
             "(`mailscope postmaster --snds-key KEY`).", check="postmaster",
         source=MS_OLC),
    Rule("user-unknown", "Exchange Online: the recipient does not exist in the "
         "organisation (directory-based edge blocking).",
         statuses=("5.4.1",), pattern=_re(r"Recipient address rejected: Access denied"),
         source=MS_NDR),
    Rule("user-unknown", "Exchange: the recipient was not found by SMTP address lookup.",
         pattern=_re(r"RESOLVER\.ADR\.(?:RecipNotFound|RecipientNotFound|ExRecipNotFound)"),
         source=MS_NDR),
    # Microsoft uses 5.1.10 for "recipient not found", not for RFC 7505's null MX.
    Rule("user-unknown", "Exchange Online: the recipient was not found (Microsoft's 5.1.10 "
         "means an unknown recipient, not a null MX).", statuses=("5.1.10",),
         providers=("microsoft",), source=MS_NDR),
    Rule("blocked", "Exchange Online: the sending account is blocked for sending spam "
         "(a restricted user or a banned sender).",
         pattern=_re(r"bad outbound sender|spam abuse detected|banned sender"),
         fix="The sending mailbox is restricted for outbound spam: secure the account "
             "(password, MFA, mail rules), then release it from Restricted entities in "
             "the Microsoft Defender portal.", source=MS_NDR),
    Rule("exceed-limit", "Exchange Online: the recipient has received too many messages "
         "(in total or from this sender) in the last hour.",
         statuses=("5.2.121", "5.2.122", "4.2.121", "4.2.122"), hard=False,
         fix="Retry later and spread messages to this recipient over time.",
         source=MS_NDR),
    Rule("not-compliant-rfc", "Exchange Online: the message must be RFC 5322 section 3.6.2 "
         "compliant (a valid From:).", statuses=("5.7.512",), check="send", source=MS_NDR),
    Rule("not-compliant-rfc", "Exchange Online: the message contains bare line feeds.",
         statuses=("5.6.11",), check="send", source=MS_NDR),
    Rule("filtered", "Exchange Online: the recipient group or mailbox accepts mail only "
         "from allowed senders.", statuses=("5.7.124", "5.7.133", "5.7.134", "5.7.135",
                                             "5.7.136"), source=MS_NDR),
    Rule("security-error", "Exchange Online: the client was not authenticated to send "
         "(SMTP AUTH required).", statuses=("5.7.57",), check="ports", source=MS_NDR),
    # -- Yahoo / AOL ------------------------------------------------------------------------
    # https://senders.yahooinc.com/smtp-error-codes/
    Rule("bad-reputation", "Yahoo: mail from this IP is temporarily deferred because of "
         "unexpected volume or user complaints (TSS04).", pattern=_re(r"\[?TSS04\]?"),
         fix="Slow down to Yahoo, send only to engaged recipients, remove complainers; "
             "Yahoo's complaint feedback loop shows who complained.",
         check="postmaster", source=YAHOO_ERRORS),
    Rule("blocked", "Yahoo: all mail from this IP is permanently deferred; retrying will "
         "not succeed (TSS09).", pattern=_re(r"\[?TSS09\]?"), hard=True,
         fix="Stop retrying; fix authentication and list hygiene, then contact Yahoo "
             "sender support.", check="blocklists", source=YAHOO_ERRORS),
    Rule("blocked", "Yahoo: all mail from this IP is permanently deferred (TS03, commonly "
         "seen after sustained complaints); retrying will not succeed.",
         pattern=_re(r"\[TS03\]"), hard=True,
         fix="Stop retrying; find and fix the cause of the complaints, then contact Yahoo "
             "sender support.", check="postmaster", source=YAHOO_ERRORS),
    Rule("bad-reputation", "Yahoo: mail from this IP is temporarily deferred (TS01/TS02, "
         "commonly seen for a new IP or after user complaints).",
         pattern=_re(r"\[TS0[12]\]"),
         fix="Slow down to Yahoo, send only to engaged recipients, remove complainers.",
         check="postmaster", source=YAHOO_ERRORS),
    Rule("blocked", "Yahoo: connections from this IP are refused because of a Spamhaus "
         "listing (the BL2x codes; the reply names the list).", pattern=_re(r"\[BL2\d\]"),
         fix="Look the IP up at Spamhaus, fix the cause and request delisting; "
             "`mailscope check {domain} --checks blocklists --ip YOUR-IP`.",
         check="blocklists", source=YAHOO_ERRORS),
    Rule("policy-violation", "Yahoo: message not accepted for policy reasons (content, "
         "authentication or reputation).", statuses=("5.7.9",), providers=("yahoo",),
         pattern=_re(r"policy reasons"),
         fix="Check authentication (`mailscope check {domain} --checks spf,dkim,dmarc`), "
             "complaints and content; then ask Yahoo sender support.",
         check="spf,dkim,dmarc", source=YAHOO_ERRORS),
    # -- Amazon SES -------------------------------------------------------------------------
    # https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html (bounce types)
    Rule("user-unknown", "Amazon SES: the address is on the account-level suppression list "
         "(added after a hard bounce or a complaint), so SES did not try to send.",
         pattern=_re(r"account-level suppression list"), hard=True,
         fix="Keep the address suppressed; remove it from the SES account suppression list "
             "only if you know it works now and the person wants the mail.",
         source=SES_NOTIFICATIONS),
    Rule("user-unknown", "Amazon SES: the address is on a suppression list (it bounced "
         "before), so SES did not try to send.",
         pattern=_re(r"suppression list|has suppressed sending"), hard=True,
         fix="Remove the address; take it off the SES account suppression list only if "
             "you know it works now.", source=SES_NOTIFICATIONS),
    # -- Blocklists (provider-independent) --------------------------------------------------
    # Spamhaus https://check.spamhaus.org/ ; Barracuda https://www.barracudacentral.org/lookups
    # SpamCop https://www.spamcop.net/bl.shtml ; Proofpoint https://ipcheck.proofpoint.com/
    # Spamhaus answers 127.255.255.252/254/255 to a misconfigured receiver (typo in the zone,
    # a public/open resolver, excess volume); such answers must never be used to reject.
    Rule("system-error", "The receiver's Spamhaus lookup failed (public or open resolver, "
         "excess volume or a zone typo): a configuration error on the receiving side, not "
         "a listing of your IP.",
         pattern=_re(r"spamhaus\.org/returnc/|Error: (?:open resolver|excessive number of "
                     r"queries|public resolver)|127\.255\.255\.25[2-5]"), hard=False,
         fix="Your IP is most likely not listed: tell the receiving server's postmaster that "
             "its Spamhaus queries fail (it must use its own resolver or Spamhaus DQS); "
             "confirm with `mailscope check {domain} --checks blocklists --ip YOUR-IP`.",
         check="blocklists", source=SPAMHAUS_RETURN_CODES),
    Rule("blocked", "A domain in the message or its envelope (sender, links) is on the "
         "Spamhaus Domain Blocklist (DBL).", pattern=_re(r"dbl\.spamhaus\.org"),
         fix="Find the listed domain (the sender's or a link's) at https://check.spamhaus.org/, "
             "remove it from the mail or fix its cause, then request delisting.",
         check="blocklists", source="https://check.spamhaus.org/"),
    Rule("blocked", "The sending IP has a poor Barracuda Reputation (BRBL) at the receiver.",
         pattern=_re(r"barracuda ?reputation|b\.barracudacentral\.org|barracudanetworks\.com"
                     r"/reputation"),
         fix="Look the IP up at https://www.barracudacentral.org/lookups and request removal "
             "there after fixing the cause; `mailscope check {domain} --checks blocklists "
             "--ip YOUR-IP`.", check="blocklists", source=BARRACUDA_LOOKUP),
    Rule("blocked", "The sending IP or domain is listed on a DNS blocklist the receiver "
         "uses.", pattern=_re(
             r"spamhaus|barracuda|spamcop|\bsorbs\b|uceprotect|mailspike|\bpsbl\b|"
             r"\bsurbl\b|\buribl\b|ipcheck\.proofpoint\.com|blocked using|"
             r"listed (?:at|on|in|by) (?:the )?\S*\s?"
             r"(?:dnsbl|rbl|blocklist|blacklist)|\bdnsbl\b|\brbl\b|"
             # ... but a recipient's own block list is a recipient-side rule ("filtered").
             r"(?<!user )(?<!user's )(?<!users )(?<!recipient )(?<!recipient's )"
             r"(?<!personal )(?<!mailbox )(?:black|block) ?list"),
         check="blocklists", source="https://check.spamhaus.org/"),
    # -- RFC 7505 null MX -------------------------------------------------------------------
    Rule("not-accept", "RFC 7505: the recipient's domain publishes a null MX; it accepts no "
         "mail.", statuses=("5.1.10",), pattern=_re(r"null MX|does not accept mail"),
         source=RFC7505),
    Rule("rejected", "RFC 7505: the sender's domain publishes a null MX, so it cannot "
         "receive replies and the receiver refuses mail from it.", statuses=("5.7.27",),
         pattern=_re(r"null MX|does not accept mail"),
         fix="Send from a domain that receives mail: remove the null MX of {domain} or "
             "use another MAIL FROM; `mailscope check {domain} --checks mx`.", check="mx",
         source=RFC7505),
)

TEXT_RULES: tuple[Rule, ...] = (
    Rule("rejected", "The envelope sender (MAIL FROM) was refused.", pattern=_re(
        r"sender address rejected|sender (?:domain )?(?:rejected|refused|denied|not allowed)|"
        r"bad sender|sender verify failed|sender domain (?:must exist|not found|does not exist)|"
        r"domain of sender address .* does not (?:exist|resolve)|mail from .* rejected|"
        r"return path .* rejected")),
    Rule("not-accept", "The recipient's domain accepts no mail.",
         pattern=_re(r"null MX|does not accept (?:e-?)?mail|accepts no mail")),
    Rule("auth-failure", "SPF, DKIM or DMARC did not pass at the receiver.", pattern=_re(
        r"\bSPF\b|\bDKIM\b|\bDMARC\b|unauthenticated|not authenticated.*(?:sender|domain)|"
        r"authentication (?:check|level|failure)|sender authentication|"
        r"not aligned|alignment")),
    Rule("security-error", "TLS or SMTP authentication is required.", pattern=_re(
        r"must issue a STARTTLS|STARTTLS|TLS (?:is )?required|encryption required|"
        r"authentication required|must authenticate|not authenticated|"
        r"certificate (?:verify|verification|validation) failed|TLS negotiation failed|"
        r"certificate (?:has )?expired")),
    Rule("require-ptr", "The sending IP lacks valid reverse DNS.", pattern=_re(
        r"\bPTR\b|reverse (?:DNS|lookup|dns)|\brDNS\b|cannot find your (?:reverse )?hostname|"
        r"no reverse|hostname .* (?:does not|doesn't) resolve|client host rejected: "
        r"cannot find your hostname")),
    Rule("virus-detected", "A virus scanner refused the message.",
         pattern=_re(r"\bvirus|malware|infected|trojan|\bworm\b")),
    Rule("bad-reputation", "The sender's reputation is too low.", pattern=_re(
        r"reputation|user complaints|too many complaints|sender score|poor sending "
        r"history")),
    Rule("relay-denied", "The server refused to relay for this domain.", pattern=_re(
        r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited|not allowed)|"
        r"not permitted to relay|unable to relay|we do not relay|relay not permitted|"
        r"not allowed to relay")),
    Rule("host-unknown", "The recipient's domain has no mail server.", pattern=_re(
        r"host (?:or domain name )?not found|domain (?:name )?(?:\S+ )?(?:not found|"
        r"does(?: not|n'?t) exist)|no such domain|host unknown|unknown host|"
        r"name service error|NXDOMAIN|"
        r"unrouteable mail domain|no (?:valid )?MX (?:record|host)|unable to route|"
        r"domain (?:is )?not (?:exist|resolv)|no route for domain")),
    Rule("user-unknown", "The recipient address does not exist.", pattern=_re(
        r"user (?:unknown|not found|does(?: not|n'?t) exist)|unknown (?:user|recipient|"
        r"local[- ]part|address)|no such (?:user|mailbox|recipient|account|address)|"
        r"(?:recipient|mailbox|address|account|user) (?:does(?: not|n'?t) exist|not found|"
        r"unknown|is unknown|unavailable|is not valid|not valid|invalid)|"
        r"invalid (?:recipient|mailbox|address|user)|mailbox not found|"
        r"unrouteable address|no mailbox here|"
        r"account that you tried to reach does not exist|doesn'?t have an? \S+ account|"
        r"does not exist|not a valid (?:recipient|mailbox|user)|"
        r"mailbox unavailable|no longer valid|bad destination mailbox")),
    Rule("mailbox-full", "The recipient's mailbox is full.", pattern=_re(
        r"over ?quota|quota exceeded|exceeded (?:\w+ )?(?:storage|quota)|mailbox (?:is )?full|"
        r"out of storage|insufficient (?:storage|space)|storage allocation|"
        r"mailbox size limit|mailbox has exceeded|full mailbox|is full")),
    Rule("mailbox-disabled", "The recipient's mailbox is disabled or closed.", pattern=_re(
        r"account (?:has been |is )?(?:disabled|suspended|deactivated|inactive|closed|locked|"
        r"expired|blocked)|mailbox (?:is )?(?:disabled|inactive|suspended|closed|frozen)|"
        r"user (?:account )?(?:is )?(?:disabled|suspended|inactive|deactivated)|"
        r"(?:is|has been) disabled|no longer (?:active|in use)")),
    Rule("has-moved", "The recipient has moved.", pattern=_re(
        r"has moved|moved to|user not local|no longer (?:at|with)|changed (?:their |his |her )?"
        r"(?:e-?mail )?address|new address")),
    Rule("filtered", "A rule on the recipient's side refused the message.", pattern=_re(
        r"not (?:in|on) (?:the |my )?(?:allow(?:ed)?|white)[- ]?(?:senders? )?list|"
        r"rejected by (?:the )?(?:recipient|user)|recipient has blocked|blocked by (?:the )?"
        r"recipient|not authori[sz]ed to send to|only accepts mail from|restricted to|"
        r"(?:user'?s?|recipient'?s?|personal|mailbox) (?:block|black|deny) ?list|"
        r"rejected by (?:the )?recipient|"
        r"delivery not authorized|group .* restricted")),
    Rule("message-too-big", "The message is too big.", pattern=_re(
        r"message (?:size )?(?:exceeds|too (?:big|large))|size limit|message is too (?:big|large)|"
        r"size exceeds|exceeds (?:the )?(?:maximum|max)(?:imum)? (?:message )?size|too large")),
    Rule("exceed-limit", "A sending or recipient limit was exceeded.", pattern=_re(
        r"too many recipients|recipient limit|rcpt limit|sending limit|sending quota|"
        r"message limit exceeded|daily (?:user )?(?:sending )?(?:quota|limit)")),
    Rule("too-many-connections", "Too many connections from the sender.", pattern=_re(
        r"too many (?:connections|concurrent|sessions|simultaneous)|connection limit|"
        r"concurrency")),
    Rule("rate-limited", "The receiver is throttling the sender.", pattern=_re(
        r"rate limit|rate-limit|throttl|too fast|too quickly|receiving mail at a rate|"
        r"at a rate that|"
        r"temporarily deferred|deferred due to|exceeded the rate|slow down|too many messages|"
        r"greylist|graylist")),
    Rule("spam-detected", "The message content was judged spam.", pattern=_re(
        r"\bspam\b|spammy|\bUBE\b|junk mail|unsolicited|content rejected|message content|"
        r"phish|suspicious")),
    Rule("not-compliant-rfc", "The message breaks RFC 5322 or 5321 format rules.",
         pattern=_re(r"RFC ?(?:5322|2822|822|5321|2821)|not (?:RFC )?compliant|malformed|"
                     r"invalid (?:header|message format)|missing (?:or invalid )?(?:From|Date|"
                     r"Message-ID)|multiple From|bare (?:LF|line ?feeds?)|header .* invalid")),
    Rule("content-error", "The receiver refused the message's content or encoding.",
         pattern=_re(r"attachment|file type|extension .* not allowed|banned (?:file|content)|"
                     r"MIME|8-?bit|encoding")),
    Rule("expired", "Retries gave up.", pattern=_re(
        r"expired|retry timeout exceeded|giving up|gave up|too long in (?:the )?queue|"
        r"delivery time exceeded|retry time not reached for any host after a long failure")),
    Rule("network-error", "The receiving server could not be reached.", pattern=_re(
        r"connection (?:refused|timed out|reset|lost|dropped|closed)|timed out|timeout|"
        r"no route to host|network (?:is )?unreachable|lost connection|broken pipe|"
        r"host unreachable|could not connect|unable to connect|connect to .* failed")),
    Rule("system-full", "The receiving system is out of storage.",
         pattern=_re(r"insufficient system storage|disk full|out of disk|system storage")),
    Rule("mailer-error", "The receiving mail system failed internally.", pattern=_re(
        r"mailer error|command (?:died|failed)|pipe to \||exit (?:code|status) \d|"
        r"local delivery failed|procmail")),
    Rule("syntax-error", "The server did not understand a command.", pattern=_re(
        r"syntax error|command unrecogni[sz]ed|unrecogni[sz]ed command|bad sequence of "
        r"commands|invalid command|line too long")),
    Rule("system-error", "A temporary fault on the receiving system.", pattern=_re(
        r"temporar(?:y|ily) (?:local )?(?:problem|failure|error|unavailable)|internal (?:server )?"
        r"error|local error|system (?:error|problem)|server error|service (?:not available|"
        r"unavailable|temporarily unavailable)|resources temporarily|try again later")),
)
# fmt: on

_OWNERS = {
    GMAIL_ERRORS: "gmail",
    MS_NDR: "microsoft",
    MS_OLC: "microsoft",
    MS_515: "microsoft",
    YAHOO_ERRORS: "yahoo",
    SES_NOTIFICATIONS: "amazon-ses",
}

# RFC 3463 and its registry (RFC 5248 and later): subject.detail -> reason.
# https://www.iana.org/assignments/smtp-enhanced-status-codes
STATUS_REASONS: dict[str, tuple[str, str]] = {
    "0.0": ("other", "Other undefined status"),
    "1.0": ("other", "Other address status"),
    "1.1": ("user-unknown", "Bad destination mailbox address"),
    "1.2": ("host-unknown", "Bad destination system address"),
    "1.3": ("user-unknown", "Bad destination mailbox address syntax"),
    "1.4": ("user-unknown", "Destination mailbox address ambiguous"),
    "1.6": ("has-moved", "Destination mailbox has moved, no forwarding address"),
    "1.7": ("rejected", "Bad sender's mailbox address syntax"),
    "1.8": ("rejected", "Bad sender's system address"),
    "1.10": ("not-accept", "Recipient address has null MX (RFC 7505)"),
    "2.0": ("other", "Other or undefined mailbox status"),
    "2.1": ("mailbox-disabled", "Mailbox disabled, not accepting messages"),
    "2.2": ("mailbox-full", "Mailbox full"),
    "2.3": ("message-too-big", "Message length exceeds administrative limit"),
    "2.4": ("mailer-error", "Mailing list expansion problem"),
    "3.0": ("system-error", "Other or undefined mail system status"),
    "3.1": ("system-full", "Mail system full"),
    "3.2": ("system-error", "System not accepting network messages"),
    "3.3": ("mailer-error", "System not capable of selected features"),
    "3.4": ("message-too-big", "Message too big for system"),
    "3.5": ("system-error", "System incorrectly configured"),
    "4.0": ("network-error", "Other or undefined network or routing status"),
    "4.1": ("network-error", "No answer from host"),
    "4.2": ("network-error", "Bad connection"),
    "4.3": ("network-error", "Directory server failure"),
    "4.4": ("host-unknown", "Unable to route"),
    "4.5": ("too-many-connections", "Mail system congestion"),
    "4.6": ("network-error", "Routing loop detected"),
    "4.7": ("expired", "Delivery time expired"),
    "5.0": ("mailer-error", "Other or undefined protocol status"),
    "5.1": ("syntax-error", "Invalid command"),
    "5.2": ("syntax-error", "Syntax error"),
    "5.3": ("exceed-limit", "Too many recipients"),
    "5.4": ("syntax-error", "Invalid command arguments"),
    "5.5": ("mailer-error", "Wrong protocol version"),
    "5.6": ("syntax-error", "Authentication exchange line is too long"),
    "6.0": ("content-error", "Other or undefined media error"),
    "6.1": ("content-error", "Media not supported"),
    "6.2": ("content-error", "Conversion required and prohibited"),
    "6.3": ("content-error", "Conversion required but not supported"),
    "6.4": ("content-error", "Conversion with loss performed"),
    "6.5": ("content-error", "Conversion failed"),
    "6.6": ("content-error", "Message content not available"),
    "6.7": ("not-compliant-rfc", "Non-ASCII addresses not permitted for that sender/recipient"),
    "6.8": ("not-compliant-rfc", "UTF-8 string reply is required, but not permitted"),
    "6.9": ("not-compliant-rfc", "UTF-8 header message cannot be transferred"),
    "7.0": ("security-error", "Other or undefined security status"),
    "7.1": ("policy-violation", "Delivery not authorized, message refused"),
    "7.2": ("filtered", "Mailing list expansion prohibited"),
    "7.3": ("security-error", "Security conversion required but not possible"),
    "7.4": ("security-error", "Security features not supported"),
    "7.5": ("security-error", "Cryptographic failure"),
    "7.6": ("security-error", "Cryptographic algorithm not supported"),
    "7.7": ("security-error", "Message integrity failure"),
    "7.8": ("security-error", "Authentication credentials invalid"),
    "7.9": ("security-error", "Authentication mechanism is too weak"),
    "7.10": ("security-error", "Encryption needed"),
    "7.11": ("security-error", "Encryption required for requested authentication mechanism"),
    "7.12": ("security-error", "A password transition is needed"),
    "7.13": ("mailbox-disabled", "User account disabled"),
    "7.14": ("security-error", "Trust relationship required"),
    "7.15": ("other", "Priority level is too low"),
    "7.16": ("message-too-big", "Message is too big for the specified priority"),
    "7.17": ("has-moved", "Mailbox owner has changed"),
    "7.18": ("has-moved", "Domain owner has changed"),
    "7.19": ("other", "RRVS test cannot be completed"),
    "7.20": ("auth-failure", "No passing DKIM signature found"),
    "7.21": ("auth-failure", "No acceptable DKIM signature found"),
    "7.22": ("auth-failure", "No valid author-matched DKIM signature found"),
    "7.23": ("auth-failure", "SPF validation failed"),
    "7.24": ("auth-failure", "SPF validation error"),
    "7.25": ("require-ptr", "Reverse DNS validation failed"),
    "7.26": ("auth-failure", "Multiple authentication checks failed"),
    "7.27": ("rejected", "Sender address has null MX (RFC 7505)"),
    "7.28": ("rate-limited", "Mail flood detected"),
    "7.29": ("auth-failure", "ARC validation failure"),
    "7.30": ("security-error", "REQUIRETLS support required"),
}
SUBJECT_REASONS = {
    "0": "other",
    "1": "other",
    "2": "other",
    "3": "system-error",
    "4": "network-error",
    "5": "mailer-error",
    "6": "content-error",
    "7": "policy-violation",
}
# RFC 5321 section 4.2.3 reply codes, when no enhanced status was given.
REPLY_REASONS: dict[int, str] = {
    421: "system-error",
    450: "other",
    451: "system-error",
    452: "system-full",
    500: "syntax-error",
    501: "syntax-error",
    502: "syntax-error",
    503: "syntax-error",
    504: "syntax-error",
    521: "not-accept",
    530: "security-error",
    535: "security-error",
    550: "other",
    551: "has-moved",
    552: "mailbox-full",
    553: "user-unknown",
    554: "other",
    556: "not-accept",
}

# -- providers ---------------------------------------------------------------------------------

PROVIDER_DOMAINS: dict[str, str] = {
    "google.com": "gmail",
    "googlemail.com": "gmail",
    "gmail.com": "gmail",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "hotmail.co.uk": "microsoft",
    "live.com": "microsoft",
    "msn.com": "microsoft",
    "office365.com": "microsoft",
    "microsoft.com": "microsoft",
    "yahoo.com": "yahoo",
    "yahoodns.net": "yahoo",
    "yahoo.co.uk": "yahoo",
    "yahoo.fr": "yahoo",
    "ymail.com": "yahoo",
    "rocketmail.com": "yahoo",
    "aol.com": "yahoo",
    "amazonses.com": "amazon-ses",
    "icloud.com": "apple",
    "me.com": "apple",
    "mac.com": "apple",
    "gmx.net": "gmx",
    "gmx.de": "gmx",
    "gmx.com": "gmx",
    "web.de": "gmx",
    "mail.ru": "mail.ru",
    "yandex.ru": "yandex",
    "yandex.net": "yandex",
    "yandex.com": "yandex",
    "zoho.com": "zoho",
    "proton.me": "proton",
    "protonmail.ch": "proton",
    "protonmail.com": "proton",
    "comcast.net": "comcast",
    "att.net": "att",
    "orange.fr": "orange",
    "t-online.de": "t-online",
    "mimecast.com": "mimecast",
    "pphosted.com": "proofpoint",
    "ess.barracudanetworks.com": "barracuda",
}
_TEXT_PROVIDERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bgsmtp\b|google\.com|gmail", re.I), "gmail"),
    (
        re.compile(
            r"protection\.outlook\.com|prod\.outlook\.com|RESOLVER\.|outlook\.com|"
            r"hotmail|postmaster\.live\.com|sender\.office\.com|\bA?S3(?:140|150)\b",
            re.I,
        ),
        "microsoft",
    ),
    (re.compile(r"yahoo|\bTSS0\d\b|\[BL2\d\]", re.I), "yahoo"),
    (re.compile(r"amazonses|amazon ses", re.I), "amazon-ses"),
)


def provider_for_host(host: str | None) -> str | None:
    """The provider whose servers `host` (a name or mail domain) belongs to, or None."""
    if not host:
        return None
    name = host.lower().rstrip(".").strip("[]")
    while name:
        found = PROVIDER_DOMAINS.get(name)
        if found:
            return found
        _, dot, name = name.partition(".")
        if not dot:
            return None
    return None


def detect_provider(
    remote_mta: str | None, diagnostic: str, recipient: str, reporting_mta: str | None
) -> str:
    """The mailbox provider whose rules the diagnostic reflects.

    The remote MTA says best who answered; then the diagnostic's own signature
    (`gsmtp`, `RESOLVER.`, `TSS04`); then the recipient's domain; then the reporting MTA
    (a provider's own bounce, e.g. SES's suppression list). "other" when none is known.
    """
    found = provider_for_host(remote_mta)
    if found:
        return found
    for pattern, name in _TEXT_PROVIDERS:
        if pattern.search(diagnostic):
            return name
    found = provider_for_host(recipient.rpartition("@")[2])
    if found:
        return found
    if remote_mta:  # someone else's server answered: the reporter's rules don't apply
        return "other"
    return provider_for_host(reporting_mta) or "other"


# -- classification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Classification:
    """What one recipient's failure means."""

    reason: str
    hard: bool
    provider: str
    meaning: str
    fix: str
    check: str | None
    source: str | None


def _domain(address: str | None) -> str | None:
    if not address:
        return None
    match = re.search(r"@([A-Za-z0-9.-]+)", address)
    return match.group(1).lower().rstrip(".") if match else None


def classify(
    *,
    status: str | None,
    reply_code: int | None,
    diagnostic: str,
    recipient: str = "",
    remote_mta: str | None = None,
    reporting_mta: str | None = None,
    sender: str | None = None,
) -> Classification:
    """Classify one recipient's failure (see the module docstring for the order).

    Args:
        status: the RFC 3463 enhanced status ("5.7.26"), if any.
        reply_code: the SMTP reply code (550), if any.
        diagnostic: the remote's text, literal.
        recipient: the failed address (its domain can name the provider).
        remote_mta, reporting_mta: host names from the DSN or the text.
        sender: the From: of the bounced original; its domain fills the fix text.
    """
    provider = detect_provider(remote_mta, diagnostic, recipient, reporting_mta)
    rule = _first(PROVIDER_RULES, status, provider, diagnostic) or _first(
        TEXT_RULES, status, provider, diagnostic
    )
    source: str | None
    if rule is not None:
        reason, meaning, source = rule.reason, rule.meaning, rule.source
        if provider == "other" and source in _OWNERS:
            # A code only this provider uses (5.7.515, TSS04) names it even when the
            # reply was pasted without its server name.
            provider = _OWNERS[source]
        fix_template, check = FIXES[reason]
        if rule.fix is not None:
            fix_template = rule.fix
        if rule.check is not None:
            check = rule.check
        hard_override = rule.hard
        if rule in TEXT_RULES and status is not None:
            meaning = _status_meaning(status) or meaning
    else:
        reason, meaning = _from_codes(status, reply_code)
        fix_template, check = FIXES[reason]
        source = IANA_CODES if status else None
        hard_override = None
    hard = _hard(reason, status, reply_code) if hard_override is None else hard_override
    fix = fix_template.format(
        domain=_domain(sender) or _sender_domain_in(diagnostic) or "YOUR-DOMAIN",
        rdomain=_domain(recipient) or "THEIR-DOMAIN",
    )
    return Classification(reason, hard, provider, meaning, fix, check, source)


# Providers name the sending domain in their replies ("Unauthenticated email from X",
# "sending domain X does not meet", "SPF [X] with ip", "your DKIM domain [X 12]").
_SENDER_DOMAIN_RE = re.compile(
    r"(?:email from|sending domain|SPF \[|DKIM domain \[)\s*"
    r"([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)",
    re.IGNORECASE,
)


def _sender_domain_in(diagnostic: str) -> str | None:
    match = _SENDER_DOMAIN_RE.search(diagnostic)
    return match.group(1).lower() if match else None


def _first(rules: tuple[Rule, ...], status: str | None, provider: str, diag: str) -> Rule | None:
    for rule in rules:
        if rule.matches(status, provider, diag):
            return rule
    return None


def _status_meaning(status: str) -> str | None:
    _, _, rest = status.partition(".")
    found = STATUS_REASONS.get(rest)
    return f"{status}: {found[1]}" if found else None


def _from_codes(status: str | None, reply_code: int | None) -> tuple[str, str]:
    if status:
        _, _, rest = status.partition(".")
        found = STATUS_REASONS.get(rest)
        if found:
            return found[0], f"{status}: {found[1]}"
        subject = rest.partition(".")[0]
        return SUBJECT_REASONS.get(subject, "other"), f"{status}: no registered meaning"
    if reply_code is not None:
        return REPLY_REASONS.get(reply_code, "other"), f"SMTP reply {reply_code}"
    return "other", "No status code or known phrase in the diagnostic"


def _hard(reason: str, status: str | None, reply_code: int | None) -> bool:
    if reason in SOFT_REASONS:
        return False
    if status and status[1:] == ".4.7":
        # X.4.7 "delivery time expired": the sender's MTA gave up on temporary answers
        # (a TSS04 deferral, a 4.7.650 rate limit); a later send to this recipient can work.
        return False
    if status:
        return status.startswith("5")
    if reply_code is not None:
        return 500 <= reply_code < 600
    return False
