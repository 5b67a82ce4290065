"""Electronic hospital (`hospital`)."""

from host.pluginapi import ModuleInfo

INFO = ModuleInfo(name="hospital", title="Electronic hospital", version="0.1.0", requires=("medcard",))
