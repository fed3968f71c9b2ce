from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from fedrisk.cli.app import app
from fedrisk.privacy.he import (
    CkksAggregator,
    CkksMember,
    ThresholdAggregator,
    ThresholdMember,
    load_ckks_member,
    load_public,
    load_threshold_share,
    threshold_decrypt,
)


def test_keygen_threshold_writes_one_share_per_member_and_they_work(tmp_path: Path) -> None:
    # Act
    res = CliRunner().invoke(
        app,
        ["he", "keygen", "--members", "a,b,c,d", "--threshold", "3", "--out", str(tmp_path), "--bits", "512", "--json"],
    )
    # Assert
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["threshold"] == 3 and sorted(info["member_files"]) == ["a", "b", "c", "d"]
    pk = load_public(tmp_path / "public.json")["key"]
    members = [ThresholdMember(pk, load_threshold_share(tmp_path / "members" / f"{m}.key.json")) for m in "abcd"]
    assert stat.S_IMODE((tmp_path / "members" / "a.key.json").stat().st_mode) == 0o600
    assert "share" not in (tmp_path / "public.json").read_text()
    total = ThresholdAggregator(pk).aggregate([m.encrypt([0.25, -1.5]) for m in members])
    out = threshold_decrypt(pk, total, [members[i].partial_decrypt(total) for i in (3, 1, 0)])
    np.testing.assert_allclose(out, [1.0, -6.0], atol=1e-6)


def test_keygen_ckks(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["he", "keygen", "--members", "a,b,c", "--scheme", "ckks", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    secret, params = load_ckks_member(tmp_path / "members" / "b.key.json")
    member = CkksMember(secret, params)
    coordinator = CkksAggregator(load_public(tmp_path / "public.json")["key"])
    total = member.decrypt(coordinator.aggregate([member.encrypt_vector([0.5, 1.0]) for _ in range(3)]))
    np.testing.assert_allclose(total, [1.5, 3.0], atol=1e-6)


def test_keygen_rejects_bad_arguments(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["he", "keygen", "--members", "a,b", "--out", str(tmp_path)]).exit_code != 0
    bad_t = ["he", "keygen", "--members", "a,b,c", "--threshold", "5", "--out", str(tmp_path), "--bits", "512"]
    assert runner.invoke(app, bad_t).exit_code != 0
    bad_s = ["he", "keygen", "--members", "a,b,c", "--scheme", "rsa", "--out", str(tmp_path)]
    assert runner.invoke(app, bad_s).exit_code != 0
    dup = ["he", "keygen", "--members", "a,a,c", "--out", str(tmp_path), "--bits", "512"]
    assert runner.invoke(app, dup).exit_code != 0
    even = ["he", "keygen", "--members", "a,b,c,d", "--threshold", "2", "--dkg", "--out", str(tmp_path)]
    result = runner.invoke(app, even)
    assert result.exit_code != 0 and "2c + 1" in str(result.exception or result.output)
    ckks_dkg = ["he", "keygen", "--members", "a,b,c", "--scheme", "ckks", "--dkg", "--out", str(tmp_path)]
    assert runner.invoke(app, ckks_dkg).exit_code != 0
