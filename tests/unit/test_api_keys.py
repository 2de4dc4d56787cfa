"""API keys: the API's file holds only hashes, re-minting revokes the user's old key, and both
files are private to their owner."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from secrets import token_hex

import pytest

from orchestrator.api.auth import ApiKeys, credentials_path, generate_keys
from orchestrator.api.errors import Unauthenticated


def test_the_key_file_holds_hashes_and_the_credentials_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    keys = generate_keys(["alice", "bob"], path)
    table = json.loads(path.read_text())
    assert set(table.values()) == {"alice", "bob"}
    assert all(h.startswith("sha256:") for h in table)
    assert not any(key in path.read_text() for key in keys.values())
    assert json.loads(credentials_path(path).read_text()) == keys
    api = ApiKeys.load(path)
    assert api.user_for(f"Bearer {keys['alice']}") == "alice"
    with pytest.raises(Unauthenticated):
        api.user_for("Bearer " + next(iter(table)))  # the hash itself is no key


def test_re_minting_revokes_the_old_key(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    old = generate_keys(["alice", "bob"], path)
    new = generate_keys(["alice"], path)
    api = ApiKeys.load(path)
    with pytest.raises(Unauthenticated, match="unknown API key"):
        api.user_for(f"Bearer {old['alice']}")
    assert api.user_for(f"Bearer {new['alice']}") == "alice"
    assert api.user_for(f"Bearer {old['bob']}") == "bob"
    assert json.loads(credentials_path(path).read_text()) == {
        "alice": new["alice"],
        "bob": old["bob"],
    }


def test_both_files_are_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    generate_keys(["alice"], path)
    for written in (path, credentials_path(path)):
        assert stat.S_IMODE(written.stat().st_mode) == 0o600, written


def test_the_config_and_the_ledger_are_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.config import load_config, write_config
    from orchestrator.ledger import Ledger

    monkeypatch.setenv("SAGA_WEBHOOK_SECRET", token_hex(32))
    monkeypatch.setenv("SAGA_PAYMENT_ID_SECRET", token_hex(32))
    Ledger(tmp_path / "ledger.db").open_account("alice", 100)
    compose_config = Path(__file__).resolve().parents[2] / "compose" / "config.json"
    write_config(load_config(compose_config), tmp_path / "config.json")
    for name in ("ledger.db", "config.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
