"""JSON and YAML both ways for the IVOA interface (DESIGN §7): DRF parsers, renderers and the
content negotiation that picks them.

The request's Content-Type picks the parser, its Accept header the renderer; when neither says,
we speak YAML (the IVOA clients' default). Problems (bookings.ivoa.exceptions) are rendered in
the negotiated format too: `application/problem+json`, or the same fields as
`application/problem+yaml`.

Parsing is bounded, so one body cannot hold a worker for long: at most MAX_BODY_BYTES, YAML
composed from libyaml's events with at most MAX_NODES nodes, MAX_DEPTH levels and no aliases,
and numbers of at most MAX_DIGITS digits (Python refuses to read an int of more than 4300).
"""

import json
import math
from typing import Any

import yaml
from rest_framework.exceptions import APIException
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
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

MAX_BODY_BYTES = 1024 * 1024
MAX_NODES = 10_000  # an IVOA request has about a hundred
MAX_DEPTH = 32
MAX_DIGITS = 64


class FormatError(APIException):
    """The body or the headers cannot be understood; `status_code` is 400, 406, 413 or 415, and
    `errors` lists the places in the document (FieldError) when there are some."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.status_code = status
        self.code = "too-large" if status == 413 else "bad-format"
        self.title = title
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


def request_format(request: Request) -> str:
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


def response_format(request: Request) -> str:
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


class IvoaContentNegotiation(BaseContentNegotiation):
    """The parser by Content-Type, the renderer by Accept, as `request_format` and
    `response_format` say (DRF's own ignores q-values and knows nothing of YAML's spellings).
    A refusal is a FormatError (415, 406); DRF then renders the problem with the first
    renderer, JSON."""

    def select_parser(self, request, parsers):
        fmt = request_format(request)
        return next(parser for parser in parsers if parser.media_type == fmt)

    def select_renderer(self, request, renderers, format_suffix=None):
        fmt = response_format(request)
        renderer = next(renderer for renderer in renderers if renderer.media_type == fmt)
        return renderer, renderer.media_type


def _content_length(request: Request | None) -> int:
    try:
        return int((request.META.get("CONTENT_LENGTH") if request else None) or 0)
    except ValueError:
        raise FormatError(400, "Bad Content-Length.", "It must be a whole number.") from None


def _body_text(stream, request: Request | None) -> str:
    """At most MAX_BODY_BYTES of the body (a longer one is refused before it is read), as text."""
    too_large = FormatError(
        413, "The body is too large.", f"Send at most {MAX_BODY_BYTES // 1024} KiB."
    )
    if _content_length(request) > MAX_BODY_BYTES:
        raise too_large
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FormatError(400, "The body is not UTF-8.", str(error)) from None


def _empty() -> FormatError:
    return FormatError(400, "The request body is empty.", "Send a JSON or YAML document.")


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    data = _Mapping(pairs)
    if len(data) < len(pairs):
        seen: set = set()
        data.twice = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return data


def _json_int(text: str) -> Any:
    return _LongNumber(len(text)) if len(text) > MAX_DIGITS else int(text)


class _DocumentParser(BaseParser):
    """The body as plain data. FormatError 400 (with line and column, or the paths at fault)
    if it does not parse or breaks a limit; 413 above MAX_BODY_BYTES."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        text = _body_text(stream, (parser_context or {}).get("request"))
        if not text.strip():
            raise _empty()
        try:
            data = self.load(text)
        except RecursionError:
            raise FormatError(400, "The body is not valid.", "It is nested too deeply.") from None
        errors = document_errors(data)
        if errors:
            detail = "; ".join(f"{e.path or '(document)'}: {e.message}" for e in errors[:10])
            raise FormatError(400, "The body is not valid.", detail, errors)
        return data

    def load(self, text: str) -> Any:
        raise NotImplementedError


class JsonParser(_DocumentParser):
    media_type = JSON

    def load(self, text: str) -> Any:
        try:
            return json.loads(text, object_pairs_hook=_json_object, parse_int=_json_int)
        except json.JSONDecodeError as error:
            raise FormatError(400, "The body is not valid JSON.", str(error)) from None


class YamlParser(_DocumentParser):
    media_type = YAML

    def load(self, text: str) -> Any:
        try:
            return _Loader(text).get_single_data()
        except _LimitError as error:
            errors = [FieldError(error.path, error.message)]
            raise FormatError(400, "The body is not valid.", error.message, errors) from None
        except yaml.YAMLError as error:
            raise FormatError(400, "The body is not valid YAML.", str(error)) from None


def document(request: Request) -> Any:
    """`request.data`, refusing an empty body: DRF gives a body of length 0 (or of a length it
    cannot read) to no parser, so the checks a parser makes first are made here."""
    data = request.data
    if request.stream is None:
        request.negotiator.select_parser(request, request.parsers)  # 415 before "empty"
        _content_length(request)
        raise _empty()
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
        errors += _value_errors(path, value)
        if isinstance(value, dict):
            errors += _key_errors(path, value)
            stack.extend(([*path, _key_text(key)], item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend(([*path, i], item) for i, item in enumerate(value))
    return sorted(errors, key=lambda e: e.path)


def _value_errors(path: list, value: Any) -> list[FieldError]:
    if isinstance(value, _LongNumber):
        message = f"is a number of {value.digits} digits; at most {MAX_DIGITS} are read"
        return [FieldError(_path(path), message)]
    if isinstance(value, float) and not math.isfinite(value):
        return [FieldError(_path(path), "must be a finite number")]
    if isinstance(value, str) and "\x00" in value:
        return [FieldError(_path(path), "may not contain NUL (\\u0000)")]
    return []


def _key_errors(path: list, value: dict) -> list[FieldError]:
    errors = [
        FieldError(_path([*path, key]), "is given twice") for key in getattr(value, "twice", ())
    ]
    for key in value:
        if not isinstance(key, str):
            kind = "a number" if isinstance(key, int | float | _LongNumber) else "not text"
            message = f"keys must be strings; this one is {kind}"
            errors.append(FieldError(_path([*path, _key_text(key)]), message))
        elif "\x00" in key:
            message = "keys may not contain NUL (\\u0000)"
            errors.append(FieldError(_path([*path, key.replace("\x00", "")]), message))
    return errors


class _DocumentRenderer(BaseRenderer):
    charset = "utf-8"
    problem_media_type = ""  # what a problem is sent as (bookings.ivoa.exceptions)


class JsonRenderer(_DocumentRenderer):
    media_type = JSON
    problem_media_type = PROBLEM_JSON
    format = "json"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        response = (renderer_context or {}).get("response")
        # documents are indented for the people who read them; a problem is one line, for logs
        indent = None if response is not None and response.status_code >= 400 else 2
        return json.dumps(data, indent=indent, ensure_ascii=False).encode()


class YamlRenderer(_DocumentRenderer):
    media_type = YAML
    problem_media_type = PROBLEM_YAML
    format = "yaml"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True).encode()
