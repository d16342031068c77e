"""App-to-app names: a DNS server for the internal domains (`apps.internal`), answering with
the address of every healthy instance of the apps mapped to a name, and passing other names on
to the host's resolvers. The route controller keeps its table current (`DnsServer.update`)."""

from yun.discovery.answers import Names, Target
from yun.discovery.server import DnsServer, host_resolvers

__all__ = ["DnsServer", "Names", "Target", "host_resolvers"]
