"""Language-neutral adapters: ``http(s)://`` services speaking the signing-proxy API (:mod:`.http`)
and ``cmd:`` child processes speaking the JSON-lines protocol (:mod:`.cmd`); ``docs/adapter.md``."""
