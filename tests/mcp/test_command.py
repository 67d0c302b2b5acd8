"""The ``loci mcp`` command itself: lazy, guarded, and clear when the extra is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loci.cli.main import main
from loci.cli.mcp_cmd import auto_run, mcp
from loci.config import load_settings
from loci.protected import in_credential_store


def test_loci_help_imports_no_mcp() -> None:
    code = (
        "import sys\nfrom loci.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m in ('mcp', 'loci.mcp')"
        " or m.startswith(('mcp.', 'loci.mcp.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "mcp" in out.stdout.split("Other commands:", 1)[1]  # the epilog names it
    assert out.stdout.strip().endswith("[]")


def test_a_missing_extra_is_one_line_naming_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mcp.server.mcpserver", None)  # as if not installed
    with pytest.raises(SystemExit) as exit_:
        main(["mcp"])
    assert exit_.value.code == 3
    err = capsys.readouterr().err
    assert err == "loci: error: loci mcp needs the 'mcp' package: pip install 'loci[mcp]'\n"


def test_http_elsewhere_needs_a_token_and_resume_is_for_stdio() -> None:
    elsewhere = CliRunner().invoke(mcp, ["--http", "--host", "0.0.0.0"])
    assert elsewhere.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without --token" in elsewhere.output
    resumed = CliRunner().invoke(mcp, ["--http", "--resume", "3"])
    assert resumed.exit_code == 2 and "--resume works over stdio" in resumed.output


def test_code_runs_unasked_unless_ask_or_the_config_says_no(loci_home: Path) -> None:
    settings = load_settings()
    assert auto_run(settings, ask=False)
    assert not auto_run(settings, ask=True)
    loci_home.mkdir(parents=True, exist_ok=True)
    settings.config_path.write_text("auto_run = false\n")
    assert not auto_run(settings, ask=False)


@pytest.mark.parametrize(
    ("path", "held"),
    [
        (".aws/credentials", True),
        ("proj/.ssh/id_ed25519", True),
        (".netrc", True),
        ("a/.config/gcloud/x.json", True),
        (".config/other", False),
        ("aws/credentials", False),
        ("data.csv", False),
    ],
)
def test_credential_stores_are_found_at_any_depth(path: str, held: bool) -> None:
    assert in_credential_store(Path(path).parts) is held


def test_python_dash_m_loci_is_the_loci_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loci", "mcp", "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    assert "Serve loci's kernels to other tools over MCP" in out.stdout
