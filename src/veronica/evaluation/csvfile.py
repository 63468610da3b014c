"""Reading the evaluation CSVs: every problem becomes one clear ``BadInputError``."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from veronica.errors import BadInputError


def csv_records(csv_path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, row)`` with values stripped; the header must hold ``required``."""
    if not csv_path.is_file():
        raise BadInputError(f"{csv_path}: no such file")
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise BadInputError(
                    f"{csv_path}: header must contain {','.join(required)} "
                    f"(missing {','.join(missing)})"
                )
            for line, record in enumerate(reader, start=2):
                yield line, {k: (v or "").strip() for k, v in record.items() if k is not None}
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{csv_path}: not a UTF-8 text file") from exc
    except csv.Error as exc:
        raise BadInputError(f"{csv_path}: malformed CSV ({exc})") from exc
