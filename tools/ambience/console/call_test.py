"""`ambience call`'s key handling before any packet is sent: the deployment's master key comes
from the key store named by the cluster's state, and a missing one is a one-line error that
names the file and the command creating it."""
from __future__ import annotations

import json
import os

import pytest

from ambience import keys
from ambience.console.call import ConsoleError, call


def cluster(root, label: str | None) -> None:
    cdir = root / "hello"
    cdir.mkdir(parents=True)
    console = {"bind": "127.0.0.1:1", "nodes": {"host": {"number": 1, "entry": "host", "instances": {},
                                                         "entry_endpoint": "127.0.0.1:2", "networks": []}},
               "lidl": []}
    if label is not None:
        console["deployment_label"] = label
    (cdir / "state.json").write_text(json.dumps({"deployment": "hello", "runner_pid": os.getpid(),
                                                 "console": console}))


def test_a_missing_master_key_names_the_file_and_the_command(tmp_path):
    cluster(tmp_path / "run", "//deployments/hello")
    store = str(tmp_path / "keys")
    with pytest.raises(ConsoleError) as e:
        call("host/x.y", "{}", str(tmp_path / "run"), key_store=store)
    assert str(e.value) == (f"no master key for //deployments/hello: {store}/deployments_hello/master.key does not "
                            "exist (create it with `bazel run //tools:ambience -- keys init //deployments/hello`)")


def test_the_store_defaults_to_the_environment(tmp_path, monkeypatch):
    cluster(tmp_path / "run", "//deployments/hello")
    keys.init_store(str(tmp_path / "keys"), "//deployments/hello")
    monkeypatch.setenv("AMBIENCE_KEY_STORE", str(tmp_path / "keys"))
    with pytest.raises(ConsoleError, match="^node 'host' has no instance 'x'"):  # past the key
        call("host/x.y", "{}", str(tmp_path / "run"))


def test_a_state_without_a_label_is_refused(tmp_path):
    cluster(tmp_path / "run", None)
    with pytest.raises(ConsoleError, match=r"names no deployment label \(started by an older runner: restart it\)$"):
        call("host/x.y", "{}", str(tmp_path / "run"), key_store=str(tmp_path))
