"""Reading the project's YAML data files (registry, limits, rules, directories, holidays) one way.

libyaml's safe loader when it is installed (≈10× faster on the county registry), else PyYAML's. Every
failure is raised as the caller's own error type with the file named, so a person sees which file is
wrong: ``registry.yaml: not valid YAML: …``, ``/etc/envmon/rules.yaml: no such rules file``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, error: type[Exception], name: str) -> Any:
    """Parse YAML ``text``; a syntax error becomes ``error("<name>: not valid YAML: …")``."""
    try:
        return yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError as exc:
        raise error(f"{name}: not valid YAML: {exc}") from None


def read_yaml(path: str | Path, error: type[Exception], what: str, *, name: str | None = None) -> Any:
    """Read and parse the YAML file ``path`` (UTF-8). ``what`` names the kind of file in the
    missing-file message; ``name`` (default: the path) is how the file is named in syntax errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    return parse_yaml(text, error, name or str(path))
