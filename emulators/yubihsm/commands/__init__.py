"""Handlers of the commands sent inside a session: ``handler(ctx, payload) -> response payload``.

Each handler validates its payload, enforces capabilities and domains through the object store,
and reports the objects it touched in ``ctx`` for the audit log. :data:`HANDLERS` is the dispatch
table; a command missing from it is ``INVALID_COMMAND``.
"""

from __future__ import annotations

from ..defs import Command
from . import admin, asymmetric, symmetric, wrapping
from .base import After, Context, Handler

__all__ = ["HANDLERS", "After", "Context", "Handler"]

HANDLERS: dict[Command, Handler] = {
    Command.ECHO: admin.echo,
    Command.DEVICE_INFO: admin.device_info,
    Command.GET_PSEUDO_RANDOM: admin.get_pseudo_random,
    Command.CLOSE_SESSION: admin.close_session,
    Command.RESET_DEVICE: admin.reset_device,
    Command.BLINK_DEVICE: admin.blink_device,
    Command.GET_STORAGE_INFO: admin.get_storage_info,
    Command.LIST_OBJECTS: admin.list_objects,
    Command.GET_OBJECT_INFO: admin.get_object_info,
    Command.DELETE_OBJECT: admin.delete_object,
    Command.PUT_OPAQUE: admin.put_opaque,
    Command.GET_OPAQUE: admin.get_opaque,
    Command.PUT_AUTHENTICATION_KEY: admin.put_authentication_key,
    Command.CHANGE_AUTHENTICATION_KEY: admin.change_authentication_key,
    Command.GENERATE_ASYMMETRIC_KEY: asymmetric.generate_asymmetric_key,
    Command.PUT_ASYMMETRIC_KEY: asymmetric.put_asymmetric_key,
    Command.GET_PUBLIC_KEY: asymmetric.get_public_key,
    Command.SIGN_PKCS1: asymmetric.sign_pkcs1,
    Command.SIGN_PSS: asymmetric.sign_pss,
    Command.SIGN_ECDSA: asymmetric.sign_ecdsa,
    Command.SIGN_EDDSA: asymmetric.sign_eddsa,
    Command.DERIVE_ECDH: asymmetric.derive_ecdh,
    Command.SIGN_ATTESTATION_CERTIFICATE: asymmetric.sign_attestation_certificate,
    Command.DECRYPT_PKCS1: asymmetric.decrypt_pkcs1,
    Command.DECRYPT_OAEP: asymmetric.decrypt_oaep,
    Command.GENERATE_HMAC_KEY: symmetric.generate_hmac_key,
    Command.PUT_HMAC_KEY: symmetric.put_hmac_key,
    Command.SIGN_HMAC: symmetric.sign_hmac,
    Command.VERIFY_HMAC: symmetric.verify_hmac,
    Command.GENERATE_WRAP_KEY: wrapping.generate_wrap_key,
    Command.PUT_WRAP_KEY: wrapping.put_wrap_key,
    Command.EXPORT_WRAPPED: wrapping.export_wrapped,
    Command.IMPORT_WRAPPED: wrapping.import_wrapped,
    Command.WRAP_DATA: wrapping.wrap_data,
    Command.PUT_PUBLIC_WRAP_KEY: wrapping.put_public_wrap_key,
    Command.WRAP_KEY_RSA: wrapping.wrap_key_rsa,
    Command.UNWRAP_KEY_RSA: wrapping.unwrap_key_rsa,
    Command.EXPORT_WRAPPED_RSA: wrapping.export_wrapped_rsa,
    Command.IMPORT_WRAPPED_RSA: wrapping.import_wrapped_rsa,
    Command.UNWRAP_DATA: wrapping.unwrap_data,
    Command.PUT_SYMMETRIC_KEY: symmetric.put_symmetric_key,
    Command.GENERATE_SYMMETRIC_KEY: symmetric.generate_symmetric_key,
    Command.ENCRYPT_ECB: symmetric.encrypt_ecb,
    Command.DECRYPT_ECB: symmetric.decrypt_ecb,
    Command.ENCRYPT_CBC: symmetric.encrypt_cbc,
    Command.DECRYPT_CBC: symmetric.decrypt_cbc,
    Command.PUT_OTP_AEAD_KEY: symmetric.put_otp_aead_key,
    Command.GENERATE_OTP_AEAD_KEY: symmetric.generate_otp_aead_key,
    Command.CREATE_OTP_AEAD: symmetric.create_otp_aead,
    Command.RANDOMIZE_OTP_AEAD: symmetric.randomize_otp_aead,
    Command.DECRYPT_OTP: symmetric.decrypt_otp,
    Command.REWRAP_OTP_AEAD: symmetric.rewrap_otp_aead,
    Command.GET_LOG_ENTRIES: admin.get_log_entries,
    Command.SET_LOG_INDEX: admin.set_log_index,
    Command.SET_OPTION: admin.set_option,
    Command.GET_OPTION: admin.get_option,
}
