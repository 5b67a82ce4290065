"""Electronic polyclinic (`polyclinic`)."""

from host.pluginapi import ModuleInfo

INFO = ModuleInfo(name="polyclinic", title="Electronic polyclinic", version="0.1.0", requires=("medcard",))
