"""Schemathesis hooks for Sunday's OpenAPI fuzz run (ops/fuzz/run).

`accepts_what_the_schema_allows` is the check that no schema-valid request is
rejected for a reason the schema could have said. A schema-valid request may
still be refused for what only the data decides, and api.md says which:
unknown ids (404), roles (403), versions (409, 412), the 422 (or, for a
value of the wrong type for its column, 400) rules that depend on the board
or the workspace, and cursors, which are opaque (400 for one the API did not
make). Those fields are listed in DATA_RULES; any other 400 or 422
to a request generated from the schema fails the run.
"""

import os
import re

import schemathesis

# Fields whose 422 depends on stored data, not on the request's shape.
DATA_RULES = [
    r"itemData\..*",          # keys are the board's columns; labels, members and types are the columns'
    r"groupId",               # a group of the board
    r"afterItemId",           # a live item of the target group
    r"userId",                # a workspace member; the last owner stays
    r"role",                  # the last owner cannot be demoted
    r"boardId",               # the board is archived
    r"key",                   # a key another column of the board has, or a full board
    r"title",                 # a board with the most groups it may have
    r"settings\.labels",      # an update of a status column's labels
    r"columns\[\d+\]\.(key|id)",  # unique within one body: not expressible in JSON Schema
    r"groups\[\d+\]\.id",
    r"Idempotency-Key",       # a key used before with another body
    r"cursor",                # opaque: only one this API made is valid (400)
    r"toPosition",            # not below fromPosition: a rule between two fields
    r"url",                   # a webhook's host must resolve, to public addresses only: DNS decides
]
DATA_RULE = re.compile("^(" + "|".join(DATA_RULES) + ")$")


@schemathesis.hook
def map_headers(context, headers):
    # A position the read models never reach is a 504 by contract (api.md):
    # a random one says nothing about the server. Reads with it are tested in Rust.
    if headers:
        headers.pop("X-Sunday-Min-Position", None)
    return headers


@schemathesis.hook
def map_query(context, query):
    # A change feed's `wait` only holds the request while nothing happens (up
    # to 30 s by contract): keep it short so the run is not spent waiting.
    # Waiting is tested in Rust.
    if query and isinstance(query.get("wait"), int) and query["wait"] > 1:
        query["wait"] = 1
    return query


@schemathesis.hook
def before_call(context, case, kwargs):
    # Generated Idempotency-Keys repeat ("0", "00"...) across operations, and a
    # key reused with another request is a 422 by contract: keep each key to
    # one request (the same request again still replays), so the rest of the
    # request gets tested.
    key = (case.headers or {}).get("Idempotency-Key")
    if key:
        import hashlib
        digest = hashlib.sha256(repr((case.method, case.formatted_path, case.body)).encode()).hexdigest()[:12]
        case.headers["Idempotency-Key"] = f"{key[:200]}~{digest}"
    # Assign sometimes the fuzzing user, who is a member of the boards it made.
    me = os.environ.get("SUNDAY_FUZZ_USER")
    if me and case.operation.path == "/v1/items/{id}/assignees" and isinstance(case.body, dict) and hash(case.id) % 2 == 0:
        case.body["userId"] = me


def _fields(response):
    try:
        body = response.json()
    except ValueError:
        return []
    return [e.get("field", "") for e in body.get("errors") or []]


@schemathesis.check
def accepts_what_the_schema_allows(ctx, response, case):
    """A request generated from the schema is not refused as malformed or invalid
    unless the refusal is one that only the stored data decides."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status not in (400, 422):
        return None
    fields = _fields(response)
    if fields and all(DATA_RULE.match(f) for f in fields):
        if status == 422 or all(f.startswith("itemData.") or f == "cursor" for f in fields):
            return None
    detail = response.text[:500]
    raise AssertionError(f"a schema-valid request was refused with {status}: {detail}")


@schemathesis.check
class answers_by_operation:
    """Not a check of its own: tallies (operation, status, error fields) and
    writes them to $SUNDAY_FUZZ_STATS, to see where the run reached."""

    def __init__(self):
        self.seen = {}

    def after_response(self, ctx, response, case):
        key = f"{case.operation.label} {response.status_code} {','.join(sorted(set(_fields(response))))}"
        self.seen.setdefault(key, set()).add(case.id)

    def after_run(self, ctx):
        import json
        import os

        path = os.environ.get("SUNDAY_FUZZ_STATS")
        if path:
            with open(path, "w") as out:
                json.dump({k: len(v) for k, v in sorted(self.seen.items())}, out, indent=1)
