"""Reference signer and air-gapped verifier for every backend kmsconform certifies.

Safe API: :mod:`.algorithms`, :mod:`.signature`, :mod:`.canonical`, :mod:`.errors`,
:mod:`.signer`, :mod:`.keyring`, :mod:`.verifier`, :mod:`.audit`. Backends live in
:mod:`.backends` (one module each); :mod:`.config` builds a signer from the seed's env variables.
"""
