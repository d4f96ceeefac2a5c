"""The app's URL rules compile their builders at first use (web/routing.py): every rule builds the
URL Werkzeug's own rules build, with and without unknown values appended, from any thread."""

from __future__ import annotations

import threading

from werkzeug.routing import Map, Rule

from sandbox.web.routing import LazyBuildRule


def _outcome(adapter, endpoint: str, values: dict, append: bool):
    try:
        return adapter.build(endpoint, values, append_unknown=append, force_external=True)
    except Exception as exc:  # a converter refusing the sample refuses it the same way under both
        return type(exc)


def test_every_rule_builds_as_werkzeugs_own(app):
    rules = list(app.url_map.iter_rules())
    # every rule but Flask's own static one, added as the app is made
    assert len(rules) > 100 and all(isinstance(r, LazyBuildRule) for r in rules if r.endpoint != "static")
    plain = Map(
        [
            Rule(
                r.rule,
                endpoint=r.endpoint,
                defaults=r.defaults,
                methods=r.methods,
                strict_slashes=r.strict_slashes,
                merge_slashes=r.merge_slashes,
            )
            for r in rules
        ],
        converters=app.url_map.converters,
    )
    lazy, own = app.url_map.bind("localhost"), plain.bind("localhost")
    for r in rules:
        for sample in (7, "bayview", "a b/c"):
            values = {name: sample for name in r.arguments} | {"extra": "1 2"}
            for append in (True, False):
                assert _outcome(lazy, r.endpoint, values, append) == _outcome(own, r.endpoint, values, append), r


def test_url_for_from_many_threads_at_once(app):
    """The first builds of a rule, in several threads together, all get the one URL."""
    got: list[str] = []
    start = threading.Barrier(8)

    def build() -> None:
        start.wait()
        with app.test_request_context():
            from flask import url_for

            got.append(url_for("site.healthz", probe="1"))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert got == ["/healthz?probe=1"] * 8
