"""``governance-roadmap``: JSON output, exit codes and plain error messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from governance.proposals import cli
from governance.proposals.render import MAX_SOURCE_BYTES
from tests.proposals.roadmap_support import DATA

V1_PATH = str(DATA / "v1-2024-04-29.md")
V2_PATH = str(DATA / "v2-2024-05-11.md")


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path and return its path as a string."""

    def _write(name: str, content: str | bytes) -> str:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    return _write


def run(capsys, *args: str) -> tuple[int, dict | str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


def test_real_rewrite_is_a_revision(capsys):
    code, report, err = run(capsys, "classify", V1_PATH, V2_PATH)
    assert code == 1 and err == ""
    assert report["kind"] == "revision" and report["unchanged"] is False
    removed = {(b["start_line"], b["text"]) for b in report["removed"]}
    assert (37, "Stabilization") in removed
    (independent,) = [c for c in report["changed"] if c["old"]["start_line"] == 31]
    assert independent["how"] == "reworded"
    assert independent["old"]["heading_path"][-2:] == ["Goals", "Independent"]
    assert independent["new"]["start_line"] == 31
    assert report["moved"][0]["old"]["heading_path"][-1] == "Alignment"
    assert all({"start_line", "end_line", "heading_path"} <= set(b) for b in report["inserted"])
    assert report["old"]["path"] == V1_PATH and len(report["old"]["sha256"]) == 64


def test_detail_exits_0(capsys, write):
    old = write("old.md", "# Plan\n\n- one\n")
    new = write("new.md", "# Plan\n\n- one\n- two\n")
    code, report, _ = run(capsys, "classify", old, new)
    assert code == 0
    assert report["kind"] == "detail"
    assert report["removed"] == report["changed"] == report["moved"] == []
    assert report["inserted"][0] | {"index": None} == {
        "index": None,
        "kind": "list_item",
        "marker": "-",
        "text": "two",
        "start_line": 4,
        "end_line": 4,
        "heading_path": ["Plan"],
    }


def test_unchanged_exits_0_and_says_so(capsys, write):
    old = write("old.md", "# Plan\n\nText.\n")
    new = write("new.md", "# Plan\r\n\r\nText.   \r\n")
    code, report, _ = run(capsys, "classify", old, new)
    assert code == 0
    assert report["kind"] == "unchanged" and report["unchanged"] is True
    assert report["summary"].startswith("Unchanged")


def test_byte_order_mark_is_ignored(capsys, write):
    old = write("old.md", "# Plan\n")
    new = write("new.md", "\ufeff# Plan\n".encode())
    assert run(capsys, "classify", old, new)[1]["kind"] == "unchanged"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        (b"\xff\xfe\x00", "not valid UTF-8"),
        (b"", "empty"),
        (b"a\x00b", "NUL"),
        (b"x" * (MAX_SOURCE_BYTES + 1), "limit"),
        ("dir", "is a directory"),
    ],
    ids=["missing", "not-utf8", "empty", "nul", "too-large", "directory"],
)
def test_unusable_input_exits_2_without_traceback(capsys, write, tmp_path, content, fragment):
    good = write("good.md", "# Plan\n")
    if content is None:
        bad = str(tmp_path / "missing.md")
    elif content == "dir":
        (tmp_path / "adir").mkdir()
        bad = str(tmp_path / "adir")
    else:
        bad = write("bad.md", content)
    for args in (("classify", good, bad), ("classify", bad, good), ("diff", bad, good)):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == ""
        assert err.startswith("governance-roadmap: error: ") and fragment in err
        assert bad in err and "Traceback" not in err


def test_unreadable_file_exits_2(capsys, write, monkeypatch):
    path = write("locked.md", "# Plan\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cli, "open", refuse, raising=False)  # shadows the builtin in cli only
    code, _, err = run(capsys, "classify", path, path)
    assert code == 2 and "cannot be read (Permission denied)" in err


def test_internal_error_exits_3(capsys, write, monkeypatch):
    path = write("a.md", "# Plan\n")

    def boom(old, new):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(cli, "classify", boom)
    code, _, err = run(capsys, "classify", path, path)
    assert code == 3 and "internal error: RuntimeError: unexpected" in err and "Traceback" not in err


def test_stdin_can_be_one_file(capsys, write, monkeypatch):
    old = write("old.md", "# Plan\n")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"# Plan\n\nMore.\n")))
    code, report, _ = run(capsys, "classify", old, "-")
    assert code == 0 and report["kind"] == "detail" and report["new"]["path"] == "-"


def test_diff_prints_html(capsys):
    code, out, err = run(capsys, "diff", V1_PATH, V2_PATH, "--context", "1")
    assert code == 0 and err == ""
    assert out.startswith('<div class="roadmap-diff">') and "diff-block-skipped" in out


def test_diff_rejects_negative_context(capsys):
    code, _, err = run(capsys, "diff", V1_PATH, V2_PATH, "--context", "-1")
    assert code == 2 and "--context" in err


def test_help_describes_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["classify", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "OLD.md" in out and "NEW.md" in out
    assert "0 detail or unchanged, 1 revision, 2 unusable input" in " ".join(out.split())


def test_missing_arguments_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["classify", V1_PATH])
    assert info.value.code == 2
    assert "usage: governance-roadmap classify" in capsys.readouterr().err


def test_reader_closing_the_pipe_early_keeps_the_exit_status(write):
    old = write("old.md", "\n\n".join(f"Paragraph number {n}." for n in range(2000)))
    new = write("new.md", "\n\n".join(f"Paragraph {n} reworded." for n in range(2000)))
    process = subprocess.Popen(
        [sys.executable, "-m", "governance.proposals.cli", "classify", old, new],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=DATA.parents[2],
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10)  # the output is far larger than a pipe buffer
    process.stdout.close()
    assert process.wait(timeout=60) == 1
    assert process.stderr.read() == b""
    process.stderr.close()
