"""The IoT gateway: signed sensor readings in over MQTT, verified readings out, nothing lost.

Devices publish to `devices/{device}/telemetry` (QoS 1). The gateway checks each reading's
schema and ranges (`chain.readings.parse`), that the device is bound to a lot on chain and
signed it with its registered key, and that its sequence number is new; accepted readings are
kept in a disk queue until the broker has acknowledged their republication, unchanged and in
batches, to `verified/{lotIdHex}`. See `iot_gateway/README.md`.
"""
