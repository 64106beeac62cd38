"""YAML for configuration files, bounded: nesting depth and the size once aliases are expanded.

PyYAML composes recursively (5,000 nested levels raise RecursionError), and an alias is one node
shared by every place that names it: a "billion laughs" document of a few hundred bytes stands
for billions of nodes once anything walks it as a tree (environment expansion, validation).
Both are measured on the composed nodes and refused before any Python object is built.

A key written twice in one mapping is refused too (YAML requires keys to be unique; PyYAML
would keep the last silently, so a second ``labels`` or ``token`` would quietly win).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 64  # a real configuration nests about 5 levels
MAX_NODES = 250_000  # nodes counting every alias expanded: ~10,000 targets
MAX_KEY_SHOWN = 64  # of a duplicate key, in a problem line
MERGE_TAG = "tag:yaml.org,2002:merge"  # ``<<``: its keys may be written again, and win


class YamlProblem(ValueError):
    """Why a document was refused, with the line and column when known."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents nested deeper than ``MAX_DEPTH``."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: type) -> None:
        # Refused while scanning: the scanner looks ahead for simple keys at every open
        # bracket, which is quadratic in the brackets still open.
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", self.get_mark()
            )
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == MERGE_TAG:
                continue
            if (key.tag, key.value) in seen:
                shown = key.value[:MAX_KEY_SHOWN]
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {shown!r}", key.start_mark
                )
            seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


def _measure(node: Node, seen: dict[int, tuple[int, int] | None]) -> tuple[int, int]:
    """(nodes, depth) of ``node`` with every alias expanded; each distinct node measured once.

    Aliases only name nodes composed earlier, so the walk meets them measured already, except
    an alias inside its own anchored node: a cycle, refused."""
    key = id(node)
    if key in seen:
        known = seen[key]
        if known is None:
            raise YamlProblem("an alias refers to a node that contains it")
        return known
    seen[key] = None
    children: list[Node] = []
    if isinstance(node, SequenceNode):
        children = node.value
    elif isinstance(node, MappingNode):
        children = [part for pair in node.value for part in pair]
    size, depth = 1, 1
    for child in children:
        child_size, child_depth = _measure(child, seen)
        size, depth = size + child_size, max(depth, child_depth + 1)
    if size > MAX_NODES:
        raise YamlProblem(f"more than {MAX_NODES} values once aliases are expanded")
    if depth > MAX_DEPTH:
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded")
    seen[key] = size, depth
    return size, depth


def _where(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


def load_yaml(text: str) -> Any:
    """Parse one YAML document into Python data; YamlProblem on anything refused."""
    loader = None
    try:
        loader = _BoundedLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, {})
        return loader.construct_document(node)
    except yaml.reader.ReaderError as err:
        raise YamlProblem(
            f"character #x{err.character:04x} at position {err.position} is not allowed in YAML"
            if isinstance(err.character, int)
            else "invalid YAML"
        ) from None
    except yaml.YAMLError as err:
        problem = str(getattr(err, "problem", None) or "invalid YAML")
        raise YamlProblem(f"{_where(err)}{problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
