"""Engines: the in-process llama.cpp runtime, chat models, the model catalogue and the listener."""
