"""Authorization: one Casbin enforcer, policy lines contributed by modules, checked at start-up.

The model is RBAC with domains, the domain being the facility. The caller's roles at the
request's facility come fresh from the identity port on every request (so a revoked grant stops
working at once); Casbin decides whether any of them carries the route's (object, action).
Only the four clinical roles may appear in a module's policy.
"""

from __future__ import annotations

import logging

import casbin
from casbin.model import Model

from core.errors import ConfigurationError
from core.principals import CLINICAL_ROLES
from host.pluginapi import Action, ModuleInfo, PolicyRule

MODEL = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (r.sub == p.sub || g(r.sub, p.sub, r.dom)) && (p.dom == "*" || r.dom == p.dom) \
&& r.obj == p.obj && r.act == p.act
"""


class Authorizer:
    def __init__(self, actions: list[tuple[ModuleInfo, list[Action]]],
                 policies: list[tuple[ModuleInfo, list[PolicyRule]]]) -> None:
        self.declared = self._check_actions(actions)
        model = Model()
        model.load_model_from_text(MODEL)
        self.enforcer = casbin.Enforcer(model)
        # Casbin logs every decision; refusals are in our audit trail, so keep only its errors
        logging.getLogger("casbin").setLevel(logging.ERROR)
        self._decisions: dict[tuple[frozenset[str], str, str, str], bool] = {}
        for info, rules in policies:
            for rule in rules:
                self._check_rule(info, rule)
                self.enforcer.add_policy(rule.role, "*", rule.object, rule.action)

    @staticmethod
    def _check_actions(actions: list[tuple[ModuleInfo, list[Action]]]) -> set[tuple[str, str]]:
        declared: set[tuple[str, str]] = set()
        for info, items in actions:
            for action in items:
                if not action.object.startswith(f"{info.name}."):
                    raise ConfigurationError(
                        f"module {info.name!r} declares {action.object}/{action.action} outside its "
                        f"namespace; its objects must start with '{info.name}.'")
                key = (action.object, action.action)
                if key in declared:
                    raise ConfigurationError(f"action {key[0]}/{key[1]} is declared twice")
                declared.add(key)
        return declared

    def _check_rule(self, info: ModuleInfo, rule: PolicyRule) -> None:
        if rule.role not in CLINICAL_ROLES:
            raise ConfigurationError(
                f"module {info.name!r} grants {rule.object}/{rule.action} to {rule.role!r}; only the "
                f"clinical roles {', '.join(sorted(CLINICAL_ROLES))} may receive module permissions")
        if (rule.object, rule.action) not in self.declared:
            raise ConfigurationError(
                f"module {info.name!r} grants {rule.object}/{rule.action}, which no module declares")

    def allows(self, roles: set[str], facility: str, obj: str, act: str) -> bool:
        # the policy is fixed once the app starts, so each decision is computed once
        key = (frozenset(roles), facility, obj, act)
        decided = self._decisions.get(key)
        if decided is None:
            decided = any(self.enforcer.enforce(role, facility, obj, act) for role in roles)
            if len(self._decisions) < 100_000:
                self._decisions[key] = decided
        return decided

    def roles_for(self, obj: str, act: str) -> set[str]:
        """Which clinical roles hold (obj, act): the route table's documentation and tests."""
        return {p[0] for p in self.enforcer.get_policy() if p[2] == obj and p[3] == act}
