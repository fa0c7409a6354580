"""The client's types cover the protocol: every message, field and enumeration value of the
JSON Schemas generated from the server's Rust types (protocol/schema/) has its counterpart in
viva_client.protocol. A new message, field or value without client support fails here."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest

from viva_client import protocol

SCHEMAS = Path(__file__).resolve().parents[3] / "protocol" / "schema"

# Schema definitions named differently here, and why.
RENAMED = {"ApiError": "ApiErrorResponse"}  # `ApiError` is the exception that carries it
# Definitions with no TypedDict of their own, and why.
NOT_TYPED = {"Audio": "a base64 string on the wire, `bytes` in the client (codec.py)"}
# The REST bodies the client's helpers send and return (`Viva.request` reaches the others).
REST = [
    "ApiError",
    "Candidate",
    "Plans",
    "SessionCreated",
    "SocketTicket",
    "SessionView",
    "MySessions",
    "Report",
]


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return schema


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A message's definition: its own properties and those of the definition it refers to."""
    if "$ref" not in node:
        return node
    target = resolve(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]])
    properties = {**target.get("properties", {}), **node.get("properties", {})}
    required = [*target.get("required", []), *node.get("required", [])]
    return {"properties": properties, "required": required}


def tag_of(typed: Any, tag: str) -> str:
    (value,) = typing.get_args(typing.get_type_hints(typed)[tag])
    return str(value)


def by_tag(union: Any, tag: str) -> dict[str, Any]:
    return {tag_of(member, tag): member for member in typing.get_args(union)}


def assert_fields(typed: Any, definition: dict[str, Any], what: str) -> None:
    ours = set(typed.__required_keys__ | typed.__optional_keys__)
    theirs = set(definition.get("properties", {}))
    if "type" not in theirs:
        ours.discard("type")  # a message's definition; its `type` is checked with the message
    assert ours == theirs, f"{what}: fields only here {ours - theirs}, only in the schema {theirs - ours}"
    optional_here = set(definition.get("required", [])) & set(typed.__optional_keys__)
    assert not optional_here, f"{what}: the schema requires {optional_here}, optional here"


def tagged_union(schema: dict[str, Any], name: str, tag: str) -> None:
    variants = schema["$defs"][name]["oneOf"]
    theirs = {v["properties"][tag]["const"]: v for v in variants}
    ours = by_tag(getattr(protocol, name), tag)
    assert set(ours) == set(theirs), f"{name}: variants"
    for value, variant in theirs.items():
        assert_fields(ours[value], variant, f"{name} {value}")


def check_definitions(schema: dict[str, Any], names: list[str]) -> None:
    for name in names:
        definition = schema["$defs"][name]
        if name in NOT_TYPED:
            continue
        ours = getattr(protocol, RENAMED.get(name, name), None)
        assert ours is not None, f"no type for the schema's {name}"
        variants = definition.get("oneOf")
        if variants and all("const" in v and v.get("type") == "string" for v in variants):
            assert set(typing.get_args(ours)) == {v["const"] for v in variants}, f"{name}: values"
        elif variants:
            tags = {k for k, p in variants[0]["properties"].items() if "const" in p}
            tagged_union(schema, name, tags.pop())
        else:
            assert_fields(ours, definition, name)


@pytest.mark.parametrize(
    ("schema_name", "union"),
    [("server-message", protocol.ServerMessage), ("client-message", protocol.ClientMessage)],
)
def test_every_message_has_a_type_with_the_schemas_fields(schema_name: str, union: Any) -> None:
    schema = load(schema_name)
    theirs = {v["properties"]["type"]["const"]: resolve(schema, v) for v in schema["oneOf"]}
    ours = by_tag(union, "type")
    assert sorted(ours) == sorted(theirs)
    for kind, definition in theirs.items():
        assert_fields(ours[kind], definition, kind)
    # Every shape the messages are made of, and every enumeration.
    check_definitions(schema, sorted(schema.get("$defs", {})))


def test_the_rest_bodies_have_types_with_the_schemas_fields() -> None:
    schema = load("rest")
    referenced: list[str] = []
    pending = list(REST)
    while pending:  # the listed bodies and everything they are made of
        name = pending.pop()
        if name in referenced:
            continue
        referenced.append(name)
        pending += [ref.rsplit("/", 1)[1] for ref in _refs(schema["$defs"][name])]
    check_definitions(schema, sorted(referenced))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [r for k, v in node.items() for r in ([v] if k == "$ref" else _refs(v))]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []
