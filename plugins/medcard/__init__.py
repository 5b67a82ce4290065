"""Electronic medical card (`medcard`)."""

from host.pluginapi import ModuleInfo

INFO = ModuleInfo(name="medcard", title="Electronic medical card", version="0.1.0", requires=())
