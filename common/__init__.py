"""Shared logic of the fleet: DTEK fetching and parsing, the schedule model, storage, settings."""
