"""Secure aggregation (Flower SecAgg+): round preflight and the secure-sum stress index.

The Flower wiring (legacy ClientApp with ``secaggplus_mod``, ServerApp running ``SecAggPlusWorkflow``) lives in
:mod:`fedrisk.federation.secagg`; this package holds the parts that know nothing of Flower.
"""

from __future__ import annotations

from fedrisk.privacy.secagg.index import IndexGrid as IndexGrid
from fedrisk.privacy.secagg.index import decode_index as decode_index
from fedrisk.privacy.secagg.index import encode_scores as encode_scores
from fedrisk.privacy.secagg.preflight import SecAggParams as SecAggParams
from fedrisk.privacy.secagg.preflight import SecAggPlan as SecAggPlan
from fedrisk.privacy.secagg.preflight import preflight as preflight

__all__ = ["IndexGrid", "SecAggParams", "SecAggPlan", "decode_index", "encode_scores", "preflight"]
