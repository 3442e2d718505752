"""Listening: a statement in, a checked reflection out (the built-in reflector, prompts, output checks, review)."""
