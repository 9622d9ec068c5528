"""JSON and YAML both ways for the IVOA interface (DESIGN §7), and its problem+json errors.

The request's Content-Type picks the parser, its Accept header the output; when neither says,
we speak YAML (the IVOA clients' default). Problems are always RFC 9457
`application/problem+json` (JSON is also valid YAML, so a YAML client can read them).
"""

import json
from typing import Any

import yaml
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

JSON = "application/json"
YAML = "application/yaml"
PROBLEM = "application/problem+json"
_JSON_TYPES = {JSON}
_YAML_TYPES = {YAML, "application/x-yaml", "text/yaml", "text/x-yaml"}
PROBLEM_TYPE = "urn:whencanidothis:problem:"


class FormatError(Exception):
    """The body or the headers cannot be understood; `status` is 400, 406 or 415."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class _Loader(yaml.SafeLoader):
    """YAML 1.2-like safe loading: instants stay strings (we parse them, with their time
    zone), only true/false are booleans (so `value: NO` stays "NO"), and aliases are refused
    (a few nested aliases expand to gigabytes when the body is echoed back)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)


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


class _Dumper(yaml.SafeDumper):
    """No &anchors / *aliases for repeated parts: many clients (and our loader) refuse them."""

    def ignore_aliases(self, data) -> bool:
        return True


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def request_format(request: HttpRequest) -> str:
    """The format of the request body: JSON or YAML (YAML when no Content-Type is given)."""
    media = _media_type(request.META.get("CONTENT_TYPE", ""))
    if not media:
        return YAML
    if media in _JSON_TYPES or media.endswith("+json"):
        return JSON
    if media in _YAML_TYPES:
        return YAML
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
    offered = [fallback, *(t for t in (JSON, YAML, *_YAML_TYPES) if t != fallback)]
    chosen = request.get_preferred_type(offered)
    if chosen is None:
        raise FormatError(
            406,
            "Not acceptable.",
            "This interface answers in application/yaml or application/json.",
        )
    return JSON if chosen == JSON else YAML


def parse_body(request: HttpRequest) -> Any:
    """The body as plain data; FormatError 400 (with line and column) if it does not parse,
    413 if it is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."""
    fmt = request_format(request)
    try:
        text = request.body.decode("utf-8")
    except RequestDataTooBig:
        raise FormatError(413, "The body is too large.", "Send at most 2.5 MB.") from None
    except UnicodeDecodeError as error:
        raise FormatError(400, "The body is not UTF-8.", str(error)) from None
    if not text.strip():
        raise FormatError(400, "The request body is empty.", "Send a JSON or YAML document.")
    try:
        # _Loader derives from SafeLoader
        data = json.loads(text) if fmt == JSON else yaml.load(text, Loader=_Loader)
        nul = _has_nul(data)
    except json.JSONDecodeError as error:
        raise FormatError(400, "The body is not valid JSON.", str(error)) from None
    except yaml.YAMLError as error:
        raise FormatError(400, "The body is not valid YAML.", str(error)) from None
    except RecursionError:
        raise FormatError(400, "The body is not valid.", "It is nested too deeply.") from None
    if nul:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail when storing it.
        raise FormatError(400, "The body is not valid.", "Strings may not contain NUL (\\u0000).")
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


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
    return HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=PROBLEM,
        headers=headers or {},
    )
