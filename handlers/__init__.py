"""Inbound transports: they verify, decrypt, dedup, convert to InboundMessage and enqueue."""
