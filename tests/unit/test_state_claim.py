"""The local AWS's state dir has one owner at a time (localaws/store.py): a second Store or a --reset on a
state dir in use is refused before anything is read or changed."""

from __future__ import annotations

import os

import pytest

from localaws import store
from localaws.server import reset_state_dir


def test_a_second_owner_is_refused_and_the_first_can_go_on(tmp_path):
    first = store.Store(tmp_path)
    try:
        with pytest.raises(store.StateDirInUse, match=f"in use by another local AWS \\(pid {os.getpid()}\\)"):
            store.Store(tmp_path)
        with pytest.raises(store.StateDirInUse):
            reset_state_dir(tmp_path)
        assert (tmp_path / store.DATABASE).exists()
        first.sync("s3", {("bucket", "b"): "{}"})
        assert first.load("s3") == {("bucket", "b"): "{}"}
    finally:
        first.close()
    again = store.Store(tmp_path)  # closed: the state dir is free again
    assert again.load("s3") == {("bucket", "b"): "{}"}
    again.close()


def test_reset_keeps_the_claim_file_and_the_logs(tmp_path):
    store.Store(tmp_path).close()
    (tmp_path / "local-aws.log").write_text("log")
    deleted = {p.name for p in reset_state_dir(tmp_path)}
    assert store.DATABASE in deleted and store.CLAIM not in deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.CLAIM, "local-aws.log"]
