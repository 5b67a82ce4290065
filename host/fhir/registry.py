"""Who serves which FHIR type: the host's own resources first, then the enabled modules'.

A :class:`Provider` is a module's :class:`~host.pluginapi.FhirResource` with what the host needs
to decide access: the module (whose installation at the facility it needs) or, for the host's
own types, the clinical roles that may read them. Several providers may serve one type.
"""

from __future__ import annotations

from typing import Any

import msgspec

from host.pluginapi import FhirRequest, FhirResource

#: Types outside any patient's compartment: directory and reference data (the medicines register's
#: ``Medication``) a patient may read too, and staff may list without naming a patient.
NON_CLINICAL = frozenset({"Organization", "Practitioner", "PractitionerRole", "Medication"})


class Provider(msgspec.Struct, frozen=True, kw_only=True):
    resource: FhirResource
    module: str | None = None  # None: the host's own type, checked against ``roles``
    roles: frozenset[str] = frozenset()  # host types: the roles that may read them at a facility
    everything: bool = True  # part of Patient/$everything when it has a patient compartment

    @property
    def type(self) -> str:
        return self.resource.type

    @property
    def permission(self) -> str:
        return f"{self.resource.object}/{self.resource.action}"


class HostRequest(FhirRequest, kw_only=True):
    """The request the host's own providers receive: also the caller's facility (staff) and the
    identity port (accounts and grants for Practitioner and PractitionerRole)."""

    staff: bool = False  # False: a patient, confined to their compartment
    facility: str | None = None
    identity: Any = None


def collect(host: list[Provider], modules: list[tuple[Any, list[FhirResource]]]) -> dict[str, list[Provider]]:
    """Providers by type, in order: the host's, then the modules' in dependency order."""
    by_type: dict[str, list[Provider]] = {}
    for provider in host:
        by_type.setdefault(provider.type, []).append(provider)
    for info, resources in modules:
        for resource in resources:
            by_type.setdefault(resource.type, []).append(Provider(resource=resource, module=info.name))
    return by_type
