"""Envelope encryption of personal data (Arts. 10, 15, 18) against the real database,
and the AWS KMS master key against a real KMS API (moto's server on loopback)."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from dossiers.core import db
from dossiers.core.crypto import Field, KeyRing, KmsMasterKey, LocalMasterKey
from dossiers.core.errors import CannotRun, Refused

from helpers import FORM, write_forms

pytestmark = pytest.mark.integration
EMAIL = Field("contact", "email", "0")


def _keyring() -> KeyRing:
    return KeyRing(LocalMasterKey(os.urandom(32)))


def test_seal_open_and_binding_to_record_and_field(database_url: str) -> None:
    keyring, a, b = _keyring(), uuid.uuid4(), uuid.uuid4()
    with db.transaction() as conn:
        keyring.create_keys(conn, [a, b])
        blob = keyring.seal(conn, a, EMAIL, "anna@example.de")
        assert blob is not None and b"anna" not in blob
        assert keyring.open(conn, a, EMAIL, blob) == "anna@example.de"
        # Moved to another field, record or dossier, it does not open.
        for dossier_id, where in ((a, Field("contact", "phone", "0")),
                                  (a, Field("contact", "email", "1")), (b, EMAIL)):
            with pytest.raises(Refused, match="does not open"):
                keyring.open(conn, dossier_id, where, blob)


def test_data_keys_are_random_and_stored_wrapped(database_url: str) -> None:
    keyring, ids = _keyring(), [uuid.uuid4() for _ in range(3)]
    with db.transaction() as conn:
        keyring.create_keys(conn, ids)
        plain = [keyring.key_for(conn, i) for i in ids]
        wrapped = conn.execute(text("SELECT wrapped_key FROM keyring.data_key")).scalars().all()
    assert len(set(plain)) == 3
    assert all(key not in bytes(w) for key in plain for w in wrapped)


def test_crypto_shredding_makes_every_copy_unreadable(database_url: str) -> None:
    keyring, a = _keyring(), uuid.uuid4()
    with db.transaction() as conn:
        keyring.create_keys(conn, [a])
        blob = keyring.seal(conn, a, EMAIL, "anna@example.de")
        keyring.destroy(conn, a)
        fresh = KeyRing(keyring.master)  # another process: no cached key
        with pytest.raises(Refused, match="destroyed"):
            fresh.open(conn, a, EMAIL, blob)


def test_blind_index_matches_equal_values_only(database_url: str) -> None:
    keyring = _keyring()
    with db.transaction() as conn:
        one = keyring.blind_index(conn, "email", "anna@example.de")
        assert one == keyring.blind_index(conn, "email", "anna@example.de")
        assert one != keyring.blind_index(conn, "email", "anne@example.de")
        assert one != keyring.blind_index(conn, "phone", "anna@example.de")
    # The index key is shared through the keyring: another process computes the same index.
    with db.transaction() as conn:
        assert KeyRing(keyring.master).blind_index(conn, "email", "anna@example.de") == one


def test_wrong_master_key_is_a_clear_error(database_url: str) -> None:
    a = uuid.uuid4()
    with db.transaction() as conn:
        _keyring().create_keys(conn, [a])
        with pytest.raises(CannotRun, match="wrong DOSSIER_MASTER_KEY_FILE"):
            _keyring().key_for(conn, a)


def test_master_key_file_missing_or_bad(tmp_path: Path) -> None:
    with pytest.raises(CannotRun, match="does not exist"):
        LocalMasterKey.from_file(tmp_path / "none.key", create=False)
    bad = tmp_path / "bad.key"
    bad.write_text(base64.b64encode(b"short").decode())
    with pytest.raises(CannotRun, match="256-bit"):
        LocalMasterKey.from_file(bad, create=False)
    made = LocalMasterKey.from_file(tmp_path / "new.key", create=True)
    assert (tmp_path / "new.key").stat().st_mode & 0o777 == 0o600
    assert LocalMasterKey.from_file(tmp_path / "new.key", create=False).key_id == made.key_id


def test_missing_key_file_from_the_cli_is_exit_2(cli, company, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DOSSIER_MASTER_KEY_FILE", str(tmp_path / "gone.key"))
    form = write_forms(tmp_path / "f.json", [FORM])
    result = cli("import", str(form), "--as", "wang.market")
    assert result.status == 2 and "gone.key does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_kms_master_key_wraps_with_dossier_context(moto_server: str, database_url: str) -> None:
    import boto3

    client = boto3.client("kms", endpoint_url=moto_server, region_name="eu-central-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    key_id = client.create_key(Description="dossier master key")["KeyMetadata"]["KeyId"]
    keyring = KeyRing(KmsMasterKey(key_id, client=client))
    a = uuid.uuid4()
    with db.transaction() as conn:
        keyring.create_keys(conn, [a])
        blob = keyring.seal(conn, a, EMAIL, "anna@example.de")
        assert KeyRing(KmsMasterKey(key_id, client=client)).open(conn, a, EMAIL, blob) == \
            "anna@example.de"
        master_id = conn.execute(text("SELECT master_key_id FROM keyring.data_key")).scalar_one()
    assert master_id == f"kms:{key_id}"
