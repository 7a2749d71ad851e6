"""GitLab's `rules:if` expressions and `workflow:rules` variables, evaluated for tests.

gitlab-ci-local ignores the top-level `workflow:` block, so what a pipeline derives
there (which pipelines exist, the variables the first matching rule sets) is checked
with this small evaluator of the documented expression syntax: `$VAR` (set and
non-empty), `==`/`!=` against a quoted string or `null`, `=~`/`!~` against a /regex/,
`&&`, `||` (lower precedence) and parentheses.
"""

from __future__ import annotations

import re
from typing import Mapping

TOKEN = re.compile(r"""\s*(?:(?P<var>\$\w+|\$\{\w+\})|(?P<str>"[^"]*"|'[^']*')|(?P<re>/(?:\\/|[^/])*/i?)
                       |(?P<op>==|!=|=~|!~|&&|\|\||\(|\))|(?P<null>null))""", re.X)


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expression.rstrip()):
        match = TOKEN.match(expression, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot parse {expression!r} at {expression[pos:]!r}")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def evaluate(expression: str, env: Mapping[str, str]) -> bool:
    tokens = _tokens(expression)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else (None, None)

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def value_of(token):
        kind, text = token
        if kind == "var":
            return env.get(text.strip("${}")) or None
        if kind == "str":
            return text[1:-1]
        return None  # null

    def comparison():
        kind, text = take()
        if text == "(":
            result = disjunction()
            assert take()[1] == ")"
            return result
        left = value_of((kind, text))
        op = peek()[1]
        if op in ("==", "!="):
            take()
            right = value_of(take())
            return (left == right) if op == "==" else (left != right)
        if op in ("=~", "!~"):
            take()
            pattern = take()[1]
            flags = re.I if pattern.endswith("i") else 0
            found = left is not None and re.search(pattern.rstrip("i")[1:-1], left, flags)
            return bool(found) if op == "=~" else not found
        return bool(left)

    def conjunction():
        result = comparison()
        while peek()[1] == "&&":
            take()
            result = comparison() and result
        return result

    def disjunction():
        result = conjunction()
        while peek()[1] == "||":
            take()
            result = conjunction() or result
        return result

    result = disjunction()
    if pos != len(tokens):
        raise ValueError(f"trailing tokens in {expression!r}")
    return result


def expand(text: str, env: Mapping[str, str]) -> str:
    """GitLab's expansion of `$VAR` / `${VAR}` in a variable's value (unset: empty)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), text)


def first_matching_rule(rules: list[dict], env: Mapping[str, str]) -> dict | None:
    for rule in rules:
        if "if" not in rule or evaluate(rule["if"], env):
            return rule
    return None


def workflow_variables(ci: dict, env: Mapping[str, str]) -> dict[str, str] | None:
    """The pipeline's variables after `workflow:rules`, or None when no pipeline is created."""
    rule = first_matching_rule(ci["workflow"]["rules"], env)
    if rule is None or rule.get("when") == "never":
        return None
    merged = dict(env)
    for key, value in (rule.get("variables") or {}).items():
        merged[key] = expand(str(value), env)
    return merged
