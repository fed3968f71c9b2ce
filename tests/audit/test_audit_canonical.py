"""The fast canonical-form check agrees with the rfc8785 package on every input."""

from __future__ import annotations

import contextlib
import json

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrisk.audit._canon import loads_checked

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
    | st.sampled_from(["\x00F0\x00", "a\\u0000", "\u2028", "é", "😀", "1e-7", ""])
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _truth(line: bytes) -> bool:
    try:
        return bool(rfc8785.dumps(json.loads(line)) == line)
    except (rfc8785.CanonicalizationError, ValueError):
        return False


@settings(max_examples=300, deadline=None)
@given(_json)
def test_agrees_with_rfc8785(value: object) -> None:
    candidates = [
        json.dumps(value).encode(),
        json.dumps(value, sort_keys=True, separators=(",", ":")).encode(),
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ]
    with contextlib.suppress(rfc8785.CanonicalizationError):
        candidates.append(rfc8785.dumps(value))
    for line in candidates:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        _, ok = loads_checked(line)
        assert ok == _truth(line), line


def test_known_cases() -> None:
    assert loads_checked(b'{"a":1,"b":[0.00001,1e+21,-1.5]}')[1]
    assert not loads_checked(b'{"a":1,"b":[1e-05]}')[1]
    assert not loads_checked(b'{"b":1,"a":1}')[1]
    assert not loads_checked(b'{"a":1.0}')[1]
    assert not loads_checked(b'{"a":-0}')[1]
    assert not loads_checked(b'{"a":9007199254740993}')[1]
    assert not loads_checked(b'{"a":"\\u00e9"}')[1]
    assert loads_checked('{"a":"é"}'.encode())[1]
    assert loads_checked(b'{"a":"\\u0000F0\\u0000","b":0.5}')[1]
    obj, ok = loads_checked(b'{"eps":0.25,"n":[1,2.5]}')
    assert ok and obj == {"eps": 0.25, "n": [1, 2.5]}
