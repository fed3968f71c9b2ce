"""Homomorphic-encryption aggregation: CKKS (TenSEAL) and threshold Paillier with packing.

See ``docs/he-and-attacks.md`` for the threat model of each mode.
"""

from __future__ import annotations

from fedrisk.privacy.he.base import HeAggregator as HeAggregator
from fedrisk.privacy.he.ckks import CKKS_ABS_ERROR_BOUND as CKKS_ABS_ERROR_BOUND
from fedrisk.privacy.he.ckks import CkksAggregator as CkksAggregator
from fedrisk.privacy.he.ckks import CkksKeys as CkksKeys
from fedrisk.privacy.he.ckks import CkksMember as CkksMember
from fedrisk.privacy.he.ckks import CkksParams as CkksParams
from fedrisk.privacy.he.ckks import EncryptedVector as EncryptedVector
from fedrisk.privacy.he.ckks import ckks_keygen as ckks_keygen
from fedrisk.privacy.he.ckks import flatten_update as flatten_update
from fedrisk.privacy.he.ckks import unflatten_update as unflatten_update
from fedrisk.privacy.he.keys import load_ckks_member as load_ckks_member
from fedrisk.privacy.he.keys import load_public as load_public
from fedrisk.privacy.he.keys import load_threshold_share as load_threshold_share
from fedrisk.privacy.he.keys import write_ckks_keys as write_ckks_keys
from fedrisk.privacy.he.keys import write_threshold_keys as write_threshold_keys
from fedrisk.privacy.he.packing import PackingSpec as PackingSpec
from fedrisk.privacy.he.threshold import IndexSums as IndexSums
from fedrisk.privacy.he.threshold import PaillierVector as PaillierVector
from fedrisk.privacy.he.threshold import ThresholdAggregator as ThresholdAggregator
from fedrisk.privacy.he.threshold import ThresholdMember as ThresholdMember
from fedrisk.privacy.he.threshold import secure_index_sum as secure_index_sum
from fedrisk.privacy.he.threshold import threshold_decrypt as threshold_decrypt
from fedrisk.privacy.he.threshold_paillier import KeyShare as KeyShare
from fedrisk.privacy.he.threshold_paillier import PartialDecryption as PartialDecryption
from fedrisk.privacy.he.threshold_paillier import ThresholdPublicKey as ThresholdPublicKey
from fedrisk.privacy.he.threshold_paillier import generate_threshold_keypair as generate_threshold_keypair

__all__ = [
    "CKKS_ABS_ERROR_BOUND",
    "CkksAggregator",
    "CkksKeys",
    "CkksMember",
    "CkksParams",
    "EncryptedVector",
    "HeAggregator",
    "IndexSums",
    "KeyShare",
    "PackingSpec",
    "PaillierVector",
    "PartialDecryption",
    "ThresholdAggregator",
    "ThresholdMember",
    "ThresholdPublicKey",
    "ckks_keygen",
    "flatten_update",
    "generate_threshold_keypair",
    "load_ckks_member",
    "load_public",
    "load_threshold_share",
    "secure_index_sum",
    "threshold_decrypt",
    "unflatten_update",
    "write_ckks_keys",
    "write_threshold_keys",
]
