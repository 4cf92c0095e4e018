"""One module per signing backend, each implementing :class:`~..signer.KeyBackend` or
:class:`~..signer.Signer`: ``local`` (local-key fallback), ``mock`` (deterministic HMAC),
``aws_kms``, ``vault``, ``yubihsm``, ``signing_proxy``."""
