"""JSON Schemas of the implementation protocol, version 1 (package data; see ``docs/protocol.md``)."""
