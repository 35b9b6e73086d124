"""The key store (files, modes, errors) and the derivations, against the formulas of the spec
computed independently here with hashlib."""
from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ambience import keys
from third_party.monocypher import monocypher

LABEL = "//deployments/camera_trap"


def test_deployment_id_drops_slashes_and_colons():
    assert keys.deployment_id(LABEL) == "deployments_camera_trap"
    assert keys.deployment_id("//deployments/hello/on_board:x") == "deployments_hello_on_board_x"
    for bad in ("deployments/hello", "//", "", "//a b", "//../x:"):
        with pytest.raises(keys.KeyStoreError, match="is not a deployment label"):
            keys.deployment_id(bad)


def test_init_creates_a_private_key_and_refuses_to_overwrite(tmp_path):
    store = str(tmp_path / "store")
    path = keys.init_store(store, LABEL)
    assert path == os.path.join(store, "deployments_camera_trap", "master.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path, encoding="ascii").read()
    assert len(text) == 65 and text.endswith("\n") and bytes.fromhex(text[:64])
    assert keys.load_master(store, LABEL) == bytes.fromhex(text[:64])
    with pytest.raises(keys.KeyStoreError, match="already exists"):
        keys.init_store(store, LABEL)
    assert open(path, encoding="ascii").read() == text
    assert keys.init_store(store, LABEL, rotate=True) == path
    assert open(path, encoding="ascii").read() != text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(os.path.dirname(path)) == ["master.key"]  # no temporary file left


def test_two_deployments_get_different_masters(tmp_path):
    keys.init_store(str(tmp_path), "//deployments/a")
    keys.init_store(str(tmp_path), "//deployments/b")
    assert keys.load_master(str(tmp_path), "//deployments/a") != keys.load_master(str(tmp_path), "//deployments/b")


def test_a_missing_key_names_the_path_and_the_command(tmp_path):
    with pytest.raises(keys.KeyStoreError) as e:
        keys.load_master(str(tmp_path), LABEL)
    path = os.path.join(str(tmp_path), "deployments_camera_trap", "master.key")
    assert str(e.value) == (f"no master key for {LABEL}: {path} does not exist (create it with "
                            f"`bazel run //tools:ambience -- keys init {LABEL}`)")


def test_a_key_others_can_read_or_a_malformed_one_is_refused(tmp_path):
    path = keys.init_store(str(tmp_path), LABEL)
    os.chmod(path, 0o644)
    with pytest.raises(keys.KeyStoreError, match=r"readable by others \(mode 0644\): `chmod 600"):
        keys.load_master(str(tmp_path), LABEL)
    for text in ("abc\n", "z" * 64 + "\n", "00" * 33 + "\n"):
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
        os.chmod(path, 0o600)
        with pytest.raises(keys.KeyStoreError, match="is not a master key"):
            keys.load_master(str(tmp_path), LABEL)


def test_default_store(monkeypatch):
    monkeypatch.setenv("AMBIENCE_KEY_STORE", "/somewhere/keys")
    assert keys.default_store() == "/somewhere/keys"
    monkeypatch.delenv("AMBIENCE_KEY_STORE")
    for v in ("RUNFILES_DIR", "PYTHON_RUNFILES", "TEST_SRCDIR"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("HOME", "/home/op")
    assert keys.default_store() == "/home/op/.config/ambience/keys"


def test_default_store_under_bazel_is_the_one_the_build_used(monkeypatch, tmp_path):
    monkeypatch.delenv("AMBIENCE_KEY_STORE", raising=False)
    for v in ("RUNFILES_DIR", "PYTHON_RUNFILES"):
        monkeypatch.delenv(v, raising=False)
    (tmp_path / "ambience_keys").mkdir()
    (tmp_path / "ambience_keys" / "present.txt").write_text("/srv/keys\n")
    monkeypatch.setenv("TEST_SRCDIR", str(tmp_path))
    assert keys.default_store() == "/srv/keys"


MASTER = bytes(range(32))


def test_pair_key_is_the_specified_blake2b():
    msg = b"ambience pair key v1\0//deployments/camera_trap\0node:edge\0cloud"
    expected = hashlib.blake2b(msg, digest_size=32, key=MASTER).digest()
    assert keys.pair_key(MASTER, LABEL, keys.node_principal("edge"), "cloud") == expected
    assert keys.pair_key(MASTER, LABEL, "console", "cloud") != expected
    # every input is bound: direction, deployment, master
    assert keys.pair_key(MASTER, LABEL, "node:cloud", "edge") != expected
    assert keys.pair_key(MASTER, "//deployments/x", "node:edge", "cloud") != expected
    assert keys.pair_key(bytes(32), LABEL, "node:edge", "cloud") != expected
    # the separators make the fields unambiguous
    assert keys.pair_key(MASTER, LABEL, "node:ed", "gecloud") != expected
    assert keys.door_principal("store", "lan") == "door:store@lan"


def test_derivations_reject_bad_inputs():
    with pytest.raises(ValueError, match="32 bytes"):
        keys.pair_key(bytes(31), LABEL, "console", "cloud")
    with pytest.raises(ValueError, match="without NUL"):
        keys.pair_key(MASTER, LABEL, "con\0sole", "cloud")
    with pytest.raises(ValueError, match="non-empty"):
        keys.pair_key(MASTER, LABEL, "console", "")


def test_token_keys_come_from_the_specified_seed():
    seed = hashlib.blake2b(b"ambience token key v1\0" + LABEL.encode(), digest_size=32, key=MASTER).digest()
    assert keys.token_seed(MASTER, LABEL) == seed
    secret, public = keys.token_keys(MASTER, LABEL)
    assert (secret, public) == monocypher.eddsa_key_pair(seed)
    assert len(secret) == 64 and len(public) == 32
    sig = monocypher.eddsa_sign(secret, b"message")
    assert monocypher.eddsa_check(sig, public, b"message")
    assert not monocypher.eddsa_check(sig, public, b"messagf")
    assert keys.token_keys(MASTER, "//deployments/x")[1] != public
