"""Reading a YAML file (a manifest or a vars file) into plain Python data, safely.

Only YAML's safe subset is accepted. Problems a user can fix are turned into one-line
`ManifestError`s with the line number ("manifest.yml: line 3: ..."), and keys written twice in one
mapping, which YAML silently resolves by keeping the last one, become warnings.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode

from yun.manifest.errors import ManifestError


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys instead of silently dropping one of them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if key_node.value in seen:
                self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def read_text(path: Path, *, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(source, "no such file") from None
    except IsADirectoryError:
        raise ManifestError(source, "is a folder, not a file") from None
    except UnicodeDecodeError:
        raise ManifestError(source, "is not UTF-8 text") from None
    except OSError as exc:
        raise ManifestError(source, f"cannot be read ({exc.strerror or exc})") from None


def parse_yaml(text: str, *, source: str, warnings: list[str]) -> object:
    """Parse one YAML document; duplicate keys are reported to `warnings`."""
    loader = _Loader(text)
    try:
        data: object = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "is not valid YAML"
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ManifestError(source, f"{where}{problem}") from None
    except yaml.YAMLError as exc:
        raise ManifestError(source, f"is not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    for line, key in loader.duplicates:
        warnings.append(f'{source}: line {line}: "{key}" is given twice; the last one wins')
    return data


def load_yaml(path: Path, *, source: str, warnings: list[str]) -> object:
    return parse_yaml(read_text(path, source=source), source=source, warnings=warnings)
