"""`fedrisk audit` commands, inclusion proofs, the export bundle and the independent verifier."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from audit_fixtures import Trail
from typer.testing import CliRunner

from fedrisk.audit import FileSigner, InclusionProof, export_bundle, prove, verify_log, verify_proof
from fedrisk.audit.signing import public_key_pem
from fedrisk.cli.audit import app
from fedrisk.errors import AuditIntegrityError, ConfigError

runner = CliRunner()


def _run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [str(a) for a in args])


def test_verify_ok_and_json(trail: Trail) -> None:
    res = _run("verify", trail.path)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("OK:") and "fingerprint" in res.output
    res = _run("verify", trail.path, "--json")
    assert res.exit_code == 0 and json.loads(res.output)["ok"] is True


def test_verify_names_first_bad_record_and_fails(trail: Trail) -> None:
    lines = trail.lines()
    del lines[7]
    trail.write_lines(lines)
    res = _run("verify", trail.path)
    assert isinstance(res.exception, AuditIntegrityError)
    assert res.exception.exit_code == 7
    assert "record 7 (line 8)" in str(res.exception)
    assert "FAILED at record 7" in res.output
    res = _run("verify", trail.path, "--json")
    assert isinstance(res.exception, AuditIntegrityError)
    assert json.loads(res.output)["first_bad_seq"] == 7


_ENTRY = """
import importlib, re, sys, types
from pathlib import Path
import typer
import fedrisk.cli
# Other command groups may not exist yet while the CLI tree is being filled in: stand in for them.
app_src = (Path(fedrisk.cli.__file__).parent / "app.py").read_text()
for name in re.findall(r"from fedrisk.cli import (\\w+) as", app_src):
    try:
        importlib.import_module(f"fedrisk.cli.{name}")
    except ImportError:
        stub = types.ModuleType(f"fedrisk.cli.{name}")
        stub.app = typer.Typer()
        stub.demo = lambda: None
        sys.modules[f"fedrisk.cli.{name}"] = stub
sys.argv = ["fedrisk", "audit", "verify", sys.argv[1]]
from fedrisk.cli.app import main
main()
"""


def test_verify_through_the_fedrisk_entry_point(trail: Trail) -> None:
    """The console script turns a failed verification into exit code 7 and a one-line message."""
    ok = subprocess.run([sys.executable, "-c", _ENTRY, str(trail.path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    lines = trail.lines()
    lines[4], lines[5] = lines[5], lines[4]
    trail.write_lines(lines)
    bad = subprocess.run([sys.executable, "-c", _ENTRY, str(trail.path)], capture_output=True, text=True)
    assert bad.returncode == 7, bad.stderr
    assert "record 4 (line 5) is bad" in bad.stderr


def test_verify_options(trail: Trail, tmp_path: Path) -> None:
    outb = [f"--outbound={m.id}={m.outbound.path}" for m in trail.members.values()]
    assert _run("verify", trail.path, *outb).exit_code == 0
    other = tmp_path / "other-keys"
    other.mkdir()
    (other / "coordinator.pub").write_bytes(public_key_pem(FileSigner.generate("x").public_key_bytes()))
    res = _run("verify", trail.path, "--keys", other)
    assert isinstance(res.exception, AuditIntegrityError) and "fingerprint" in str(res.exception)
    res = _run("verify", trail.path, "--anchor", f"3:{'0' * 64}")
    assert isinstance(res.exception, AuditIntegrityError) and "anchor" in str(res.exception)
    res = _run("verify", trail.path, "--anchor", "3:abc")
    assert isinstance(res.exception, ConfigError)
    trail.models[1].unlink()
    assert isinstance(_run("verify", trail.path).exception, AuditIntegrityError)
    assert _run("verify", trail.path, "--skip-missing-artifacts").exit_code == 0
    assert _run("verify", trail.path, "--no-artifacts").exit_code == 0


def test_show(trail: Trail) -> None:
    res = _run("show", trail.path)
    assert res.exit_code == 0
    assert "round.committed" in res.output and "countersigned by: kraken, lynx, orca" in res.output
    res = _run("show", trail.path, "--kind", "round.", "--last", "2", "--json")
    rows = [json.loads(x) for x in res.output.splitlines()]
    assert len(rows) == 2 and all(r["kind"].startswith("round.") for r in rows)


def test_prove_and_check_proof(trail: Trail, tmp_path: Path) -> None:
    seq = trail.round_seqs[2]
    out = tmp_path / "proof.json"
    res = _run("prove", trail.path, str(seq), "--out", out)
    assert res.exit_code == 0, res.output
    proof = InclusionProof.from_json(out.read_bytes())
    assert proof.seq == seq and proof.tree_size > seq
    res = _run("check-proof", out, "--keys", trail.run_dir / "keys")
    assert res.exit_code == 0 and f"record {seq}" in res.output
    # by hash prefix
    h = json.loads(trail.lines()[seq + 1])["prev"]
    assert _run("prove", trail.path, h[:12]).exit_code == 0
    # no checkpoint after the last records
    res = _run("prove", trail.path, str(len(trail.lines()) - 1))
    assert isinstance(res.exception, ConfigError) and "checkpoint" in str(res.exception)


def test_proof_is_checked_without_the_log(trail: Trail, tmp_path: Path) -> None:
    keys = trail.run_dir / "keys"
    for seq in (0, 1, trail.round_seqs[1], trail.round_seqs[3]):
        proof = prove(trail.path, seq)
        assert verify_proof(proof, keys).seq == seq
    proof = prove(trail.path, trail.round_seqs[1], checkpoint_seq=prove(trail.path, 0).checkpoint_seq)
    trail.path.unlink()  # the log is not needed to check a proof
    assert verify_proof(proof, keys).kind == "round.committed"
    d = json.loads(proof.to_json())
    forged = dict(d, record=d["record"].replace('"round":1', '"round":9'))
    with pytest.raises(AuditIntegrityError, match="signature"):
        verify_proof(InclusionProof(**forged), keys)
    bad_path = dict(d, path=list(reversed(d["path"])))
    with pytest.raises(AuditIntegrityError, match="audit path"):
        verify_proof(InclusionProof(**bad_path), keys)
    bad_root = dict(d, root="0" * 64)
    with pytest.raises(AuditIntegrityError, match="root"):
        verify_proof(InclusionProof(**bad_root), keys)
    other = tmp_path / "k"
    other.mkdir()
    (other / "coordinator.pub").write_bytes(public_key_pem(FileSigner.generate("c").public_key_bytes()))
    with pytest.raises(AuditIntegrityError):
        verify_proof(proof, other)


def test_prove_refuses_a_tampered_log(trail: Trail) -> None:
    lines = trail.lines()
    del lines[2]
    trail.write_lines(lines)
    with pytest.raises(AuditIntegrityError, match="does not verify"):
        prove(trail.path, 1)


def _standalone(bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(bundle / "verify_standalone.py"), str(bundle / "audit.jsonl"), *extra],
        capture_output=True,
        text=True,
    )


def test_export_bundle_verifies_with_both_verifiers(trail: Trail, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    res = _run("export", trail.path, out)
    assert res.exit_code == 0, res.output
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {
        "audit.jsonl",
        "audit.jsonl.head",
        "VERIFY.md",
        "report.json",
        "verify_standalone.py",
        "keys/coordinator.pub",
        "keys/kraken.pub",
        "models/round-2.bin",
        "data/schema.json",
    } <= names
    md = (out / "VERIFY.md").read_text()
    assert trail.coordinator.fingerprint in md and "verifies" in md
    assert verify_log(out / "audit.jsonl").ok
    sa = _standalone(out)
    assert sa.returncode == 0 and sa.stdout.startswith("OK:"), sa.stdout + sa.stderr
    assert verify_log(out / "audit.jsonl").last_hash in sa.stdout
    # tamper inside the bundle: the independent verifier names the same record
    (out / "models" / "round-2.bin").write_bytes(b"swapped")
    sa = _standalone(out)
    assert sa.returncode == 1 and f"record {trail.round_seqs[2]}" in sa.stdout
    assert _standalone(out, "--no-artifacts").returncode == 0
    with pytest.raises(ConfigError, match="not empty"):
        export_bundle(trail.path, out)


def test_export_refuses_a_bad_log_unless_forced(trail: Trail, tmp_path: Path) -> None:
    lines = trail.lines()
    lines[3], lines[4] = lines[4], lines[3]
    trail.write_lines(lines)
    res = _run("export", trail.path, tmp_path / "b1")
    assert isinstance(res.exception, AuditIntegrityError)
    res = _run("export", trail.path, tmp_path / "b2", "--force")
    assert res.exit_code == 0
    assert "DOES NOT VERIFY" in (tmp_path / "b2" / "VERIFY.md").read_text()
    assert _standalone(tmp_path / "b2").returncode == 1


@pytest.mark.parametrize("tamper", ["flip", "delete", "insert", "reorder", "resign", "truncate", "drop-last"])
def test_standalone_agrees_on_every_tampering(trail: Trail, tamper: str) -> None:
    lines = trail.lines()
    k = trail.round_seqs[2]
    if tamper == "flip":
        lines[k] = lines[k].replace(b'"round":2', b'"round":3')
    elif tamper == "delete":
        del lines[k]
    elif tamper == "insert":
        lines.insert(k, lines[k - 1])
    elif tamper == "reorder":
        lines[k], lines[k + 1] = lines[k + 1], lines[k]
    elif tamper == "resign":
        sig = json.loads(lines[k])["sig"]
        lines[k] = lines[k].replace(sig.encode(), json.loads(lines[k - 1])["sig"].encode())
    elif tamper == "drop-last":
        lines = lines[:-1]
    trail.write_lines(lines)
    if tamper == "truncate":
        data = trail.path.read_bytes()
        trail.path.write_bytes(data[:-30])
    ours = verify_log(trail.path)
    sa = subprocess.run(
        [sys.executable, str(Path(__file__).parents[2] / "src/fedrisk/audit/standalone.py"), str(trail.path)],
        capture_output=True,
        text=True,
    )
    assert not ours.ok and sa.returncode == 1
    assert f"FAILED at record {ours.first_bad_seq}:" in sa.stdout, (ours.summary(), sa.stdout)
