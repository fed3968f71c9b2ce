"""``aggregation = "he"``: the stress federation with CKKS-encrypted updates (TenSEAL).

Protocol of one round (job config ``aggregation = "he"``, keys from ``fedrisk he keygen --scheme ckks``)
---------------------------------------------------------------------------------------------------
1. The coordinator sends the global model ``g`` to the cohort, as in plain mode.
2. Each member ``i`` trains, forms its update ``d_i = w_i - g`` (flattened over all layers), clips it to L2 norm
   ``he-clip-norm`` when that is > 0, and encrypts ``[n_i * d_i, n_i]`` (``n_i``: its training examples, the FedAvg
   weight) under the members' shared secret CKKS context, in chunks of 4096 slots. The reply carries the
   ciphertexts (``ConfigRecord`` of bytes), the training metrics and the audit claim (SHA-256 of the ciphertext
   bytes, logged in the member's outbound log with ``privacy-mode = "he"``).
3. The coordinator (:class:`HeCohortFedAvg`) checks the quorum (>= 3 valid replies), adds the ciphertexts with the
   **public context only** (no secret key, no Galois keys; :class:`~fedrisk.privacy.he.CkksAggregator` refuses a
   context with a secret key) and sends the encrypted sum to ONE designated decryptor (a ``query.he_decrypt``
   message), chosen in rotation among the members that replied; if it fails, the next one is asked.
4. The decryptor refuses a sum claiming fewer than 3 summands, decrypts and returns ``[sum n_i d_i, sum n_i]``.
   The coordinator sets ``g' = g + sum(n_i d_i) / sum(n_i)`` — FedAvg exactly, up to CKKS error (~1e-8).

Who sees what: the coordinator sees ciphertexts, then the weighted SUM of updates (the same as under SecAgg+,
and it could derive it from consecutive global models anyway); the decryptor sees the same sum; training metrics
and ``num-examples`` travel in clear as in plain mode (the roll call reveals ``n-train`` already). The members
share one secret key (TenSEAL has no threshold API): a decryptor handed a single member's ciphertext (a malicious
coordinator lying about the summand count) would decrypt it. See ``docs/he-and-attacks.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid

from fedrisk.errors import ConfigError, PrivacyError, require_cohort
from fedrisk.federation.coordinator import CohortFedAvg
from fedrisk.federation.plan import FederationPlan
from fedrisk.privacy.dp.clipping import clip_update
from fedrisk.privacy.he.ckks import CkksAggregator, CkksMember, EncryptedVector, flatten_update, unflatten_update
from fedrisk.privacy.he.keys import load_ckks_member, load_public

__all__ = [
    "DECRYPT_MESSAGE_TYPE",
    "HeCohortFedAvg",
    "apply_mean_update",
    "coordinator_aggregator",
    "decode_vector",
    "decrypt_sum",
    "encode_vector",
    "encrypt_weighted_update",
    "he_decrypt",
    "he_strategy",
    "he_train_reply",
    "member_key_path",
    "wants_he",
]

_log = logging.getLogger(__name__)

DECRYPT_ACTION = "he_decrypt"
DECRYPT_MESSAGE_TYPE = f"query.{DECRYPT_ACTION}"
"""The Flower message type of the decryption request (``@app.query("he_decrypt")`` on the member node)."""

FloatArray = npt.NDArray[np.float64]


# ---- wire format -------------------------------------------------------------------------------------------------


def encode_vector(encrypted: EncryptedVector) -> ConfigRecord:
    """An encrypted vector as a ConfigRecord (serialized ciphertext chunks as bytes)."""
    return ConfigRecord({"chunks": list(encrypted.chunks), "length": encrypted.length, "summands": encrypted.summands})


def decode_vector(record: ConfigRecord) -> EncryptedVector:
    """Inverse of :func:`encode_vector`; refuses a malformed record."""
    try:
        chunks = tuple(bytes(c) for c in record["chunks"])  # type: ignore[union-attr,arg-type]
        length, summands = int(record["length"]), int(record["summands"])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"malformed encrypted update: {err!r}") from err
    if not chunks or length <= 0 or summands <= 0:
        raise ConfigError(f"malformed encrypted update: {len(chunks)} chunks, length {length}, summands {summands}")
    return EncryptedVector(chunks=chunks, length=length, summands=summands)


# ---- member side -------------------------------------------------------------------------------------------------


def wants_he(config: ConfigRecord) -> bool:
    """True when the job asks for encrypted updates."""
    return str(config.get("aggregation", "plain")) == "he"


def member_key_path(keys_dir: str | Path, member: str) -> Path:
    """Where a simulated member finds its secret key file (``members/<id>.key.json`` of the ceremony)."""
    return Path(keys_dir) / "members" / f"{member}.key.json"


@lru_cache(maxsize=8)
def _member_ckks(path: str) -> CkksMember:
    secret, params = load_ckks_member(Path(path))
    return CkksMember(secret, params)


def encrypt_weighted_update(
    member: CkksMember,
    global_weights: Sequence[npt.NDArray[np.floating]],
    new_weights: Sequence[npt.NDArray[np.floating]],
    *,
    weight: float,
    clip_norm: float = 0.0,
) -> EncryptedVector:
    """Encrypt ``[weight * clip(new - global), weight]`` (the last slot carries the weight for the mean).

    Raises
    ------
    ConfigError
        Shapes differ, ``weight <= 0`` or ``clip_norm < 0``.
    """
    if not weight > 0 or clip_norm < 0:
        raise ConfigError(f"weight must be > 0 and clip_norm >= 0, got {weight!r}, {clip_norm!r}")
    if [np.shape(a) for a in global_weights] != [np.shape(a) for a in new_weights]:
        raise ConfigError("the update and the global model have different shapes")
    delta: list[npt.NDArray[np.floating]] = [
        np.asarray(n, np.float64) - np.asarray(g, np.float64) for n, g in zip(new_weights, global_weights, strict=True)
    ]
    if clip_norm > 0:
        delta, _ = clip_update(delta, clip_norm)
    return member.encrypt_vector(np.append(flatten_update(delta) * weight, weight))


def he_train_reply(
    msg: Message,
    config: ConfigRecord,
    member: str,
    n_train: int,
    weights: list[np.ndarray],
    metrics: MetricRecord,
) -> Message:
    """The member's encrypted training reply (called by ``member_node.train`` when :func:`wants_he`)."""
    from fedrisk.federation.member_node import record_outbound

    ckks = _member_ckks(str(member_key_path(str(config["he-keys-dir"]), member)))
    global_weights = msg.content["arrays"].to_numpy_ndarrays()  # type: ignore[union-attr]
    encrypted = encrypt_weighted_update(
        ckks,
        global_weights,
        weights,
        weight=float(n_train),
        clip_norm=float(config.get("he-clip-norm", 0.0)),  # type: ignore[arg-type]
    )
    logged = ConfigRecord(dict(config))
    logged["privacy-mode"] = "he"
    payload = np.frombuffer(b"".join(encrypted.chunks), dtype=np.uint8)
    claim = record_outbound(logged, member, int(config["server-round"]), [payload])  # type: ignore[arg-type]
    content = RecordDict({"he": encode_vector(encrypted), "metrics": metrics, "claim": ConfigRecord(claim)})  # type: ignore[arg-type]
    return Message(content=content, reply_to=msg)


def decrypt_sum(member: CkksMember, encrypted: EncryptedVector) -> FloatArray:
    """What the decryptor does: refuse a sum that claims fewer than 3 summands, else decrypt it.

    The summand count is the coordinator's claim; the member cannot verify it (one shared key, no proofs).
    """
    require_cohort(encrypted.summands, what="a decrypted sum")
    return member.decrypt(encrypted)


def he_decrypt(msg: Message, context: Context) -> Message:
    """``query.he_decrypt``: decrypt an encrypted sum of at least 3 members' updates and return it."""
    from fedrisk.federation.member_node import parse_job

    config = msg.content["config"]
    job = parse_job(context, config)  # type: ignore[arg-type]
    ckks = _member_ckks(str(member_key_path(str(config["he-keys-dir"]), job.member)))  # type: ignore[index]
    plain = decrypt_sum(ckks, decode_vector(msg.content["he-sum"]))  # type: ignore[arg-type]
    return Message(content=RecordDict({"sum": ArrayRecord([plain])}), reply_to=msg)


# ---- coordinator side --------------------------------------------------------------------------------------------


def coordinator_aggregator(keys_dir: str | Path) -> CkksAggregator:
    """The coordinator's aggregator from the ceremony's ``public.json`` (the only file it reads)."""
    public = load_public(Path(keys_dir) / "public.json")
    if public["scheme"] != "ckks":
        raise ConfigError(
            f"aggregation 'he' needs CKKS keys (`fedrisk he keygen --scheme ckks`), got {public['scheme']}"
        )
    return CkksAggregator(public["key"])


def apply_mean_update(global_weights: Sequence[np.ndarray], decrypted_sum: FloatArray) -> list[np.ndarray]:
    """``g + sum(n_i d_i) / sum(n_i)`` from the decrypted ``[sum n_i d_i, sum n_i]``, in the layers' dtypes."""
    total = float(decrypted_sum[-1])
    if not np.isfinite(total) or total <= 0.5:
        raise PrivacyError(f"decrypted weight sum is {total}: wrong key or corrupted ciphertext")
    mean = unflatten_update(np.asarray(decrypted_sum[:-1], np.float64) / total, global_weights)
    return [
        (np.asarray(g, np.float64) + m).astype(np.asarray(g).dtype) for g, m in zip(global_weights, mean, strict=True)
    ]


class HeCohortFedAvg(CohortFedAvg):
    """FedAvg over a cohort where the coordinator only adds CKKS ciphertexts; a member decrypts the sum."""

    def __init__(
        self, cohort_nodes: set[int], aggregator: CkksAggregator, *, evaluate: bool = True, timeout: float = 600.0
    ) -> None:
        super().__init__(cohort_nodes, evaluate=evaluate)
        if aggregator.can_decrypt:
            raise PrivacyError("the coordinator's aggregator must not hold a secret key")
        self.aggregator, self.timeout = aggregator, timeout
        self.decrypt_s: dict[int, float] = {}
        self._grid: Grid | None = None
        self._global: list[np.ndarray] = []
        self._config = ConfigRecord()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Remember the global model, the config and the grid (needed to ask for the decryption)."""
        messages = list(super().configure_train(server_round, arrays, config, grid))
        self._grid, self._global = grid, arrays.to_numpy_ndarrays()
        if messages:
            self._config = messages[0].content["config"]  # type: ignore[assignment]
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Quorum, encrypted sum, decryption by one member, mean update; a failed decryption fails the round."""
        ok = self._quorum(server_round, replies)
        if not ok:
            return None, None
        start = time.perf_counter()
        total = self.aggregator.aggregate([decode_vector(r.content["he"]) for r in ok])  # type: ignore[arg-type]
        plain = self._decrypt(server_round, total, sorted(r.metadata.src_node_id for r in ok))
        self.decrypt_s[server_round] = time.perf_counter() - start
        if plain is None:
            self.failed_rounds.append(server_round)
            return None, None
        arrays = ArrayRecord(apply_mean_update(self._global, plain))
        metrics = self.train_metrics_aggr_fn([r.content for r in ok], self.weighted_by_key)
        return arrays, metrics

    def _decrypt(self, server_round: int, total: EncryptedVector, nodes: list[int]) -> FloatArray | None:
        if self._grid is None:
            raise ConfigError("aggregate_train before configure_train: no grid to reach a decryptor")
        content = RecordDict({"config": self._config, "he-sum": encode_vector(total)})
        for k in range(len(nodes)):
            node = nodes[(server_round - 1 + k) % len(nodes)]
            request = Message(content=content, message_type=DECRYPT_MESSAGE_TYPE, dst_node_id=node)
            for reply in self._grid.send_and_receive([request], timeout=self.timeout):
                if reply.has_error():
                    _log.warning("round %s: decryptor node %s failed: %s", server_round, node, reply.error)
                    continue
                arrays = reply.content["sum"].to_numpy_ndarrays()  # type: ignore[union-attr]
                return np.asarray(arrays[0], np.float64)
        _log.warning("round %s: no member decrypted the sum; nothing published", server_round)
        return None


def he_strategy(plan: FederationPlan, cohort_nodes: set[int], *, evaluate: bool = True) -> HeCohortFedAvg:
    """The coordinator's strategy for an ``aggregation = "he"`` job (public context from ``plan.he_keys_dir``)."""
    return HeCohortFedAvg(cohort_nodes, coordinator_aggregator(plan.he_keys_dir), evaluate=evaluate)
