"""Signed audits: an in-toto Statement about the audited model in a DSSE envelope, Ed25519-signed.

What is signed (in-toto Attestation Framework v1, https://github.com/in-toto/attestation)::

    Statement {_type: "https://in-toto.io/Statement/v1",
               subject: [{name: <model file name>, digest: {sha256: <model sha256>}}],
               predicateType: PREDICATE_TYPE,
               predicate: {audit: {name: "audit.json", digest: {sha256}},
                           status, verdicts[{check, metric, status}], engine{name, version},
                           seed, created, files[{name, digest: {sha256}}]}}

The Statement is the payload of a DSSE envelope (Dead Simple Signing Envelope v1:
``{payloadType, payload (base64), signatures[{keyid, sig (base64)}]}``) whose signature is
Ed25519 over the pre-authentication encoding ``PAE(type, body) = "DSSEv1" SP len(type) SP
type SP len(body) SP body``. It is written as one line of ``DIR/audit.intoto.jsonl`` (the
file extension in-toto tooling reads). Verification is offline: the public key, the
envelope, the model file and the folder's files are all it needs; no key service.

``files`` lists every file in the folder (less the manifest, whose timestamp later runs
rewrite, and crash logs), so that changing one byte of the report, the JUnit file
or audit.json fails verification, and so does swapping the model.

The ``cryptography`` package (optional extra ``audit-engine[attest]``) provides Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .data.loader import file_sha256
from .errors import AuditEngineError, ConfigError, DataNotFoundError
from .outdir import LOG_PREFIX, MANIFEST

__all__ = ["ATTESTATION", "PAYLOAD_TYPE", "PREDICATE_TYPE", "Verification", "VerificationError",
           "attest", "generate_key", "verify"]

ATTESTATION = "audit.intoto.jsonl"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:audit-engine:predicate:audit:v1"


class VerificationError(AuditEngineError):
    """The attestation does not hold: a bad signature, a changed file, another model (CLI exit 1)."""


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` checked: the signer's key id, the model's digest, the files, the audit's status."""

    keyid: str
    model_sha256: str
    files: tuple[str, ...]
    status: str
    engine_version: str

    def to_dict(self) -> dict[str, Any]:
        return {"keyid": self.keyid, "model_sha256": self.model_sha256, "files": list(self.files),
                "status": self.status, "engine_version": self.engine_version}


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise ConfigError("Signing audits needs the 'cryptography' package; install it with "
                          "pip install 'audit-engine[attest]'.") from None
    return ed25519


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``body`` under ``payload_type``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def _read_bytes(path: Path, what: str, fix: str) -> bytes:
    if not path.exists():
        raise DataNotFoundError(f"The {what} {str(path)!r} does not exist; {fix}.")
    if not path.is_file():
        raise ConfigError(f"The {what} {str(path)!r} is not a file; {fix}.")
    return path.read_bytes()


def _private_key(path: str | os.PathLike[str]) -> Any:
    ed25519 = _crypto()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = _read_bytes(Path(path), "signing key", "pass an Ed25519 private key in PEM form (audit-engine keygen KEY)")
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"The signing key {str(path)!r} is not an unencrypted PEM private key ({exc}); "
                          "make one with audit-engine keygen KEY.") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"The signing key {str(path)!r} is a {type(key).__name__}, not an Ed25519 key; "
                          "make one with audit-engine keygen KEY.")
    return key


def _public_key(path: str | os.PathLike[str]) -> Any:
    ed25519 = _crypto()
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = _read_bytes(Path(path), "public key", "pass the signer's Ed25519 public key in PEM form (KEY.pub)")
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"The public key {str(path)!r} is not a PEM public key ({exc}); pass the KEY.pub "
                          "that audit-engine keygen wrote.") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(f"The public key {str(path)!r} is a {type(key).__name__}, not an Ed25519 key.")
    return key


def _keyid(public_key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def generate_key(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a new Ed25519 private key to ``path`` (PEM, mode 0600) and its public key to ``path.pub``.

    Refuses to replace an existing file (a signing key is never overwritten).
    """
    ed25519 = _crypto()
    from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat,
                                                              PublicFormat)

    private = Path(path)
    public = private.with_name(private.name + ".pub")
    for target in (private, public):
        if target.exists() or target.is_symlink():
            raise ConfigError(f"{str(target)!r} exists; audit-engine never replaces a key file: pick another name.")
    if not private.absolute().parent.is_dir():
        raise ConfigError(f"The folder of {str(private)!r} does not exist; create it first.")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _audit_json(folder: Path) -> tuple[Path, dict[str, Any]]:
    if not folder.is_dir():
        raise DataNotFoundError(f"{str(folder)!r} is not an audit output folder; pass the --out folder of a run.")
    path = folder / "audit.json"
    if not path.is_file():
        raise DataNotFoundError(f"{str(folder)!r} holds no audit.json; pass the --out folder of audit-engine run.")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{str(path)!r} is not valid JSON ({exc}); rerun the audit.") from None
    if not isinstance(doc, dict) or "model" not in doc or "schema_version" not in doc:
        raise ConfigError(f"{str(path)!r} is not an audit-engine audit.json; pass the --out folder of a run.")
    return path, doc


def _covered_files(folder: Path) -> list[str]:
    """The files a signature covers: every file in the folder (sub-folders included, as POSIX paths),
    less the attestation itself, the manifest (it holds a timestamp that later runs rewrite),
    crash logs and hidden staging folders."""
    names = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or path.is_symlink() or any(part.startswith(".audit-engine-staging") for part in rel.parts):
            continue
        name = rel.as_posix()
        if name in (MANIFEST, ATTESTATION) or rel.name.startswith(LOG_PREFIX):
            continue
        names.append(name)
    return names


def statement(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The in-toto Statement for the audit in ``folder`` (see the module docstring)."""
    root = Path(folder)
    audit_path, doc = _audit_json(root)
    model = doc.get("model") or {}
    files = [{"name": n, "digest": {"sha256": file_sha256(root / n)}} for n in _covered_files(root)]
    verdicts = [{"check": v.get("check"), "metric": v.get("metric"), "status": v.get("status")}
                for v in doc.get("verdicts") or [] if isinstance(v, dict)]
    statuses = {v["status"] for v in verdicts}
    status = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": Path(str(model.get("path") or "model.onnx")).name,
                     "digest": {"sha256": str(model.get("sha256", ""))}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "audit": {"name": audit_path.name, "digest": {"sha256": file_sha256(audit_path)}},
            "status": status,
            "verdicts": verdicts,
            "engine": {"name": "audit-engine", "version": str((doc.get("engine") or {}).get("version", ""))},
            "signed_by_engine": __version__,
            "seed": doc.get("seed"),
            "created": doc.get("created"),
            "files": files,
        },
    }


def attest(folder: str | os.PathLike[str], key: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Sign the audit in ``folder`` with the Ed25519 private key at ``key``; return the envelope's path.

    The envelope goes to ``folder/audit.intoto.jsonl``; an existing one is replaced only when
    the folder's manifest lists it (audit-engine wrote it) or with ``overwrite``.
    """
    from .outdir import OutputFile
    from .result import atomic_write_text

    root = Path(folder)
    private = _private_key(key)  # a bad key fails before anything is read or written
    body = json.dumps(statement(root), sort_keys=True, separators=(",", ":")).encode("utf-8")
    signature = private.sign(pae(PAYLOAD_TYPE, body))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(body).decode("ascii"),
        "signatures": [{"keyid": _keyid(private.public_key()), "sig": base64.b64encode(signature).decode("ascii")}],
    }
    target = OutputFile(root / ATTESTATION, overwrite=overwrite, flag="attest", what="attestation file").preflight()
    try:
        with target.writing() as path:
            atomic_write_text(path, json.dumps(envelope, sort_keys=True) + "\n")
        target.commit()
    finally:
        target.discard()  # the staging folder; nothing once committed
    return target.path


def verify(folder: str | os.PathLike[str], *, model: str | os.PathLike[str],
           public_key: str | os.PathLike[str]) -> Verification:
    """Check ``folder``'s attestation: signature by ``public_key``, ``model``'s digest, every file listed.

    Raises :class:`VerificationError` (one sentence) when anything does not hold; bad input
    (missing files, a key that is not Ed25519) raises the usual :class:`ConfigError` /
    :class:`DataNotFoundError`.
    """
    from cryptography.exceptions import InvalidSignature

    root = Path(folder)
    key = _public_key(public_key)
    model_path = Path(model)
    if not model_path.is_file():
        raise DataNotFoundError(f"The model {str(model_path)!r} does not exist or is not a file; pass the .onnx "
                                "file that was audited.")
    path = root / ATTESTATION
    if not path.is_file():
        raise DataNotFoundError(f"{str(root)!r} holds no {ATTESTATION}; sign the audit first with "
                                "audit-engine attest DIR --key KEY.")
    try:
        envelope = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        body = base64.b64decode(envelope["payload"], validate=True)
        signatures = [(s["keyid"], base64.b64decode(s["sig"], validate=True)) for s in envelope["signatures"]]
        kind = envelope["payloadType"]
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        raise VerificationError(f"{str(path)!r} is not a well-formed DSSE envelope; it was damaged or edited.") from None
    if kind != PAYLOAD_TYPE:
        raise VerificationError(f"The envelope's payload type is {str(kind)[:80]!r}, not {PAYLOAD_TYPE!r}.")
    keyid = _keyid(key)
    for _, sig in signatures:
        try:
            key.verify(sig, pae(kind, body))
            break
        except InvalidSignature:
            continue
    else:
        raise VerificationError(f"The signature of {str(path)!r} does not verify with the public key "
                                f"{str(public_key)!r}: the attestation was edited, or another key signed it.")
    stmt = json.loads(body)  # signed, so well-formed as the signer wrote it
    pred = stmt["predicate"]
    model_sha = file_sha256(model_path)
    wanted = {s["digest"]["sha256"] for s in stmt["subject"]}
    if model_sha not in wanted:
        raise VerificationError(f"The model {str(model_path)!r} (sha256 {model_sha[:16]}…) is not the model this "
                                f"audit attests (sha256 {sorted(wanted)[0][:16]}…).")
    checked = []
    for entry in [pred["audit"], *pred["files"]]:
        name = entry["name"]
        file = root / name
        if not file.is_file():
            raise VerificationError(f"{name!r}, listed in the attestation, is missing from {str(root)!r}.")
        if file_sha256(file) != entry["digest"]["sha256"]:
            raise VerificationError(f"{name!r} in {str(root)!r} was changed after the audit was signed "
                                    "(its sha256 differs from the attested one).")
        checked.append(name)
    return Verification(keyid=keyid, model_sha256=model_sha, files=tuple(dict.fromkeys(checked)),
                        status=str(pred["status"]), engine_version=str(pred["engine"]["version"]))
