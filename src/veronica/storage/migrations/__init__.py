"""Alembic migrations shipped inside the package (run via ``veronica.storage.migrate``)."""
