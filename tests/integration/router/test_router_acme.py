"""ACME against Pebble (Let's Encrypt's test CA) with the router answering HTTP-01: an order
through `yun.acme.order`, whose challenges real HAProxy serves from its map, ends in a
certificate HAProxy then serves over HTTPS; a router that does not answer, or a CA that is not
there, ends in one AcmeError saying so."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.router.conftest import Backend, free_port
from tests.pebble import Pebble, running_pebble

from yun.acme import AcmeError, Challenge
from yun.acme.ordering import new_account_key, order
from yun.router import HAProxy, Route, RouterConfig

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("haproxy") is None or shutil.which("curl") is None,
        reason="haproxy and curl are needed",
    ),
]


@pytest.fixture
def pebble(tmp_path: Path, https: tuple[HAProxy, RouterConfig]) -> Iterator[Pebble]:
    with running_pebble(tmp_path / "pebble", http_port=https[1].port) as running:
        yield running


def test_an_order_answered_by_the_router_ends_in_a_certificate_it_serves(
    https: tuple[HAProxy, RouterConfig],
    pebble: Pebble,
    backend: Callable[[str], Backend],
    make_route: Callable[..., Route],
    tmp_path: Path,
) -> None:
    proxy, config = https
    shop = backend("shop")
    routes = [make_route("shop.example.test", shop.server())]
    proxy.apply(routes)
    served: list[dict[str, str]] = []

    def publish(challenges: list[Challenge]) -> None:
        answers = {c.token: c.key_authorization for c in challenges}
        served.append(answers)
        proxy.apply(routes, challenges=answers)

    def withdraw(challenges: list[Challenge]) -> None:
        proxy.apply(routes)

    issued = order(
        directory=pebble.directory,
        email="ops@example.test",
        account_key_pem=new_account_key(),
        names=["shop.example.test"],
        publish=publish,
        withdraw=withdraw,
        ca_file=pebble.ca_file,
    )
    assert issued.names == ("shop.example.test",)
    assert len(served) == 1 and len(served[0]) == 1
    # Withdrawn: the router no longer answers the challenge once the order is done.
    ((token, key_authorization),) = served[0].items()
    after = subprocess.run(
        [
            "curl",
            "-sS",
            "-H",
            "Host: shop.example.test",
            f"http://127.0.0.1:{config.port}/.well-known/acme-challenge/{token}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert key_authorization not in after.stdout
    assert json.loads(after.stdout)["name"] == "shop"  # the app's own path again

    proxy.apply(routes, certificates=[issued])
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble.issuing_root())
    answer = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            str(root),
            "--resolve",
            f"shop.example.test:{config.https_port}:127.0.0.1",
            f"https://shop.example.test:{config.https_port}/hello",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["name"] == "shop"


def test_a_router_that_does_not_answer_fails_the_order_naming_the_host(
    https: tuple[HAProxy, RouterConfig], pebble: Pebble, make_route: Callable[..., Route]
) -> None:
    proxy, _ = https
    proxy.apply([])
    with pytest.raises(AcmeError) as failed:
        order(
            directory=pebble.directory,
            email="",
            account_key_pem=new_account_key(),
            names=["nothing.example.test"],
            publish=lambda challenges: None,  # the router is never told
            withdraw=lambda challenges: None,
            ca_file=pebble.ca_file,
        )
    message = str(failed.value)
    assert "nothing.example.test" in message and "http-01" in message
    assert "\n" not in message


def test_a_directory_that_is_not_there_fails_in_one_line() -> None:
    url = f"https://127.0.0.1:{free_port()}/dir"
    with pytest.raises(AcmeError) as failed:
        order(
            directory=url,
            email="",
            account_key_pem=new_account_key(),
            names=["www.example.test"],
            publish=lambda challenges: None,
            withdraw=lambda challenges: None,
        )
    assert str(failed.value) == f"the ACME CA at {url} did not answer: Connection refused"


def test_a_directory_whose_certificate_is_not_trusted_says_so(pebble: Pebble) -> None:
    with pytest.raises(AcmeError) as failed:
        order(
            directory=pebble.directory,
            email="",
            account_key_pem=new_account_key(),
            names=["www.example.test"],
            publish=lambda challenges: None,
            withdraw=lambda challenges: None,
        )  # no ca_file: Pebble's listener is not signed by a CA this machine trusts
    assert "TLS: certificate verify failed" in str(failed.value)
