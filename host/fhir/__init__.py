"""The FHIR R5 facade (``/fhir``): the host speaks the protocol, modules map their own data."""
