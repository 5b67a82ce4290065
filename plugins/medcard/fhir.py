"""The medcard module's data as FHIR R5 resources (hook ``shifo_fhir_resources``): the registry
as Patient, and the card's current entries as Condition, Observation (vital signs, laboratory results,
complaints and findings) and DiagnosticReport."""

from __future__ import annotations

from host.pluginapi import FhirResource
from plugins.medcard import fhir_conditions, fhir_notes, fhir_observations, fhir_patients, fhir_reports

RESOURCES: list[FhirResource] = [fhir_patients.RESOURCE, fhir_conditions.RESOURCE,
                                 fhir_observations.RESOURCE, fhir_notes.RESOURCE, fhir_reports.RESOURCE]
