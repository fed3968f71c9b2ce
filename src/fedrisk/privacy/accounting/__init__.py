"""Privacy accounting: pure ε maths (:mod:`.analysis`) and stateful accountants (:mod:`.accountant`)."""

from __future__ import annotations

from fedrisk.privacy.accounting.accountant import PLDAccountant as PLDAccountant
from fedrisk.privacy.accounting.accountant import PrivacyAccountant as PrivacyAccountant
from fedrisk.privacy.accounting.accountant import RDPAccountant as RDPAccountant
from fedrisk.privacy.accounting.accountant import available_accountants as available_accountants
from fedrisk.privacy.accounting.accountant import create_accountant as create_accountant
from fedrisk.privacy.accounting.accountant import register_accountant as register_accountant
from fedrisk.privacy.accounting.analysis import ACCOUNTANTS as ACCOUNTANTS
from fedrisk.privacy.accounting.analysis import AccountantName as AccountantName
from fedrisk.privacy.accounting.analysis import GaussianStep as GaussianStep
from fedrisk.privacy.accounting.analysis import calibrate_noise as calibrate_noise
from fedrisk.privacy.accounting.analysis import epsilon as epsilon
from fedrisk.privacy.accounting.analysis import epsilon_for_history as epsilon_for_history

__all__ = [
    "ACCOUNTANTS",
    "AccountantName",
    "GaussianStep",
    "PLDAccountant",
    "PrivacyAccountant",
    "RDPAccountant",
    "available_accountants",
    "calibrate_noise",
    "create_accountant",
    "epsilon",
    "epsilon_for_history",
    "register_accountant",
]
