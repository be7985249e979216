"""Shared state behind one interface, with memory and Redis implementations."""
