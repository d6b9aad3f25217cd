"""Renderings of a credential: its baked badge image and its PDF certificate."""
