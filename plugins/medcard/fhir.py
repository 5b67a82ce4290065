"""The medcard module's data as FHIR R5 resources (hook ``shifo_fhir_resources``)."""

from __future__ import annotations

from host.pluginapi import FhirResource

RESOURCES: list[FhirResource] = []
