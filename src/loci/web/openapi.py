"""The OpenAPI document served at ``/openapi.json``: every endpoint, written by hand here.

A test checks that each route of the app appears in it, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

_ID = {"name": "conv_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_PATH = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json_body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(summary: str, *, params: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": {
            "200": {"description": "OK"},
            **{code: _ERROR for code in ("401", "403", "404", "409", "429")},
        },
    }
    op.update(extra)
    return op


_EVENTS_DOC = (
    "Server-Sent Events. Each event's `data` is one JSON event exactly as `loci --json` prints "
    "it (`type`: turn_start, text, model_done, code, approval, execution_start, output, "
    "execution_done, notice, grounding, turn_done); its `id` is the event's number in the "
    "conversation. Resume with `?after=N` or `Last-Event-ID`. `?until=idle` ends the stream "
    "when no request is running and everything was sent; otherwise it stays open."
)

PATHS: dict[str, dict[str, Any]] = {
    "/": {"get": _op("The browser UI (no token needed: it holds no data)", security=[])},
    "/favicon.ico": {"get": _op("No icon (204)", security=[])},
    "/openapi.json": {"get": _op("This document")},
    "/api/models": {
        "get": _op("The default model spec, suggestions, and the providers (spec forms, help)")
    },
    "/api/defaults": {
        "get": _op("What a new conversation gets when its request does not say: model, auto_run")
    },
    "/api/conversations": {
        "get": _op(
            "Conversations, newest first (the same history as `loci history`)",
            params=[{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
        ),
        "post": _op(
            "Start a conversation with its own kernels and workspace",
            requestBody=_json_body({"model": {"type": "string"}, "auto_run": {"type": "boolean"}}),
        ),
    },
    "/api/conversations/{conv_id}": {
        "get": _op(
            "A conversation with every message and execution (as `loci show --json`), plus "
            "`live`: running, `after` (stream events from there), auto_run, waiting blocks",
            params=[_ID],
        )
    },
    "/api/conversations/{conv_id}/messages": {
        "post": _op(
            "Send a request; it runs in the background. Returns `after`: stream from there",
            params=[_ID],
            requestBody=_json_body({"text": {"type": "string"}}, ["text"]),
        )
    },
    "/api/conversations/{conv_id}/branch": {
        "post": _op(
            "Edit the person's request number `request` (from 1, as numbered in the "
            "conversation's items) and go on from there: a new conversation (a branch; this one "
            "stays as it is) with a copy of everything before that request and fresh kernels "
            "runs `text`. Returns the branch (201): its `id`, `parent_id`, and `after`",
            params=[_ID],
            requestBody=_json_body(
                {"request": {"type": "integer"}, "text": {"type": "string"}}, ["request", "text"]
            ),
        )
    },
    "/api/conversations/{conv_id}/events": {
        "get": _op(
            "The event stream",
            description=_EVENTS_DOC,
            params=[
                _ID,
                {"name": "after", "in": "query", "schema": {"type": "integer"}},
                {"name": "until", "in": "query", "schema": {"type": "string", "enum": ["idle"]}},
            ],
        )
    },
    "/api/conversations/{conv_id}/approvals": {
        "post": _op(
            "Run, edit-and-run, or skip a waiting code block. `sha256` must be the hash of the "
            "code that was shown (the `code` event's sha256); `code`, if given, is what runs",
            params=[_ID],
            requestBody=_json_body(
                {
                    "block_id": {"type": "string"},
                    "sha256": {"type": "string"},
                    "action": {"type": "string", "enum": ["run", "skip", "always"]},
                    "code": {"type": "string"},
                },
                ["block_id", "sha256"],
            ),
        )
    },
    "/api/conversations/{conv_id}/input": {
        "post": _op(
            "Answer the running block's read (`input()`, `getpass`) announced by an "
            "`input_request` event: `text` is the line typed (without its newline), null for "
            "end-of-file. 409 when that execution waits for no input",
            params=[_ID],
            requestBody=_json_body(
                {"execution_id": {"type": "integer"}, "text": {"type": ["string", "null"]}},
                ["execution_id"],
            ),
        )
    },
    "/api/conversations/{conv_id}/interrupt": {
        "post": _op(
            "Stop the running request (model stream, code, or a waiting approval)",
            params=[_ID],
            requestBody=_json_body({}),
        )
    },
    "/api/conversations/{conv_id}/state": {
        "get": _op(
            "What the Python kernel holds after its last block: names, types, DataFrame and "
            "array shapes, imports, folder (`state`, null before a block ran or when no kernel "
            "is live), the same as the browser's Kernel panel lists it (`listing`), and the "
            "`summary` the model is given",
            params=[_ID],
        )
    },
    "/api/conversations/{conv_id}/settings": {
        "post": _op(
            "Turn auto-run on or off, or switch the model",
            params=[_ID],
            requestBody=_json_body({"auto_run": {"type": "boolean"}, "model": {"type": "string"}}),
        )
    },
    "/api/conversations/{conv_id}/files": {
        "get": _op("The files in the conversation's workspace", params=[_ID])
    },
    "/api/conversations/{conv_id}/files/{path}": {
        "get": _op(
            "Download a workspace file (`?inline=1` shows images inline)",
            params=[_ID, _PATH, {"name": "inline", "in": "query", "schema": {"type": "string"}}],
        ),
        "put": _op(
            "Upload a file: the raw request body, streamed to disk (no size limit)",
            params=[_ID, _PATH],
            requestBody={
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            },
        ),
    },
}


def schema() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "loci",
            "version": "1",
            "description": (
                "The loci HTTP API. The token is the server's, or on a multi-user server "
                "(`loci serve --users`) each user's own: then every conversation path answers "
                "404 for another user's conversation. Opening a conversation (creating one, "
                "or sending to one whose kernels were shut down) answers 429 when the user "
                "already holds their limit of live kernels, all busy."
            ),
        },
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "query": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            },
        },
        "security": [{"bearer": []}, {"query": []}],
    }
