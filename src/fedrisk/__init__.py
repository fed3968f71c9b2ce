"""fedrisk — federated risk models for rival financial institutions.

Members train shared models without sharing client data; a neutral coordinator runs the rounds.
See the README for the architecture and ``docs/`` for the threat model.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
