"""URL rules whose builders are compiled when first used.

Werkzeug compiles two URL-building functions for every rule as it is added (an AST made and passed to
compile(): about a millisecond a rule, 141 rules an app, the largest part of making an app once its
modules are imported). Most rules are never built in a process's life (url_for names a few pages);
this rule class compiles a builder the first time it builds, with Werkzeug's own code, so that every
URL it builds is the one Werkzeug would have built.
"""

from __future__ import annotations

from typing import Any, Callable

from werkzeug.routing import Rule


class LazyBuildRule(Rule):
    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:  # two threads may both compile: the same function, either kept
                compiled = Rule._compile_builder(rule, append_unknown)
            return compiled(rule, **values)

        return build


# Werkzeug's private hook (3.x): a release without it gets its plain rules back, builders compiled at once
RULE_CLASS: type[Rule] = LazyBuildRule if callable(getattr(Rule, "_compile_builder", None)) else Rule
