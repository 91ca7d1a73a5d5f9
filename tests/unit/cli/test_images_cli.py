"""`kokpit images build|list`: build into a cache directory, list one reference a line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kokpit.cli.main import app
from kokpit.controlplane.images import ImageError


def fake_static_elf() -> bytes:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    return bytes(header) + b"busybox"


def test_build_then_list(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(fake_static_elf())
    cache = tmp_path / "images"
    runner = CliRunner()
    assert runner.invoke(app, ["images", "list", "--dir", str(cache)]).output == ""
    built = runner.invoke(app, ["images", "build", "--dir", str(cache), "--busybox", str(busybox)])
    assert built.exit_code == 0, built.output
    lines = [line.split() for line in built.output.splitlines()]
    assert [line[0] for line in lines] == ["kokpit.local/pause:3.10", "kokpit.local/web:1.0"]
    assert all(line[1].startswith("sha256:") and Path(line[2]).is_file() for line in lines)
    listed = runner.invoke(app, ["images", "list", "--dir", str(cache)])
    assert listed.output == "kokpit.local/pause:3.10\nkokpit.local/web:1.0\n"


def test_a_dynamic_busybox_is_refused_naming_the_package(tmp_path: Path) -> None:
    script = tmp_path / "busybox"
    script.write_text("#!/bin/sh\n")
    result = CliRunner().invoke(app, ["images", "build", "--dir", str(tmp_path), "--busybox", str(script)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ImageError)  # run_app prints it as one line
    assert "busybox-static" in str(result.exception)
