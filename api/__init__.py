"""The members' API: FastAPI routers over services, a transactional outbox relay and a chain indexer."""
