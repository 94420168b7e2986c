"""The sandbox's web front answers every HTTP method as API Gateway (HTTP API) would, over real HTTP.

Only GET and POST /approvals/{approvalId} are routes (cfn/engine.yaml); anything else gets the
gateway's 404 {"message":"Not Found"} without the function being invoked, never a 501 or a dropped
connection. All requests share one connection: a response that is incomplete, or a request body
left unread, would garble the next exchange.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.web import make_server
from tests.support.world import World

NOT_FOUND = b'{"message":"Not Found"}'
OTHER_METHODS = ["HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "PROPFIND", "BREW"]


class RecordingLambda:
    """A Lambda client that records invocations: the gateway's own answers must make none."""

    def __init__(self) -> None:
        self.invoked: list[str] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        self.invoked.append(FunctionName)
        return {"StatusCode": 200, "FunctionError": "Unhandled"}


@contextlib.contextmanager
def serving(lambda_client: Any) -> Iterator[http.client.HTTPConnection]:
    """Only the web front, on a free loopback port; one connection to it."""
    server = make_server("127.0.0.1", 0, "http://unused.invalid", lambda: [], lambda_client=lambda_client)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    try:
        yield connection
    finally:
        connection.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def lambda_client() -> RecordingLambda:
    return RecordingLambda()


@pytest.fixture
def web(lambda_client: RecordingLambda) -> Iterator[http.client.HTTPConnection]:
    with serving(lambda_client) as connection:
        yield connection


def exchange(connection: http.client.HTTPConnection, method: str, path: str,
             body: bytes | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    connection.request(method, path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = connection.getresponse()
    data = response.read()
    if method != "HEAD":  # a complete response: every byte it announced
        assert len(data) == int(response.headers["Content-Length"]), method
    return response, data


def test_get_and_post_reach_the_approval_function(world: World) -> None:
    path = f"/approvals/{secrets.token_urlsafe(32)}"
    with serving(world.client("lambda")) as web:
        for method, body in (("GET", None), ("POST", b"decision=approve&name=Ada")):
            response, data = exchange(web, method, path, body)
            assert response.status == 404, method  # the function's own page for a link nobody was sent
            assert response.headers["Content-Type"].startswith("text/html") and b"not valid" in data


@pytest.mark.parametrize("method", OTHER_METHODS)
def test_every_other_method_gets_the_gateways_not_found(web: http.client.HTTPConnection,
                                                        lambda_client: RecordingLambda, method: str) -> None:
    for _ in range(2):  # the second exchange shows the connection survived the first
        response, data = exchange(web, method, f"/approvals/{secrets.token_urlsafe(32)}", b"decision=approve")
        assert response.status == 404 and response.headers["Content-Type"] == "application/json"
        assert response.headers["Content-Length"] == str(len(NOT_FOUND))
        assert data == (b"" if method == "HEAD" else NOT_FOUND)
        assert not response.will_close
    assert lambda_client.invoked == []


@pytest.mark.parametrize("method", ["POST", *OTHER_METHODS])
def test_the_sandbox_pages_answer_other_methods_with_405(web: http.client.HTTPConnection, method: str) -> None:
    response, _ = exchange(web, method, "/metrics.json", b"x=1")
    assert response.status == 405 and response.headers["Allow"] == "GET"
    response, data = exchange(web, "GET", "/metrics.json")
    assert response.status == 200 and isinstance(json.loads(data), list)


def test_a_chunked_body_is_read_to_its_end_and_the_connection_kept(
        web: http.client.HTTPConnection) -> None:
    for _ in range(2):  # the second exchange shows the whole body was consumed
        web.request("PUT", f"/approvals/{secrets.token_urlsafe(32)}",
                    body=iter([b"decision=", b"approve", b"&name=Ada"]), encode_chunked=True)
        response = web.getresponse()
        assert response.status == 404 and response.read() == NOT_FOUND
        assert not response.will_close


def test_a_chunked_post_reaches_the_approval_function_whole(world: World) -> None:
    with serving(world.client("lambda")) as web:
        web.request("POST", f"/approvals/{secrets.token_urlsafe(32)}",
                    body=iter([b"decision=", b"approve"]), encode_chunked=True,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = web.getresponse()
        assert response.status == 404 and b"not valid" in response.read()


def test_a_body_over_the_gateways_limit_is_refused_and_the_connection_closed(
        web: http.client.HTTPConnection, lambda_client: RecordingLambda) -> None:
    web.putrequest("POST", f"/approvals/{secrets.token_urlsafe(32)}")
    web.putheader("Content-Length", str(11 * 1024 * 1024))
    web.endheaders()
    response = web.getresponse()
    assert response.status == 413 and response.will_close
    assert lambda_client.invoked == []
