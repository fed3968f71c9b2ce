"""The fraud model of a run (``RUN_DIR/fraud/``, written by the fraud federation) as a service plug-in.

The model is loaded once (``fedrisk.models.tabular.load_tabular``, which refuses a file that does not match its
recorded SHA-256); each request is scored with the math of :func:`fedrisk.jobs.fraud.score_accounts`:
the accounts are validated by :func:`fedrisk.data.fraud.validate_accounts` (wrong or missing columns raise a
message naming them), turned into the model's feature matrix for the model's leak-handling mode, and scored;
``flagged`` is ``score >= threshold`` (the threshold saved with the model). ``tests/serving`` checks the two give
the same frame.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fedrisk.errors import ModelError


class SavedFraudScorer:
    """Implements :class:`fedrisk.serving.registry.FraudScorer` for a saved tabular fraud model."""

    def __init__(self, path: Path) -> None:
        from fedrisk.data.fraud import ADDRESS, ERC20_FEATURES, ETHER_FEATURES, feature_names
        from fedrisk.models.tabular import load_tabular

        directory = path / "fraud" if (path / "fraud" / "metadata.json").is_file() else path
        saved = load_tabular(directory)
        if saved.metadata.get("task") != "fraud":
            task = saved.metadata.get("task")
            raise ModelError(f"the model in {directory.name}/ is not a fraud model (task={task!r})")
        self.leak = saved.metadata.get("leak", "impute")
        if tuple(feature_names(self.leak)) != saved.features:
            raise ModelError("the saved fraud model's feature list does not match this version of fedrisk.data.fraud")
        self.saved = saved
        self.sha256: str = str(saved.metadata.get("model_sha256", ""))
        self.features: tuple[str, ...] = (ADDRESS, *ETHER_FEATURES, *ERC20_FEATURES)
        self.threshold = float(saved.threshold)

    def score(self, accounts: pd.DataFrame) -> pd.DataFrame:
        """``Address, score, flagged`` per unique address (first occurrence kept)."""
        from fedrisk.data.fraud import ADDRESS, feature_matrix, validate_accounts

        text = accounts.astype(object).where(accounts.notna(), "").astype(str)  # JSON null = empty, as in the CSV
        valid = validate_accounts(text, source="request", require_label=False)
        scores = self.saved.predict(feature_matrix(valid, self.leak))
        return pd.DataFrame(
            {ADDRESS: valid.frame[ADDRESS].to_numpy(), "score": scores, "flagged": scores >= self.threshold}
        )


def load_fraud_scorer(path: Path) -> SavedFraudScorer:
    """The fraud plug-in the service uses by default."""
    return SavedFraudScorer(path)
