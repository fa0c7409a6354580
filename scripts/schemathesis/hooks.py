"""schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

Plan ids exist only at run time (GET /v1/plans), so the document cannot list them: a plan
drawn at random is always unknown (400), and stateful testing would never get a session to
follow its links from. Sessions are created on the shipped plans instead.
"""

import schemathesis

PLANS = ["senior-backend", "frontend", "coding-python"]


@schemathesis.hook
def map_body(ctx, body):
    if ctx.operation.path == "/v1/sessions" and isinstance(body, dict) and isinstance(body.get("plan"), str):
        body["plan"] = PLANS[len(body["plan"]) % len(PLANS)]
    return body
