"""`python -m iot_gateway`: run one gateway from SCF_GATEWAY_* settings until interrupted."""

from __future__ import annotations

import logging

from iot_gateway.gateway import run
from iot_gateway.settings import GatewaySettings

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(GatewaySettings())
