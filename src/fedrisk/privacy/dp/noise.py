"""Noise sources for the Gaussian mechanism: a CSPRNG in production, seeded only for research.

Why this construction (``secure_mode=True``)
--------------------------------------------
* **Entropy**: every call reads fresh bytes from ``os.urandom`` (Linux ``getrandom(2)``, a
  ChaCha20 CSPRNG seeded by the kernel). numpy's bit generators (PCG64, SFC64, Philox) and
  ``torch.Generator`` (Mersenne Twister / Philox) are *not* cryptographically secure: their state
  can be recovered from outputs, and re-seeding one from ``secrets`` per call does not change
  that within a call. Opacus' own secure mode needs ``torchcsprng``, which is unmaintained and
  does not build for torch 2.13; ``secrets.SystemRandom().gauss`` is secure but pure Python
  (one sample per call, far too slow for 10^5-10^6 parameters).
* **Uniforms**: 64 random bits per uniform; the top 53 give ``u = (k + 1) / 2**53`` in ``(0, 1]``
  (never 0, so ``log u`` is finite).
* **Gaussians**: Box-Muller, vectorised with numpy.
* **Floating-point attacks** (Mironov 2012, CCS; Jin et al. 2022, "Are we there yet? Timing and
  floating-point attacks on differential privacy systems", IEEE S&P): a single floating-point
  Gaussian leaks through the gaps of its representation. As in Opacus
  (``optimizers/optimizer.py::_generate_noise``) we follow Holohan & Braghin 2021 ("Secure
  random sampling in differential privacy", ESORICS, section 5.1) and return the sum of
  ``2n = 4`` independent standard normals divided by ``sqrt(2n) = 2``: the attack's work grows
  from about 2^53 to 2^159.

``secure_mode=False`` draws from an injected/seeded :class:`numpy.random.Generator` so research
runs are reproducible. It warns loudly (a :class:`UserWarning` and a WARNING log line) every time
such a source is created: its noise is predictable to anyone who knows the seed.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Final

import numpy as np
import numpy.typing as npt

from fedrisk.errors import ConfigError

__all__ = ["INSECURE_WARNING", "NoiseSource"]

_LOG = logging.getLogger(__name__)
INSECURE_WARNING: Final[str] = (
    "fedrisk NoiseSource(secure_mode=False): DP noise comes from a seeded pseudo-random generator. "
    "Anyone who knows or recovers the seed can remove the noise, so the privacy guarantee is VOID. "
    "Use this for reproducible research only; production must use secure_mode=True."
)
_SECURE_SUMMANDS: Final[int] = 4  # 2n with n = 2 (Holohan & Braghin 2021, section 5.1)
_CHUNK: Final[int] = 1 << 20  # normals per os.urandom batch (8 MiB of entropy per chunk)


class NoiseSource:
    """Source of Gaussian noise and uniforms for DP mechanisms.

    Parameters
    ----------
    secure_mode
        ``True`` (default): OS CSPRNG with the floating-point-attack mitigation described in
        the module docstring; ``rng`` must be ``None``. ``False``: reproducible, *insecure*
        noise from ``rng`` (a :class:`numpy.random.Generator` or an integer seed); warns.
    rng
        Required when ``secure_mode=False``.

    Raises
    ------
    ConfigError
        If ``rng`` is given in secure mode, or missing in insecure mode.

    >>> src = NoiseSource()
    >>> src.normal((3,), std=1.0).shape
    (3,)
    """

    def __init__(self, *, secure_mode: bool = True, rng: np.random.Generator | int | None = None) -> None:
        self.secure_mode = bool(secure_mode)
        self._rng: np.random.Generator | None = None
        if self.secure_mode:
            if rng is not None:
                raise ConfigError(
                    "a seed/rng was passed with secure_mode=True: secure noise cannot be seeded. "
                    "Drop rng, or set secure_mode=False for a reproducible (insecure) research run"
                )
            return
        if rng is None:
            raise ConfigError("secure_mode=False needs rng (a numpy Generator or an int seed) to be reproducible")
        self._rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        warnings.warn(INSECURE_WARNING, UserWarning, stacklevel=2)
        _LOG.warning(INSECURE_WARNING)

    def __repr__(self) -> str:
        """Show the mode."""
        return f"NoiseSource(secure_mode={self.secure_mode})"

    def uniform(self, n: int) -> npt.NDArray[np.float64]:
        """``n`` uniforms in ``(0, 1]`` (secure: 53 bits from ``os.urandom`` each)."""
        if n < 0:
            raise ConfigError(f"n must be >= 0, got {n}")
        if self._rng is not None:
            return 1.0 - self._rng.random(n)  # (0, 1]
        words = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
        return ((words >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53

    def _secure_standard_normal(self, n: int) -> npt.NDArray[np.float64]:
        pairs = (n + 1) // 2
        u1, u2 = self.uniform(pairs), self.uniform(pairs)
        radius = np.sqrt(-2.0 * np.log(u1))
        angle = 2.0 * math.pi * u2
        return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]

    def standard_normal(self, n: int) -> npt.NDArray[np.float64]:
        """``n`` draws from N(0, 1) as float64."""
        if n < 0:
            raise ConfigError(f"n must be >= 0, got {n}")
        if self._rng is not None:
            return self._rng.standard_normal(n)
        out = np.empty(n, dtype=np.float64)
        for start in range(0, n, _CHUNK):
            m = min(_CHUNK, n - start)
            acc = np.zeros(m, dtype=np.float64)
            for _ in range(_SECURE_SUMMANDS):
                acc += self._secure_standard_normal(m)
            out[start : start + m] = acc / math.sqrt(_SECURE_SUMMANDS)
        return out

    def normal(
        self, shape: tuple[int, ...], *, std: float, dtype: npt.DTypeLike = np.float64
    ) -> npt.NDArray[np.floating]:
        """Array of ``shape`` from N(0, std²), cast to ``dtype`` (a floating dtype).

        Raises
        ------
        ConfigError
            If ``std`` is negative or not finite, or ``dtype`` is not floating.
        """
        if not math.isfinite(std) or std < 0:
            raise ConfigError(f"std must be a finite number >= 0, got {std!r}")
        np_dtype = np.dtype(dtype)
        if not np.issubdtype(np_dtype, np.floating):
            raise ConfigError(f"noise dtype must be floating, got {np_dtype}")
        n = math.prod(shape)
        draws = self.standard_normal(n) * std
        return draws.reshape(shape).astype(np_dtype, copy=False)
