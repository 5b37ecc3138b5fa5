"""vibmag.files.atomic_path: the new file replaces the old only when complete; nothing is left behind otherwise."""

import ast
import doctest
import sys
from pathlib import Path

import pytest

import vibmag.files
from vibmag.files import atomic_path


def test_success_replaces_the_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with atomic_path(path) as tmp:
        assert not tmp.exists() and path.read_bytes() == b"old"  # the old file stays until the block ends
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_success_creates_a_new_file(tmp_path):
    with atomic_path(str(tmp_path / "new.txt")) as tmp:
        tmp.write_text("made")
    assert (tmp_path / "new.txt").read_text() == "made"
    assert [p.name for p in tmp_path.iterdir()] == ["new.txt"]


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_an_exception_keeps_the_original_and_leaves_no_temporary(tmp_path, error):
    path = tmp_path / "keep.txt"
    path.write_text("original")
    with pytest.raises(error):
        with atomic_path(path) as tmp:
            tmp.write_text("half written")
            raise error("crash mid-write")
    assert path.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_an_exception_before_writing_anything(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "never.txt"):
            raise RuntimeError("nothing written")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_no_temporary(tmp_path):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    (folder / "inside").write_text("x")
    with pytest.raises(OSError):
        with atomic_path(folder) as tmp:  # a file cannot replace a non-empty folder
            tmp.write_text("file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_folder"] and (folder / "inside").read_text() == "x"


def test_the_temporary_path_is_hidden_beside_the_target(tmp_path):
    path = tmp_path / "sub" / "clip.mp4"
    path.parent.mkdir()
    with atomic_path(path, suffix=".partial.mp4") as tmp:
        assert tmp.parent == path.parent
        assert tmp.name.startswith(".clip.mp4.") and tmp.name.endswith(".partial.mp4")
        tmp.write_bytes(b"")
    with atomic_path(path) as first, atomic_path(path) as second:
        assert first != second and first.suffix == ".tmp"
        first.write_bytes(b"1")
        second.write_bytes(b"2")
    assert path.read_bytes() == b"1"  # the outer block ends last, so its file wins
    assert [p.name for p in path.parent.iterdir()] == ["clip.mp4"]


def test_the_example_runs():
    result = doctest.testmod(vibmag.files, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_it_imports_only_the_standard_library_and_vibmag_errors():
    tree = ast.parse(Path(vibmag.files.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("vibmag.errors" if node.level and node.module == "errors" else (node.module or "").split(".")[0])
    assert imported - {"vibmag.errors"} <= set(sys.stdlib_module_names), imported
