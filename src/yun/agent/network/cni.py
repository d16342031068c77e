"""`CniNetwork`: instances on a Linux bridge, wired by the standard CNI plugins.

Each instance gets a veth pair into its network namespace (`eth0`), an address from the subnet
(host-local IPAM, persisted under `state_dir/ipam`), a default route via the bridge address and
outbound NAT (the bridge plugin's ipMasq). `lo` is brought up by the loopback plugin. Around the
plugins Yun adds what they lack (see `firewalling`, `policies` and `links`): instances cannot
open connections to the host itself nor to each other — Cloud Foundry's default, since apps talk
to each other through their routes — while the router on the host can connect into every
instance. With `network_policies`, nftables lets through what policies allow between apps (the
bridge's ports then stay open to each other); without, ports are isolated on the bridge.

Bookkeeping (the state file, the bridge and Yun's chains) holds one lock: a thread lock plus flock
on `state_dir/lock`. The plugin runs of an attach (~40 ms, most of it the bridge plugin's
iptables calls) hold only a shared flock on `state_dir/wiring`, so an agent starting many
instances wires them in parallel, as containerd does (host-local IPAM and iptables take their own
locks); `release_stale` and `teardown` take it exclusively, after the bookkeeping lock, and wait
for them. Wiring never waits for the bookkeeping lock while it holds its own, so the two cannot
deadlock. Containers are remembered in
`state_dir/attachments.json`, so DEL always gets the original namespace and ADD result, and a new
agent can release the addresses of containers that died while it was away (`release_stale`).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from yun.agent.network.base import NetworkError, NetworkLease
from yun.agent.network.config import (
    bridge_network,
    check_bridge_name,
    check_subnet,
    loopback_network,
    network_name,
    plugin_config,
)
from yun.agent.network.firewalling import HostFirewall
from yun.agent.network.links import (
    delete_link,
    ensure_address,
    ensure_bridge,
    isolate_port,
    open_ports,
)
from yun.agent.network.plugins import host_veth, lease_from_result, run_plugin
from yun.agent.network.policies import NetworkPolicies, PolicyTable, nft_missing
from yun.agent.network.state import Attachment, AttachmentStore, host_local_allocations

log = logging.getLogger(__name__)

IFNAME = "eth0"
CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # what the CNI spec allows


class CniNetwork:
    """A `ContainerNetwork` on bridge `bridge` with addresses from `subnet`.

    `state_dir` belongs to this one network. `allow_app_to_app` lets instances connect to each
    other directly (blocked by default, as in Cloud Foundry without network policies).
    """

    def __init__(
        self,
        *,
        subnet: str = "10.244.0.0/16",
        bridge: str = "yun0",
        state_dir: Path,
        plugin_dir: Path = Path("/usr/lib/cni"),
        allow_app_to_app: bool = False,
        service_ports: tuple[int, int] | None = None,
        dns: bool = False,
        network_policies: bool = False,
        config_port: int | None = None,
    ) -> None:
        self.subnet = str(check_subnet(subnet))
        self.bridge = check_bridge_name(bridge)
        self.network = network_name(bridge)
        self.state_dir = state_dir
        self.plugin_dir = plugin_dir
        self.allow_app_to_app = allow_app_to_app
        # With `network_policies`, nftables decides app-to-app traffic (`policies`) and the
        # bridge's ports stay open to each other; without nft, ports are isolated as before.
        self.policies: NetworkPolicies | None = None
        if network_policies and not allow_app_to_app:
            missing = nft_missing()
            if missing is None:
                self.policies = NetworkPolicies(bridge, service_ports=service_ports)
            else:
                log.warning("%s: apps on %s stay apart whatever the policies say", missing, bridge)
        self.ipam_dir = state_dir / "ipam"
        self.conflist = bridge_network(bridge=bridge, subnet=self.subnet, ipam_dir=self.ipam_dir)
        self.loopback = loopback_network()
        self.store = AttachmentStore(state_dir / "attachments.json")
        self.firewall = HostFirewall(
            bridge=bridge,
            network=self.network,
            allow_app_to_app=allow_app_to_app or self.policies is not None,
            open_ports=service_ports,
            dns=dns,  # instances may ask the platform's DNS on the bridge (port 53)
            config_port=config_port,  # and follow their live configuration
        )
        self._lock = threading.RLock()
        self._depth = 0
        self._sweeping = False  # a thread holding _lock holds the wiring lock exclusively
        self._host_ready = False

    # -- the ContainerNetwork protocol -------------------------------------------------------

    def attach(self, container_id: str, netns_path: Path) -> NetworkLease:
        _check_container_id(container_id)
        if not netns_path.exists():
            raise NetworkError(f"cannot attach {container_id}: no network namespace {netns_path}")
        with self._exclusive():
            self.prepare_host()
            known = self.store.get(container_id)
            if known is not None and known.netns == str(netns_path) and known.result is not None:
                return lease_from_result(known.result, ifname=known.ifname)
            if known is not None:
                self._release(known)
            self.store.put(Attachment(container_id, str(netns_path), IFNAME, result=None))
        try:
            with self._wiring(exclusive=False):
                result = self._add(container_id, str(netns_path))
                lease = lease_from_result(result, ifname=IFNAME)
                veth = host_veth(result, bridge=self.bridge)
                if veth and not self.allow_app_to_app and self.policies is None:
                    isolate_port(veth)
        except BaseException:
            with self._exclusive():
                self._release_quietly(self.store.get(container_id))
            raise
        with self._exclusive():
            self.store.put(Attachment(container_id, str(netns_path), IFNAME, result=result))
        log.info("attached %s to %s as %s", container_id, self.bridge, lease.address)
        return lease

    def detach(self, container_id: str, netns_path: Path) -> None:
        _check_container_id(container_id)
        with self._exclusive():
            known = self.store.get(container_id)
            if known is None:
                known = Attachment(container_id, str(netns_path), IFNAME, result=None)
            elif known.netns != str(netns_path):
                log.warning(
                    "detach %s: given %s, attached in %s", container_id, netns_path, known.netns
                )
            self._release(known)

    # -- beyond the protocol -----------------------------------------------------------------

    def check(self, container_id: str) -> None:
        """Ask the plugins (CNI CHECK) whether the container's networking is still as set up."""
        with self._exclusive():
            known = self.store.get(container_id)
            if known is None or known.result is None:
                raise NetworkError(f"container {container_id} is not attached to {self.bridge}")
            for plugin in self.conflist["plugins"]:
                run_plugin(
                    plugin_dir=self.plugin_dir,
                    config=plugin_config(self.conflist, plugin, prev_result=known.result),
                    command="CHECK",
                    container_id=container_id,
                    netns=known.netns,
                    ifname=known.ifname,
                )

    def attachments(self) -> dict[str, Attachment]:
        with self._exclusive():
            return self.store.load()

    def release_stale(
        self, alive_container_ids: set[str], *, keep_prefixes: tuple[str, ...] = ()
    ) -> list[str]:
        """Release every container not in `alive_container_ids` (nor starting with one of
        `keep_prefixes`): those in the state file and those host-local still holds an address
        for. Returns the ids released; failures are logged and retried on the next call."""
        released: list[str] = []
        with self._exclusive(), self._wiring(exclusive=True):
            attachments = self.store.load()
            alive_container_ids = alive_container_ids | {
                cid for cid in attachments if keep_prefixes and cid.startswith(keep_prefixes)
            }
            stale = [a for cid, a in attachments.items() if cid not in alive_container_ids]
            # Addresses whose owner the state file lost (a crash between ADD and saving it).
            for address, (cid, ifname) in host_local_allocations(
                self.ipam_dir / self.network
            ).items():
                kept = bool(keep_prefixes) and cid.startswith(keep_prefixes)
                if cid not in alive_container_ids and cid not in attachments and not kept:
                    log.info("address %s of unknown container %s is stale", address, cid)
                    attachments[cid] = Attachment(cid, "", ifname, result=None)
                    stale.append(attachments[cid])
            for attachment in stale:
                try:
                    self._release(attachment)
                except NetworkError as exc:
                    log.warning("could not release %s: %s", attachment.container_id, exc)
                else:
                    released.append(attachment.container_id)
        return released

    def teardown(self) -> None:
        """Release every container, then remove Yun's iptables chains, leftover NAT rules and
        the bridge. For `yun server stop --all`: running instances lose their network.
        Leaves net.ipv4.ip_forward (set by the bridge plugin) as it is; others may rely on it."""
        with self._exclusive(), self._wiring(exclusive=True):
            self.release_stale(set())
            self.firewall.remove()
            self.firewall.remove_masquerade()
            if self.policies is not None:
                self.policies.remove()
            delete_link(self.bridge)
            self._host_ready = False

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This process's threads and other processes on the same state (an agent and
        `yun server stop --all`) take turns; re-entrant within one thread."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with open(self.state_dir / "lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0

    @contextlib.contextmanager
    def _wiring(self, *, exclusive: bool) -> Iterator[None]:
        """Shared: plugins wiring one container, alongside others. Exclusive (only ever taken
        inside `_exclusive`, re-entrant): a sweep over all containers, once no wiring is under
        way. flock locks of separate opens exclude each other within one process too."""
        if exclusive and self._sweeping:
            yield
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "wiring", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            if not exclusive:
                yield
                return
            self._sweeping = True
            try:
                yield
            finally:
                self._sweeping = False

    def prepare_host(self) -> None:
        """Create the bridge (IPv6 off) and Yun's iptables chains if missing. Attach does this
        once per object; an agent that restarts and only adopts instances calls it itself."""
        if not self._host_ready:
            ensure_bridge(self.bridge)
            if self.policies is not None:  # before the iptables chains let bridged traffic by
                self.policies.ensure()
                open_ports(self.bridge)  # ports an earlier, policy-less agent isolated
            self.firewall.ensure()
            self._host_ready = True

    def apply_policies(self, wanted: PolicyTable) -> None:
        """Let instances reach what `wanted` allows (other apps' instances, bound services);
        a no-op where policies are not enforced."""
        if self.policies is None:
            return
        with self._lock:
            self.prepare_host()
            self.policies.apply(wanted)

    def host_address(self) -> str:
        """The host's address on the bridge (the instances' gateway), set up now if it is not
        yet, so host services for instances (the built-in brokers' servers) can bind to it."""
        with self._lock:
            self.prepare_host()
            network = ipaddress.ip_network(self.subnet)
            gateway = str(network[1])  # where host-local puts the gateway
            ensure_address(self.bridge, f"{gateway}/{network.prefixlen}")
            return gateway

    def _add(self, container_id: str, netns: str) -> dict[str, Any]:
        self._run_list(
            conflist=self.loopback,
            command="ADD",
            container_id=container_id,
            netns=netns,
            ifname="lo",
            prev_result=None,
        )
        result = self._run_list(
            conflist=self.conflist,
            command="ADD",
            container_id=container_id,
            netns=netns,
            ifname=IFNAME,
            prev_result=None,
        )
        if result is None:
            raise NetworkError(f"CNI ADD of {container_id} returned no result")
        return result

    def _run_list(
        self,
        *,
        conflist: Mapping[str, Any],
        command: str,
        container_id: str,
        netns: str,
        ifname: str,
        prev_result: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """Run a conflist's plugins: in order for ADD, each fed the previous result; in reverse
        for DEL, each fed the cached ADD result. Returns the last ADD result."""
        plugins = list(conflist["plugins"])
        if command == "DEL":
            plugins.reverse()
        result: dict[str, Any] | None = dict(prev_result) if prev_result is not None else None
        for plugin in plugins:
            answer = run_plugin(
                plugin_dir=self.plugin_dir,
                config=plugin_config(conflist, plugin, prev_result=result),
                command=command,
                container_id=container_id,
                netns=netns,
                ifname=ifname,
            )
            if command == "ADD":
                result = answer
        return result

    def _release(self, attachment: Attachment) -> None:
        """CNI DEL for one container, then forget it. Idempotent; a vanished namespace is
        passed as empty, as the spec allows, and its NAT rules are removed by Yun."""
        cid = attachment.container_id
        netns = attachment.netns if attachment.netns and Path(attachment.netns).exists() else ""
        self._run_list(
            conflist=self.conflist,
            command="DEL",
            container_id=cid,
            netns=netns,
            ifname=attachment.ifname,
            prev_result=attachment.result,
        )
        if netns:
            self._run_list(
                conflist=self.loopback,
                command="DEL",
                container_id=cid,
                netns=netns,
                ifname="lo",
                prev_result=None,
            )
        self.firewall.remove_masquerade(cid)
        self.store.remove(cid)
        log.info("released %s from %s", cid, self.bridge)

    def _release_quietly(self, attachment: Attachment | None) -> None:
        if attachment is None:
            return
        try:
            self._release(attachment)
        except NetworkError as exc:
            log.warning("cleanup after failed attach of %s: %s", attachment.container_id, exc)


def _check_container_id(container_id: str) -> None:
    if not CONTAINER_ID.match(container_id):
        raise NetworkError(f"invalid container id {container_id!r} (letters, digits, _ . -)")
