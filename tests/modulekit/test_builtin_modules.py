"""The module contract kit runs against the four built-in modules, as a module package would run
it against its own (``host.testing.module_kit``)."""

from __future__ import annotations

import pytest

from host.testing.module_kit import ModuleContract, ModuleKitSubject


@pytest.mark.parametrize("name", ["medcard", "polyclinic", "hospital", "erecipe"])
class TestBuiltinModule(ModuleContract):
    @pytest.fixture
    def module_kit_subject(self, name: str) -> ModuleKitSubject:
        return ModuleKitSubject(name=name)
