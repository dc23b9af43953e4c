"""Well-known DKIM selectors, as data: which provider publishes which selector.

DNS offers no way to list the selectors under `_domainkey.<domain>`, so discovery can
only ask for names that providers are known to use. The list below is what the DKIM
check probes (all at once) besides the selectors the user names. Providers that make
up a selector per customer (Amazon SES Easy DKIM, Postmark, HubSpot, SparkPost) are
listed in UNGUESSABLE so the console can say why their keys may not be found.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KnownSelector:
    """A selector a provider is known to publish.

    Attributes:
        selector: the label(s) before `._domainkey.`.
        provider: who uses it, in plain words (several providers may share one).
        note: how the provider publishes it, when that matters for a finding.
    """

    selector: str
    provider: str
    note: str = ""


WELL_KNOWN_SELECTORS: tuple[KnownSelector, ...] = (
    KnownSelector("google", "Google Workspace"),
    KnownSelector(
        "selector1",
        "Microsoft 365",
        "a CNAME to selector1-<domain>._domainkey.<tenant>.onmicrosoft.com",
    ),
    KnownSelector(
        "selector2",
        "Microsoft 365",
        "a CNAME to selector2-<domain>._domainkey.<tenant>.onmicrosoft.com",
    ),
    KnownSelector("s1", "SendGrid", "usually a CNAME to s1.domainkey.<id>.sendgrid.net"),
    KnownSelector("s2", "SendGrid", "usually a CNAME to s2.domainkey.<id>.sendgrid.net"),
    KnownSelector("smtpapi", "SendGrid (legacy)"),
    KnownSelector("k1", "Mailchimp / Mailgun", "Mailchimp publishes a CNAME to dkim.mcsv.net"),
    KnownSelector("k2", "Mailchimp", "a CNAME to dkim2.mcsv.net"),
    KnownSelector("k3", "Mailchimp", "a CNAME to dkim3.mcsv.net"),
    KnownSelector("mandrill", "Mailchimp Transactional (Mandrill)"),
    KnownSelector(
        "amazonses",
        "Amazon SES (legacy)",
        "Easy DKIM uses three 32-character token selectors that cannot be guessed",
    ),
    KnownSelector("pm", "Postmark", "newer keys use a dated selector such as 20240101000000pm"),
    KnownSelector("mx", "Mailgun"),
    KnownSelector("smtp", "Mailgun"),
    KnownSelector("mailo", "Mailgun"),
    KnownSelector("zoho", "Zoho Mail"),
    KnownSelector("zmail", "Zoho Mail"),
    KnownSelector("fm1", "Fastmail", "a CNAME to fm1.<domain>.dkim.fmhosted.com"),
    KnownSelector("fm2", "Fastmail", "a CNAME to fm2.<domain>.dkim.fmhosted.com"),
    KnownSelector("fm3", "Fastmail", "a CNAME to fm3.<domain>.dkim.fmhosted.com"),
    KnownSelector("mesmtp", "Fastmail (legacy)"),
    KnownSelector("protonmail", "Proton Mail", "a CNAME into protonmail.ch"),
    KnownSelector("protonmail2", "Proton Mail", "a CNAME into protonmail.ch"),
    KnownSelector("protonmail3", "Proton Mail", "a CNAME into protonmail.ch"),
    KnownSelector("s1024", "Yahoo Mail"),
    KnownSelector("s2048", "Yahoo Mail"),
    KnownSelector("hs1", "HubSpot", "current accounts use hs1-<account id>"),
    KnownSelector("hs2", "HubSpot", "current accounts use hs2-<account id>"),
    KnownSelector("sf1", "Salesforce", "the selector is chosen when the key is created"),
    KnownSelector("sf2", "Salesforce", "the selector is chosen when the key is created"),
    KnownSelector("200608", "Salesforce Marketing Cloud (ExactTarget)"),
    KnownSelector("ctct1", "Constant Contact"),
    KnownSelector("ctct2", "Constant Contact"),
    KnownSelector("mailjet", "Mailjet"),
    KnownSelector("litesrv", "MailerLite"),
    KnownSelector("kl", "Klaviyo"),
    KnownSelector("kl2", "Klaviyo"),
    KnownSelector("zendesk1", "Zendesk"),
    KnownSelector("zendesk2", "Zendesk"),
    KnownSelector("sig1", "iCloud Mail"),
    KnownSelector("default", "generic (cPanel, Plesk, many self-hosted MTAs)"),
    KnownSelector("dkim", "generic"),
    KnownSelector("mail", "generic (also Brevo)"),
    KnownSelector("selector", "generic"),
    KnownSelector("email", "generic"),
    KnownSelector("key1", "generic"),
    KnownSelector("s", "generic"),
)
"""Selectors probed by discovery, in the order the console lists them."""

UNGUESSABLE: tuple[tuple[str, str], ...] = (
    (
        "Amazon SES",
        "Easy DKIM publishes three CNAMEs named after random 32-character tokens "
        "(<token>._domainkey.<domain> -> <token>.dkim.amazonses.com)",
    ),
    ("Postmark", "selectors carry a timestamp, such as 20240101000000pm"),
    ("HubSpot", "selectors carry the account id, such as hs1-1234567"),
    ("SparkPost", "selectors are generated per domain, such as scph0124"),
)
"""Providers whose selectors discovery cannot guess: the user must pass --selector."""

CNAME_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("onmicrosoft.com", "Microsoft 365"),
    ("dkim.mail.microsoft", "Microsoft 365"),
    ("sendgrid.net", "SendGrid"),
    ("mcsv.net", "Mailchimp"),
    ("mandrillapp.com", "Mailchimp Transactional (Mandrill)"),
    ("amazonses.com", "Amazon SES"),
    ("mailgun.org", "Mailgun"),
    ("fmhosted.com", "Fastmail"),
    ("protonmail.ch", "Proton Mail"),
    ("hubspotemail.net", "HubSpot"),
    ("zoho.com", "Zoho Mail"),
)
"""Suffix of a selector's CNAME target -> the provider that hosts the key."""

_BY_SELECTOR = {known.selector: known for known in WELL_KNOWN_SELECTORS}


def known_selector(selector: str) -> KnownSelector | None:
    """The table entry for `selector`, if discovery knows it."""
    return _BY_SELECTOR.get(selector.lower())


def confirmed_provider(cname: str | None) -> str | None:
    """The provider whose zone a selector's CNAME points into, or None.

    Only a CNAME names the provider for certain: the key then lives in the provider's
    zone (s1._domainkey.D -> s1.domainkey.u1234.wl056.sendgrid.net is SendGrid's).
    """
    if not cname:
        return None
    target = cname.lower().rstrip(".")
    for suffix, provider in CNAME_PROVIDERS:
        if target == suffix or target.endswith("." + suffix):
            return provider
    return None


def guessed_provider(selector: str) -> str | None:
    """Who usually publishes a selector of this name, from the table; only a guess.

    Any self-hosted signer may pick `s1` or `google`, and some names are shared
    (`k1`: Mailchimp and Mailgun), so this must never be shown as fact.
    """
    known = known_selector(selector)
    return known.provider if known else None


def provider_for(selector: str, cname: str | None = None) -> str | None:
    """Who most likely publishes this key: the CNAME target's owner, else the table's guess.

    Callers that show the result must tell the two apart (`confirmed_provider`,
    `guessed_provider`); this is the best single answer, e.g. for wording a fix.
    """
    return confirmed_provider(cname) or guessed_provider(selector)
