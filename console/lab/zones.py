"""Loading the lab's zone files and signing the ones that demonstrate DNSSEC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ed25519

from console.lab.dnsserver import ZoneSet

ZONE_SUFFIX = ".zone"

SIGNED_ZONES = ("good.test", "dnssec-bogus.test", "dnssec-expired.test")
"""Child zones signed at start-up, each with a DS in the signed `test.` zone."""

BOGUS_DS_ZONES = ("dnssec-bogus.test",)
"""Zones whose DS in the parent deliberately matches no key: their answers are bogus."""

EXPIRED_ZONES = ("dnssec-expired.test",)
"""Zones whose signatures ran out ten days ago, as when a signer silently stops."""


@dataclass(slots=True)
class LabZones:
    """The lab's zones, ready to serve, and the trust anchor that validates them."""

    zones: ZoneSet
    signed: dict[dns.name.Name, bool] = field(default_factory=dict)
    trust_anchor: dns.rrset.RRset | None = None


def read_zone_texts() -> dict[str, str]:
    """Zone file texts shipped in the package, by origin (the file name less `.zone`)."""
    folder = resources.files("console.lab") / "zones"
    return {
        entry.name.removesuffix(ZONE_SUFFIX): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(ZONE_SUFFIX)
    }


def parse_zone(origin: str, text: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=True)


def load_lab_zones(extra: Iterable[tuple[str, str]] = (), *, sign: bool = True) -> LabZones:
    """Parse the shipped zones (plus `extra` (origin, text) pairs) and sign the demo ones."""
    texts = read_zone_texts()
    texts.update(dict(extra))
    zone_set = ZoneSet()
    for origin, text in texts.items():
        zone_set.add(parse_zone(origin, text))
    lab = LabZones(zone_set)
    if sign:
        _sign(lab)
    return lab


def _new_key(flags: int) -> tuple[ed25519.Ed25519PrivateKey, dns.rdtypes.ANY.DNSKEY.DNSKEY]:
    private = ed25519.Ed25519PrivateKey.generate()
    dnskey = dns.dnssec.make_dnskey(private.public_key(), dns.dnssec.Algorithm.ED25519, flags=flags)
    return private, dnskey


def _sign_zone(zone: dns.zone.Zone, *, expired: bool = False) -> dns.rdtypes.ANY.DNSKEY.DNSKEY:
    """Sign with one key (KSK and ZSK in one, as many small zones do); return it."""
    private, dnskey = _new_key(flags=257)
    now = dt.datetime.now(dt.UTC)
    if expired:
        inception, expiration = now - dt.timedelta(days=40), now - dt.timedelta(days=10)
    else:
        inception, expiration = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    dns.dnssec.sign_zone(
        zone,
        keys=[(private, dnskey)],
        inception=inception,
        expiration=expiration,
        dnskey_ttl=300,
    )
    return dnskey


def _sign(lab: LabZones) -> None:
    parent_origin = dns.name.from_text("test")
    parent = lab.zones.zones.get(parent_origin)
    if parent is None:
        return
    with parent.writer() as txn:
        for origin_text in SIGNED_ZONES:
            origin = dns.name.from_text(origin_text)
            zone = lab.zones.zones.get(origin)
            if zone is None:
                continue
            dnskey = _sign_zone(zone, expired=origin_text in EXPIRED_ZONES)
            lab.signed[origin] = True
            if origin_text in BOGUS_DS_ZONES:
                _, dnskey = _new_key(flags=257)  # a DS for a key the zone never used
            ds = dns.dnssec.make_ds(origin, dnskey, "SHA256")
            txn.add(origin, 300, ds)
    anchor_key = _sign_zone(parent)
    lab.signed[parent_origin] = True
    anchor = dns.rrset.RRset(parent_origin, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    anchor.add(anchor_key, 300)
    lab.trust_anchor = anchor
