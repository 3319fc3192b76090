"""Signed audits (issue 29): keygen → attest → verify round-trips; tampering, a swapped model
and a wrong key each fail with exit 1 and one sentence. The oracles are independent: the DSSE
pre-authentication encoding rebuilt here from the spec, and the signature checked with
``cryptography`` directly, not through the engine."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("cryptography")

from cryptography.hazmat.primitives.serialization import load_pem_public_key  # noqa: E402

from audit_engine.cli import main  # noqa: E402

from .conftest import data_path, model_path  # noqa: E402

MODEL = model_path("compas_pipeline.onnx")


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("attest")
    model = root / "model.onnx"
    shutil.copy(MODEL, model)
    out = root / "audit-out"
    code = main(["run", str(model), "--data", str(data_path("compas.csv")), "--target", "two_year_recid",
                 "--sensitive", "race", "--checks", "performance", "fairness", "--bootstrap", "50", "--out", str(out),
                 "--junit", str(out / "junit.xml"), "-q"])
    assert code in (0, 1)
    key = root / "signing.key"
    assert main(["keygen", str(key), "-q"]) == 0
    assert main(["attest", str(out), "--key", str(key), "-q"]) == 0
    return {"root": root, "model": model, "out": out, "key": key, "pub": Path(str(key) + ".pub")}


def _copy(signed: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(signed["out"], out)
    return out


def _verify(out: Path, model: Path, pub: Path) -> int:
    return main(["verify", str(out), "--model", str(model), "--pub", str(pub), "-q"])


def test_round_trip_and_envelope_follow_dsse_and_in_toto(signed: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert _verify(signed["out"], signed["model"], signed["pub"]) == 0
    envelope = json.loads((signed["out"] / "audit.intoto.jsonl").read_text().splitlines()[0])
    body = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 " + str(len(kind)).encode() + b" " + kind + b" " + str(len(body)).encode() + b" " + body
    public = load_pem_public_key(signed["pub"].read_bytes())
    public.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae)  # raises if the signature is wrong
    stmt = json.loads(body)
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["subject"][0]["digest"]["sha256"] == hashlib.sha256(signed["model"].read_bytes()).hexdigest()
    audit = json.loads((signed["out"] / "audit.json").read_text())
    assert stmt["subject"][0]["digest"]["sha256"] == audit["model"]["sha256"]
    names = {f["name"] for f in stmt["predicate"]["files"]}
    assert {"audit.json", "report.html", "junit.xml"} <= names
    assert stmt["predicate"]["audit"]["digest"]["sha256"] == hashlib.sha256((signed["out"] / "audit.json").read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["verify", str(signed["out"]), "--model", str(signed["model"]), "--pub", str(signed["pub"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["model_sha256"] == stmt["subject"][0]["digest"]["sha256"]


@pytest.mark.parametrize("name", ["audit.json", "report.html", "junit.xml"])
def test_one_changed_byte_fails_with_exit_1(signed: dict[str, Path], tmp_path: Path, name: str,
                                            capsys: pytest.CaptureFixture) -> None:
    out = _copy(signed, tmp_path)
    data = bytearray((out / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / name).write_bytes(bytes(data))
    capsys.readouterr()
    assert _verify(out, signed["model"], signed["pub"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "changed" in err[0]


def test_swapped_model_wrong_key_and_edited_envelope_fail(signed: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    assert _verify(signed["out"], model_path("compas_mlp.onnx"), signed["pub"]) == 1
    assert "is not the model this audit attests" in capsys.readouterr().err
    other = tmp_path / "other.key"
    assert main(["keygen", str(other), "-q"]) == 0
    assert _verify(signed["out"], signed["model"], Path(str(other) + ".pub")) == 1
    assert "does not verify" in capsys.readouterr().err
    out = _copy(signed, tmp_path)
    envelope = json.loads((out / "audit.intoto.jsonl").read_text())
    stmt = json.loads(base64.b64decode(envelope["payload"]))
    stmt["predicate"]["status"] = "pass" if stmt["predicate"]["status"] != "pass" else "fail"
    envelope["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    (out / "audit.intoto.jsonl").write_text(json.dumps(envelope))
    assert _verify(out, signed["model"], signed["pub"]) == 1
    out2 = _copy(signed, tmp_path / "b")
    (out2 / "report.html").unlink()
    assert _verify(out2, signed["model"], signed["pub"]) == 1
    assert "missing" in capsys.readouterr().err


def test_bad_input_is_exit_2_and_keys_are_never_replaced(signed: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    before = signed["key"].read_bytes()
    assert main(["keygen", str(signed["key"])]) == 2
    assert signed["key"].read_bytes() == before
    assert (signed["key"].stat().st_mode & 0o777) == 0o600
    assert main(["attest", str(tmp_path), "--key", str(signed["key"])]) == 2  # no audit.json there
    assert main(["attest", str(signed["out"]), "--key", str(signed["pub"])]) == 2  # a public key is no signing key
    assert not list(tmp_path.iterdir())
    assert _verify(tmp_path, signed["model"], signed["pub"]) == 2  # nothing signed there
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert all(line.startswith("audit-engine: error:") for line in err)
