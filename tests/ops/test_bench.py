"""Every benchmark script still starts: its imports resolve and ``--help`` answers.

The benchmarks are not run here (they are long and print figures, not verdicts), but a script
that no longer imports after a change elsewhere (a helper renamed in cast.py, say) is caught.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if "argparse" in p.read_text())


def test_the_benchmarks_are_found():
    assert {"cast.py", "crypto.py", "identity.py", "overload.py", "tally.py", "tally_cli.py", "verify.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_script_starts(script):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
