"""A channel's media is downloaded within limits (shared.media.fetch): only http(s), never from a private
address, at most 3 redirects (credentials only to the first origin), at most max_bytes (Content-Length
first, then counted), only a type we keep as the bytes show it; a provider that fails is MediaUnavailable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable

import httpx
import pytest
from media_samples import AMR, HTML, MP4, PDF, jpeg_with_gps, png

from shared.media import Fetched, MediaLimits, MediaRefused, MediaUnavailable, fetch
from shared.media.fetch import is_public

PUBLIC = {"media.example": ["93.184.216.34"], "cdn.example": ["2606:2800:220:1:248:1893:25c8:1946"],
          "intranet.example": ["10.1.2.3"], "mixed.example": ["93.184.216.34", "127.0.0.1"],
          "rebind.example": ["192.168.1.1"]}


async def resolve(host: str, port: int) -> Iterable[str]:
    """The test's DNS: `PUBLIC`'s answers; anything else does not resolve."""
    if host not in PUBLIC:
        raise OSError(f"{host}: name does not resolve")
    return PUBLIC[host]


Handler = Callable[[httpx.Request], httpx.Response]


class Provider:
    """A provider behind `httpx.MockTransport`: answers with `handler`, records every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self), **kwargs)  # type: ignore[arg-type]


def serving(content: bytes, content_type: str | None, **headers: str) -> Provider:
    def answer(request: httpx.Request) -> httpx.Response:
        h = {"content-type": content_type} if content_type else {}
        return httpx.Response(200, content=content, headers={**h, **headers})
    return Provider(answer)


async def get(provider: Provider, url: str, **kwargs: object) -> Fetched:
    async with provider.client() as client:
        return await fetch(client, url, resolve=resolve, **kwargs)  # type: ignore[arg-type]


# --- types: the bytes decide ------------------------------------------------------------------------------

async def test_a_jpeg_is_fetched_with_its_type_and_the_urls_file_name() -> None:
    data = jpeg_with_gps()
    got = await get(serving(data, "image/jpeg"), "https://media.example/photos/pothole.JPG?sig=abc")
    assert got == Fetched(content=data, content_type="image/jpeg", filename="pothole.JPG",
                          source_url="https://media.example/photos/pothole.JPG?sig=abc")


async def test_the_content_disposition_names_the_file_and_a_path_in_it_is_dropped() -> None:
    provider = serving(PDF, "application/pdf", **{"content-disposition": "attachment; filename*=UTF-8''..%2F..%2Fr%C3%A9sum%C3%A9.pdf"})
    got = await get(provider, "https://media.example/Media/ME123")
    assert (got.content_type, got.filename) == ("application/pdf", "résumé.pdf")


async def test_a_url_without_a_file_name_gives_none() -> None:
    got = await get(serving(AMR, "audio/amr"), "https://media.example/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")
    assert (got.content_type, got.filename) == ("audio/amr", None)


async def test_a_declared_image_that_is_not_one_is_refused() -> None:
    with pytest.raises(MediaRefused, match="not a picture"):
        await get(serving(HTML, "image/jpeg"), "https://media.example/a.jpg")
    with pytest.raises(MediaRefused, match="not a picture"):
        await get(serving(PDF, "image/png"), "https://media.example/a.png")


async def test_a_type_outside_the_list_is_refused_before_its_body_is_read() -> None:
    class NeverRead(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            raise AssertionError("the body of a refused type was read")
            yield b""  # pragma: no cover

    for declared in ("text/html", "image/svg+xml", "application/zip", "application/javascript"):
        provider = Provider(lambda r, d=declared: httpx.Response(200, headers={"content-type": d}, stream=NeverRead()))
        with pytest.raises(MediaRefused, match="not one we keep"):
            await get(provider, "https://media.example/x")


async def test_bytes_sent_without_a_useful_type_are_kept_as_what_they_are() -> None:
    assert (await get(serving(png(), "application/octet-stream"), "https://media.example/x")).content_type == "image/png"
    assert (await get(serving(png(), None), "https://media.example/x")).content_type == "image/png"
    assert (await get(serving(MP4, "binary/octet-stream"), "https://media.example/x")).content_type == "video/mp4"
    with pytest.raises(MediaRefused, match="not of a type we keep"):
        await get(serving(HTML, "application/octet-stream"), "https://media.example/x")


async def test_an_alias_and_parameters_of_the_declared_type_are_understood() -> None:
    got = await get(serving(jpeg_with_gps(), "Image/JPG; name=photo"), "https://media.example/x")
    assert got.content_type == "image/jpeg"


async def test_a_picture_of_a_kind_we_do_not_keep_is_refused_whatever_is_declared() -> None:
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="BMP")
    with pytest.raises(MediaRefused, match="image/bmp"):
        await get(serving(out.getvalue(), "application/octet-stream"), "https://media.example/x")


async def test_a_limits_list_of_types_is_applied() -> None:
    only_pictures = MediaLimits(types=("image/jpeg", "image/png"))
    with pytest.raises(MediaRefused):
        await get(serving(PDF, "application/pdf"), "https://media.example/x", limits=only_pictures)
    with pytest.raises(MediaRefused):
        await get(serving(PDF, "application/octet-stream"), "https://media.example/x", limits=only_pictures)


# --- size -------------------------------------------------------------------------------------------------

async def test_a_content_length_above_the_limit_is_refused_without_reading() -> None:
    class NeverRead(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            raise AssertionError("the body was read despite its Content-Length")
            yield b""  # pragma: no cover

    provider = Provider(lambda r: httpx.Response(200, headers={"content-type": "video/mp4",
                                                               "content-length": str(50 * 1024 * 1024)},
                                                 stream=NeverRead()))
    with pytest.raises(MediaRefused, match="52428800 bytes"):
        await get(provider, "https://media.example/v.mp4")


async def test_a_body_without_length_stops_being_read_past_the_limit() -> None:
    sent: list[int] = []

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for _ in range(10_000):
                sent.append(1)
                yield MP4[:16] + b"\x00" * (1024 - 16)

    provider = Provider(lambda r: httpx.Response(200, headers={"content-type": "video/mp4"}, stream=Endless()))
    with pytest.raises(MediaRefused, match="more than the 8192 bytes"):
        await get(provider, "https://media.example/v.mp4", limits=MediaLimits(max_bytes=8192))
    assert len(sent) == 9  # read up to the first chunk past 8 KiB, no further


async def test_a_body_of_exactly_the_limit_is_kept() -> None:
    data = PDF + b"\n" * (4096 - len(PDF))
    got = await get(serving(data, "application/pdf"), "https://media.example/x.pdf", limits=MediaLimits(max_bytes=4096))
    assert len(got.content) == 4096


# --- redirects and credentials ----------------------------------------------------------------------------

def redirecting(hops: int, final: bytes = PDF) -> Provider:
    """/0 redirects to /1 ... to /<hops> on cdn.example, which serves `final`."""
    def answer(request: httpx.Request) -> httpx.Response:
        n = int(request.url.path.strip("/") or 0)
        if n < hops:
            return httpx.Response(302, headers={"location": f"https://cdn.example/{n + 1}"})
        return httpx.Response(200, content=final, headers={"content-type": "application/pdf"})
    return Provider(answer)


async def test_three_redirects_are_followed_and_a_fourth_is_refused() -> None:
    assert (await get(redirecting(3), "https://media.example/0")).content == PDF
    provider = redirecting(4)
    with pytest.raises(MediaRefused, match="more than 3 redirects"):
        await get(provider, "https://media.example/0")
    assert len(provider.requests) == 4
    with pytest.raises(MediaRefused, match="more than 1 redirects"):
        await get(redirecting(2), "https://media.example/0", limits=MediaLimits(max_redirects=1))


async def test_credentials_go_to_the_first_origin_only() -> None:
    provider = redirecting(2)
    async with provider.client(headers={"Authorization": "Bearer client-token"}) as client:
        await fetch(client, "https://media.example/0", auth=("AC123", "secret"), resolve=resolve)
    first, *others = provider.requests
    assert first.url.host == "media.example" and first.headers["authorization"].startswith("Basic ")
    assert [r.url.host for r in others] == ["cdn.example", "cdn.example"]
    assert all("authorization" not in r.headers for r in others)


async def test_the_clients_own_authorization_is_used_on_the_first_origin() -> None:
    provider = serving(PDF, "application/pdf")
    async with provider.client(headers={"Authorization": "Bearer graph-token"}) as client:
        await fetch(client, "https://media.example/x", resolve=resolve)
    assert provider.requests[0].headers["authorization"] == "Bearer graph-token"


async def test_a_redirect_without_a_location_is_unavailable() -> None:
    with pytest.raises(MediaUnavailable, match="without a location"):
        await get(Provider(lambda r: httpx.Response(302)), "https://media.example/x")


# --- addresses (server-side request forgery) --------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.jpg", "http://localhost.localdomain/x", "http://[::1]/x", "http://10.0.0.8/x",
    "http://192.168.0.1/x", "http://172.16.5.4/x", "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/x", "http://0.0.0.0/x", "http://[fe80::1]/x", "http://[fd00::1]/x",
    "http://[::ffff:127.0.0.1]/x", "https://intranet.example/x", "https://mixed.example/x",
])
async def test_a_private_address_is_refused_and_never_asked(url: str) -> None:
    provider = serving(PDF, "application/pdf")

    async def resolve_local(host: str, port: int) -> Iterable[str]:
        return ["127.0.0.1"] if host == "localhost.localdomain" else await resolve(host, port)

    async with provider.client() as client:
        with pytest.raises(MediaRefused, match="private address"):
            await fetch(client, url, resolve=resolve_local)
    assert provider.requests == []


@pytest.mark.parametrize("url", ["http://2130706433/x", "http://0x7f000001/x", "http://017700000001/x",
                                 "http://127.1/x"])
async def test_a_loopback_address_written_as_a_number_is_refused_by_the_system_resolver(url: str) -> None:
    provider = serving(PDF, "application/pdf")
    async with provider.client() as client:
        with pytest.raises(MediaRefused, match="private address"):
            await fetch(client, url)  # the system's resolver reads these forms as 127.0.0.1, as a socket would
    assert provider.requests == []


async def test_a_redirect_to_a_private_address_is_refused() -> None:
    provider = Provider(lambda r: httpx.Response(302, headers={"location": "http://169.254.169.254/latest/"}))
    with pytest.raises(MediaRefused, match="private address"):
        await get(provider, "https://media.example/x")
    assert [r.url.host for r in provider.requests] == ["media.example"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://media.example/x", "gopher://media.example/",
                                 "data:image/png;base64,AAAA", "javascript:alert(1)", "//media.example/x",
                                 "not a url", ""])
async def test_only_http_and_https_links_are_fetched(url: str) -> None:
    provider = serving(PDF, "application/pdf")
    with pytest.raises(MediaRefused):
        await get(provider, url)
    assert provider.requests == []


async def test_private_addresses_are_allowed_only_when_the_limits_say_so() -> None:
    got = await get(serving(PDF, "application/pdf"), "http://127.0.0.1:8099/x", limits=MediaLimits(allow_private=True))
    assert got.content == PDF


async def test_the_connected_peer_is_checked_when_the_transport_reports_it() -> None:
    class Stream:
        def get_extra_info(self, info: str) -> object:
            return ("192.168.1.1", 443) if info == "server_addr" else None

    provider = Provider(lambda r: httpx.Response(200, content=PDF, headers={"content-type": "application/pdf"},
                                                 extensions={"network_stream": Stream()}))
    with pytest.raises(MediaRefused, match="connected to a private address"):
        await get(provider, "https://media.example/x")


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:4700::1111", True), ("8.8.8.8", True), ("10.0.0.1", False),
    ("127.8.8.8", False), ("169.254.1.1", False), ("100.64.0.1", False), ("224.0.0.1", False),
    ("255.255.255.255", False), ("::1", False), ("fe80::1", False), ("fc00::1", False), ("ff02::1", False),
    ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True), ("::", False),
    # IPv4 inside NAT64 (RFC 6052, 64:ff9b::/96) and 6to4 (RFC 3056, 2002::/16) addresses, which route to
    # that IPv4 address: judged as it (a redirect to http://[64:ff9b::a9fe:a9fe]/ reaches 169.254.169.254)
    ("64:ff9b::7f00:1", False), ("64:ff9b::a9fe:a9fe", False), ("64:ff9b::808:808", True),
    ("2002:7f00:1::", False), ("2002:a9fe:a9fe::1", False), ("2002:808:808::1", True),
])
def test_which_addresses_are_public(address: str, public: bool) -> None:
    import ipaddress
    assert is_public(ipaddress.ip_address(address)) is public


# --- the provider fails -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 429, 500, 502, 503])
async def test_an_error_answer_is_unavailable(status: int) -> None:
    provider = Provider(lambda r: httpx.Response(status, content=b"<html>nope</html>", headers={"content-type": "text/html"}))
    with pytest.raises(MediaUnavailable, match=str(status)):
        await get(provider, "https://media.example/x")


async def test_a_network_error_a_name_that_does_not_resolve_and_an_empty_body_are_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(MediaUnavailable, match="ConnectError"):
        await get(Provider(down), "https://media.example/x")
    with pytest.raises(MediaUnavailable, match="does not resolve"):
        await get(serving(PDF, "application/pdf"), "https://nowhere.example/x")
    with pytest.raises(MediaUnavailable, match="no bytes"):
        await get(serving(b"", "application/pdf"), "https://media.example/x")


async def test_a_provider_slower_than_the_timeout_is_unavailable() -> None:
    class Slow(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield PDF
            await asyncio.sleep(5)
            yield b"more"

    provider = Provider(lambda r: httpx.Response(200, headers={"content-type": "application/pdf"}, stream=Slow()))
    with pytest.raises(MediaUnavailable, match="no answer within 0.2 s"):
        await get(provider, "https://media.example/x", limits=MediaLimits(timeout_s=0.2))


async def test_a_reason_never_quotes_the_urls_query() -> None:
    for provider in (Provider(lambda r: httpx.Response(403)), serving(HTML, "image/png")):
        with pytest.raises((MediaRefused, MediaUnavailable)) as caught:
            await get(provider, "https://media.example/x?token=SECRET123")
        assert "SECRET123" not in str(caught.value)


async def test_a_name_that_resolved_public_but_connects_to_loopback_is_refused() -> None:
    """DNS rebinding: our resolver is told a public address, the real connection lands on 127.0.0.1 (a
    real socket and httpx's own transport, which reports the peer)."""
    served: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(PDF), PDF))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def rebinding(host: str, port: int) -> Iterable[str]:
        return ["93.184.216.34"]

    try:
        async with httpx.AsyncClient() as client:
            with pytest.raises(MediaRefused, match=r"connected to a private address \(127.0.0.1\)"):
                await fetch(client, f"http://localhost:{port}/x.pdf", resolve=rebinding)
            assert len(served) == 1  # it was asked, but nothing it answered is kept
            got = await fetch(client, f"http://localhost:{port}/x.pdf", limits=MediaLimits(allow_private=True))
            assert got.content == PDF
    finally:
        server.close()
        await server.wait_closed()
