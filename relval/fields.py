"""Read untyped YAML/JSON data into typed values while collecting every problem.

Stack config and campaign files are both nested mappings written by people.
`Field` walks them with a path, so each problem names the exact key
(`relval:workers.min`, `stages[2].after`), and nothing stops at the first
error: the caller gets the whole list and reports it in one go.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

MISSING = object()


@dataclass
class Problems:
    """Accumulates messages; `render` formats a (path, message) pair."""

    render: Callable[[str, str], str]
    messages: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.messages.append(self.render(path, message))

    def __bool__(self) -> bool:
        return bool(self.messages)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


class Field:
    """A value at a path inside a document; reading never raises, it records."""

    def __init__(self, value: Any, path: str, problems: Problems, sep: str = "."):
        self.value = value
        self.path = path
        self.problems = problems
        self.sep = sep

    # navigation -------------------------------------------------------
    def child_path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}{self.sep}{key}" if self.path else key

    def __getitem__(self, key: str) -> "Field":
        value = self.value.get(key, MISSING) if isinstance(self.value, dict) else MISSING
        return Field(value, self.child_path(key), self.problems, ".")

    def error(self, message: str) -> None:
        self.problems.add(self.path, message)

    @property
    def present(self) -> bool:
        return self.value is not MISSING and self.value is not None

    # scalar readers ---------------------------------------------------
    def _get(self, required: bool, default: Any) -> Any:
        if not self.present:
            if required:
                self.error("is required")
            return default
        return self.value

    def string(self, required: bool = False, default: str | None = None,
               choices: Iterable[str] | None = None, non_empty: bool = True) -> str | None:
        value = self._get(required, default)
        if value is default:
            return value
        if not isinstance(value, str):
            self.error(f"must be a string (got {_type_name(value)})")
            return default
        if non_empty and not value.strip():
            self.error("must not be empty")
            return default
        if choices is not None and value not in choices:
            self.error(f"must be one of {', '.join(sorted(choices))} (got {value!r})")
            return default
        return value

    def integer(self, required: bool = False, default: int | None = None,
                minimum: int | None = None, maximum: int | None = None) -> int | None:
        value = self._get(required, default)
        if value is default:
            return value
        # Pulumi hands numbers through as floats or strings; accept whole ones.
        if isinstance(value, str):
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(f"must be a whole number (got {_show(value)})")
            return default
        if minimum is not None and value < minimum:
            self.error(f"must be >= {minimum} (got {value})")
            return default
        if maximum is not None and value > maximum:
            self.error(f"must be <= {maximum} (got {value})")
            return default
        return value

    def number(self, required: bool = False, default: float | None = None,
               minimum: float | None = None, maximum: float | None = None) -> float | None:
        value = self._get(required, default)
        if value is default:
            return value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(f"must be a number (got {_show(value)})")
            return default
        if minimum is not None and value < minimum:
            self.error(f"must be >= {minimum} (got {value})")
            return default
        if maximum is not None and value > maximum:
            self.error(f"must be <= {maximum} (got {value})")
            return default
        return float(value)

    def boolean(self, required: bool = False, default: bool | None = None) -> bool | None:
        value = self._get(required, default)
        if value is default:
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.error(f"must be true or false (got {_show(value)})")
            return default
        return value

    # containers -------------------------------------------------------
    def items(self, required: bool = False) -> list["Field"]:
        """The elements of a list, each as a Field; [] when absent or wrong."""
        value = self._get(required, None)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(f"must be a list (got {_type_name(value)})")
            return []
        return [Field(v, self.child_path(i), self.problems) for i, v in enumerate(value)]

    def mapping(self, required: bool = False, allowed: Iterable[str] | None = None) -> bool:
        """Check this is a mapping (and only known keys); False if absent or wrong."""
        value = self._get(required, None)
        if value is None:
            return False
        if not isinstance(value, dict):
            self.error(f"must be a mapping (got {_type_name(value)})")
            self.value = MISSING
            return False
        if allowed is not None:
            self.reject_unknown(allowed)
        return True

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in self.value:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.problems.add(self.child_path(str(key)), f"is not a known key{suffix}")

    def keys(self) -> list[str]:
        return list(self.value) if isinstance(self.value, dict) else []


def load_yaml(path, what: str, label: str | None = None) -> Any:
    """Parse a YAML file written by a person; every failure is one clear RelvalError.

    `what` names the kind of file in messages ("campaign file"); `label` is how the
    file is named in them (default: the path as given).
    """
    import yaml

    from relval.errors import RelvalError

    label = str(path) if label is None else label
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise RelvalError(f"{label}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RelvalError(f"{label}: cannot read {what} ({getattr(error, 'strerror', None) or error})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RelvalError(f"{label}: not valid YAML{where}: {problem}") from None
