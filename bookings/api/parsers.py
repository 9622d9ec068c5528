"""The API's JSON parser: strict about what JSON itself lets through silently."""

import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from bookings.domain.errors import DomainError, FieldError

NUL = "\x00"
# Far beyond any amount or count, and short of the interpreter's own limit (4300 digits).
MAX_NUMBER_DIGITS = 100


def contains_nul(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


class _Duplicates(dict):
    """A JSON object that had a key more than once (`keys_twice`: those keys, in order)."""

    keys_twice: list[str]


def _pairs(pairs):
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen, twice = set(), []
    for key, _ in pairs:
        if key in seen and key not in twice:
            twice.append(key)
        seen.add(key)
    marked = _Duplicates(obj)
    marked.keys_twice = twice
    return marked


def _duplicate_paths(value, path: str = "") -> list[str]:
    found = []
    if isinstance(value, dict):
        for key in getattr(value, "keys_twice", ()):
            found.append(f"{path}.{key}" if path else key)
        for key, item in value.items():
            found += _duplicate_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _duplicate_paths(item, f"{path}[{i}]")
    return found


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text} is too large")
    return number


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number has more than {MAX_NUMBER_DIGITS} digits")
    return int(text)


def _constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class TextJSONParser(JSONParser):
    """JSON whose strings PostgreSQL can store and whose meaning is unambiguous: NUL
    (\\u0000), numbers too large for a float or with more than MAX_NUMBER_DIGITS digits, NaN
    and Infinity are parse errors; a key given twice in one object (JSON parsers disagree on
    which one wins) is a 400 naming its path."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        duplicates = False

        def pairs(items):
            nonlocal duplicates
            obj = _pairs(items)
            duplicates = duplicates or isinstance(obj, _Duplicates)
            return obj

        try:
            data = json.loads(
                stream.read().decode(encoding),
                object_pairs_hook=pairs,
                parse_float=_finite,
                parse_int=_bounded_int,
                parse_constant=_constant,
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if duplicates:
            raise DomainError(
                "The request is not valid.",
                code="duplicate-key",
                errors=[
                    FieldError(path, "is given more than once in one JSON object")
                    for path in _duplicate_paths(data)
                ],
            )
        if contains_nul(data):
            raise ParseError("JSON strings may not contain the NUL character (\\u0000).")
        return data
