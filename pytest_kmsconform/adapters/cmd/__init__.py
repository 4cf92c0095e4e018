"""``--kmsconform-impl=cmd:<command line>``: an implementation in a child process speaking the
JSON-lines protocol of ``docs/protocol.md`` (:mod:`.child` is the transport, :mod:`.adapter` maps
the protocol onto the :class:`~pytest_kmsconform.adapter.Implementation` shape)."""
