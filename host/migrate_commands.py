"""``shifo migrate [current | history | downgrade MODULE]``: apply, inspect and take back migrations.

Every branch (the host's, the identity adapter's, each enabled module's) is one Alembic branch in
its owner's ``migrations`` folder. A module's first revision depends on the branches it needs
(polyclinic, hospital and erecipe on medcard's), as its ``ModuleInfo.requires`` says: so
``downgrade`` refuses to take away a branch that another applied branch still stands on (Alembic
itself would silently take the dependents down too), and never takes away the host's or the
identity's branch, which hold the platform's own tables.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.script import Script, ScriptDirectory

from adapters.storage import migrate
from core.errors import Conflict, ValidationFailed
from host import audit
from host.console import opened, table
from host.runtime import Runtime
from host.settings import Settings

PLATFORM = ("host", "identity")  # branches no command takes back


@dataclass
class Branch:
    label: str
    revisions: list[Script]  # base first
    applied: str | None = None  # the newest applied revision, None: not applied
    needs: set[str] = field(default_factory=set)  # the branches its revisions depend on

    @property
    def head(self) -> str:
        return self.revisions[-1].revision

    def state(self) -> str:
        if self.applied is None:
            return "not applied"
        behind = len(self.revisions) - 1 - [r.revision for r in self.revisions].index(self.applied)
        return "at head" if behind == 0 else f"{behind} behind"


def add_parser(sub: Any) -> None:
    mg = sub.add_parser("migrate", help="apply the host, identity and enabled modules' migrations, "
                        "or (with an action) inspect or take back one branch")
    actions = mg.add_subparsers(dest="migrate_command", metavar="action")  # none: apply every branch
    actions.add_parser("current", help="each branch's applied revision against its head")
    actions.add_parser("history", help="each branch's revisions in order, the applied ones marked")
    down = actions.add_parser("downgrade", help="remove a module's tables (its branch, down to base)")
    down.add_argument("module")
    down.add_argument("--yes", action="store_true", help="confirm without being asked (scripts)")
    mg.set_defaults(run=run)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings) as rt:
        if args.migrate_command is None:
            await rt.migrate()
            print(f"migrated: {', '.join(rt.migration_locations())}")
            return 0
        engine = getattr(rt.storage, "engine", None)
        if engine is None:
            raise ValidationFailed(f"the {settings.storage_adapter} storage adapter has no Alembic branches")
        found = branches(rt.migration_locations(), await migrate.current(engine))
        if args.migrate_command == "current":
            print(table(("branch", "applied", "head", "state"),
                        [(b.label, b.applied or "-", b.head, b.state()) for b in found.values()]))
        elif args.migrate_command == "history":
            print(table(("branch", "revision", "applied", "description"), [
                (b.label, r.revision, "yes" if b.applied and _at_or_below(b, r.revision) else "no",
                 (r.doc or "").splitlines()[0][:100] if r.doc else "")
                for b in found.values() for r in b.revisions]))
        else:
            await _downgrade(rt, engine, found, args)
    return 0


def branches(locations: dict[str, str], heads: set[str]) -> dict[str, Branch]:
    """Each branch (label -> versions folder) with its revisions and what of it ``heads`` (the
    database's ``alembic_version``) has applied; a head no folder knows is an error naming it."""
    script = ScriptDirectory(next(iter(locations.values())), version_locations=list(locations.values()))
    folders = {Path(folder).resolve(): label for label, folder in locations.items()}
    found = {label: Branch(label, []) for label in locations}
    owner: dict[str, str] = {}
    for rev in reversed(list(script.walk_revisions("base", "heads"))):
        label = folders[Path(rev.path).resolve().parent]
        owner[rev.revision] = label
        found[label].revisions.append(rev)
    unknown = sorted(heads - set(owner))
    if unknown:
        raise ValidationFailed(f"the database holds revisions no enabled branch has ({', '.join(unknown)}): "
                               "enable their modules in SHIFO_MODULES first")
    applied = {r.revision for head in heads for r in script.walk_revisions("base", head)}
    for branch in found.values():
        done = [r.revision for r in branch.revisions if r.revision in applied]
        branch.applied = done[-1] if done else None
        for rev in branch.revisions:
            deps = rev.dependencies or ()
            for dep in (deps,) if isinstance(deps, str) else deps:
                dep_owner = owner.get(script.get_revision(dep).revision)
                if dep_owner and dep_owner != branch.label:
                    branch.needs.add(dep_owner)
    return {label: b for label, b in found.items() if b.revisions}


def _at_or_below(branch: Branch, revision: str) -> bool:
    order = [r.revision for r in branch.revisions]
    return branch.applied is not None and order.index(revision) <= order.index(branch.applied)


async def _downgrade(rt: Runtime, engine: Any, found: dict[str, Branch], args: argparse.Namespace) -> None:
    module = args.module
    if module in PLATFORM:
        raise ValidationFailed(f"the {module} branch holds the platform's own tables and is never "
                               "downgraded; name a module")
    if module not in found or module not in rt.modules.names:
        raise ValidationFailed(f"no enabled module {module!r} with migrations; the modules' branches: "
                               f"{', '.join(b for b in found if b not in PLATFORM) or 'none'}")
    target = found[module]
    requires = {m.info.name: set(m.info.requires) for m in rt.modules.enabled}
    dependents = [b.label for b in found.values() if b.applied and b.label != module
                  and (module in b.needs or module in requires.get(b.label, ()))]
    if dependents:
        them = ", ".join(dependents)
        raise Conflict(f"cannot downgrade {module}: {them} depend{'s' if len(dependents) == 1 else ''} "
                       f"on it and {'is' if len(dependents) == 1 else 'are'} applied; downgrade {them} first")
    if target.applied is None:
        print(f"{module} is not applied: nothing to downgrade")
        return
    if not args.yes:
        _confirm(module)
    await migrate.downgrade(engine, rt.migration_locations(), f"{target.revisions[0].revision}@base")
    async with rt.storage.transaction() as tx:
        await audit.record(tx, audit.AuditEntry(action="operator.migrate/downgrade", login="cli",
                                                role="operator", object=module,
                                                detail=f"{target.applied} to base"))
    print(f"downgraded {module} from {target.applied} to base: its tables are removed "
          "(shifo migrate applies them again, empty)")


def _confirm(module: str) -> None:
    """Dropping a module's tables drops their rows: asked at a terminal, ``--yes`` elsewhere."""
    if not sys.stdin.isatty():
        raise ValidationFailed(f"downgrading {module} drops its tables and every row in them: "
                               "pass --yes to confirm")
    answer = input(f"downgrading {module} drops its tables and every row in them; type {module!r} to go on: ")
    if answer.strip() != module:
        raise ValidationFailed("not confirmed: nothing changed")
