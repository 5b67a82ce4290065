"""Immunization records (`immunization`): an example Shifo module in a package of its own."""

from host.pluginapi import ModuleInfo

INFO = ModuleInfo(name="immunization", title="Immunization record", version="0.1.0", requires=("medcard",))
