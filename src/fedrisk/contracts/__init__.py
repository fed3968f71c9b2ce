"""Smart-contract risk screening: Solidity parsing, rule detectors, function-level risk classifier.

See ``docs/contracts.md`` for the measured figures and the commands behind them.
"""

from __future__ import annotations

from fedrisk.contracts.classifier import CVReport as CVReport
from fedrisk.contracts.classifier import Metrics as Metrics
from fedrisk.contracts.classifier import Params as Params
from fedrisk.contracts.classifier import TrainConfig as TrainConfig
from fedrisk.contracts.classifier import cross_validate as cross_validate
from fedrisk.contracts.classifier import evaluate as evaluate
from fedrisk.contracts.classifier import init_params as init_params
from fedrisk.contracts.classifier import predict_proba as predict_proba
from fedrisk.contracts.classifier import split_by_contract as split_by_contract
from fedrisk.contracts.classifier import train_local as train_local
from fedrisk.contracts.dataset import FunctionDataset as FunctionDataset
from fedrisk.contracts.dataset import build_function_dataset as build_function_dataset
from fedrisk.contracts.dataset import load_curated as load_curated
from fedrisk.contracts.detectors import CATEGORIES as CATEGORIES
from fedrisk.contracts.detectors import Finding as Finding
from fedrisk.contracts.detectors import run_detectors as run_detectors
from fedrisk.contracts.evaluation import evaluate_detectors as evaluate_detectors
from fedrisk.contracts.parsing import ParsedFile as ParsedFile
from fedrisk.contracts.parsing import parse_file as parse_file
from fedrisk.contracts.parsing import parse_source as parse_source
from fedrisk.contracts.scan import scan_paths as scan_paths

__all__ = [
    "CATEGORIES",
    "CVReport",
    "Finding",
    "FunctionDataset",
    "Metrics",
    "Params",
    "ParsedFile",
    "TrainConfig",
    "build_function_dataset",
    "cross_validate",
    "evaluate",
    "evaluate_detectors",
    "init_params",
    "load_curated",
    "parse_file",
    "parse_source",
    "predict_proba",
    "run_detectors",
    "scan_paths",
    "split_by_contract",
    "train_local",
]
