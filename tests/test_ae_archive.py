"""Export files are created once and never overwritten (skills/adverse_events/archive.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from skills.adverse_events.archive import write_once


def test_the_same_export_twice_is_one_file(tmp_path: Path) -> None:
    first = write_once(tmp_path / "pv", "AE-20261207-0001.xml", "<case>皮疹</case>".encode())
    again = write_once(tmp_path / "pv", "AE-20261207-0001.xml", "<case>皮疹</case>".encode())
    assert first == again == tmp_path / "pv" / "AE-20261207-0001.xml"
    assert first.read_text("utf-8") == "<case>皮疹</case>"
    assert [path.name for path in (tmp_path / "pv").iterdir()] == ["AE-20261207-0001.xml"]


def test_a_conflicting_export_never_replaces_the_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    original = write_once(tmp_path, "AE-20261207-0001.json", b'{"event": "rash"}')
    twin = write_once(tmp_path, "AE-20261207-0001.json", b'{"event": "pancreatitis"}')
    assert original.read_bytes() == b'{"event": "rash"}'
    assert twin != original
    assert twin.name.startswith("AE-20261207-0001.conflict-") and twin.suffix == ".json"
    assert twin.read_bytes() == b'{"event": "pancreatitis"}'
    assert "holds another version" in caplog.text
    assert write_once(tmp_path, "AE-20261207-0001.json", b'{"event": "pancreatitis"}') == twin
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([original.name, twin.name])


def test_concurrent_writers_of_one_name_keep_every_version(tmp_path: Path) -> None:
    contents = [f'{{"writer": {n}}}'.encode() for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda content: write_once(tmp_path, "AE-1.json", content), contents))
    assert len(set(paths)) == 8  # one kept the name, the others got their own twins
    assert sorted(path.read_bytes() for path in paths) == sorted(contents)
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".partial")]


def test_an_unwritable_directory_is_an_os_error(tmp_path: Path) -> None:
    (tmp_path / "pv").write_text("a file where the directory should be")
    with pytest.raises(OSError):
        write_once(tmp_path / "pv", "AE-1.xml", b"<case/>")
