"""README's Python tour runs as written, and its commands match .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_python_tour_runs_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no Python tour"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "pensia" in out and "burkholz" in out


def test_ci_runs_the_readme_commands():
    install, tests = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)[:2]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in ci and tests in ci
