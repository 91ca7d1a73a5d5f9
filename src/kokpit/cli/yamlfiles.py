"""YAML files given on the command line, and their errors as one line: `file.yaml:3:7: problem`.

PyYAML's errors span several lines (the problem, the context, a quoted excerpt with a caret); a
terminal and a script want one line that an editor can jump to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kokpit.errors import KokpitError


def yaml_error_line(error: yaml.YAMLError, *, path: Path | str | None = None) -> str:
    """`yaml_error_line` is `error` as `FILE:LINE:COLUMN: problem` (1-based, as editors count); pure.

    `path` names the file when the YAML was parsed from a string (PyYAML then only knows
    `<unicode string>`). Without a position, it is `FILE: first line of the message`.
    """
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    name = str(path) if path is not None else (getattr(mark, "name", None) or "<yaml>")
    if isinstance(error, yaml.MarkedYAMLError) and mark is not None:
        problem = error.problem or error.context or "invalid YAML"
        context = f" ({error.context})" if error.problem and error.context else ""
        return f"{name}:{mark.line + 1}:{mark.column + 1}: {problem}{context}"
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return f"{name}: {first}"


def read_documents(path: Path) -> list[Any]:
    """`read_documents` reads the non-empty YAML documents of `path`; any problem is one `KokpitError`."""
    try:
        text = path.read_text()
    except IsADirectoryError:
        raise KokpitError(f"cannot read {path}: it is a directory") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KokpitError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        return [document for document in yaml.safe_load_all(text) if document]
    except yaml.YAMLError as error:
        raise KokpitError(yaml_error_line(error, path=path)) from None
