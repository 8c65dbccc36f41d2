"""A config's text: the YAML file (safe, no duplicate keys, bounded nesting) and ``--set KEY=VALUE`` overrides,
read into plain data for :func:`syft_fl.config.load_config` to validate."""
from typing import Any, Dict, List, Tuple

import yaml

from .errors import ConfigError, one_line, short
from .files import MIB, FileRefused, read_bounded

MAX_CONFIG_BYTES = 1 * MIB  # a config is a few kB


def parse_override(text: str) -> Tuple[List[str], Any]:
    """``"channel.fading=rician"`` -> (["channel", "fading"], "rician"); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set {short(text)} is not key=value")
    key, _, value = text.partition("=")
    path = key.strip().split(".")
    if not all(path):
        raise ConfigError(f"--set {short(text)} has an empty key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return path, parsed


def set_path(raw: Dict[str, Any], path: List[str], value: Any) -> None:
    node = raw
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(one_line(f"--set {'.'.join(path)}: {'.'.join(path[: i + 1])} is not a section"))
        node = child
    node[path[-1]] = value


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a mapping giving the same key twice is an error (PyYAML keeps the last
    silently: two strategies of the same name would become one), and so is nesting deeper than ``MAX_DEPTH``
    (PyYAML's scanner is quadratic in the depth: 1,500 nested lists take it 9 s to reach Python's recursion limit).
    """

    MAX_DEPTH = 64
    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= self.MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested too deeply (more than {self.MAX_DEPTH} levels)",
                                              self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"key {short(key)} given twice",
                                                        key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read_yaml(source: str) -> Any:
    """The YAML document at ``source`` as plain data; ConfigError (one line) if unreadable, not a regular file,
    larger than :data:`MAX_CONFIG_BYTES`, not UTF-8, not YAML, nested too deeply, or giving a key twice."""
    try:
        data = read_bounded(source, "--config", MAX_CONFIG_BYTES)
    except FileRefused as err:
        raise ConfigError(str(err)) from None
    except OSError as err:
        raise ConfigError(f"--config {short(source)}: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"--config {short(source)} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset "
                          f"{err.start})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None)
        reason = f": {one_line(problem, 120)}" if problem else ""
        raise ConfigError(f"--config {short(source)}: not valid YAML{where}{reason}") from None
    except RecursionError:
        raise ConfigError(f"--config {short(source)}: nested too deeply") from None
