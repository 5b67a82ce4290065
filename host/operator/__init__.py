"""Operator tools: facilities, module installations within 15 working days, the yearly access
review, onboarding imports and monitoring. Operators administer; they read no clinical data."""
