"""The plain-language summary is written from the numbers, losses included."""

from __future__ import annotations

from tests.report.conftest import synthetic_results

from fedrisk.report import summarise


def test_federation_pays_everywhere() -> None:
    # Act
    text = " ".join(summarise(synthetic_results(full=False)))
    # Assert
    assert "Federation paid for every member: all 4" in text
    assert "90 % of the AUPRC of a centralised model" in text
    assert "beyond bootstrap noise for alpha, beta, gamma and delta" in text


def test_federation_does_not_pay_is_said_plainly() -> None:
    # Arrange
    results = synthetic_results(full=False)
    for row in results["stress"]["members"]:
        row["auprc_federated"] = row["auprc_local"] - 0.02
    results["stress"]["summary"] = {"members_significantly_worse": ["alpha"], "federated_beats_heuristic": []}
    # Act
    text = " ".join(summarise(results))
    # Assert
    assert text.startswith("Federation did not pay in this run: none of the 4 members")
    assert "loss is beyond bootstrap noise for alpha" in text
    assert "beat a no-training heuristic (recent price range) for 0 of 4" in text


def test_mixed_outcome_names_the_winners() -> None:
    # Arrange
    results = synthetic_results(full=False)
    results["stress"]["members"][0]["auprc_federated"] = 0.0
    # Act
    text = " ".join(summarise(results))
    # Assert
    assert "Federation paid for 3 of 4 members (beta, gamma and delta)" in text


def test_empty_results_still_summarise() -> None:
    # Act
    sentences = summarise({})
    # Assert
    assert sentences[0].startswith("No member has a federated-versus-local comparison")
    assert "Not in this run: privacy spent" in sentences[-1]
