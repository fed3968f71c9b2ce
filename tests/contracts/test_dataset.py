"""Curated-set loading and the function-level dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedrisk.contracts.dataset import build_function_dataset, clone_clusters, curated_root, load_curated
from fedrisk.contracts.detectors import CATEGORIES
from fedrisk.contracts.evaluation import evaluate_detectors
from fedrisk.contracts.features import FEATURE_NAMES
from fedrisk.errors import DataNotFoundError, DataValidationError


def test_load_and_label_functions(tiny_curated: Path) -> None:
    # Act
    curated = load_curated(tiny_curated)
    dataset = build_function_dataset(curated)
    # Assert: 6 files; Bank has 3 functions (withdraw positive), Pay has 3 (pay positive)
    assert len(curated.files) == 6 and len(curated.annotations) == 6
    assert dataset.X.shape == (18, len(FEATURE_NAMES)) and dataset.n_contracts == 6
    positives = sorted({name for (_, name, _, _), y in zip(dataset.functions, dataset.y, strict=True) if y})
    assert positives == [f"Bank{i}.withdraw" for i in range(3)] + [f"Pay{i}.pay" for i in range(3)]
    assert int(dataset.y.sum()) == 6 and dataset.unattributed_lines == 0
    assert np.isfinite(dataset.X).all()


def test_detector_scores_on_tiny_set(tiny_curated: Path) -> None:
    # Act
    evaluation = evaluate_detectors(load_curated(tiny_curated))
    # Assert
    by_category = {s.category: s for s in evaluation.line}
    assert (by_category["reentrancy"].tp, by_category["reentrancy"].fn) == (3, 0)
    assert (by_category["unchecked_low_level_calls"].tp, by_category["unchecked_low_level_calls"].fn) == (
        3,
        0,
    )
    assert by_category["all"].recall == 1.0
    assert set(by_category) <= {*CATEGORIES, "all"}
    assert evaluation.parse_failures == ()


def test_missing_and_malformed_data(tmp_path: Path, tiny_curated: Path) -> None:
    # Act / Assert
    with pytest.raises(DataNotFoundError, match="smartbugs-curated"):
        curated_root(tmp_path / "nowhere")
    index = tiny_curated / "smartbugs-curated" / "vulnerabilities.json"
    index.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataValidationError, match="not valid JSON"):
        load_curated(tiny_curated)
    index.write_text(json.dumps([{"path": "dataset/x.sol"}]), encoding="utf-8")
    with pytest.raises(DataValidationError, match="vulnerabilities"):
        load_curated(tiny_curated)
    index.write_text(json.dumps([{"path": "dataset/x.sol", "vulnerabilities": []}]), encoding="utf-8")
    with pytest.raises(DataNotFoundError, match="missing"):
        load_curated(tiny_curated)


def test_clone_clusters_keep_verbatim_copies_together() -> None:
    # Arrange: files 0 and 1 share 2 of 3 functions; file 2 shares 1 of 4 with file 0
    files = [{"f", "g", "h"}, {"f", "g", "k"}, {"f", "x", "y", "z"}, set()]
    # Act
    clusters = clone_clusters(files)
    # Assert
    assert clusters[0] == clusters[1]
    assert len({clusters[0], clusters[2], clusters[3]}) == 3
