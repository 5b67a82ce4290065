"""The erecipe module's data as FHIR R5 resources (hook ``shifo_fhir_resources``): prescription
lines as MedicationRequest, dispensings as MedicationDispense, their signatures as Provenance."""

from __future__ import annotations

from host.pluginapi import FhirResource
from plugins.erecipe import fhir_dispenses, fhir_medications, fhir_provenance, fhir_requests

RESOURCES: list[FhirResource] = [fhir_requests.RESOURCE, fhir_requests.DISPENSING, fhir_dispenses.RESOURCE,
                                 fhir_provenance.RESOURCE,
                                 fhir_medications.RESOURCE]  # a type's fullest provider first
