"""ARN patterns, and whether two of them can name the same resource.

A pattern is a sequence of characters and wildcards of three kinds:
- ANY, IAM's `*` in a policy's Resource: any characters, none included;
- NAME, a `${Variable}` of an ARN format that may hold a path (PATH_VARIABLES): any characters except ":",
  which separates an ARN's fields and which no name here contains;
- SEGMENT, any other `${Variable}` of an ARN format (a bucket, a function, a state machine), and a value not
  known before deployment (a parameter, a pseudo parameter): any characters except ":" and "/", which
  separate the parts of a resource (a bucket from its objects). A resource that needs a "/" writes it.

Two patterns overlap when some string matches both. A statement's resource that overlaps no ARN format of
any resource type its action supports can name no resource the action acts on: it grants nothing.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Pattern", "Token", "Wild", "concat", "overlap", "pattern", "render"]

# The ARN format variables (of the reference, and of cfn_values.py's own formats) whose values may hold a "/".
PATH_VARIABLES = {"AlarmName", "LogGroupName", "LogStreamName", "ObjectName", "RepositoryName", "RoleNameWithPath"}


class Wild(Enum):
    ANY = "*"
    NAME = "${name}"
    SEGMENT = "${segment}"

    def fits(self, character: str) -> bool:
        return self is Wild.ANY or character not in (":" if self is Wild.NAME else ":/")


Token = str | Wild
Pattern = tuple[Token, ...]


def pattern(text: str) -> Pattern:
    """`${Variable}` is a NAME or a SEGMENT, `*` is ANY, every other character stands for itself."""
    tokens: list[Token] = []
    rest = text
    while rest:
        if rest.startswith("${"):
            variable, _, rest = rest[2:].partition("}")
            tokens.append(Wild.NAME if variable in PATH_VARIABLES else Wild.SEGMENT)
            continue
        if rest[0] == "?":
            raise ValueError(f"IAM's single-character wildcard is not modelled: {text}")
        tokens.append(Wild.ANY if rest[0] == "*" else rest[0])
        rest = rest[1:]
    return tuple(tokens)


def concat(*parts: Pattern) -> Pattern:
    return tuple(token for part in parts for token in part)


def render(value: Pattern) -> str:
    return "".join(token if isinstance(token, str) else token.value for token in value)


def _one_character_fits_both(a: Token, b: Token) -> bool:
    if isinstance(a, str):
        return a == b if isinstance(b, str) else b.fits(a)
    return a.fits(b) if isinstance(b, str) else True  # two wildcards share a letter


def overlap(a: Pattern, b: Pattern) -> bool:
    """Whether one string matches both: a search over pairs of positions, a wildcard staying put as it
    consumes a character and being left behind as it stops."""
    todo = [(0, 0)]
    seen: set[tuple[int, int]] = set()
    while todo:
        i, j = todo.pop()
        if (i, j) in seen:
            continue
        seen.add((i, j))
        if i == len(a) and j == len(b):
            return True
        x = a[i] if i < len(a) else None
        y = b[j] if j < len(b) else None
        if isinstance(x, Wild):
            todo.append((i + 1, j))
        if isinstance(y, Wild):
            todo.append((i, j + 1))
        if x is not None and y is not None and _one_character_fits_both(x, y):
            todo.append((i + isinstance(x, str), j + isinstance(y, str)))
    return False
