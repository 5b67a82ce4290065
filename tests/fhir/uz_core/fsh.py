"""A small reader of the national guide's FSH rules, just enough to check resources against a profile.

It reads what a claim must honour: fixed values and patterns (``* path = value``), cardinalities
(``* path 1..1``), bindings (``* path from ValueSet (required)``; no strength means required, as
in SUSHI) and slices (``* path contains a 0..1 and ...``, members told apart by the discriminator
path's fixed value). Rule sets are expanded, ``$aliases`` resolved, and a ValueSet's codes are
read where the FSH lists them (whole code systems or single codes). Everything else (``only``,
``obeys``, must-support flags, caret rules other than the discriminator) is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CANONICAL = "https://dhp.uz/fhir/core"
#: HL7 value sets a profile binds to whose codes the FSH does not list: checked by their code system.
EXTERNAL = {"http://hl7.org/fhir/ValueSet/icd-10": ("http://hl7.org/fhir/sid/icd-10", None),
            "http://hl7.org/fhir/ValueSet/observation-codes": ("http://loinc.org", None)}
_ENTITY = re.compile(r"^(Profile|Instance|Extension|ValueSet|CodeSystem|RuleSet|Invariant|Logical|Alias|"
                     r"Mapping|Resource)\s*:\s*(.+?)\s*$")
_CARD = re.compile(r"^(\d+)\.\.(\d+|\*)?$")


@dataclass
class Profile:
    name: str
    id: str
    url: str
    parent: str
    cards: list[tuple[str, int, int | None]] = field(default_factory=list)
    fixed: list[tuple[str, Any]] = field(default_factory=list)
    bindings: list[tuple[str, str, str]] = field(default_factory=list)  # path, value set, strength
    slices: dict[str, dict[str, tuple[int, int | None]]] = field(default_factory=dict)
    discriminators: dict[str, str] = field(default_factory=dict)


def _strip(line: str) -> str:
    return re.sub(r"(^|\s)//.*$", "", line.rstrip())


def _blocks(text: str) -> list[tuple[str, str, list[str]]]:
    """(kind, name, lines) of each top-level entity."""
    out: list[tuple[str, str, list[str]]] = []
    for raw in text.splitlines():
        line = _strip(raw)
        if m := _ENTITY.match(line):
            out.append((m[1], m[2], [line]))
        elif out and line.strip():
            out[-1][2].append(line)
    return out


class Guide:
    """The FSH under ``root``: aliases, rule sets, profiles, value sets and code systems."""

    def __init__(self, root: Path = HERE) -> None:
        self.aliases: dict[str, str] = {}
        self.rulesets: dict[str, tuple[list[str], list[str]]] = {}
        self.profiles: dict[str, Profile] = {}
        self.valuesets: dict[str, set[tuple[str, str | None]] | None] = {}
        self.codesystems: dict[str, str] = {}
        blocks = [b for f in sorted(root.rglob("*.fsh")) for b in _blocks(f.read_text(encoding="utf-8"))]
        for kind, name, lines in blocks:
            if kind == "Alias":
                alias, _, url = name.partition("=")
                self.aliases[alias.strip()] = url.strip()
            elif kind == "RuleSet":
                rs, _, params = name.partition("(")
                self.rulesets[rs.strip()] = ([p.strip() for p in params.rstrip(")").split(",") if p.strip()],
                                             lines[1:])
            elif kind == "CodeSystem":
                self._codesystem(name, lines)
        for kind, name, lines in blocks:
            if kind == "ValueSet":
                self._valueset(name, lines)
            elif kind == "Profile":
                self._profile(name, lines)

    # -- names ---------------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        name = name.strip().strip('"')
        return self.aliases.get(name) or self.codesystems.get(name) or name

    def _header(self, lines: list[str], key: str) -> str | None:
        return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(f"{key}:")), None)

    def _codesystem(self, name: str, lines: list[str]) -> None:
        cid = self._header(lines, "Id") or name
        url = f"{CANONICAL}/CodeSystem/{cid}"
        for ln in lines:
            if m := re.search(r'\^url = "(.+?)"', ln):
                url = m[1]
            elif m := re.search(r"insert (?:Original|Supplement)CodeSystem\w*\((.+?)[,)]", ln):
                url = f"https://terminology.dhp.uz/fhir/core/CodeSystem/{m[1].strip()}"
        self.codesystems[name] = self.codesystems[cid] = url

    def _valueset(self, name: str, lines: list[str]) -> None:
        codes: set[tuple[str, str | None]] | None = set()
        url = None
        for ln in lines[1:]:
            if m := re.search(r'\^url = "(.+?)"', ln):
                url = m[1]
            if not ln.startswith("* ") or "^" in ln:
                continue
            rule = ln[2:].strip()
            if m := re.fullmatch(r"(?:include\s+)?codes from system\s+(\S+)", rule):
                codes.add((self.resolve(m[1]), None))  # type: ignore[union-attr]
            elif m := re.fullmatch(r"(?:include\s+)?(\S*)#(\S+)(?:\s+\".*\")?", rule):
                codes.add((self.resolve(m[1]), m[2].strip('"')))  # type: ignore[union-attr]
            elif rule.startswith(("include", "exclude", "codes")):
                codes = None  # a form this reader does not expand: the binding is not checked
                break
        for key in {name, self._header(lines, "Id"), url}:
            if key:
                self.valuesets[key] = codes

    def codes(self, valueset: str) -> set[tuple[str, str | None]] | None:
        """The (system, code) pairs a value set admits (code None: any code of the system), or None
        when the FSH does not list them."""
        url = self.resolve(valueset)
        if url in EXTERNAL:
            return {EXTERNAL[url]}
        return self.valuesets.get(valueset, self.valuesets.get(url))

    # -- profiles ------------------------------------------------------------------------------
    def _expand(self, lines: list[str], indent: str = "") -> list[str]:
        out: list[str] = []
        for ln in lines:
            m = re.match(r"^(\s*)\* insert (\w+)(?:\((.*)\))?\s*$", ln)
            if not m:
                out.append(indent + ln)
                continue
            params, body = self.rulesets[m[2]]
            args = [a.strip() for a in (m[3] or "").split(",")] if m[3] else []
            text = "\n".join(body)
            for p, a in zip(params, args, strict=False):
                text = text.replace("{" + p + "}", a)
            out += self._expand(text.splitlines(), indent + m[1])
        return out

    def _profile(self, name: str, lines: list[str]) -> None:
        p = Profile(name=name, id=self._header(lines, "Id") or name, url="",
                    parent=self._header(lines, "Parent") or "")
        p.url = f"{CANONICAL}/StructureDefinition/{p.id}"
        stack: list[tuple[int, str]] = []  # (indent, path) of enclosing rules
        pending: tuple[str, list[str]] | None = None  # a ``contains`` continued on the next lines
        for ln in self._expand(lines[1:]):
            stripped = ln.strip()
            if not stripped.startswith("*"):
                if pending and not stripped.startswith("^"):
                    pending[1].append(stripped)
                continue
            if pending:
                self._contains(p, *pending)
                pending = None
            depth = len(ln) - len(ln.lstrip())
            while stack and stack[-1][0] >= depth:
                stack.pop()
            rule = stripped[1:].strip()
            head = rule.split()[0] if rule.split() else ""
            base = stack[-1][1] if stack else ""
            path = f"{base}.{head}".strip(".") if not head.startswith("^") else base
            if head.startswith("^"):
                if m := re.match(r"\^url = (\S+)", rule):
                    p.url = self.resolve(m[1])
                continue
            stack.append((depth, path))
            rest = rule[len(head):].strip()
            if m := re.match(r"\^slicing\.discriminator\.path = \"(.+)\"", rest):
                p.discriminators[path] = m[1]
            elif rest.split()[:1] == ["contains"]:
                pending = (path, [rest[len("contains"):].strip()])
            elif m := re.match(r"^(\d+\.\.(?:\d+|\*)?)", rest):
                lo, hi = _CARD.match(m[1]).groups()  # type: ignore[union-attr]
                p.cards.append((path, int(lo), None if hi in (None, "*") else int(hi)))
            elif rest.startswith("= "):
                p.fixed.append((path, self._value(rest[2:].strip())))
            elif m := re.match(r"^from (\S+)(?: \((\w+)\))?", rest):
                p.bindings.append((path, m[1], m[2] or "required"))
        if pending:
            self._contains(p, *pending)
        self.profiles[name] = self.profiles[p.id] = p

    def _contains(self, p: Profile, path: str, parts: list[str]) -> None:
        for item in " ".join(parts).split(" and "):
            words = item.split()
            if "named" in words:
                words = words[words.index("named") + 1:]
            card = next((w for w in words if _CARD.match(w)), "0..*")
            lo, hi = _CARD.match(card).groups()  # type: ignore[union-attr]
            p.slices.setdefault(path, {})[words[0]] = (int(lo), None if hi in (None, "*") else int(hi))

    def _value(self, text: str) -> Any:
        """A fixed value: ``system#code "display"`` as a (system, code) coding, else the string."""
        if m := re.fullmatch(r"(\S*)#(\S+)(?:\s+\".*\")?", text):
            return (self.resolve(m[1]) if m[1] else None, m[2].strip('"'))
        return self.resolve(text)


# -- checking a resource ---------------------------------------------------------------------------
def matches(value: Any, fixed: Any) -> bool:
    """Does ``value`` honour the fixed value or pattern ``fixed``?"""
    if isinstance(fixed, tuple):
        system, code = fixed
        if isinstance(value, str):
            return bool(value == code)
        codings = value.get("coding", []) if "coding" in value else [value]
        return any(c.get("code") == code and (system is None or c.get("system") == system) for c in codings)
    return bool(value == fixed)


def _children(node: Any, name: str) -> list[Any]:
    if not isinstance(node, dict):
        return []
    if name.endswith("[x]"):
        stem = name[:-3]
        found = [v for k, v in node.items() if k.startswith(stem) and k[len(stem):][:1].isupper()]
    else:
        found = [node[name]] if name in node else []
    return [x for v in found for x in (v if isinstance(v, list) else [v])]


class Checker:
    """The rules of one profile applied to resources; each ``check`` returns the broken rules."""

    def __init__(self, guide: Guide, profile: str) -> None:
        self.guide, self.p = guide, guide.profiles[profile]
        self.unchecked: set[str] = set()  # value sets whose codes the FSH does not list

    def member(self, slice_path: str, name: str, value: Any) -> bool:
        disc = self.p.discriminators.get(slice_path)
        fixed = dict(self.p.fixed).get(f"{slice_path}[{name}].{disc}")
        return disc is not None and fixed is not None and any(
            matches(v, fixed) for v in _children(value, disc))

    def select(self, node: Any, path: str) -> list[Any]:
        """The elements at ``path`` (slices filtered by their discriminator)."""
        nodes, plain = [node], []
        for seg in path.split("."):
            name, slice_ = seg, None
            if not seg.endswith("[x]") and (m := re.fullmatch(r"(\w+)\[([^\]]+)\]", seg)):
                name, slice_ = m[1], m[2]
            plain.append(name)
            nodes = [c for n in nodes for c in _children(n, name)]
            if slice_:
                nodes = [n for n in nodes if self.member(".".join(plain), slice_, n)]
        return nodes

    def _in(self, value: Any, valueset: str) -> bool:
        codes = self.guide.codes(valueset)
        if codes is None:
            self.unchecked.add(valueset)
            return True
        if isinstance(value, str):  # a code: its system is the element's own
            return any(c in (value, None) for _, c in codes)
        codings = value.get("coding", []) if "coding" in value else [value]
        return any((c.get("system"), c.get("code")) in codes or (c.get("system"), None) in codes
                   for c in codings)

    def check(self, resource: dict[str, Any]) -> list[str]:
        broken: list[str] = []
        for path, lo, hi in self.p.cards:
            parent, _, last = path.rpartition(".")
            for node in self.select(resource, parent) if parent else [resource]:
                n = len(self.select(node, last))
                if n < lo or (hi is not None and n > hi):
                    broken.append(f"{path}: {n} not in {lo}..{hi if hi is not None else '*'}")
        for path, fixed in self.p.fixed:
            broken += [f"{path}: {v!r} is not {fixed!r}" for v in self.select(resource, path)
                       if not matches(v, fixed)]
        for path, valueset, strength in self.p.bindings:
            if strength == "required":
                broken += [f"{path}: {v!r} not from {valueset}" for v in self.select(resource, path)
                           if not self._in(v, valueset)]
        for path, slices in self.p.slices.items():
            parent, _, last = path.rpartition(".")
            for node in self.select(resource, parent) if parent else [resource]:
                for name, (lo, hi) in slices.items():
                    n = len(self.select(node, f"{last}[{name}]"))
                    if n < lo or (hi is not None and n > hi):
                        broken.append(f"{path}[{name}]: {n} not in {lo}..{hi if hi is not None else '*'}")
        return broken


@cache
def guide() -> Guide:
    """The copied guide, read once."""
    return Guide()


def broken_claims(resource: dict[str, Any]) -> list[str]:
    """The rules ``resource`` breaks of the UZ Core profiles it claims in ``meta.profile``."""
    by_url = {p.url: name for name, p in guide().profiles.items()}
    return [f"{by_url[url]}: {rule}" for url in resource.get("meta", {}).get("profile", []) if url in by_url
            for rule in Checker(guide(), by_url[url]).check(resource)]
