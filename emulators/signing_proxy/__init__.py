"""The reference signing proxy (seed 001, "Signing Proxy / HSM"): an HTTP signing service over any
reference signer; the API is in ``docs/signing-proxy.md``.

Layers: :mod:`.models` (service state) <- :mod:`.wire` / :mod:`.responses` (parsing, routes, errors)
<- :mod:`.server` (threaded HTTP(S) transport). :mod:`.provider` registers ``signing-proxy``;
``python -m pytest_kmsconform.emulators.signing_proxy`` runs it as a service.
"""
