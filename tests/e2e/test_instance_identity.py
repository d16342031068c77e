"""An app's instance knows who it is, as on Cloud Foundry: CF_INSTANCE_CERT and CF_INSTANCE_KEY
name a certificate from the platform CA (`yun ca`) whose subject carries the instance guid and
the app's, space's and org's guids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from tests.e2e.conftest import Platform

from yun.store.models import App, Org, Space
from yun.store.session import Store

pytestmark = pytest.mark.e2e

APP = """\
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({name: os.environ.get(name) for name in (
            "CF_INSTANCE_CERT", "CF_INSTANCE_KEY", "CF_INSTANCE_GUID")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_an_instance_has_a_certificate_naming_it_its_app_space_and_org(
    platform: Platform, tmp_path: Path
) -> None:
    folder = tmp_path / "whoami"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    platform.cli("push", "whoami", "-p", str(folder))
    try:
        seen = platform.wait_for("whoami", "CF_INSTANCE_CERT").json()
        app = json.loads(platform.cli("app", "whoami", "--json").stdout)
        # The process driver runs instances on the host: the test reads what the app reads.
        leaf, issuer = x509.load_pem_x509_certificates(Path(seen["CF_INSTANCE_CERT"]).read_bytes())
        assert Path(seen["CF_INSTANCE_KEY"]).read_bytes().startswith(b"-----BEGIN PRIVATE KEY")
        ca = x509.load_pem_x509_certificate(platform.cli("ca").stdout.encode())
        assert issuer == ca
        leaf.verify_directly_issued_by(ca)
        with Store(f"sqlite:///{platform.home / 'yun.db'}").snapshot() as session:
            row = session.get(App, app["guid"])
            assert row is not None
            space = session.get(Space, row.space_guid)
            assert space is not None
            org = session.get(Org, space.org_guid)
            assert org is not None
            expected = {f"app:{app['guid']}", f"space:{space.guid}", f"organization:{org.guid}"}
        units = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert {str(unit.value) for unit in units} == expected
        common = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert common == seen["CF_INSTANCE_GUID"]
    finally:
        platform.cli("delete", "whoami", "-f", check=False)
