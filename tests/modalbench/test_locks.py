"""The per-version lock: a second holder waits with a message or gives up after its timeout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from modalbench.errors import StoreError
from modalbench.locks import dataset_lock, remote_lock_note


def test_second_holder_waits_with_one_message(tmp_path: Path) -> None:
    messages: list[str] = []
    order: list[str] = []
    with dataset_lock(tmp_path, "digits", "v1") as note:
        assert note is None

        def second() -> None:
            with dataset_lock(tmp_path, "digits", "v1", on_wait=messages.append):
                order.append("second")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.5)
        order.append("first done")
    t.join(timeout=10)
    assert order == ["first done", "second"]
    assert len(messages) == 1 and "another prepare of digits v1 is running" in messages[0]
    assert (tmp_path / "digits" / ".v1.lock").exists()


def test_timeout_is_one_line(tmp_path: Path) -> None:
    with dataset_lock(tmp_path, "digits", "v1"):
        with pytest.raises(StoreError, match=r"still holds .*\.v1\.lock after 0 s"):
            with dataset_lock(tmp_path, "digits", "v1", timeout=0.2):
                pass
    with dataset_lock(tmp_path, "digits", "v2", timeout=0.2):  # other versions are independent
        pass


def test_object_store_roots_skip_locking_with_a_note() -> None:
    from upath import UPath

    root = UPath("memory://bucket/modalbench")
    with dataset_lock(root, "digits", "v1") as note:
        assert note == remote_lock_note(root, "digits", "v1") and "takes no lock" in note
