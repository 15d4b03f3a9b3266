"""Alembic migrations of the API's database; run them with `api.db.upgrade`."""
