"""Everything that knows about DTEK's sites: regions, fetching, page parsing, the fake site."""
