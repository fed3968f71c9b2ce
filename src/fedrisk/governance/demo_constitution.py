"""The demo's constitution, embedded so that an installed wheel has it (``examples/demo-constitution.toml``).

A test keeps this text identical to the example file.
"""

from __future__ import annotations

DEMO_CONSTITUTION_TOML = """\
# The constitution of the demo federation (`fedrisk demo`): the seven exchanges of the liquidity-stress
# job, as the demo runs it. The demo loads and checks this file (`fedrisk demo --constitution FILE` to use
# another); its members are the stress job's members (`--quick`: those of the four quick members it lists) and
# every round of the main federated job is recorded in the run's governance store under these rules.
#
#     fedrisk constitution check examples/demo-constitution.toml
#
# A copy is embedded in the package (fedrisk.governance.demo_constitution) so an installed wheel has it; a test
# keeps the two identical. Reference of every key: docs/governance.md.

[federation]
name = "fedrisk-demo-stress-federation"
version = 1
description = "Seven exchanges train the liquidity-stress model together (the fedrisk demo)."

# --- Members -----------------------------------------------------------------------------------
# All seven train in the demo's stress job, so all are full members. Joiners come in as lite.
[[members]]
id = "binance"
display_name = "Binance"
organisation = "Binance Holdings Ltd."
public_key = "ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
tier = "full"
joined = 2024-01-03

[[members]]
id = "bitfinex"
display_name = "Bitfinex"
organisation = "iFinex Inc."
public_key = "ed25519:9c2f6e1d4b3a59874c0e2d1f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b"
tier = "full"
joined = 2024-01-03

[[members]]
id = "bitstamp"
display_name = "Bitstamp"
organisation = "Bitstamp Ltd."
public_key = "ed25519:4f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
tier = "full"
joined = 2024-01-03

[[members]]
id = "bittrex"
display_name = "Bittrex"
organisation = "Bittrex Global GmbH"
public_key = "ed25519:a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
tier = "full"
joined = 2024-01-03

[[members]]
id = "coinbase"
display_name = "Coinbase"
organisation = "Coinbase Global, Inc."
public_key = "ed25519:0f9e8d7c6b5a49382716a5b4c3d2e1f00f9e8d7c6b5a49382716a5b4c3d2e1f0"
tier = "full"
joined = 2024-01-03

[[members]]
id = "gemini"
display_name = "Gemini"
organisation = "Gemini Trust Company, LLC"
public_key = "ed25519:5e4d3c2b1a0918273645a5b4c3d2e1f05e4d3c2b1a0918273645a5b4c3d2e1f0"
tier = "full"
joined = 2024-01-03

[[members]]
id = "kraken"
display_name = "Kraken"
organisation = "Payward, Inc."
public_key = "ed25519:7a6b5c4d3e2f10293847a5b4c3d2e1f07a6b5c4d3e2f10293847a5b4c3d2e1f0"
tier = "full"
joined = 2024-01-03

# --- Schedule ----------------------------------------------------------------------------------
[schedule]
cron = "0 2 * * wed"                  # a real deployment: every Wednesday at 02:00 London time
timezone = "Europe/London"
missed_round_policy = "run-once"
round_timeout_minutes = 60

# --- Tasks -------------------------------------------------------------------------------------
[[tasks]]
name = "liquidity-stress"
model = "stgraph"                     # the spatio-temporal graph model of the stress job
local_epochs = 1                      # the stress model trains a fixed number of local steps (runner option)
learning_rate = 0.001                 # as the demo's stress job
batch_size = 256                      # as the demo's stress job

# --- Privacy -----------------------------------------------------------------------------------
# The stress rounds run in plain mode (no differential privacy), so they charge no ε. The budget below
# bounds the demo's privacy section: its DP-FedAvg jobs (targets ε = 8, 3, 1 at δ = 1e-5) must stay
# within it, and the governance section checks that they did.
[privacy]
mode = "none"
epsilon_budget = 8.0
epsilon_per_round = 1.0
delta = 1e-5
budget_period = "year"

# --- Aggregation -------------------------------------------------------------------------------
[aggregation]
mode = "plain"                        # the stress job's aggregation (the privacy section reruns it under SecAgg+)

# --- Quorum ------------------------------------------------------------------------------------
[quorum]
min_members = 4                       # ≥ 4 members per round (the quick demo has exactly 4)
min_cohort = 3                        # never below 3

# --- Rewards -----------------------------------------------------------------------------------
[rewards]
pool_per_round = 1000.0
currency = "USD"
split_rule = "contribution"           # by the round's contribution scores (training-hours share in the demo)
floor = 0.05
cap = 0.30

[rewards.premium]
full = 1.0
lite = 0.5

# --- Tiers -------------------------------------------------------------------------------------
[tiers.lite]
receives_model = false
receives_index = true
contributes_updates = false
contributes_evaluations = true

[tiers.full]
receives_model = true
receives_index = true
contributes_updates = true
contributes_evaluations = true

[membership]
join_tier = "lite"

[promotion]
from_tier = "lite"
to_tier = "full"
contribution_threshold = 0.05
over_rounds = 4
automatic = false

# --- Exit --------------------------------------------------------------------------------------
[exit]
notice_rounds = 2
model_access_rounds_after_exit = 0
past_contributions = "retained"

# --- Amendments --------------------------------------------------------------------------------
[amendments]
supermajority = 0.67
notice_days = 14
"""

__all__ = ["DEMO_CONSTITUTION_TOML"]
