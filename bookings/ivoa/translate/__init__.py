"""IVOA ExecutionBroker documents ⇄ our booking model (DESIGN §4, §7). Pure functions.

`vocabulary` names what the documents are made of, `parse` reads requests and updates, and
`render` writes offer sets and sessions.
"""

from bookings.ivoa.translate.parse import offerset_request_parse, update_parse
from bookings.ivoa.translate.render import (
    component_phase,
    connector_render,
    iso_duration,
    messages_render,
    offerset_render,
    schedule,
    session_options,
    session_render,
)
from bookings.ivoa.translate.vocabulary import (
    DEFAULT_COMPUTE,
    DEFAULT_CORES,
    DEFAULT_DURATION,
    DEFAULT_MEMORY_GIB,
    EB,
    ENUM_OPTION,
    ENUM_UPDATE,
    KINDS,
    MAX_PARTS,
    MESSAGE_KINDS,
    NO_NAME,
    OFFERSET_KIND,
    SESSION_KIND,
    SUGGESTION_KIND,
    UPDATABLE_PHASES,
    ivoa_errors,
    ivoa_path,
    kind_name,
    kind_uri,
)

__all__ = [
    "DEFAULT_COMPUTE",
    "DEFAULT_CORES",
    "DEFAULT_DURATION",
    "DEFAULT_MEMORY_GIB",
    "EB",
    "ENUM_OPTION",
    "ENUM_UPDATE",
    "KINDS",
    "MAX_PARTS",
    "MESSAGE_KINDS",
    "NO_NAME",
    "OFFERSET_KIND",
    "SESSION_KIND",
    "SUGGESTION_KIND",
    "UPDATABLE_PHASES",
    "component_phase",
    "connector_render",
    "iso_duration",
    "ivoa_errors",
    "ivoa_path",
    "kind_name",
    "kind_uri",
    "messages_render",
    "offerset_render",
    "offerset_request_parse",
    "schedule",
    "session_options",
    "session_render",
    "update_parse",
]
