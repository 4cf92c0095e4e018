"""Known-answer tests: RFC 8032 section 7.1 (Ed25519), RFC 4231 (HMAC-SHA256), RFC 8785 (JCS)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.errors import CanonicalizationError, InvalidDigest, InvalidSignature
from pytest_kmsconform.reference_impl.primitives import hmac_digest, verify_ed25519, verify_hmac, verify_mac

# (secret, public, message, signature), RFC 8032 section 7.1
RFC8032 = {
    "TEST 1": (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    "TEST 2": (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    "TEST 3": (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    "TEST SHA(abc)": (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        hashlib.sha512(b"abc").hexdigest(),
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
}


@pytest.mark.parametrize("name", sorted(RFC8032))
def test_rfc8032_ed25519(name: str) -> None:
    secret, public, message, signature = (bytes.fromhex(x) for x in RFC8032[name])
    key = ed25519.Ed25519PrivateKey.from_private_bytes(secret)
    from cryptography.hazmat.primitives import serialization

    raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw_public == public
    assert key.sign(message) == signature  # deterministic: the vector pins signing too
    verify_ed25519(public, message, signature)
    with pytest.raises(InvalidSignature):
        verify_ed25519(public, message + b"\x00", signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(InvalidSignature):
        verify_ed25519(public, message, flipped)
    with pytest.raises(InvalidSignature):
        verify_ed25519(public, message, signature[:63])


# (key, data, full HMAC-SHA256), RFC 4231 section 4, test cases 1-4, 6, 7
RFC4231 = {
    "case 1": ("0b" * 20, b"Hi There".hex(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    "case 2": (
        b"Jefe".hex(),
        b"what do ya want for nothing?".hex(),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    "case 3": ("aa" * 20, "dd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    "case 4": (
        bytes(range(1, 26)).hex(),
        "cd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    "case 6": (
        "aa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First".hex(),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    "case 7": (
        "aa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data. "
        b"The key needs to be hashed before being used by the HMAC algorithm.".hex(),
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
}


@pytest.mark.parametrize("name", sorted(RFC4231))
def test_rfc4231_hmac_sha256(name: str) -> None:
    key, data, tag = (bytes.fromhex(x) for x in RFC4231[name])
    verify_mac(key, data, tag)
    with pytest.raises(InvalidSignature):
        verify_mac(key, data + b"!", tag)
    with pytest.raises(InvalidSignature):
        verify_mac(key, data, tag[:-1] + bytes([tag[-1] ^ 0x80]))


def test_rfc4231_case5_truncated_tag_is_refused_by_contract() -> None:
    """Case 5 is a valid 128-bit truncated tag; the contract only accepts full 32-byte tags."""
    key, data = bytes.fromhex("0c" * 20), b"Test With Truncation"
    truncated = bytes.fromhex("a3b6167473100ee06e0c796c2955552b")
    import hmac as std_hmac

    assert std_hmac.new(key, data, hashlib.sha256).digest()[:16] == truncated
    with pytest.raises(InvalidSignature):
        verify_mac(key, data, truncated)


def test_hmac_digest_primitive_is_hmac_over_the_32_digest_bytes() -> None:
    key = bytes.fromhex("0b" * 20)
    digest = hashlib.sha256(b"Hi There").digest()
    tag = hmac_digest(key, digest)
    verify_mac(key, digest, tag)
    verify_hmac(key, digest, tag)
    with pytest.raises(InvalidDigest):
        hmac_digest(key, b"Hi There")


# RFC 8785 section 3.2.2 (the main example) and 3.2.3 (sorting), appendix B (numbers)
RFC8785_EXAMPLE = {
    "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
    "literals": [None, True, False],
}
RFC8785_EXAMPLE_OUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)


def test_rfc8785_main_example() -> None:
    assert canonicalize_payload(RFC8785_EXAMPLE) == RFC8785_EXAMPLE_OUT.encode("utf-8")


def test_rfc8785_sorting_by_utf16_code_units() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    out = canonicalize_payload(value).decode("utf-8")
    keys = [k for k in ("\\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33")]
    positions = [out.index(f'"{k}"') for k in keys]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1e21, "1e+21"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (333333333.3333333, "333333333.3333333"),
    ],
)
def test_rfc8785_numbers(number: float, text: str) -> None:
    assert canonicalize_payload(number) == text.encode()


@pytest.mark.parametrize(
    "bad",
    [math.nan, math.inf, -math.inf, {"a": math.nan}, "\ud800", {1: "int key"}, 2**53, -(2**53), b"bytes", {1, 2}],
    ids=["nan", "inf", "-inf", "nested-nan", "lone-surrogate", "int-key", "2^53", "-2^53", "bytes", "set"],
)
def test_rfc8785_rejections_are_typed(bad: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize_payload(bad)


def test_audit_digest_formula() -> None:
    canonical = canonicalize_payload({"b": 1, "a": "x"})
    assert canonical == b'{"a":"x","b":1}'
    genesis = audit_digest(canonical, None).hex()
    assert genesis == hashlib.sha256(canonical).hexdigest()
    linked = audit_digest(canonical, genesis).hex()
    assert linked == hashlib.sha256(canonical + bytes.fromhex(genesis)).hexdigest()
    with pytest.raises(InvalidDigest):
        audit_digest(canonical, genesis.upper()).hex()
    with pytest.raises(InvalidDigest):
        audit_digest(canonical, genesis[:-2]).hex()
