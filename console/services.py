"""The one place every connector asks where a well-known service really listens.

Outside the lab the map is empty and port 443 is 443. The lab binds free high ports
(non-root users cannot bind below 1024) and publishes them here, so the same code
path that fetches `https://mta-sts.example.com/` in production reaches the lab's
HTTPS server on, say, 127.0.0.1:38211.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class ServiceMap:
    """Well-known port to the port actually used, optionally per host.

    Attributes:
        ports: well-known port -> port actually used, for every host.
        host_ports: (host, well-known port) -> port, for one host; wins over `ports`.
        cafile: an extra trusted CA bundle (the lab's CA); None outside the lab.
    """

    ports: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    host_ports: Mapping[tuple[str, int], int] = field(default_factory=lambda: MappingProxyType({}))
    cafile: Path | None = None

    def port_for(self, host: str, port: int) -> int:
        """The port to connect to for `host`'s well-known `port`."""
        key = (host.lower().rstrip("."), port)
        if key in self.host_ports:
            return self.host_ports[key]
        return self.ports.get(port, port)

    @property
    def is_empty(self) -> bool:
        return not self.ports and not self.host_ports
