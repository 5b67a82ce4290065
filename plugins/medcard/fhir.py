"""The medcard module's data as FHIR R5 resources (hook ``shifo_fhir_resources``): the registry
as Patient, and the card's current entries as Condition, Observation (vital signs, laboratory results,
complaints and findings) and DiagnosticReport. Conditions and vital-sign Observations may also be
created in a transaction Bundle (:mod:`plugins.medcard.fhir_writes`), with the native permissions."""

from __future__ import annotations

import msgspec

from host.pluginapi import FhirResource
from plugins.medcard import fhir_conditions, fhir_notes, fhir_observations, fhir_patients, fhir_reports
from plugins.medcard.fhir_writes import condition, observation, writer

CONDITION = msgspec.structs.replace(
    fhir_conditions.RESOURCE, create=writer(condition, fhir_conditions.RESOURCE.read),
    write_object="medcard.diagnosis", write_action="record")
OBSERVATION = msgspec.structs.replace(
    fhir_observations.RESOURCE, create=writer(observation, fhir_observations.RESOURCE.read),
    write_object="medcard.indicator", write_action="record")

RESOURCES: list[FhirResource] = [fhir_patients.RESOURCE, CONDITION, OBSERVATION, fhir_notes.RESOURCE,
                                 fhir_reports.RESOURCE]
