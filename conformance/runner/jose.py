"""JOSE pieces the runner needs: JWT parsing, JWK to key, signature
verification (RS256, PS256, ES256, EdDSA), signing client assertions and fake
hints, and the at_hash/c_hash computation of OIDC Core 3.1.3.6."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

B64URL_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s: str) -> bytes:
    if not isinstance(s, str) or any(c not in B64URL_CHARS for c in s):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def is_b64url(s) -> bool:
    return isinstance(s, str) and s != "" and all(c in B64URL_CHARS for c in s)


class Jwt:
    """A compact JWS split into its parts (not verified)."""

    def __init__(self, token: str):
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError(f"a JWS has 3 parts, this has {len(parts)}")
        self.raw = token
        self.header = json.loads(b64u_decode(parts[0]))
        self.claims = json.loads(b64u_decode(parts[1]))
        if not isinstance(self.header, dict) or not isinstance(self.claims, dict):
            raise ValueError("header and payload must be JSON objects")
        self.signing_input = (parts[0] + "." + parts[1]).encode()
        self.signature = b64u_decode(parts[2]) if parts[2] else b""


def _int(s: str) -> int:
    return int.from_bytes(b64u_decode(s), "big")


def public_key(jwk: dict):
    """The public key of a JWK; ValueError when it cannot be used."""
    kty = jwk.get("kty")
    if kty == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
    if kty == "EC":
        curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
        if jwk.get("crv") not in curves:
            raise ValueError(f"unsupported curve {jwk.get('crv')!r}")
        return ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curves[jwk["crv"]]).public_key()
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise ValueError(f"unsupported OKP curve {jwk.get('crv')!r}")
        return ed25519.Ed25519PublicKey.from_public_bytes(b64u_decode(jwk["x"]))
    raise ValueError(f"unsupported kty {kty!r}")


ALG_KTY = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP", "Ed25519": "OKP"}


def verify(alg: str, key, signing_input: bytes, signature: bytes) -> bool:
    try:
        if alg == "RS256":
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "PS256":
            key.verify(signature, signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        elif alg == "ES256":
            if len(signature) != 64:
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        elif alg in ("EdDSA", "Ed25519"):
            key.verify(signature, signing_input)
        else:
            return False
        return True
    except (InvalidSignature, TypeError, AttributeError, ValueError):
        return False


def half_hash(alg: str, value: str) -> str:
    """at_hash / c_hash: left half of the JWS alg's hash (SHA-512 for EdDSA), base64url."""
    digest = hashlib.sha512(value.encode()).digest() if alg in ("EdDSA", "Ed25519") else hashlib.sha256(value.encode()).digest()
    return b64u(digest[: len(digest) // 2])


# ---- keys and signing (client side) -------------------------------------------------

def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key, kid: str, alg: str) -> dict:
    pub = private_key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        size = (n.n.bit_length() + 7) // 8
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": alg, "e": b64u(n.e.to_bytes(3, "big").lstrip(b"\0")), "n": b64u(n.n.to_bytes(size, "big"))}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        n = pub.public_numbers()
        return {"kty": "EC", "kid": kid, "use": "sig", "alg": alg, "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    raise ValueError("unsupported key")


def sign(alg: str, key, header: dict, claims: dict) -> str:
    """Compact JWS. `key` is a private key object, or bytes for HS256."""
    h = dict(header)
    h["alg"] = alg
    signing_input = (b64u(json.dumps(h, separators=(",", ":")).encode()) + "." + b64u(json.dumps(claims, separators=(",", ":")).encode())).encode()
    if alg == "HS256":
        sig = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        sig = key.sign(signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        raise ValueError(f"cannot sign {alg}")
    return signing_input.decode() + "." + b64u(sig)


def unsigned(claims: dict) -> str:
    """An alg:none JWT (request objects of the suite)."""
    return b64u(json.dumps({"alg": "none"}).encode()) + "." + b64u(json.dumps(claims).encode()) + "."


def private_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
