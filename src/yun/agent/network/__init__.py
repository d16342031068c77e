"""Container networking for instances: a bridge, addresses and isolation through the standard CNI
plugins (`CniNetwork`), behind the small `ContainerNetwork` interface container drivers use."""

from yun.agent.network.base import ContainerNetwork, NetworkError, NetworkLease
from yun.agent.network.cni import CniNetwork
from yun.agent.network.links import create_netns, delete_netns
from yun.agent.network.state import Attachment

__all__ = [
    "Attachment",
    "CniNetwork",
    "ContainerNetwork",
    "NetworkError",
    "NetworkLease",
    "create_netns",
    "delete_netns",
]
