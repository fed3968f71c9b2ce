"""A transport codec for the deployment engine: a model travels as one array, not one object per tensor.

Flower 1.42's deployment engine moves a message as a tree of objects, one HTTP request per object (every
tensor of an ArrayRecord is one object; at most 2 transfers at a time by default). The stress model has
about 30 tensors, so a round spends seconds in per-object requests on a loaded machine. :func:`pack` turns
each multi-array ArrayRecord of a message's content into one byte array plus a small ConfigRecord of keys,
dtypes and shapes; :func:`unpack` restores it exactly (same keys, dtypes, shapes and bytes). Only the
deployment path uses it (:class:`fedrisk.federation.deploy_app.FastGrid` on the coordinator's side and
:mod:`fedrisk.federation.node_runtime` on the member's), so the coordinator and member code see ordinary
ArrayRecords and the simulation engine is untouched.
"""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from fedrisk.errors import FederationError

SUFFIX = ".fedrisk-packed"
"""Key suffix of the ConfigRecord that describes a packed ArrayRecord."""


def pack(content: RecordDict) -> RecordDict:
    """A copy of ``content`` with every ArrayRecord of more than one array packed into one uint8 array."""
    out = RecordDict()
    for key, record in content.items():
        if isinstance(record, ArrayRecord) and len(record) > 1:
            arrays = [(k, record[k].numpy()) for k in record]
            layout = [[k, a.dtype.str, list(a.shape)] for k, a in arrays]
            blob = np.frombuffer(b"".join(np.ascontiguousarray(a).tobytes() for _, a in arrays), dtype=np.uint8)
            out[key] = ArrayRecord([blob.copy()])
            out[key + SUFFIX] = ConfigRecord({"layout": json.dumps(layout)})
        else:
            out[key] = record
    return out


def unpack(content: RecordDict) -> RecordDict:
    """The original content of :func:`pack` (a content without packed records is returned as is)."""
    if not any(k.endswith(SUFFIX) for k in content):
        return content
    out = RecordDict()
    for key, record in content.items():
        if key.endswith(SUFFIX):
            continue
        meta = content.get(key + SUFFIX)
        if meta is None or not isinstance(record, ArrayRecord):
            out[key] = record
            continue
        blob = record.to_numpy_ndarrays()[0].tobytes()
        arrays: OrderedDict[str, Array] = OrderedDict()
        offset = 0
        for name, dtype, shape in json.loads(str(meta["layout"])):  # type: ignore[index]
            dt = np.dtype(dtype)
            n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
            if offset + n > len(blob):
                raise FederationError(f"packed record '{key}' is shorter than its layout says")
            arrays[name] = Array(
                np.frombuffer(blob, dtype=dt, count=n // dt.itemsize, offset=offset).reshape(shape).copy()
            )
            offset += n
        if offset != len(blob):
            raise FederationError(f"packed record '{key}' has {len(blob) - offset} bytes its layout does not describe")
        out[key] = ArrayRecord(arrays)
    return out


def pack_message(message: Message) -> Message:
    """Pack a message's content in place (messages with an error are left alone); returns it."""
    if message.has_content():
        message.content = pack(message.content)
    return message


def unpack_message(message: Message) -> Message:
    """Unpack a message's content in place (messages with an error are left alone); returns it."""
    if message.has_content():
        message.content = unpack(message.content)
    return message


class PackedClientApp(ClientApp):
    """A ClientApp that unpacks what it receives and packs what it replies, around another ClientApp."""

    def __init__(self, inner: ClientApp) -> None:
        super().__init__()
        self.inner = inner

    def __call__(self, message: Message, context: Context) -> Message:
        """Run the inner app on the unpacked message; pack its reply."""
        return pack_message(self.inner(unpack_message(message), context))


def tune_object_pulls(*, initial_backoff_s: float = 0.05, backoff_cap_s: float = 0.5) -> None:
    """Make this process's Flower object pulls retry after ``initial_backoff_s`` (Flower 1.42: 1 s, cap 10 s).

    A node sees a message as soon as its metadata is stored, often before the sender has uploaded the
    message's objects; Flower then waits 1 s (then 2, 4 ... s) before asking again, which alone added 1–3 s
    to each phase of a round. Changes the keyword defaults of ``pull_objects`` and
    ``pull_and_inflate_object_from_tree`` (``flwr.supercore.inflatable.inflatable_utils``, through which every
    Flower pull goes) in this process only.
    """
    from flwr.supercore.inflatable import inflatable_utils

    for fn in (inflatable_utils.pull_objects, inflatable_utils.pull_and_inflate_object_from_tree):
        defaults = fn.__kwdefaults__
        if defaults is None or "initial_backoff" not in defaults or "backoff_cap" not in defaults:
            raise FederationError(f"this Flower's {fn.__name__} has no backoff settings (fedrisk pins flwr 1.42)")
        defaults["initial_backoff"] = initial_backoff_s
        defaults["backoff_cap"] = backoff_cap_s
