"""The JSON report (schema ``mailspec-report/1``), written atomically and as it goes.

A run of thousands of domains has hundreds of thousands of results: they are encoded one at a time
(``data["results"]`` may be any iterable), so the report is never held whole in memory as text.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["write_report"]


def write_report(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    results: Iterable[Any] = data.get("results", ())
    head = {k: v for k, v in data.items() if k != "results"}
    with tmp.open("w", encoding="utf-8") as f:
        text = json.dumps(head, indent=2, ensure_ascii=False)
        f.write(text[: -len("\n}")] + (",\n" if head else "\n") + '  "results": [')
        for i, result in enumerate(results):
            entry = textwrap.indent(json.dumps(result, indent=2, ensure_ascii=False), "    ")
            f.write(("," if i else "") + "\n" + entry)
        f.write("\n  ]\n}\n")
    os.replace(tmp, path)
