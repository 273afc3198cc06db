"""The audit log's ``config_digest`` gives away no secret: secrets are blanked, and the digest
is keyed with a key only the gateway holds (issue 12, item 10)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from gateway.audit.chain import policy_from_config
from gateway.audit.config_digest import config_digest, set_digest_key, without_secrets
from gateway.audit.keys import Signer
from gateway.audit.masking import set_hash_key
from gateway.config.schema import AuditConfig, GatewayConfig, LgspConfig, PortalConfig, StoreConfig


@pytest.fixture(autouse=True)
def no_keys() -> Iterator[None]:
    yield
    set_digest_key(None)
    set_hash_key(None)


def config(
    password: str = "mật-khẩu-1",
    base_url: str = "https://dvc.example.gov.vn",
    username: str = "u",
) -> GatewayConfig:
    return GatewayConfig(
        portal=PortalConfig(base_url=base_url, username=username, password=password),
        store=StoreConfig(engine="postgresql", dsn=f"postgresql://gw:{password}@db:5432/gw"),
    )


@pytest.mark.parametrize("key", [None, b"k" * 32])
def test_configs_that_differ_only_in_a_secret_have_one_digest(key: bytes | None) -> None:
    set_digest_key(key)
    one, two = config("mật-khẩu-1"), config("đoán-thử-2")
    assert one != two
    assert config_digest(one) == config_digest(two)
    lgsp = replace(one.routes.lgsp, consumer_secret="s1", secret_key="k1", access_key="a1")
    other = replace(one.routes.lgsp, consumer_secret="s2", secret_key="k2", access_key="a2")
    with_lgsp = replace(one, routes=replace(one.routes, lgsp=lgsp))
    assert config_digest(with_lgsp) == config_digest(
        replace(one, routes=replace(one.routes, lgsp=other))
    )


@pytest.mark.parametrize("key", [None, b"k" * 32])
def test_any_other_change_changes_the_digest(key: bytes | None) -> None:
    set_digest_key(key)
    assert config_digest(config()) != config_digest(config(base_url="https://other.example"))
    assert config_digest(config()) != config_digest(config(username="u2"))


def test_the_secrets_are_not_in_what_is_hashed() -> None:
    text = repr(without_secrets(config("mật-khẩu-1")))
    assert "mật-khẩu-1" not in text
    assert "postgresql://gw:<secret>@db:5432/gw" in text
    dsn = without_secrets(StoreConfig(dsn="host=db user=gw password=pw1 dbname=gw"))
    assert dsn["dsn"] == "host=db user=gw password=<secret> dbname=gw"
    options = without_secrets({"options": {"db_password": "pw", "table": "hoso"}})
    assert options == {"options": {"db_password": "<secret>", "table": "hoso"}}
    assert without_secrets(LgspConfig(token_path="/token"))["token_path"] == "/token"


def test_the_old_unkeyed_digest_can_no_longer_be_recomputed() -> None:
    """What the issue found: sha256(repr(config)) let anyone test password guesses offline."""
    set_digest_key(b"only-the-gateway-has-this")
    digest = config_digest(config("mật-khẩu-1"))
    guess = config("mật-khẩu-1")
    assert digest != hashlib.sha256(repr(guess).encode()).hexdigest()
    set_digest_key(None)
    assert config_digest(guess) != digest  # the same config without the key: another digest
    set_digest_key(b"another key")
    assert config_digest(guess) != digest


def test_the_policy_installs_the_hash_key_or_one_derived_from_the_signing_key() -> None:
    audit = AuditConfig()
    cfg = config()
    policy_from_config(audit, {audit.hash_key_env: "join-key-1"})
    with_hash_key = config_digest(cfg)
    policy_from_config(audit, {audit.hash_key_env: "join-key-2"})
    assert config_digest(cfg) != with_hash_key
    signer, private = Signer.generate()
    policy_from_config(audit, {audit.signing_key_env: private})
    with_signing_key = config_digest(cfg)
    other_signer, other_private = Signer.generate()
    policy_from_config(audit, {audit.signing_key_env: other_private})
    assert config_digest(cfg) != with_signing_key
    assert signer.derived_key("x") != other_signer.derived_key("x")
    policy_from_config(audit, {})
    assert config_digest(cfg) == hashlib.sha256(_blanked(cfg)).hexdigest()


def _blanked(cfg: GatewayConfig) -> bytes:
    return json.dumps(without_secrets(cfg), sort_keys=True, ensure_ascii=False).encode()
