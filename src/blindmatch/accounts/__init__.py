"""Account data on its way into a session: key normalization, files and population filters."""
