"""RuntimeCredentialAuth over real HTTP: a worker's client credentials against the local
issuer, calling a protected service. Expiry is driven by an injected clock, never by waiting."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import httpx
import pytest
from client_downstream import Downstream
from helpers import Protected

from authsec_sdk.client import OutboundAuthError, RuntimeCredentialAuth
from authsec_sdk.testing import LocalIssuer
from authsec_sdk.testing.authorization import TOKEN_LIFETIME


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service(issuer: LocalIssuer, downstream: tuple[Protected, Downstream]) -> Protected:
    downstream[1].seen.clear()
    issuer.authorization.register_client("worker", client_secret="s3cret", scopes=["jobs:run", "jobs:admin"])
    return downstream[0]


def worker_auth(
    issuer: LocalIssuer, service: Protected, clock: Callable[[], float] = time.time
) -> RuntimeCredentialAuth:
    """The worker's auth for ``service``, its token endpoint discovered from the issuer."""
    return RuntimeCredentialAuth(
        "worker", "s3cret", audience=service.url, scopes=["jobs:run"], issuer=issuer.issuer, clock=clock
    )


@pytest.mark.anyio
async def test_one_token_request_for_fifty_concurrent_calls(issuer: LocalIssuer, service: Protected) -> None:
    auth = worker_auth(issuer, service)
    statuses: list[int] = []
    async with httpx.AsyncClient(auth=auth, trust_env=False) as http:

        async def call() -> None:
            statuses.append((await http.post(service.url, json={})).status_code)

        async with anyio.create_task_group() as tasks:
            for _ in range(50):
                tasks.start_soon(call)
    assert statuses == [200] * 50
    (request,) = issuer.authorization.token_requests  # discovered the endpoint, asked once
    assert request.client_id == "worker" and request.granted == "jobs:run"
    assert request.resources == (service.url,)


@pytest.mark.anyio
async def test_renews_before_expiry(issuer: LocalIssuer, service: Protected) -> None:
    clock = Clock()
    auth = worker_auth(issuer, service, clock)  # renews 30 s before expiry by default
    async with httpx.AsyncClient(auth=auth, trust_env=False) as http:
        assert (await http.post(service.url, json={})).status_code == 200
        clock.now += TOKEN_LIFETIME - 31  # 31 s before expiry: still good
        assert (await http.post(service.url, json={})).status_code == 200
        assert len(issuer.authorization.token_requests) == 1
        clock.now += 2  # inside the 30 s margin: a new token before the old one expires
        assert (await http.post(service.url, json={})).status_code == 200
    assert len(issuer.authorization.token_requests) == 2


@pytest.mark.anyio
async def test_a_401_gets_one_new_token_and_one_retry(
    issuer: LocalIssuer, service: Protected, downstream: tuple[Protected, Downstream]
) -> None:
    auth = worker_auth(issuer, service)
    sent: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        sent.append(request.headers["authorization"])

    async with httpx.AsyncClient(auth=auth, trust_env=False, event_hooks={"request": [on_request]}) as http:
        assert (await http.post(service.url, json={})).status_code == 200
        issuer.revoke(sent[0].removeprefix("Bearer "))  # the service introspects: 401 from now on
        assert (await http.post(service.url, json={})).status_code == 200
        assert len(sent) == 3 and sent[1] == sent[0] and sent[2] != sent[0]
        assert len(issuer.authorization.token_requests) == 2

        # A service that refuses every token: one retry, then its 401 is the answer.
        sent.clear()
        auth_elsewhere = RuntimeCredentialAuth(
            "worker", "s3cret", issuer.authorization.token_endpoint, audience="https://elsewhere.example/api"
        )
        answer = await http.post(service.url, json={}, auth=auth_elsewhere)
        assert answer.status_code == 401 and len(sent) == 2
    assert len(downstream[1].seen) == 2


@pytest.mark.anyio
async def test_refusals_name_why_and_send_nothing(
    issuer: LocalIssuer, service: Protected, downstream: tuple[Protected, Downstream]
) -> None:
    wrong = RuntimeCredentialAuth("worker", "wrong", issuer.authorization.token_endpoint)
    unreachable = RuntimeCredentialAuth("worker", "s3cret", issuer=issuer.issuer)
    issuer.faults.metadata = issuer.faults.openid_metadata = "down"
    async with httpx.AsyncClient(trust_env=False) as http:
        with pytest.raises(OutboundAuthError) as refused:
            await http.post(service.url, json={}, auth=wrong)
        with pytest.raises(OutboundAuthError) as undiscovered:
            await http.post(service.url, json={}, auth=unreachable)
    assert refused.value.reason == "refused" and refused.value.error == "invalid_client"
    assert "s3cret" not in str(refused.value) and "wrong" not in str(refused.value)
    assert undiscovered.value.reason == "unavailable"
    assert "issuer metadata discovery failed" in str(undiscovered.value)
    assert downstream[1].seen == []


@pytest.mark.anyio
async def test_an_unreachable_token_endpoint_is_unavailable(service: Protected) -> None:
    auth = RuntimeCredentialAuth("worker", "s3cret", "http://127.0.0.1:9/token", timeout=2)
    async with httpx.AsyncClient(auth=auth, trust_env=False) as http:
        with pytest.raises(OutboundAuthError, match="failed: ConnectError") as info:
            await http.post(service.url, json={})
    assert info.value.reason == "unavailable"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="client_id and client_secret"):
        RuntimeCredentialAuth("worker", "", "https://as.example/token")
    with pytest.raises(ValueError, match="token_endpoint is required"):
        RuntimeCredentialAuth("worker", "s")
    with pytest.raises(ValueError, match="absolute http"):
        RuntimeCredentialAuth("worker", "s", "/token")
    with pytest.raises(ValueError, match="invalid scope"):
        RuntimeCredentialAuth("worker", "s", "https://as.example/token", scopes=["a b"])
    with pytest.raises(ValueError, match="not one string"):
        RuntimeCredentialAuth("worker", "s", "https://as.example/token", scopes="jobs:run")
    with pytest.raises(ValueError, match="skew"):
        RuntimeCredentialAuth("worker", "s", "https://as.example/token", skew=-1)


def test_sync_clients_are_refused() -> None:
    auth = RuntimeCredentialAuth("worker", "s", "https://as.example/token")
    with httpx.Client(auth=auth, trust_env=False) as http, pytest.raises(TypeError, match="async client"):
        http.get("http://127.0.0.1:9/")


@pytest.mark.anyio
async def test_metadata_naming_another_issuer_is_refused(issuer: LocalIssuer, service: Protected) -> None:
    """RFC 8414 §3.3: the document must name the issuer it was asked about, exactly."""
    auth = RuntimeCredentialAuth("worker", "s3cret", issuer=issuer.issuer + "/")
    async with httpx.AsyncClient(auth=auth, trust_env=False) as http:
        with pytest.raises(OutboundAuthError, match="metadata names another issuer") as info:
            await http.post(service.url, json={})
    assert info.value.reason == "misconfigured"
    assert issuer.authorization.token_requests == []
