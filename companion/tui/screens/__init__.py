"""One screen per area: reflect, rehearse, guidance, journal, models; plus help and reading a section."""
