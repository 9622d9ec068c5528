"""JSON and YAML both ways for the IVOA interface (DESIGN §7), and its problem answers.

The request's Content-Type picks the parser, its Accept header the output; when neither says,
we speak YAML (the IVOA clients' default). Problems are RFC 9457, in the format negotiated:
`application/problem+json`, or the same fields as `application/problem+yaml`.

Parsing is bounded, so one body cannot hold a worker for long: at most MAX_BODY_BYTES, YAML
composed from libyaml's events with at most MAX_NODES nodes, MAX_DEPTH levels and no aliases,
and numbers of at most MAX_DIGITS digits (Python refuses to read an int of more than 4300).
"""

import json
import math
from typing import Any

import yaml
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from yaml.cyaml import CParser

from bookings.domain.errors import FieldError

JSON = "application/json"
YAML = "application/yaml"
PROBLEM_JSON = "application/problem+json"
PROBLEM_YAML = "application/problem+yaml"
_JSON_TYPES = {JSON, PROBLEM_JSON}
_YAML_TYPES = {YAML, "application/x-yaml", "text/yaml", "text/x-yaml", PROBLEM_YAML}
# What a client sends when it does not say: no header; text/plain, which wsgiref (runserver)
# reports for a missing header; curl's default for `-d @file`.
_UNSAID_TYPES = {"", "text/plain", "application/x-www-form-urlencoded"}
PROBLEM_TYPE = "urn:whencanidothis:problem:"

MAX_BODY_BYTES = 1024 * 1024
MAX_NODES = 10_000  # an IVOA request has about a hundred
MAX_DEPTH = 32
MAX_DIGITS = 64


class FormatError(Exception):
    """The body or the headers cannot be understood; `status` is 400, 406, 413 or 415, and
    `errors` lists the places in the document (FieldError) when there are some."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []


class _LongNumber:
    """A number written with more than MAX_DIGITS digits, kept unread until it is reported."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


class _Mapping(dict):
    """A JSON object that gave some of its keys more than once (`twice`)."""

    twice: tuple = ()


def _path(parts: list) -> str:
    text = ""
    for part in parts:
        text = f"{text}[{part}]" if isinstance(part, int) else f"{text}.{part}" if text else part
    return text


def _key_text(key: Any) -> str:
    """A mapping key as a path segment: strings as they are, others as YAML spells them."""
    if isinstance(key, str):
        return key
    if isinstance(key, _LongNumber):
        return f"<number of {key.digits} digits>"
    return yaml.safe_dump(key, default_flow_style=True).removesuffix("\n...\n").strip()


class _LimitError(yaml.YAMLError):
    def __init__(self, path: list, message: str) -> None:
        super().__init__(message)
        self.path, self.message = _path(path), message


class _Loader(
    yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
):
    """Safe YAML loading, 1.2-like: instants stay strings (we parse them, with their time
    zone), only true/false are booleans (so `value: NO` stays "NO"). libyaml scans and parses
    (fast); this composer counts nodes and depth, and refuses aliases (a few nested ones
    expand to gigabytes when echoed back) and keys given twice, naming the path of each."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        yaml.composer.Composer.__init__(self)
        self.nodes = 0
        self.path: list = []

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _LimitError(self.path, "aliases (*name) are not accepted")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _LimitError(self.path, f"the document has more than {MAX_NODES} values")
        if len(self.path) >= MAX_DEPTH:
            raise _LimitError(self.path, f"the document is nested more than {MAX_DEPTH} deep")
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor):
        start = self.get_event()
        tag = (
            start.tag
            if start.tag not in (None, "!")
            else self.resolve(yaml.SequenceNode, None, start.implicit)
        )
        node = yaml.SequenceNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        while not self.check_event(yaml.SequenceEndEvent):
            self.path.append(len(node.value))
            node.value.append(self.compose_node(node, len(node.value)))
            self.path.pop()
        node.end_mark = self.get_event().end_mark
        return node

    def compose_mapping_node(self, anchor):
        start = self.get_event()
        tag = (
            start.tag
            if start.tag not in (None, "!")
            else self.resolve(yaml.MappingNode, None, start.implicit)
        )
        node = yaml.MappingNode(tag, [], start.start_mark, None, flow_style=start.flow_style)
        seen = set()
        while not self.check_event(yaml.MappingEndEvent):
            key = self.compose_node(node, None)
            name = key.value if isinstance(key, yaml.ScalarNode) else f"<{key.id}>"
            self.path.append(name)
            if isinstance(key, yaml.ScalarNode):
                if (key.tag, key.value) in seen:
                    raise _LimitError(self.path, "is given twice")
                seen.add((key.tag, key.value))
            node.value.append((key, self.compose_node(node, key)))
            self.path.pop()
        node.end_mark = self.get_event().end_mark
        return node

    def construct_yaml_int(self, node):
        if len(node.value) > MAX_DIGITS:
            return _LongNumber(len(node.value))
        return super().construct_yaml_int(node)


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    yaml.resolver.re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


class _Dumper(yaml.SafeDumper):
    """No &anchors / *aliases for repeated parts: many clients (and our loader) refuse them."""

    def ignore_aliases(self, data) -> bool:
        return True


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def request_format(request: HttpRequest) -> str:
    """The format of the request body: JSON or YAML (YAML when the client does not say)."""
    media = _media_type(request.META.get("CONTENT_TYPE", ""))
    if media in _UNSAID_TYPES or media in _YAML_TYPES or media.endswith("+yaml"):
        return YAML
    if media in _JSON_TYPES or media.endswith("+json"):
        return JSON
    raise FormatError(
        415,
        "Unsupported Content-Type.",
        f"{media} is not understood; send application/yaml or application/json.",
    )


def response_format(request: HttpRequest) -> str:
    """What the client accepts (q-values honoured); without a preference, the format it sent
    (JSON for a JSON body), else YAML."""
    try:
        fallback = request_format(request)
    except FormatError:
        fallback = YAML
    if not request.META.get("HTTP_ACCEPT", "").strip():
        return fallback
    offered = [fallback, *(t for t in (JSON, YAML, *_JSON_TYPES, *_YAML_TYPES) if t != fallback)]
    chosen = request.get_preferred_type(offered)
    if chosen is None:
        raise FormatError(
            406,
            "Not acceptable.",
            "This interface answers in application/yaml or application/json.",
        )
    return JSON if chosen in _JSON_TYPES else YAML


def problem_format(request: HttpRequest) -> str:
    """The format for a problem: the negotiated one, JSON when nothing acceptable is left."""
    try:
        return response_format(request)
    except FormatError:
        return JSON


def _body_text(request: HttpRequest) -> str:
    too_large = FormatError(
        413, "The body is too large.", f"Send at most {MAX_BODY_BYTES // 1024} KiB."
    )
    try:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            raise too_large
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    except ValueError:
        raise FormatError(400, "Bad Content-Length.", "It must be a whole number.") from None
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FormatError(400, "The body is not UTF-8.", str(error)) from None


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    data = _Mapping(pairs)
    if len(data) < len(pairs):
        seen: set = set()
        data.twice = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return data


def _json_int(text: str) -> Any:
    return _LongNumber(len(text)) if len(text) > MAX_DIGITS else int(text)


def parse_body(request: HttpRequest) -> Any:
    """The body as plain data. FormatError 400 (with line and column, or the paths at fault)
    if it does not parse or breaks a limit; 413 above MAX_BODY_BYTES."""
    fmt = request_format(request)
    text = _body_text(request)
    if not text.strip():
        raise FormatError(400, "The request body is empty.", "Send a JSON or YAML document.")
    try:
        if fmt == JSON:
            data = json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int)
        else:
            data = _Loader(text).get_single_data()
    except json.JSONDecodeError as error:
        raise FormatError(400, "The body is not valid JSON.", str(error)) from None
    except _LimitError as error:
        errors = [FieldError(error.path, error.message)]
        raise FormatError(400, "The body is not valid.", error.message, errors) from None
    except yaml.YAMLError as error:
        raise FormatError(400, "The body is not valid YAML.", str(error)) from None
    except RecursionError:
        raise FormatError(400, "The body is not valid.", "It is nested too deeply.") from None
    errors = document_errors(data)
    if errors:
        detail = "; ".join(f"{e.path or '(document)'}: {e.message}" for e in errors[:10])
        raise FormatError(400, "The body is not valid.", detail, errors)
    return data


def document_errors(data: Any) -> list[FieldError]:
    """What parsed but cannot be a document of ours, by path: keys that are not strings or
    are given twice, numbers that are too long or not finite, NUL in strings (PostgreSQL
    text cannot hold it), nesting past MAX_DEPTH and more than MAX_NODES values."""
    errors: list[FieldError] = []
    stack: list[tuple[list, Any]] = [([], data)]
    nodes = 0
    while stack and len(errors) < 50:
        path, value = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            errors.append(FieldError("", f"the document has more than {MAX_NODES} values"))
            break
        if len(path) > MAX_DEPTH:
            errors.append(FieldError(_path(path), f"is nested more than {MAX_DEPTH} deep"))
            continue
        if isinstance(value, _LongNumber):
            message = f"is a number of {value.digits} digits; at most {MAX_DIGITS} are read"
            errors.append(FieldError(_path(path), message))
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(_path(path), "must be a finite number"))
        elif isinstance(value, str) and "\x00" in value:
            errors.append(FieldError(_path(path), "may not contain NUL (\\u0000)"))
        elif isinstance(value, dict):
            for key in getattr(value, "twice", ()):
                errors.append(FieldError(_path([*path, key]), "is given twice"))
            for key, item in value.items():
                if not isinstance(key, str):
                    kind = "a number" if isinstance(key, int | float | _LongNumber) else "not text"
                    message = f"keys must be strings; this one is {kind}"
                    errors.append(FieldError(_path([*path, _key_text(key)]), message))
                elif "\x00" in key:
                    message = "keys may not contain NUL (\\u0000)"
                    errors.append(FieldError(_path([*path, key.replace("\x00", "")]), message))
                stack.append(([*path, _key_text(key)], item))
        elif isinstance(value, list):
            stack.extend(([*path, i], item) for i, item in enumerate(value))
    return sorted(errors, key=lambda e: e.path)


def render(data: Any, *, fmt: str, status: int = 200, headers: dict | None = None) -> HttpResponse:
    if fmt == JSON:
        body = json.dumps(data, indent=2, ensure_ascii=False)
    else:
        body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return HttpResponse(
        body, status=status, content_type=f"{fmt}; charset=utf-8", headers=headers or {}
    )


def problem(
    *,
    status: int,
    code: str,
    title: str,
    fmt: str = JSON,
    detail: str = "",
    errors: list[dict] | None = None,
    headers: dict | None = None,
    **extra: Any,
) -> HttpResponse:
    """An RFC 9457 problem; `errors` lists {path, message} (paths in the IVOA document)."""
    body = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail or title,
        "errors": errors or [],
        **extra,
    }
    if fmt == JSON:
        text, media = json.dumps(body, ensure_ascii=False), PROBLEM_JSON
    else:
        text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        media = PROBLEM_YAML
    return HttpResponse(text, status=status, content_type=media, headers=headers or {})
