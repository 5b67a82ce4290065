"""The module proves itself with Shifo's module contract kit, as every module must."""

from __future__ import annotations

import pytest

from host.testing.module_kit import ModuleContract, ModuleKitSubject


class TestImmunizationContract(ModuleContract):
    @pytest.fixture
    def module_kit_subject(self) -> ModuleKitSubject:
        return ModuleKitSubject(name="immunization")  # the installed entry point, as SHIFO_MODULES finds it
