"""Who runs an SPF include: well-known include domains and the service behind them, as data.

An entry covers its own name and every name below it. A provider's nested includes that
the table does not list (Microsoft's `spfa.protection.outlook.com`) are named after the
record that included them, through `provider_for(..., inherited=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

PROVIDER_INCLUDES: Mapping[str, str] = MappingProxyType(
    {
        # Mailbox and office suites.
        "_spf.google.com": "Google Workspace",
        "_netblocks.google.com": "Google Workspace",
        "_netblocks2.google.com": "Google Workspace",
        "_netblocks3.google.com": "Google Workspace",
        "spf.protection.outlook.com": "Microsoft 365",
        "spf.protection.office365.us": "Microsoft 365 GCC High",
        "spf.protection.partner.outlook.cn": "Microsoft 365 (21Vianet)",
        "zoho.com": "Zoho Mail",
        "zoho.eu": "Zoho Mail",
        "zoho.in": "Zoho Mail",
        "zohomail.com": "Zoho Mail",
        "spf.messagingengine.com": "Fastmail",
        "icloud.com": "iCloud Mail",
        "_spf.mail.yahoo.com": "Yahoo Mail",
        "secureserver.net": "GoDaddy",
        "mx.ovh.com": "OVHcloud",
        "mx.ovh.net": "OVHcloud",
        "mx.ovh.ca": "OVHcloud",
        "_spf.protonmail.ch": "Proton Mail",
        "spf.mailbox.org": "mailbox.org",
        "_spf.ionos.com": "IONOS",
        "_spf.one.com": "one.com",
        "spf.mail.rambler.ru": "Rambler",
        "_spf.yandex.net": "Yandex 360",
        "spf.improvmx.com": "ImprovMX",
        # Sending services (transactional and marketing).
        "sendgrid.net": "SendGrid",
        "amazonses.com": "Amazon SES",
        "mailgun.org": "Mailgun",
        "eu.mailgun.org": "Mailgun (EU)",
        "servers.mcsv.net": "Mailchimp",
        "spf.mandrillapp.com": "Mailchimp Transactional (Mandrill)",
        "spf.mtasv.net": "Postmark",
        "sparkpostmail.com": "SparkPost",
        "_spf.sparkpostmail.com": "SparkPost",
        "spf.sendinblue.com": "Brevo (Sendinblue)",
        "spf.brevo.com": "Brevo",
        "spf.mailjet.com": "Mailjet",
        "_spf.mlsend.com": "MailerLite",
        "spf.constantcontact.com": "Constant Contact",
        "_spf.createsend.com": "Campaign Monitor",
        "_spf.klaviyo.com": "Klaviyo",
        "send.aweber.com": "AWeber",
        "_spf.elasticemail.com": "Elastic Email",
        "spf.smtp2go.com": "SMTP2GO",
        "_spf.salesforce.com": "Salesforce",
        "exacttarget.com": "Salesforce Marketing Cloud",
        "cust-spf.exacttarget.com": "Salesforce Marketing Cloud",
        "hubspotemail.net": "HubSpot",
        "mktomail.com": "Adobe Marketo",
        "mail.zendesk.com": "Zendesk",
        "email.freshdesk.com": "Freshdesk",
        "_spf.intercom.io": "Intercom",
        "mail.intercom.io": "Intercom",
        "helpscoutemail.com": "Help Scout",
        "_spf.atlassian.net": "Atlassian",
        "mailsenders.netsuite.com": "Oracle NetSuite",
        "spf.tmes.trendmicro.com": "Trend Micro Email Security",
        # Security gateways that relay outbound mail.
        "mimecast.com": "Mimecast",
        "pphosted.com": "Proofpoint",
        "spf.protection.proofpointessentials.com": "Proofpoint Essentials",
        "ppe-hosted.com": "Proofpoint Essentials",
        "spf.messagelabs.com": "Broadcom Email Security.cloud",
        "_spf.barracudanetworks.com": "Barracuda",
        "spf.emailsrvr.com": "Rackspace Email",
    }
)
"""Include domain (lower case, no final dot) -> the service that publishes it.

Entries cover their own name and names below it, so `eu._netblocks.mimecast.com` is Mimecast
and a HubSpot portal include (`123.spf03.hubspotemail.net`) is HubSpot.
"""


def provider_for(domain: str, *, inherited: str | None = None) -> str | None:
    """The service behind an include domain, or `inherited` when the table does not know it.

    Args:
        domain: the include or redirect target, any case, with or without the final dot.
        inherited: the provider of the record that included this one; a provider's own
            nested includes (Microsoft's `spfa.protection.outlook.com`) belong to it.

    Returns:
        The provider's name, or `inherited` (None at the top of a tree).
    """
    name = domain.lower().rstrip(".")
    # Walk from the full name up to its parents: the most specific entry wins, and the
    # walk costs one dictionary probe per label, whatever the size of the table.
    while name:
        found = PROVIDER_INCLUDES.get(name)
        if found is not None:
            return found
        _, _, name = name.partition(".")
    return inherited
