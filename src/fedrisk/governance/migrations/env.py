"""Alembic environment: runs on the connection handed over by :func:`fedrisk.governance.sql_store.migrate`.

There is no ``alembic.ini``: the package configures Alembic in code, so a deployed coordinator
migrates its database on open without any file outside the package.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from fedrisk.governance.sql_schema import METADATA

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through fedrisk.governance.sql_store.migrate(engine)")
context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
