"""Conformance runs: a third party's client graded against the ways real utilities behave.

A run (`runs`) takes the checks of `checks.CHECKS` one after another. Each arranges its situation
for the client's own authorizations at one utility (a token expired early, a 429, a 503, a BatchList
POSTed to its notification URI, a revocation...), watches what the client does in the request log
and the notification outbox for a bounded time, and judges: pass, fail, or not_observed when the
client never met the situation. Nothing outside the client's own authorizations is touched, and what
a check set up is undone when it is judged.
"""
