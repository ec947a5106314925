"""Ready sample to the broker and back: the durable outbox, the MQTT publisher, the collector's
config and model messages (``inbox.py``), model roll-out and run counters."""
