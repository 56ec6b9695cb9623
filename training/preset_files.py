"""Named presets are TOML files in `training/presets/<kind>/NAME.toml`; users may pass a path instead."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from mujo_edge.errors import DataNotFoundError, LayoutError, UnknownNameError


def _folder(kind: str) -> Any:
    return resources.files("mujo_edge.training") / "presets" / kind


def available(kind: str) -> list[str]:
    """Names of the packaged presets of one kind ("models", "pretrain")."""
    return sorted(p.name[:-5] for p in _folder(kind).iterdir() if p.name.endswith(".toml"))


def read_preset(kind: str, name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    """The parsed TOML of a packaged preset or a file, and a description of where it came from (for errors)."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise DataNotFoundError(f"{kind} preset file not found", path=path)
        raw, where = path.read_bytes(), str(path)
    else:
        resource = _folder(kind) / f"{text}.toml"
        if not resource.is_file():
            raise UnknownNameError(f"{kind} preset", text, available(kind))
        raw, where = resource.read_bytes(), f"{kind} preset '{text}' ({resource})"
    try:
        return tomllib.loads(raw.decode("utf-8")), where
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        line = re.search(r"line (\d+)", str(e))
        raise LayoutError(f"not valid TOML: {e}", path=where, line=int(line.group(1)) if line else None) from e
