"""YubiHSM 2 protocol constants, written from Yubico's command reference.

Kept independent of ``yubihsm.defs`` (the client library) so that the simulator does not share
the client's misreadings; ``tests/emulators/yubihsm/test_model.py`` cross-checks the two.
"""

from __future__ import annotations

import enum

LOG_CAPACITY = 62
MAX_SESSIONS = 16
SESSION_TIMEOUT_SECONDS = 30.0
LABEL_LENGTH = 40
MAX_MESSAGE_SIZE = 3136  # firmware >= 2.4.0; 2048 before
FACTORY_AUTH_KEY_ID = 1
FACTORY_PASSWORD = "password"
FACTORY_LABEL = "DEFAULT AUTHKEY CHANGE THIS ASAP"


@enum.unique
class Error(enum.IntEnum):
    OK = 0x00
    INVALID_COMMAND = 0x01
    INVALID_DATA = 0x02
    INVALID_SESSION = 0x03
    AUTHENTICATION_FAILED = 0x04
    SESSIONS_FULL = 0x05
    SESSION_FAILED = 0x06
    STORAGE_FAILED = 0x07
    WRONG_LENGTH = 0x08
    INSUFFICIENT_PERMISSIONS = 0x09
    LOG_FULL = 0x0A
    OBJECT_NOT_FOUND = 0x0B
    INVALID_ID = 0x0C
    SSH_CA_CONSTRAINT_VIOLATION = 0x0E
    INVALID_OTP = 0x0F
    DEMO_MODE = 0x10
    OBJECT_EXISTS = 0x11
    ALGORITHM_DISABLED = 0x12
    COMMAND_UNEXECUTED = 0xFF


@enum.unique
class Command(enum.IntEnum):
    ECHO = 0x01
    CREATE_SESSION = 0x03
    AUTHENTICATE_SESSION = 0x04
    SESSION_MESSAGE = 0x05
    DEVICE_INFO = 0x06
    RESET_DEVICE = 0x08
    GET_DEVICE_PUBLIC_KEY = 0x0A
    CLOSE_SESSION = 0x40
    GET_STORAGE_INFO = 0x41
    PUT_OPAQUE = 0x42
    GET_OPAQUE = 0x43
    PUT_AUTHENTICATION_KEY = 0x44
    PUT_ASYMMETRIC_KEY = 0x45
    GENERATE_ASYMMETRIC_KEY = 0x46
    SIGN_PKCS1 = 0x47
    LIST_OBJECTS = 0x48
    DECRYPT_PKCS1 = 0x49
    EXPORT_WRAPPED = 0x4A
    IMPORT_WRAPPED = 0x4B
    PUT_WRAP_KEY = 0x4C
    GET_LOG_ENTRIES = 0x4D
    GET_OBJECT_INFO = 0x4E
    SET_OPTION = 0x4F
    GET_OPTION = 0x50
    GET_PSEUDO_RANDOM = 0x51
    PUT_HMAC_KEY = 0x52
    SIGN_HMAC = 0x53
    GET_PUBLIC_KEY = 0x54
    SIGN_PSS = 0x55
    SIGN_ECDSA = 0x56
    DERIVE_ECDH = 0x57
    DELETE_OBJECT = 0x58
    DECRYPT_OAEP = 0x59
    GENERATE_HMAC_KEY = 0x5A
    GENERATE_WRAP_KEY = 0x5B
    VERIFY_HMAC = 0x5C
    SIGN_SSH_CERTIFICATE = 0x5D
    PUT_TEMPLATE = 0x5E
    GET_TEMPLATE = 0x5F
    DECRYPT_OTP = 0x60
    CREATE_OTP_AEAD = 0x61
    RANDOMIZE_OTP_AEAD = 0x62
    REWRAP_OTP_AEAD = 0x63
    SIGN_ATTESTATION_CERTIFICATE = 0x64
    PUT_OTP_AEAD_KEY = 0x65
    GENERATE_OTP_AEAD_KEY = 0x66
    SET_LOG_INDEX = 0x67
    WRAP_DATA = 0x68
    UNWRAP_DATA = 0x69
    SIGN_EDDSA = 0x6A
    BLINK_DEVICE = 0x6B
    CHANGE_AUTHENTICATION_KEY = 0x6C
    PUT_SYMMETRIC_KEY = 0x6D
    GENERATE_SYMMETRIC_KEY = 0x6E
    DECRYPT_ECB = 0x6F
    ENCRYPT_ECB = 0x70
    DECRYPT_CBC = 0x71
    ENCRYPT_CBC = 0x72
    PUT_PUBLIC_WRAP_KEY = 0x73
    WRAP_KEY_RSA = 0x74
    UNWRAP_KEY_RSA = 0x75
    EXPORT_WRAPPED_RSA = 0x76
    IMPORT_WRAPPED_RSA = 0x77
    ERROR = 0x7F

    @property
    def response_code(self) -> int:
        return int(self) | 0x80


# Commands that the device never writes to the audit log (their command-audit setting is still
# accepted and reported: see COMMAND_AUDIT_CODES).
NEVER_AUDITED = frozenset(
    {Command.ECHO, Command.DEVICE_INFO, Command.GET_LOG_ENTRIES, Command.SESSION_MESSAGE, Command.ERROR}
)

# The command-audit option of a firmware 2.4.0 device, in the order GET_OPTION reports it (Yubico's
# "Set Command Audit Option" guide shows the 65 pairs). 0x07 and 0x09 are codes with no public
# command; 0x73-0x77 (asymmetric wrap) exist from firmware 2.4.0 on.
COMMAND_AUDIT_CODES: tuple[int, ...] = (
    *(0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x08),
    *(0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x55, 0x56, 0x48, 0x49, 0x57, 0x4A, 0x4B, 0x4C, 0x4D),
    *(0x67, 0x4E, 0x4F, 0x50, 0x51, 0x52, 0x53, 0x54, 0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60),
    *(0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x0A, 0x6D, 0x6E, 0x6F, 0x70, 0x71),
    *(0x72, 0x73, 0x74, 0x75, 0x76, 0x77),
)
ASYMMETRIC_WRAP_COMMANDS = frozenset({0x73, 0x74, 0x75, 0x76, 0x77})


@enum.unique
class Algorithm(enum.IntEnum):
    RSA_PKCS1_SHA1 = 1
    RSA_PKCS1_SHA256 = 2
    RSA_PKCS1_SHA384 = 3
    RSA_PKCS1_SHA512 = 4
    RSA_PSS_SHA1 = 5
    RSA_PSS_SHA256 = 6
    RSA_PSS_SHA384 = 7
    RSA_PSS_SHA512 = 8
    RSA_2048 = 9
    RSA_3072 = 10
    RSA_4096 = 11
    EC_P256 = 12
    EC_P384 = 13
    EC_P521 = 14
    EC_K256 = 15
    EC_BP256 = 16
    EC_BP384 = 17
    EC_BP512 = 18
    HMAC_SHA1 = 19
    HMAC_SHA256 = 20
    HMAC_SHA384 = 21
    HMAC_SHA512 = 22
    EC_ECDSA_SHA1 = 23
    EC_ECDH = 24
    RSA_OAEP_SHA1 = 25
    RSA_OAEP_SHA256 = 26
    RSA_OAEP_SHA384 = 27
    RSA_OAEP_SHA512 = 28
    AES128_CCM_WRAP = 29
    OPAQUE_DATA = 30
    OPAQUE_X509_CERTIFICATE = 31
    RSA_MGF1_SHA1 = 32
    RSA_MGF1_SHA256 = 33
    RSA_MGF1_SHA384 = 34
    RSA_MGF1_SHA512 = 35
    TEMPLATE_SSH = 36
    AES128_YUBICO_OTP = 37
    AES128_YUBICO_AUTHENTICATION = 38
    AES192_YUBICO_OTP = 39
    AES256_YUBICO_OTP = 40
    AES192_CCM_WRAP = 41
    AES256_CCM_WRAP = 42
    EC_ECDSA_SHA256 = 43
    EC_ECDSA_SHA384 = 44
    EC_ECDSA_SHA512 = 45
    EC_ED25519 = 46
    EC_P224 = 47
    RSA_PKCS1_DECRYPT = 48
    EC_P256_YUBICO_AUTHENTICATION = 49
    AES128 = 50
    AES192 = 51
    AES256 = 52
    AES_ECB = 53
    AES_CBC = 54
    AES_KWP = 55


RSA_ALGORITHMS = {Algorithm.RSA_2048: 2048, Algorithm.RSA_3072: 3072, Algorithm.RSA_4096: 4096}
EC_ALGORITHMS = frozenset(
    {
        Algorithm.EC_P224,
        Algorithm.EC_P256,
        Algorithm.EC_P384,
        Algorithm.EC_P521,
        Algorithm.EC_K256,
        Algorithm.EC_BP256,
        Algorithm.EC_BP384,
        Algorithm.EC_BP512,
    }
)
HMAC_ALGORITHMS = {
    Algorithm.HMAC_SHA1: 64,  # block size = the longest key the device stores
    Algorithm.HMAC_SHA256: 64,
    Algorithm.HMAC_SHA384: 128,
    Algorithm.HMAC_SHA512: 128,
}
AES_WRAP_ALGORITHMS = {Algorithm.AES128_CCM_WRAP: 16, Algorithm.AES192_CCM_WRAP: 24, Algorithm.AES256_CCM_WRAP: 32}
AES_ALGORITHMS = {Algorithm.AES128: 16, Algorithm.AES192: 24, Algorithm.AES256: 32}
OTP_AEAD_ALGORITHMS = {
    Algorithm.AES128_YUBICO_OTP: 16,
    Algorithm.AES192_YUBICO_OTP: 24,
    Algorithm.AES256_YUBICO_OTP: 32,
}
OPAQUE_ALGORITHMS = frozenset({Algorithm.OPAQUE_DATA, Algorithm.OPAQUE_X509_CERTIFICATE})


@enum.unique
class ObjectType(enum.IntEnum):
    OPAQUE = 0x01
    AUTHENTICATION_KEY = 0x02
    ASYMMETRIC_KEY = 0x03
    WRAP_KEY = 0x04
    HMAC_KEY = 0x05
    TEMPLATE = 0x06
    OTP_AEAD_KEY = 0x07
    SYMMETRIC_KEY = 0x08
    PUBLIC_WRAP_KEY = 0x09


@enum.unique
class ListFilter(enum.IntEnum):
    ID = 0x01
    TYPE = 0x02
    DOMAINS = 0x03
    CAPABILITIES = 0x04
    ALGORITHM = 0x05
    LABEL = 0x06


@enum.unique
class Option(enum.IntEnum):
    FORCE_AUDIT = 0x01
    COMMAND_AUDIT = 0x03
    ALGORITHM_TOGGLE = 0x04
    FIPS_MODE = 0x05


@enum.unique
class AuditMode(enum.IntEnum):
    OFF = 0x00
    ON = 0x01
    FIXED = 0x02


class Origin(enum.IntFlag):
    GENERATED = 0x01
    IMPORTED = 0x02
    IMPORTED_WRAPPED = 0x10


@enum.unique
class Capability(enum.IntFlag):
    GET_OPAQUE = 1 << 0x00
    PUT_OPAQUE = 1 << 0x01
    PUT_AUTHENTICATION_KEY = 1 << 0x02
    PUT_ASYMMETRIC = 1 << 0x03
    GENERATE_ASYMMETRIC_KEY = 1 << 0x04
    SIGN_PKCS = 1 << 0x05
    SIGN_PSS = 1 << 0x06
    SIGN_ECDSA = 1 << 0x07
    SIGN_EDDSA = 1 << 0x08
    DECRYPT_PKCS = 1 << 0x09
    DECRYPT_OAEP = 1 << 0x0A
    DERIVE_ECDH = 1 << 0x0B
    EXPORT_WRAPPED = 1 << 0x0C
    IMPORT_WRAPPED = 1 << 0x0D
    PUT_WRAP_KEY = 1 << 0x0E
    GENERATE_WRAP_KEY = 1 << 0x0F
    EXPORTABLE_UNDER_WRAP = 1 << 0x10
    SET_OPTION = 1 << 0x11
    GET_OPTION = 1 << 0x12
    GET_PSEUDO_RANDOM = 1 << 0x13
    PUT_HMAC_KEY = 1 << 0x14
    GENERATE_HMAC_KEY = 1 << 0x15
    SIGN_HMAC = 1 << 0x16
    VERIFY_HMAC = 1 << 0x17
    GET_LOG_ENTRIES = 1 << 0x18
    SIGN_SSH_CERTIFICATE = 1 << 0x19
    GET_TEMPLATE = 1 << 0x1A
    PUT_TEMPLATE = 1 << 0x1B
    RESET_DEVICE = 1 << 0x1C
    DECRYPT_OTP = 1 << 0x1D
    CREATE_OTP_AEAD = 1 << 0x1E
    RANDOMIZE_OTP_AEAD = 1 << 0x1F
    REWRAP_FROM_OTP_AEAD_KEY = 1 << 0x20
    REWRAP_TO_OTP_AEAD_KEY = 1 << 0x21
    SIGN_ATTESTATION_CERTIFICATE = 1 << 0x22
    PUT_OTP_AEAD_KEY = 1 << 0x23
    GENERATE_OTP_AEAD_KEY = 1 << 0x24
    WRAP_DATA = 1 << 0x25
    UNWRAP_DATA = 1 << 0x26
    DELETE_OPAQUE = 1 << 0x27
    DELETE_AUTHENTICATION_KEY = 1 << 0x28
    DELETE_ASYMMETRIC_KEY = 1 << 0x29
    DELETE_WRAP_KEY = 1 << 0x2A
    DELETE_HMAC_KEY = 1 << 0x2B
    DELETE_TEMPLATE = 1 << 0x2C
    DELETE_OTP_AEAD_KEY = 1 << 0x2D
    CHANGE_AUTHENTICATION_KEY = 1 << 0x2E
    PUT_SYMMETRIC_KEY = 1 << 0x2F
    GENERATE_SYMMETRIC_KEY = 1 << 0x30
    DELETE_SYMMETRIC_KEY = 1 << 0x31
    DECRYPT_ECB = 1 << 0x32
    ENCRYPT_ECB = 1 << 0x33
    DECRYPT_CBC = 1 << 0x34
    ENCRYPT_CBC = 1 << 0x35
    PUBLIC_WRAP_KEY_WRITE = 1 << 0x36
    PUBLIC_WRAP_KEY_DELETE = 1 << 0x37


ALL_CAPABILITIES = Capability((1 << 0x38) - 1)
NO_CAPABILITIES = Capability(0)
# The factory key has every bit set, named or not, in both capabilities and delegated capabilities
# (GET_OBJECT_INFO of key 1 on a firmware 2.4.0 device: C = DC = ff..ff), so a key made with
# yubihsm-shell's "-c all --delegated all" (all 64 bits) is within what it may delegate.
FACTORY_CAPABILITIES = (1 << 64) - 1
ALL_DOMAINS = 0xFFFF

# The capability a session needs to delete an object of each type.
DELETE_CAPABILITY = {
    ObjectType.OPAQUE: Capability.DELETE_OPAQUE,
    ObjectType.AUTHENTICATION_KEY: Capability.DELETE_AUTHENTICATION_KEY,
    ObjectType.ASYMMETRIC_KEY: Capability.DELETE_ASYMMETRIC_KEY,
    ObjectType.WRAP_KEY: Capability.DELETE_WRAP_KEY,
    ObjectType.HMAC_KEY: Capability.DELETE_HMAC_KEY,
    ObjectType.TEMPLATE: Capability.DELETE_TEMPLATE,
    ObjectType.OTP_AEAD_KEY: Capability.DELETE_OTP_AEAD_KEY,
    ObjectType.SYMMETRIC_KEY: Capability.DELETE_SYMMETRIC_KEY,
    ObjectType.PUBLIC_WRAP_KEY: Capability.PUBLIC_WRAP_KEY_DELETE,
}
