"""Rehearsal: a simulated partner, scenarios, and the coach that labels each reply."""
