"""PKCS#11 tokens for the ``pkcs11`` backend kind: not an emulator but a real token, SoftHSM2 from
Debian's ``softhsm2`` (:mod:`.softhsm`), in a private directory per process; or any PKCS#11 module
the user names (a real HSM). Providers: :mod:`.provider`."""
