"""The subset of SLS query syntax template.yml uses, evaluated over indexed log entries.

A query is ``search [| analytics]`` (https://www.alibabacloud.com/help/en/sls/user-guide/search-syntax).
The search part supported here:

- ``*``: every entry;
- ``key: token`` — the key's text value holds that token; ``key: "a phrase"`` — the tokens in that
  order, next to each other. Values are split on the key's delimiters, and compared without case
  unless the key is case-sensitive (https://www.alibabacloud.com/help/en/sls/user-guide/data-types);
- ``not``, ``and``, ``or`` (any case) and parentheses; ``not`` binds tighter than ``and``, ``and``
  tighter than ``or``.

A key the index does not have is an error, as SLS refuses a search on a field with no index. Not
supported (``QueryError``): implicit ``and``, wildcards, numeric ranges, full-text terms.

The analytics part supported: ``select count(*) as NAME`` (or ``count(1)``): one row.
An alert's condition (SLS alerts 1.0, ``Configuration.Condition``): ``NAME OP NUMBER`` with OP one
of ``> >= < <= == !=``; it holds when a row satisfies it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from devkit.sls.logstore import TEXT, Index

_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"|([^\s():"]+)|(:))')
_COUNT = re.compile(r"^\s*select\s+count\(\s*(?:\*|1)\s*\)\s+as\s+(\w+)\s*$", re.IGNORECASE)
_CONDITION = re.compile(r"^\s*(\w+)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

Fields = Mapping[str, "str | float"]
Matcher = Callable[[Fields], bool]


class QueryError(ValueError):
    """The query is outside the supported subset, or names a field the index does not have."""


@dataclass(frozen=True)
class Query:
    """A parsed query: the search part as a predicate, and the count column's name if any."""

    text: str
    matches: Matcher
    count_as: str | None

    def select(self, entries: Iterable[Mapping[str, str]], index: Index) -> list[Mapping[str, str]]:
        """The entries the search part selects."""
        return [e for e in entries if self.matches(index.fields(e))]

    def rows(self, entries: Iterable[Mapping[str, str]], index: Index) -> list[dict[str, float]]:
        """The analytics result: one row ``{count_as: n}``; ``QueryError`` without an analytics part."""
        if self.count_as is None:
            raise QueryError(f"{self.text!r} has no analytics part")
        return [{self.count_as: float(len(self.select(entries, index)))}]


def parse(text: str, index: Index) -> Query:
    """Parse ``text`` against ``index``; ``QueryError`` names what is not supported."""
    search, bar, analytics = text.partition("|")
    count_as = None
    if bar:
        found = _COUNT.match(analytics)
        if found is None:
            raise QueryError(f"analytics {analytics.strip()!r}: only 'select count(*) as NAME' is supported")
        count_as = found.group(1)
    parser = _Parser(_tokens(search), index)
    matcher = parser.disjunction()
    if parser.pos != len(parser.tokens):
        raise QueryError(f"{search.strip()!r}: unexpected {parser.tokens[parser.pos][1]!r}")
    return Query(text, matcher, count_as)


def condition_holds(condition: str, rows: Sequence[Mapping[str, float]]) -> bool:
    """Whether an alert's ``NAME OP NUMBER`` condition holds for a row of the result."""
    found = _CONDITION.match(condition)
    if found is None:
        raise QueryError(f"condition {condition!r}: only 'NAME OP NUMBER' is supported")
    name, op, number = found.group(1), _OPERATORS[found.group(2)], float(found.group(3))
    for row in rows:
        if name not in row:
            raise QueryError(f"condition {condition!r}: the result has no column {name!r}")
    return any(op(row[name], number) for row in rows)


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: kind is ``(``, ``)``, ``:``, ``phrase`` or ``word``."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        found = _TOKEN.match(text, pos)
        if found is None:
            raise QueryError(f"{text!r}: cannot read from {text[pos:]!r}")
        opening, closing, phrase, word, colon = found.groups()
        if opening:
            out.append(("(", opening))
        elif closing:
            out.append((")", closing))
        elif phrase is not None:
            out.append(("phrase", phrase))
        elif word:
            out.append(("word", word))
        else:
            out.append((":", colon))
        pos = found.end()
    return out


def _split(value: str, delimiter: str, case_sensitive: bool) -> list[str]:
    text = value if case_sensitive else value.lower()
    tokens: list[str] = []
    current: list[str] = []
    for char in text:
        if char in delimiter:
            if current:
                tokens.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], index: Index) -> None:
        self.tokens = tokens
        self.index = index
        self.pos = 0

    def _peek_word(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word":
            return self.tokens[self.pos][1].lower()
        return None

    def _take(self, kind: str) -> str:
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != kind:
            got = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "the end"
            raise QueryError(f"expected {kind!r}, got {got!r}")
        self.pos += 1
        return self.tokens[self.pos - 1][1]

    def disjunction(self) -> Matcher:
        parts = [self.conjunction()]
        while self._peek_word() == "or":
            self.pos += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda f: any(p(f) for p in parts)

    def conjunction(self) -> Matcher:
        parts = [self.negation()]
        while self._peek_word() == "and":
            self.pos += 1
            parts.append(self.negation())
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] != ")" and self._peek_word() != "or":
            raise QueryError(f"{self.tokens[self.pos][1]!r}: join terms with 'and' or 'or'")
        return parts[0] if len(parts) == 1 else lambda f: all(p(f) for p in parts)

    def negation(self) -> Matcher:
        if self._peek_word() == "not":
            self.pos += 1
            inner = self.negation()
            return lambda f: not inner(f)
        return self.atom()

    def atom(self) -> Matcher:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "(":
            self.pos += 1
            inner = self.disjunction()
            self._take(")")
            return inner
        name = self._take("word")
        if name == "*":
            return lambda f: True
        self._take(":")
        kind, value = self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")
        if kind not in ("word", "phrase"):
            raise QueryError(f"{name}: a value must follow ':'")
        self.pos += 1
        return self._term(name, value)

    def _term(self, name: str, value: str) -> Matcher:
        key = self.index.keys.get(name)
        if key is None:
            raise QueryError(f"{name}: the index has no such key (SLS refuses the search)")
        if key.type != TEXT:
            raise QueryError(f"{name}: only text keys are searched here (it is {key.type})")
        if "*" in value or "?" in value:
            raise QueryError(f"{name}: {value!r}: wildcards are not supported")
        wanted = _split(value, key.delimiter, key.case_sensitive)
        if not wanted:
            raise QueryError(f"{name}: {value!r} holds no token")

        def matches(fields: Fields) -> bool:
            held = fields.get(name)
            if not isinstance(held, str):
                return False
            tokens = _split(held, key.delimiter, key.case_sensitive)
            width = len(wanted)
            return any(tokens[i : i + width] == wanted for i in range(len(tokens) - width + 1))

        return matches
