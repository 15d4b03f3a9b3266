"""`python -m node`: run the embedded node with settings from SCF_NODE_* variables."""

from __future__ import annotations

import logging

from node.server import serve
from node.settings import NodeSettings


def main() -> None:
    """Configure logging and serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(NodeSettings())


if __name__ == "__main__":
    main()
