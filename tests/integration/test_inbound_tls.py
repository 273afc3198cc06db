"""Mutual TLS on the inbound listener: a caller without a certificate from the configured CA
is refused during the handshake; the portal's certificate gets the OpenCPS answer."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.config.schema import InboundConfig
from gateway.inbound.endpoint import InboundEndpoint, server_tls
from gateway.store.sqlite.store import SqliteStore
from tests.inbound_factories import portal_body

NOW = dt.datetime.now(dt.UTC)


def _issue(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if name == "127.0.0.1":
        address = x509.IPAddress(ipaddress.ip_address(name))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[tuple[str, Path, dict[str, tuple[Path, Path]]]]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("test CA", ca_key, None, ca=True)
    ca_pair = (ca.subject, ca_key)
    pairs: dict[str, tuple[Path, Path]] = {}
    for stem, name in (("server", "127.0.0.1"), ("portal", "dvcqg portal")):
        key = ec.generate_private_key(ec.SECP256R1())
        pairs[stem] = _write(tmp_path, stem, _issue(name, key, ca_pair), key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    pairs["stranger"] = _write(tmp_path, "stranger", _issue("stranger", other_key, None), other_key)
    ca_path = tmp_path / "ca.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    config = InboundConfig(
        enabled=True,
        tls_cert=str(pairs["server"][0]),
        tls_key=str(pairs["server"][1]),
        tls_client_ca=str(ca_path),
    )
    store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    runner = web.AppRunner(InboundEndpoint(store.inbound, config, sink_name="outbox").app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls(config)).start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}/nps/createdossierfromdvcqg", ca_path, pairs
    await runner.cleanup()
    await store.close()


def _client(ca: Path, pair: tuple[Path, Path] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if pair is not None:
        context.load_cert_chain(str(pair[0]), str(pair[1]))
    return context


async def test_only_a_certificate_from_the_configured_ca_gets_in(
    listener: tuple[str, Path, dict[str, tuple[Path, Path]]],
) -> None:
    url, ca, pairs = listener
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=portal_body(), ssl=_client(ca, pairs["portal"])) as ok:
            assert (ok.status, (await ok.json())["error_code"]) == (200, 0)
        for refused in (None, pairs["stranger"]):
            with pytest.raises(aiohttp.ClientError):
                async with http.post(url, json=portal_body(), ssl=_client(ca, refused)) as r:
                    await r.read()
