"""The contract's migration cases: one Alembic branch of the module's own, whose revisions create
only ``<module>_*`` tables and downgrade back to exactly what was there before."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from adapters.storage import migrate
from host.runtime import Runtime

if TYPE_CHECKING:
    from host.testing.module_kit import ModuleKitSubject

HOST_ROOT = "h0001"  # the host's first revision: every module branch depends on it


def branch(locations: dict[str, str], name: str) -> dict[str, Any]:
    """The module's Alembic revisions by id: those in its own migrations directory."""
    folder = Path(locations[name]).resolve()
    script = ScriptDirectory(str(folder), version_locations=list(locations.values()))
    return {r.revision: r for r in script.walk_revisions("base", "heads")
            if r.path and Path(r.path).resolve().parent == folder}


def branch_problems(locations: dict[str, str], name: str) -> list[str]:
    """One Alembic branch of the module's own: one root labelled ``name`` that depends on the
    host's first revision, one head, and no revision hung on another branch."""
    if name not in locations:
        return []  # a module without tables
    if not Path(locations[name]).is_dir():
        return [f"{name}: migrations directory {locations[name]} does not exist"]
    revs = branch(locations, name)
    if not revs:
        return [f"{name}: {locations[name]} holds no revisions"]
    roots = [r for r in revs.values() if r.down_revision is None]
    problems = []
    if len(roots) != 1:
        found = sorted(r.revision for r in roots)
        problems.append(f"{name}: the branch must have one first revision, found {found}")
    for root in roots:
        if name not in (root.branch_labels or ()):
            problems.append(f"{name}: first revision {root.revision} needs branch_labels = ({name!r},)")
        if HOST_ROOT not in _tuple(root.dependencies):
            problems.append(f"{name}: first revision {root.revision} needs depends_on = {HOST_ROOT!r}")
    for rev in revs.values():
        strays = [d for d in _tuple(rev.down_revision) if d not in revs]
        if strays:
            problems.append(f"{name}: revision {rev.revision} follows {strays}, outside the module's branch")
    heads = [r for r in revs.values() if not (set(r.nextrev) & set(revs))]
    if len(heads) != 1:
        problems.append(f"{name}: the branch must end in one head, found {sorted(r.revision for r in heads)}")
    return problems


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


async def applied_problems(subject: ModuleKitSubject, tmp: Path) -> list[str]:
    """Migrate a fresh SQLite database without the module, then with it, then undo its branch."""
    name, url = subject.name, f"sqlite+aiosqlite:///{tmp / 'kit.db'}"
    rt = Runtime.plan(subject.settings(url, tmp), subject.extra_plugins)
    await rt.open()
    try:
        engine = rt.storage.engine  # type: ignore[attr-defined]
        locations = rt.migration_locations()
        if name not in locations:
            return []  # a module without tables
        await migrate.upgrade(engine, {k: v for k, v in locations.items() if k != name})
        before = await _tables(engine)
        await rt.migrate()
        added = await _tables(engine) - before
        problems = [f"migrations create table {t!r}: name the module's tables {name}_*"
                    for t in sorted(added) if not t.startswith(f"{name}_")]
        if not added:
            problems.append(f"{name} declares migrations that create no table")
        root = next(r.revision for r in branch(locations, name).values() if r.down_revision is None)
        await migrate.downgrade(engine, locations, f"{root}@base")
        if (left := await _tables(engine)) != before:
            problems.append(f"downgrading the {name} branch left {sorted(left ^ before)} behind")
        return problems
    finally:
        await rt.stop()


async def _tables(engine: Any) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {"alembic_version"}
