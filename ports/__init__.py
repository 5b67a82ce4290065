"""The host's promises to modules, as typing.Protocol. Signatures use core types only."""
