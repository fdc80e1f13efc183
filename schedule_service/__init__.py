"""The schedule service: scrapes every DTEK region into the shared SQLite DB."""
