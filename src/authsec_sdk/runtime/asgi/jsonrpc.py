"""Pure inspection of a request body: which tools does it call, and which id to answer?

The handler parses the same bytes again after us, so any ambiguity between the two parsers
is a way around the policy. We therefore refuse what we cannot read unambiguously (bad JSON,
a body not in UTF-8, duplicate keys where we read our decision, ids that answers could not
be matched by) instead of passing it on.

Speed matters because a body can be 4 MiB of anything. JSON objects are parsed into tuples
of ``(key, value)`` pairs by the C scanner itself (``object_pairs_hook=tuple``), which costs
about what plain ``json.loads`` costs; only the objects our decision reads (each message and
its ``params``) become dicts, and only there are duplicate keys looked for. Keys deeper down
(a tool's arguments) decide nothing here, and the handler reads them alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

TOOLS_CALL = "tools/call"
TOOLS_LIST = "tools/list"

#: A JSON-RPC id as MCP allows it: a string or an integer, never null, a float or a bool.
RequestId = str | int
#: Most messages one batch may hold. MCP clients send one message per request (batches are
#: gone from the protocol since 2025-06-18); the cap keeps a 4 MiB array of tiny elements
#: from costing a Python step per element.
MAX_BATCH_MESSAGES = 1000


class BodyParseError(ValueError):
    """The body is not JSON we can read without ambiguity."""


class InvalidMessageError(ValueError):
    """Well-formed JSON that is not an acceptable JSON-RPC request (JSON-RPC ``-32600``): an
    ``id`` that is neither a string nor an integer, or a batch over `MAX_BATCH_MESSAGES`."""


class Inspection(NamedTuple):
    #: The id of a single JSON-RPC request, for error answers; None otherwise.
    request_id: RequestId | None = None
    #: True when the body is a JSON-RPC message or batch.
    is_jsonrpc: bool = False
    #: True when the body is a JSON array (a batch).
    is_batch: bool = False
    #: Tool names of every ``tools/call`` in the body; "" stands for a malformed call.
    tool_calls: tuple[str, ...] = ()
    #: Methods of the requests in the body, in order.
    methods: tuple[str, ...] = ()
    #: Ids of the ``tools/list`` requests: the responses whose tool lists may be filtered.
    tools_list_ids: frozenset[RequestId] = frozenset()


EMPTY = Inspection()


#: Built once: ``json.loads`` with a hook builds a new decoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=tuple)


def parse_json(body: bytes) -> Any:
    """JSON from ``body`` with every object as a tuple of pairs; `BodyParseError` if unreadable.

    Only UTF-8 is accepted (as MCP requires and the SDK's parser assumes): a body in another
    encoding is refused rather than read by us one way and by the handler another.
    """
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BodyParseError(str(exc)) from None


def inspect_body(body: bytes) -> Inspection:
    """What the body asks for. An empty body (GET, DELETE) is not JSON-RPC.

    Raises `BodyParseError` for a body we cannot read unambiguously and `InvalidMessageError`
    for JSON that is not an acceptable request.
    """
    if not body.strip():
        return EMPTY
    parsed = parse_json(body)
    if isinstance(parsed, tuple):
        return _inspect((_object(parsed),), is_batch=False)
    if isinstance(parsed, list):
        if len(parsed) > MAX_BATCH_MESSAGES:
            raise InvalidMessageError(f"batch of more than {MAX_BATCH_MESSAGES} messages")
        return _inspect([_object(m) for m in parsed if isinstance(m, tuple)], is_batch=True)
    return EMPTY


def _inspect(messages: Iterable[dict[str, Any]], *, is_batch: bool) -> Inspection:
    """What ``messages`` ask for; a single message's id is the one error answers carry."""
    message_id: RequestId | None = None
    tool_calls: list[str] = []
    methods: list[str] = []
    tools_list_ids: set[RequestId] = set()
    for message in messages:
        message_id = _request_id(message)
        method = message.get("method")
        if not isinstance(method, str):
            continue
        methods.append(method)
        if method == TOOLS_CALL:
            tool_calls.append(_tool_name(message.get("params")))
        elif method == TOOLS_LIST and message_id is not None:
            tools_list_ids.add(message_id)
    return Inspection(
        request_id=None if is_batch else message_id,
        is_jsonrpc=True,
        is_batch=is_batch,
        tool_calls=tuple(tool_calls),
        methods=tuple(methods),
        tools_list_ids=frozenset(tools_list_ids),
    )


def _object(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise BodyParseError("duplicate key in JSON object")
    return result


def _request_id(message: dict[str, Any]) -> RequestId | None:
    """The message's id; None when it has none. Any other kind of id is refused: an answer to
    it could not be told apart from another (``1.0`` and ``true`` equal ``1`` in Python)."""
    if "id" not in message:
        return None
    value = message["id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidMessageError("id must be a string or an integer")
    return value


def _tool_name(params: Any) -> str:
    """The called tool's name; "" (never allowed) when it cannot be read."""
    if not isinstance(params, tuple):
        return ""
    name = _object(params).get("name")
    return name if isinstance(name, str) else ""
