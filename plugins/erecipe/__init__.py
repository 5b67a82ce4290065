"""Electronic prescription (`erecipe`)."""

from host.pluginapi import ModuleInfo

INFO = ModuleInfo(name="erecipe", title="Electronic prescription", version="0.1.0", requires=("medcard",))
