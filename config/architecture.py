"""The project's own import-linter contract (see ``.importlinter``): which app may import which,
and only through the front door.

* **Direction** — ``allowed`` maps each app to the apps it may import. The kernel
  (``yibao_site``) imports no domain app; members ← chronic ← claims ← assistance; payments sits
  under procurement and assistance; procurement sits beside the claims chain.
* **Front door** — across apps only ``<app>.models`` and ``<app>.public`` (and the kernel, which
  is everyone's) may be imported; an app's services, selectors, rules, admin, API are its own.

Tests, test helpers (``testing``), demo data, migrations and the composition root (``config``)
are exempt: they assemble apps, they are not one. Violations are listed with file and line.
"""
from __future__ import annotations

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

EXEMPT_SEGMENTS = frozenset({"tests", "testing", "demo", "migrations", "conftest"})


def _app_of(module: str, apps: list[str]) -> str | None:
    best = None
    for app in apps:
        if (module == app or module.startswith(app + ".")) and (best is None or len(app) > len(best)):
            best = app
    return best


class AppBoundariesContract(Contract):
    type_name = "app_boundaries"

    #: ``app: dep1 dep2`` lines — the apps each app may import (the kernel included explicitly).
    allowed = fields.ListField(subfield=fields.StringField())
    #: Modules of another app that may be imported (``models``, ``public``).
    front_door = fields.ListField(subfield=fields.StringField())
    #: Apps every app may import anything of (the kernel).
    open_apps = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        allowed: dict[str, set[str]] = {}
        for line in self.allowed:  # type: ignore[attr-defined]
            app, _, deps = str(line).partition(":")
            allowed[app.strip()] = set(deps.split())
        apps = sorted(allowed)
        open_apps = {str(a) for a in (self.open_apps or [])}  # type: ignore[attr-defined]
        front = {str(f) for f in self.front_door}  # type: ignore[attr-defined]
        wrong_way, side_door = [], []
        for importer in sorted(graph.modules):
            src = _app_of(importer, apps)
            if src is None or EXEMPT_SEGMENTS & set(importer.split(".")):
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                dst = _app_of(imported, apps)
                if dst is None or dst == src:
                    continue
                lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
                entry = (importer, imported, lines)
                if dst not in allowed[src]:
                    wrong_way.append(entry)
                elif dst not in open_apps:
                    rest = imported[len(dst) + 1:].split(".")[0] if imported != dst else ""
                    if rest not in front:
                        side_door.append(entry)
        return ContractCheck(kept=not (wrong_way or side_door),
                             metadata={"wrong_way": wrong_way, "side_door": side_door})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for key, title in (("wrong_way", "imports against the direction of the layers"),
                           ("side_door", "imports of another app's internals (use <app>.models or <app>.public)")):
            entries = check.metadata[key]
            if not entries:
                continue
            output.print_error(f"{len(entries)} {title}:")
            output.new_line()
            for importer, imported, lines in entries:
                output.print_error(f"- {importer} -> {imported} (l. {', '.join(map(str, lines))})", bold=False)
            output.new_line()
