"""Pure inspection of a request body: which tools does it call, and which id to answer?

The handler parses the same bytes again after us, so any ambiguity between the two parsers
is a way around the policy. We therefore refuse what we cannot read unambiguously (bad
JSON, duplicate keys) instead of passing it on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TOOLS_CALL = "tools/call"
TOOLS_LIST = "tools/list"


class BodyParseError(ValueError):
    """The body is not JSON we can read without ambiguity."""


@dataclass(frozen=True)
class Inspection:
    #: The id of a single JSON-RPC request, for error answers; None otherwise.
    request_id: str | int | None = None
    #: True when the body is a JSON-RPC message or batch.
    is_jsonrpc: bool = False
    #: Tool names of every ``tools/call`` in the body; "" stands for a malformed call.
    tool_calls: tuple[str, ...] = ()
    #: Methods of the requests in the body, in order.
    methods: tuple[str, ...] = ()
    #: Ids of the ``tools/list`` requests: the responses whose tool lists may be filtered.
    tools_list_ids: tuple[str | int, ...] = ()


EMPTY = Inspection()


def _no_duplicates(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise BodyParseError("duplicate key in JSON object")
    return result


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def parse_json(body: bytes) -> Any:
    """JSON from ``body``; raises `BodyParseError` for anything we would read differently.

    Only UTF-8 is accepted (as MCP requires and the SDK's parser assumes): a body in another
    encoding is refused rather than read by us one way and by the handler another.
    """
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BodyParseError(str(exc)) from None


def inspect_body(body: bytes) -> Inspection:
    """What the body asks for. An empty body (GET, DELETE) is not JSON-RPC."""
    if not body.strip():
        return EMPTY
    message = parse_json(body)
    if isinstance(message, dict):
        return Inspection(
            request_id=_request_id(message),
            is_jsonrpc=True,
            tool_calls=_tool_calls((message,)),
            methods=_methods((message,)),
            tools_list_ids=_ids_of(TOOLS_LIST, (message,)),
        )
    if isinstance(message, list):
        elements = tuple(m for m in message if isinstance(m, dict))
        return Inspection(
            is_jsonrpc=True,
            tool_calls=_tool_calls(elements),
            methods=_methods(elements),
            tools_list_ids=_ids_of(TOOLS_LIST, elements),
        )
    return EMPTY


def _request_id(message: dict[str, Any]) -> str | int | None:
    value = message.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return value


def _ids_of(method: str, messages: Sequence[dict[str, Any]]) -> tuple[str | int, ...]:
    ids = (_request_id(m) for m in messages if m.get("method") == method)
    return tuple(i for i in ids if i is not None)


def _methods(messages: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(m["method"] for m in messages if isinstance(m.get("method"), str))


def _tool_calls(messages: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """Names of the tools called; a call whose name cannot be read counts as "" (never allowed)."""
    names = []
    for message in messages:
        if message.get("method") != TOOLS_CALL:
            continue
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        names.append(name if isinstance(name, str) else "")
    return tuple(names)
