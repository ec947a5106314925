"""Ingest: take samples, status and stats off the broker and commit them durably.

A message is acknowledged to the broker only after what it carries is committed (or, for a
rejected message, after it is quarantined), so a crash means redelivery, never loss.
"""

from facetrove.collector.ingest.validate import Accepted, DeviceUpdate, Rejected, validate_message

__all__ = ["Accepted", "DeviceUpdate", "Rejected", "validate_message"]
