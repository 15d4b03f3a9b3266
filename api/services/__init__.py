"""Business logic of the API. No FastAPI here: routers translate HTTP, services decide."""
