"""``HttpClient`` against servers that answer with exactly the bytes each test writes."""

import asyncio
import gzip
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from origin.providers.http1 import (
    MAX_BUFFERED,
    BrokenAnswer,
    ConnectFailed,
    Disconnected,
    Endpoint,
    HttpClient,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BODY = b'{"model": "m"}'


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"content-length: {len(body)}", *headers]
    return "\r\n".join([*head, "", ""]).encode() + body


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body (by its content-length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


class Server:
    """A loopback server running ``handler`` on each connection; it counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []
        self.open = 0
        self.most_open = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> "Server":
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    def endpoint(self, prefix: str = "/v1") -> Endpoint:
        return Endpoint.parse(f"http://127.0.0.1:{self.port}{prefix}")

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


def answering(*answers: bytes, then_close: bool = False) -> Handler:
    """Answer each request on a connection with the next of ``answers`` (the last one repeats)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        while True:
            await read_request(reader)
            writer.write(answers[min(served, len(answers) - 1)])
            await writer.drain()
            served += 1
            if then_close:
                return

    return handle


def once(raw: bytes) -> Handler:
    """Answer one request with ``raw`` (maybe nothing, maybe not all of an answer), then close."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(raw)

    return handle


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    made = HttpClient(connect_timeout=1.0)
    yield made
    await made.close()


async def post(client: HttpClient, endpoint: Endpoint, headers: dict[str, str] | None = None) -> bytes:
    response = await client.post(endpoint, "/chat", headers or {}, BODY)
    try:
        return await response.read()
    finally:
        response.close()


async def test_requests_in_turn_share_one_connection_and_carry_their_head(client: HttpClient) -> None:
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            heads.append(head)
            writer.write(answer(body))

    async with Server(handle) as server:
        bodies = [await post(client, server.endpoint(), {"authorization": "Bearer k"}) for _ in range(2)]
        bodies.append(await post(client, server.endpoint(), {"User-Agent": "mine/1"}))
    assert bodies == [BODY] * 3 and server.connections == 1
    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "POST /v1/chat HTTP/1.1"
    expected = {f"host: 127.0.0.1:{server.port}", f"content-length: {len(BODY)}", "authorization: Bearer k"}
    assert expected | {"user-agent: prism-gateway"} <= set(lines)
    agents = [line for line in heads[2].decode().split("\r\n") if line.lower().startswith("user-agent")]
    assert agents == ["User-Agent: mine/1"]  # a provider's own, configured, is the only one


async def test_a_chunked_answer_arrives_piece_by_piece(client: HttpClient) -> None:
    second = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst \r\n")
        await second.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await reader.read()

    async with Server(handle) as server:
        response = await client.post(server.endpoint(), "/chat", {}, BODY)
        assert await response.readany() == b"first "
        second.set()
        assert await response.readany() == b"second"
        assert await response.readany() == b""


async def test_a_gzipped_answer_is_read_decoded(client: HttpClient) -> None:
    packed = gzip.compress(b'{"ok": true}' * 100)
    async with Server(answering(answer(packed, "content-encoding: gzip"))) as server:
        assert await post(client, server.endpoint()) == b'{"ok": true}' * 100


async def test_a_gzipped_stream_is_decoded_as_it_arrives(client: HttpClient) -> None:
    packed = gzip.compress(b"data: {}\n\n" * 50)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n")
        for start in range(0, len(packed), 10):  # the first piece is the gzip header alone
            piece = packed[start : start + 10]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        await reader.read()

    async with Server(handle) as server:
        assert await post(client, server.endpoint()) == b"data: {}\n\n" * 50


async def test_an_answer_in_an_encoding_not_asked_for_is_broken(client: HttpClient) -> None:
    async with Server(answering(answer(b"x", "content-encoding: br"))) as server:
        with pytest.raises(BrokenAnswer, match="'br'"):
            await post(client, server.endpoint())


async def test_an_answer_that_ends_with_its_connection_is_read_whole(client: HttpClient) -> None:
    async with Server(once(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")) as server:
        assert await post(client, server.endpoint()) == b"until the end"
        assert await post(client, server.endpoint()) == b"until the end"
    assert server.connections == 2


async def test_connection_close_is_not_reused(client: HttpClient) -> None:
    async with Server(answering(answer(b"{}", "connection: close"), then_close=True)) as server:
        assert [await post(client, server.endpoint()) for _ in range(2)] == [b"{}", b"{}"]
    assert server.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused(client: HttpClient) -> None:
    async with Server(answering(answer(b"{}"), then_close=True)) as server:  # no connection: close said
        assert await post(client, server.endpoint()) == b"{}"
        await asyncio.sleep(0.05)  # the server's close arrives
        assert await post(client, server.endpoint()) == b"{}"
    assert server.connections == 2


async def test_an_informational_answer_is_skipped(client: HttpClient) -> None:
    async with Server(answering(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"{}"))) as server:
        response = await client.post(server.endpoint(), "/chat", {}, BODY)
        assert (response.status, await response.read()) == (200, b"{}")


async def test_status_and_headers_are_read(client: HttpClient) -> None:
    reply = answer(b"{}", "Retry-After: 2", "X-Two: a", "x-two: b", status="429 Too Many Requests")
    async with Server(answering(reply)) as server:
        response = await client.post(server.endpoint(), "/chat", {}, BODY)
        response.close()
    assert response.status == 429 and response.headers["retry-after"] == "2"
    assert response.headers["x-two"] == "a, b"


async def test_an_answer_to_no_request_is_not_read_as_the_next_ones(client: HttpClient) -> None:
    unasked = b"HTTP/1.1 200 OK\r\ncontent-length: 30\r\n\r\nnot asked"  # would eat the next answer
    async with Server(answering(answer(b"asked") + unasked)) as server:
        async with asyncio.timeout(2):
            assert await post(client, server.endpoint()) == b"asked"
            assert await post(client, server.endpoint()) == b"asked"
    assert server.connections == 2


async def test_a_close_before_the_answer_is_a_disconnect(client: HttpClient) -> None:
    async with Server(once(b"")) as server:
        with pytest.raises(Disconnected):
            await post(client, server.endpoint())


async def test_a_cut_inside_the_body_is_a_broken_answer(client: HttpClient) -> None:
    async with Server(once(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")) as server:
        with pytest.raises(BrokenAnswer, match="inside the answer"):
            await post(client, server.endpoint())


async def test_bytes_that_are_not_http_are_a_broken_answer(client: HttpClient) -> None:
    async with Server(answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")) as server:
        with pytest.raises(BrokenAnswer, match="not an HTTP answer"):
            await post(client, server.endpoint())


async def test_a_closed_port_is_a_connect_failure_that_names_the_address(client: HttpClient) -> None:
    with pytest.raises(ConnectFailed, match=r"127\.0\.0\.1:9\b"):
        await post(client, Endpoint.parse("http://127.0.0.1:9/v1"))


async def test_at_most_limit_connections_are_in_use(client: HttpClient) -> None:
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await release.wait()
            writer.write(answer(b"{}"))

    limited = HttpClient(connect_timeout=1.0, limit=2)
    try:
        async with Server(handle) as server:
            calls = [asyncio.create_task(post(limited, server.endpoint())) for _ in range(5)]
            await asyncio.sleep(0.05)
            assert server.open == 2 and not any(call.done() for call in calls)
            release.set()
            assert await asyncio.gather(*calls) == [b"{}"] * 5
        assert server.most_open == 2
    finally:
        await limited.close()


def _most_the_kernel_buffers() -> int:
    """What loopback TCP may hold in flight: the largest receive and send buffers autotuning reaches
    (32 MiB and 4 MiB here; an answer smaller than that could pass without holding the server back)."""
    try:
        return sum(
            int(Path(f"/proc/sys/net/ipv4/tcp_{kind}").read_text().split()[2]) for kind in ("rmem", "wmem")
        )
    except (OSError, IndexError, ValueError):
        return 64 * MAX_BUFFERED


async def test_a_reader_that_falls_behind_holds_the_server_back(client: HttpClient) -> None:
    size = _most_the_kernel_buffers() + 2 * MAX_BUFFERED
    behind = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"x" * size)
        await asyncio.sleep(0.2)
        if writer.transport.get_write_buffer_size() > 0:  # what the client would not take yet
            behind.set()
        await writer.drain()

    async with Server(handle) as server:
        response = await client.post(server.endpoint(), "/chat", {}, BODY)
        await asyncio.sleep(0.3)
        assert behind.is_set()
        assert len(await response.read()) == size


async def test_a_wait_given_up_drops_the_connection() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.2)
            writer.write(answer(b"late"))

    one = HttpClient(connect_timeout=1.0, limit=1)
    try:
        async with Server(handle) as server:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await post(one, server.endpoint())
            async with asyncio.timeout(1):  # the given-up request's slot is free again
                assert await post(one, server.endpoint()) == b"late"  # not the first request's answer
        assert server.connections == 2
    finally:
        await one.close()


async def test_a_closed_stream_drops_its_connection(client: HttpClient) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n")
        await reader.read()  # until the client goes

    async with Server(handle) as server:
        response = await client.post(server.endpoint(), "/chat", {}, BODY)
        assert await response.readany() == b"a"
        response.close()
        for _ in range(50):
            if server.open == 0:
                break
            await asyncio.sleep(0.01)
        assert server.open == 0


async def test_a_header_with_a_line_break_is_refused(client: HttpClient) -> None:
    with pytest.raises(ValueError, match="line break"):
        await client.post(Endpoint.parse("http://127.0.0.1:9"), "/", {"x-a": "b\r\nx-evil: 1"}, BODY)


def test_an_endpoint_is_parsed_from_a_base_url() -> None:
    assert Endpoint.parse("https://api.example.com/v1/") == Endpoint(
        "api.example.com", 443, True, "/v1", "api.example.com"
    )
    assert Endpoint.parse("http://[::1]:8080") == Endpoint("::1", 8080, False, "", "[::1]:8080")
    with pytest.raises(ValueError, match="not an http"):
        Endpoint.parse("ftp://example.com")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_is_spoken_over_tls_and_the_certificate_checked(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    handler = answering(answer(b"{}"))
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=serving)
    port = server.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context(cafile=str(cert))
    endpoint = Endpoint.parse(f"https://127.0.0.1:{port}/v1")
    clients = HttpClient(connect_timeout=2.0, tls=trusting), HttpClient(connect_timeout=2.0)
    try:
        assert await post(clients[0], endpoint) == b"{}"
        with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
            await post(clients[1], endpoint)  # the system's roots do not know a self-signed certificate
    finally:
        for each in clients:
            await each.close()
        server.close()
