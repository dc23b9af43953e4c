"""The lab's authoritative DNS server: RFC 1035 zone files served over UDP and TCP.

It answers the way a real authoritative server does, because the audit's handling
of each case is what the lab exists to exercise: AA set, NXDOMAIN apart from NODATA
(with the SOA in the authority section for negative caching), CNAME chains across
the lab's zones, wildcards (RFC 4592), truncation and TCP retry for large answers,
RRSIGs when the DO bit asks for them, DS answered from the parent zone. It can also
be told to misbehave: delay every answer, never answer some names, or SERVFAIL them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

_MAX_CNAME_HOPS = 8


@dataclass(slots=True)
class ZoneSet:
    """Zones by origin; a name belongs to the zone with the longest matching origin."""

    zones: dict[dns.name.Name, dns.zone.Zone] = field(default_factory=dict)

    def add(self, zone: dns.zone.Zone) -> None:
        assert zone.origin is not None
        self.zones[zone.origin] = zone

    def find(self, name: dns.name.Name) -> dns.zone.Zone | None:
        candidate = name
        while True:
            zone = self.zones.get(candidate)
            if zone is not None:
                return zone
            if candidate == dns.name.root:
                return None
            candidate = candidate.parent()

    def parent_of(self, zone: dns.zone.Zone) -> dns.zone.Zone | None:
        assert zone.origin is not None
        if zone.origin == dns.name.root:
            return None
        return self.find(zone.origin.parent())


@dataclass(slots=True)
class Misbehaviour:
    """Ways the server can be told to fail, to exercise the audit's error paths.

    Attributes:
        delay: seconds to wait before every answer.
        silent: names (and everything below them) never answered at all.
        servfail: names (and everything below them) answered with SERVFAIL.
    """

    delay: float = 0.0
    silent: frozenset[dns.name.Name] = frozenset()
    servfail: frozenset[dns.name.Name] = frozenset()

    @classmethod
    def build(
        cls, delay: float = 0.0, silent: Iterable[str] = (), servfail: Iterable[str] = ()
    ) -> Misbehaviour:
        return cls(
            delay,
            frozenset(dns.name.from_text(name) for name in silent),
            frozenset(dns.name.from_text(name) for name in servfail),
        )

    @staticmethod
    def _covers(names: frozenset[dns.name.Name], qname: dns.name.Name) -> bool:
        return any(qname.is_subdomain(name) for name in names)

    def is_silent(self, qname: dns.name.Name) -> bool:
        return self._covers(self.silent, qname)

    def is_servfail(self, qname: dns.name.Name) -> bool:
        return self._covers(self.servfail, qname)


class Authority:
    """Computes answers from a ZoneSet; pure, so it is tested without sockets."""

    def __init__(self, zones: ZoneSet, signed: Mapping[dns.name.Name, bool] | None = None):
        self.zones = zones
        self.signed = dict(signed or {})

    def respond(self, query: dns.message.Message, behaviour: Misbehaviour) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.RA
        if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
            response.set_rcode(dns.rcode.NOTIMP if query.question else dns.rcode.FORMERR)
            return response
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        if behaviour.is_servfail(question.name):
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        want_dnssec = query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)
        if want_dnssec:
            response.ednsflags |= dns.flags.DO  # echoed, as RFC 3225 asks
        self._fill(response, question.name, question.rdtype, want_dnssec=want_dnssec)
        return response

    def _zone_for(self, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType):
        zone = self.zones.find(qname)
        # DS lives at the parent side of a delegation (RFC 4035 3.1.4.1).
        if zone is not None and rdtype == dns.rdatatype.DS and zone.origin == qname:
            zone = self.zones.parent_of(zone)
        return zone

    def _fill(
        self,
        response: dns.message.Message,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        *,
        want_dnssec: bool,
    ) -> None:
        zone = self._zone_for(qname, rdtype)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return
        response.flags |= dns.flags.AA
        for _ in range(_MAX_CNAME_HOPS):
            owner_node = zone.get_node(qname)
            node = owner_node if owner_node is not None else self._wildcard(zone, qname)
            if node is None:
                if self._has_descendants(zone, qname):
                    self._add_soa(response, zone, want_dnssec)  # empty non-terminal: NODATA
                else:
                    if not response.answer:
                        response.set_rcode(dns.rcode.NXDOMAIN)
                    self._add_soa(response, zone, want_dnssec)
                return
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                self._add(response.answer, zone, node, qname, rdataset, want_dnssec)
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.CNAME:
                self._add_soa(response, zone, want_dnssec)
                return
            self._add(response.answer, zone, node, qname, cname, want_dnssec)
            qname = next(iter(cname)).target
            next_zone = self._zone_for(qname, rdtype)
            if next_zone is None:
                return  # the chain leaves the lab: the client resolves the rest
            zone = next_zone

    def _add(self, section, zone, node, owner, rdataset, want_dnssec: bool) -> None:
        rrset = dns.rrset.RRset(owner, rdataset.rdclass, rdataset.rdtype)
        rrset.update(rdataset)
        rrset.ttl = rdataset.ttl
        section.append(rrset)
        if want_dnssec and self.signed.get(zone.origin):
            sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdataset.rdtype)
            if sigs is not None:
                sig_rrset = dns.rrset.RRset(
                    owner, dns.rdataclass.IN, dns.rdatatype.RRSIG, rdataset.rdtype
                )
                sig_rrset.update(sigs)
                sig_rrset.ttl = sigs.ttl
                section.append(sig_rrset)

    def _add_soa(self, response, zone, want_dnssec: bool) -> None:
        apex = zone.get_node(zone.origin)
        soa = apex.get_rdataset(dns.rdataclass.IN, dns.rdatatype.SOA) if apex else None
        if soa is not None:
            self._add(response.authority, zone, apex, zone.origin, soa, want_dnssec)

    @staticmethod
    def _has_descendants(zone: dns.zone.Zone, qname: dns.name.Name) -> bool:
        return any(name != qname and name.is_subdomain(qname) for name in zone.nodes)

    @staticmethod
    def _wildcard(zone: dns.zone.Zone, qname: dns.name.Name):
        """RFC 4592: the `*` child of the closest encloser, if the name itself is absent."""
        assert zone.origin is not None
        encloser = qname.parent()
        while encloser.is_subdomain(zone.origin):
            if zone.get_node(encloser) is not None or Authority._has_descendants(zone, encloser):
                return zone.get_node(dns.name.Name(("*",)).concatenate(encloser))
            if encloser == zone.origin:
                break
            encloser = encloser.parent()
        return None


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: LabDnsServer):
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr) -> None:
        wire = await self.server.answer_wire(data, tcp=False)
        if wire is not None and self.transport is not None:
            self.transport.sendto(wire, addr)


class LabDnsServer:
    """Serves an Authority on loopback, UDP and TCP on the same port."""

    def __init__(
        self,
        authority: Authority,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        behaviour: Misbehaviour | None = None,
    ):
        self.authority = authority
        self.host = host
        self.port = port
        self.behaviour = behaviour or Misbehaviour()
        self.queries = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_protocol: _UdpProtocol | None = None
        self._tcp: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            # Bulk audits send bursts of hundreds of queries; the default buffer drops
            # some, and each drop costs the client a retry timeout.
            udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            udp_sock.bind((self.host, self.port))
            port = udp_sock.getsockname()[1]
            tcp_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp_sock.bind((self.host, port))
            except OSError:
                udp_sock.close()
                tcp_sock.close()
                if self.port:
                    raise
                continue  # the free UDP port is taken for TCP: pick another pair
            break
        else:
            raise OSError("no free port for the lab DNS server")
        self.port = port
        self._udp, self._udp_protocol = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), sock=udp_sock
        )
        tcp_sock.listen(128)
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._udp_protocol is not None:
            for task in list(self._udp_protocol.tasks):
                task.cancel()
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 1)

    async def answer_wire(self, data: bytes, *, tcp: bool) -> bytes | None:
        """The reply to one wire-format query, or None to stay silent."""
        self.queries += 1
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None  # garbage gets no reply, as from most real servers
        if query.question and self.behaviour.is_silent(query.question[0].name):
            return None
        if self.behaviour.delay:
            await asyncio.sleep(self.behaviour.delay)
        response = self.authority.respond(query, self.behaviour)
        limit = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | (response.flags & dns.flags.AA)
            return truncated.to_wire(max_size=limit)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                header = await reader.readexactly(2)
                (length,) = struct.unpack("!H", header)
                data = await reader.readexactly(length)
                wire = await self.answer_wire(data, tcp=True)
                if wire is None:
                    continue
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
