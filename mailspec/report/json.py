"""The JSON report (schema ``mailspec-report/1``), written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_report"]


def write_report(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
