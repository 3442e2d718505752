"""Safety: the crisis screen (rules, then the semantic layer) and the resources it shows."""
