"""write_files: all-or-nothing, stale files removed from owned folders, unchanged files left alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gatewayctl.render.output import MANIFEST, PRIVATE, PUBLIC, RenderedFile, write_files


def test_unchanged_files_are_not_rewritten_and_changed_ones_are(tmp_path: Path) -> None:
    files = [RenderedFile("kuma/a.yaml", b"a: 1\n"), RenderedFile("kuma/b.yaml", b"b: 1\n")]
    write_files(tmp_path, files, ["kuma"])
    inode_a, inode_b = (os.stat(tmp_path / "kuma" / n).st_ino for n in ("a.yaml", "b.yaml"))
    write_files(tmp_path, [files[0], RenderedFile("kuma/b.yaml", b"b: 2\n")], ["kuma"])
    assert os.stat(tmp_path / "kuma" / "a.yaml").st_ino == inode_a  # not even replaced by an identical copy
    assert os.stat(tmp_path / "kuma" / "b.yaml").st_ino != inode_b
    assert (tmp_path / "kuma" / "b.yaml").read_bytes() == b"b: 2\n"


def test_a_mode_change_alone_rewrites_the_file(tmp_path: Path) -> None:
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"x: 1\n", PUBLIC)], ["kong"])
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"x: 1\n", PRIVATE)], ["kong"])
    assert (tmp_path / "kong" / "kong.yaml").stat().st_mode & 0o777 == PRIVATE


def test_stale_rendered_files_go_and_foreign_files_stay(tmp_path: Path) -> None:
    write_files(tmp_path, [RenderedFile("kuma/k8s/a.yaml", b"a\n"), RenderedFile("kuma/k8s/b.yaml", b"b\n")], ["kuma"])
    (tmp_path / "kuma" / "README.md").write_text("mine")
    (tmp_path / "kuma" / "k8s" / "hand-written.yaml").write_text("kind: Mesh\n")  # in an owned folder, not ours
    (tmp_path / "other.yaml").write_text("not in an owned folder")
    write_files(tmp_path, [RenderedFile("kuma/k8s/a.yaml", b"a\n")], ["kuma"])
    files = sorted(p.name for p in (tmp_path / "kuma").rglob("*") if p.is_file())
    assert files == ["README.md", "a.yaml", "hand-written.yaml"]
    assert (tmp_path / "other.yaml").exists()
    assert (tmp_path / MANIFEST).read_text().splitlines()[1:] == ["kuma/k8s/a.yaml"]


def test_a_folder_rendered_without_a_manifest_loses_nothing(tmp_path: Path) -> None:
    # `render --out .` in a repository whose own kong/ folder holds a compose file and kong.conf
    (tmp_path / "kong").mkdir()
    (tmp_path / "kong" / "docker-compose.yaml").write_text("services: {}\n")
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"x: 1\n")], ["kong"])
    assert sorted(p.name for p in (tmp_path / "kong").iterdir()) == ["docker-compose.yaml", "kong.yaml"]


def test_rendering_one_target_keeps_the_record_of_the_others(tmp_path: Path) -> None:
    both = [RenderedFile("kong/kong.yaml", b"x: 1\n"), RenderedFile("kuma/old.yaml", b"m\n")]
    write_files(tmp_path, both, ["kong", "kuma"])
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"x: 2\n")], ["kong"])  # kuma/ is not this render's
    assert (tmp_path / "kuma" / "old.yaml").exists()
    write_files(tmp_path, [RenderedFile("kuma/new.yaml", b"m\n")], ["kuma"])  # old.yaml is still known as ours
    assert sorted(p.name for p in (tmp_path / "kuma").iterdir()) == ["new.yaml"]
    assert (tmp_path / "kong" / "kong.yaml").read_bytes() == b"x: 2\n"


def test_a_manifest_line_outside_the_folder_is_not_followed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "kong").mkdir()
    (tmp_path / "kong" / "precious.yaml").write_text("keep\n")
    write_files(out, [RenderedFile("kong/kong.yaml", b"x: 1\n")], ["kong"])
    with (out / MANIFEST).open("a") as manifest:
        manifest.write("kong/../../kong/precious.yaml\n/etc/hostname\n")
    write_files(out, [RenderedFile("kong/kong.yaml", b"x: 1\n")], ["kong"])
    assert (tmp_path / "kong" / "precious.yaml").read_text() == "keep\n"


def test_a_failure_part_way_leaves_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_files(tmp_path, [RenderedFile("kong/a.yaml", b"old a\n"), RenderedFile("kong/b.yaml", b"old b\n")], ["kong"])
    real_write = os.write
    calls = 0

    def failing_write(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(OSError):
        write_files(
            tmp_path, [RenderedFile("kong/a.yaml", b"new a\n"), RenderedFile("kong/b.yaml", b"new b\n")], ["kong"]
        )
    assert (tmp_path / "kong" / "a.yaml").read_bytes() == b"old a\n"
    assert (tmp_path / "kong" / "b.yaml").read_bytes() == b"old b\n"
    assert sorted(p.name for p in (tmp_path / "kong").iterdir()) == ["a.yaml", "b.yaml"]  # no temp files left


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".gatewayctl-*"))


def test_a_file_where_an_output_folder_goes_fails_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "kuma").write_text("a file, not a folder\n")
    files = [RenderedFile("kong/kong.yaml", b"secret: 1\n", PRIVATE), RenderedFile("kuma/k8s/mesh.yaml", b"m\n")]
    with pytest.raises(NotADirectoryError) as exc:
        write_files(tmp_path, files, ["kong", "kuma"])
    assert exc.value.filename == str(tmp_path / "kuma")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kuma"]  # no kong/ and no staging folder


def test_a_folder_where_an_output_file_goes_fails_before_anything_is_written(tmp_path: Path) -> None:
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"old\n"), RenderedFile("kuma/a.yaml", b"old\n")], ["kuma"])
    (tmp_path / "kong" / "kong.yaml").unlink()
    (tmp_path / "kong" / "kong.yaml").mkdir()
    files = [RenderedFile("kuma/a.yaml", b"new\n"), RenderedFile("kong/kong.yaml", b"secret: 1\n", PRIVATE)]
    with pytest.raises(IsADirectoryError) as exc:
        write_files(tmp_path, files, ["kong", "kuma"])
    assert exc.value.filename == str(tmp_path / "kong" / "kong.yaml")
    assert (tmp_path / "kuma" / "a.yaml").read_bytes() == b"old\n"
    assert _leftovers(tmp_path) == []


def test_a_failure_while_moving_into_place_leaves_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"old\n")], ["kong"])

    def failing_rename(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error", dst)

    monkeypatch.setattr(os, "replace", failing_rename)
    monkeypatch.setattr(os, "rename", failing_rename)
    files = [RenderedFile("kong/kong.yaml", b"secret: 1\n", PRIVATE), RenderedFile("kuma/k8s/mesh.yaml", b"m\n")]
    with pytest.raises(OSError, match="Input/output error"):
        write_files(tmp_path, files, ["kong", "kuma"])
    assert (tmp_path / "kong" / "kong.yaml").read_bytes() == b"old\n"
    assert _leftovers(tmp_path) == []
    assert not (tmp_path / "kuma").exists()


def test_inputs_in_an_owned_folder_are_never_removed(tmp_path: Path) -> None:
    write_files(
        tmp_path, [RenderedFile("kong/catalog.yaml", b"x: 0\n"), RenderedFile("kong/old.yaml", b"x\n")], ["kong"]
    )
    (tmp_path / "kong" / "catalog.yaml").write_text("format: 1\n")  # an earlier render's file, now the catalog
    inputs = [tmp_path / "kong" / ".." / "kong" / "catalog.yaml"]  # any spelling of the path
    write_files(tmp_path, [RenderedFile("kong/kong.yaml", b"x: 1\n")], ["kong"], inputs)
    assert sorted(p.name for p in (tmp_path / "kong").iterdir()) == ["catalog.yaml", "kong.yaml"]
