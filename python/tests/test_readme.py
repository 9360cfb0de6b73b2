"""The README's Python quickstart runs as pasted into a new file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("```python\nimport asyncio\n") + len("```python\n")
    end = text.index("```\n", start)
    script = tmp_path / "quickstart.py"
    script.write_text(text[start:end], encoding="utf-8")
    ran = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert "s3_upload disabled closed reset by hand" in ran.stdout
