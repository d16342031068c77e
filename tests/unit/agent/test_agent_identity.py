"""Instance identity: a certificate and key per instance from the platform CA, naming the
instance, its app, space and org as Cloud Foundry's do, handed to the driver, issued again
before they expire, and gone with the instance."""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.unit.agent.agent_fakes import (
    FakeClock,
    FakeDriver,
    Recorder,
    make_spec,
    settle,
    settle_in,
)

from yun.agent import Agent, InstanceState
from yun.agent.identity import CA_FILE, CERT_FILE, KEY_FILE, Identities, expiry
from yun.settings import Timing
from yun.tls import InstanceOwner, ensure_ca, issue_instance

OWNER = InstanceOwner(instance_guid="inst-1", app_guid="app-1", space_guid="sp-1", org_guid="o-1")


def test_an_instance_certificate_names_its_instance_app_space_and_org(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "tls")
    issued = issue_instance(ca, OWNER, address="10.244.0.7")
    leaf, chain = x509.load_pem_x509_certificates(issued.bundle.encode())
    assert chain == ca.certificate
    leaf.verify_directly_issued_by(ca.certificate)
    units = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    assert sorted(units) == ["app:app-1", "organization:o-1", "space:sp-1"]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "inst-1"
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["inst-1"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["10.244.0.7"]
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    lasts = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert datetime.timedelta(hours=24) <= lasts <= datetime.timedelta(hours=24, minutes=5)


def test_issued_files_pair_up_and_a_new_issue_keeps_their_owner_and_mode(tmp_path: Path) -> None:
    identities = Identities(ensure_ca(tmp_path / "tls"))
    folder = tmp_path / "credentials"
    first = identities.issue(folder, OWNER)
    assert (folder / KEY_FILE).stat().st_mode & 0o777 == 0o600
    (folder / KEY_FILE).chmod(0o640)  # as a driver may leave it for the app's user
    certificate = x509.load_pem_x509_certificates((folder / CERT_FILE).read_bytes())[0]
    key = serialization.load_pem_private_key((folder / KEY_FILE).read_bytes(), password=None)
    assert key.public_key() == certificate.public_key()
    assert expiry(folder) == first
    assert not identities.due(first)
    assert identities.due(first, now=first - datetime.timedelta(hours=7))
    identities.issue(folder, OWNER)
    assert (folder / KEY_FILE).stat().st_mode & 0o777 == 0o640
    again = x509.load_pem_x509_certificates((folder / CERT_FILE).read_bytes())[0]
    assert again.serial_number != certificate.serial_number
    assert sorted(os.listdir(folder)) == sorted([CA_FILE, CERT_FILE, KEY_FILE])  # nothing else
    assert expiry(tmp_path / "nothing") is None


def test_the_agent_gives_each_instance_an_identity_renews_it_and_removes_it(
    tmp_path: Path,
) -> None:
    driver = FakeDriver()
    identities = Identities(ensure_ca(tmp_path / "tls"), hours=0.0006)  # 2.2 s: due after 1.4 s
    root = tmp_path / "instances"
    agent = Agent(
        root=root,
        driver=driver,
        listener=Recorder(),
        timing=Timing(),
        clock=FakeClock(),
        identities=identities,
    )
    try:
        agent.set_desired([make_spec(0, space_guid="sp-1", org_guid="o-1")])
        settle_in(agent, InstanceState.RUNNING)
        (folder,) = driver.credentials
        assert folder is not None and folder.parent == root / ".credentials"
        leaf = x509.load_pem_x509_certificates((folder / CERT_FILE).read_bytes())[0]
        units = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert sorted(a.value for a in units) == ["app:app-1", "organization:o-1", "space:sp-1"]
        first = expiry(folder)

        def renewed() -> bool:
            time.sleep(0.05)
            return expiry(folder) != first

        settle(agent, renewed)  # a third of its time left: issued again in place

        agent.set_desired([])
        settle(agent, lambda: agent.reports() == [])
        assert not folder.exists()
    finally:
        agent.stop(stop_instances=True)
        driver.close()


def test_identity_folders_nothing_runs_for_are_swept_at_start(tmp_path: Path) -> None:
    root = tmp_path / "instances"
    left = root / ".credentials" / "gone-instance"
    left.mkdir(parents=True)
    (left / CERT_FILE).write_text("old")
    driver = FakeDriver()
    agent = Agent(root=root, driver=driver, listener=Recorder(), timing=Timing(), clock=FakeClock())
    agent.start()
    agent.stop()
    assert not left.exists()
