"""Conversation skills; each exposes a factory returning its router."""
