"""Ambience deployment manifests: the language, the checker and the planner.

    from manifest import analyse
    result = analyse("examples/pipeline")      # runs deployment.py, checks it, plans it
    for d in result.diagnostics: print(d.format())
    if result.plan: ...                          # a JSON-ready dict (docs/deploy.md)

The manifest functions (`service`, `instance`, `group`, `network`, `node`, `deploy`, `export`,
`import_http`, `include`) are importable from here for editors; a manifest does not need to
import them. See docs/deploy.md for the language, the diagnostics and the plan.
"""

import dataclasses
import os

from manifest.dsl import (deploy, export, group, import_http, include, instance, load,
                          network, node, service)

__all__ = ["service", "instance", "import_http", "group", "network", "node", "deploy", "export",
           "include", "analyse", "analysis"]


@dataclasses.dataclass
class analysis:
    manifest: object        # model.manifest
    diagnostics: list       # diagnostics.diagnostics, sorted by file and line
    plan: dict              # planner.build(...) or None when there are errors
    lidlc: str              # the compiler used, or None


def analyse(directory, lidlc=None):
    """Loads, checks and plans the deployment in `directory`. `lidlc` defaults to
    interfaces.find_lidlc()."""
    from manifest import checker, interfaces, planner
    from manifest.diagnostics import diagnostics

    manifest, found = load(directory)
    lidlc = lidlc or interfaces.find_lidlc()
    catalogue = interfaces.catalogue(lidlc, [os.path.abspath(directory)]) if lidlc else None
    plan = None
    if not manifest.complete:
        # Checking half a manifest would report the missing half as mistakes.
        return analysis(manifest, diagnostics(found.sorted()), plan, lidlc)
    placement, graph = checker.check(manifest, found, catalogue)
    if not found.has_errors():
        plan = planner.build(manifest, placement, graph)
    return analysis(manifest, diagnostics(found.sorted()), plan, lidlc)
