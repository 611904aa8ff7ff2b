"""Ed25519 keys of audit checkpoints (through ``cryptography``): load, generate, sign, verify.

A key setting holds either the PEM text itself or the path of a PEM file: the private key as
PKCS#8 (``-----BEGIN PRIVATE KEY-----``, unencrypted), the public key as SubjectPublicKeyInfo
(``-----BEGIN PUBLIC KEY-----``). Messages name the setting, never a key or a file's content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carnet.domain.anchors import Checkpoint, SignedCheckpoint
from carnet.errors import ConfigurationError, InvalidInput

if TYPE_CHECKING:  # pragma: no cover - typing only: cryptography is imported when keys are used
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "KeyPair",
    "generate_key_pair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_pem",
    "sign",
    "signature_ok",
]


@dataclass(frozen=True)
class KeyPair:
    """A key pair written by :func:`generate_key_pair`: where each half went, the public PEM, its id."""

    private_path: str
    public_path: str
    public_pem: str
    key_id: str


def _pem_text(value: str, setting: str) -> bytes:
    """The PEM bytes a setting holds: the value itself, or the content of the file it names."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    try:
        return Path(text).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{setting} must hold a PEM key or the path of a PEM file, and the file it names cannot be "
            f"read ({exc.strerror or exc}); fix {setting} (carnet audit keygen PATH makes a key pair)",
            field=setting,
        ) from None


def load_private_key(value: str | None, setting: str = "CARNET_ANCHOR_KEY") -> Ed25519PrivateKey:
    """The Ed25519 private key a setting holds.

    Raises:
        ConfigurationError: the setting is empty, unreadable, or not an unencrypted Ed25519 PEM key.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if not value or not value.strip():
        raise ConfigurationError(
            f"anchoring signs checkpoints with an Ed25519 private key: set {setting} to its PEM file "
            "(or anchor_key in carnet.toml); carnet audit keygen PATH makes one",
            field=setting,
        )
    try:
        key = load_pem_private_key(_pem_text(value, setting), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"{setting} is not an unencrypted PEM private key ({_first_line(exc)}); "
            "carnet audit keygen PATH makes one",
            field=setting,
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{setting} must be an Ed25519 key, not {type(key).__name__}", field=setting)
    return key


def load_public_key(value: str | None, setting: str = "CARNET_ANCHOR_PUBLIC_KEY") -> Ed25519PublicKey:
    """The Ed25519 public key a setting holds.

    Raises:
        ConfigurationError: the setting is empty, unreadable, or not an Ed25519 PEM public key.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if not value or not value.strip():
        raise ConfigurationError(
            f"verifying anchors needs the public key of the anchor key: set {setting} to its PEM file "
            "(or anchor_public_key in carnet.toml)",
            field=setting,
        )
    try:
        key = load_pem_public_key(_pem_text(value, setting))
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"{setting} is not a PEM public key ({_first_line(exc)})", field=setting
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError(f"{setting} must be an Ed25519 key, not {type(key).__name__}", field=setting)
    return key


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]


def _raw(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of SHA-256 of its 32 raw bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as PEM text (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def sign(private: Ed25519PrivateKey, checkpoint: Checkpoint) -> SignedCheckpoint:
    """The checkpoint signed by ``private`` (whose id must be the checkpoint's ``key_id``)."""
    signature = private.sign(checkpoint.signing_bytes())
    return SignedCheckpoint(checkpoint, base64.b64encode(signature).decode())


def signature_ok(public: Ed25519PublicKey, signed: SignedCheckpoint) -> bool:
    """Whether ``signed``'s signature verifies under ``public``."""
    from cryptography.exceptions import InvalidSignature

    try:
        raw = base64.b64decode(signed.signature, validate=True)
        public.verify(raw, signed.checkpoint.signing_bytes())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def generate_key_pair(path: str | os.PathLike[str]) -> KeyPair:
    """Write a new Ed25519 key pair: the private key to ``path`` (mode 0600, never overwriting a
    file) and the public key to ``path.pub``.

    Raises:
        InvalidInput: either file exists, or the folder cannot be written.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    private_path = Path(path).expanduser()
    public_path = private_path.with_name(private_path.name + ".pub")
    for p in (private_path, public_path):
        if p.exists():
            raise InvalidInput(f"{p} already exists; choose another path or remove it first", field="path")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = public_pem(key.public_key())
    _write_new(private_path, pem, 0o600)
    _write_new(public_path, public.encode(), 0o644)
    return KeyPair(str(private_path), str(public_path), public, key_id(key.public_key()))


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` (O_EXCL: never an existing file), write and fsync ``data``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise InvalidInput(
            f"{path} already exists; choose another path or remove it first", field="path"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror or exc}", field="path") from None
    try:
        os.fchmod(fd, mode)  # the umask does not loosen or tighten what was asked
        view: Any = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
