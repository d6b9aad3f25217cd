"""Test support: real servers for a session, and helpers to observe Kafka topics."""
