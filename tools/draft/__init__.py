"""`python -m tools.draft`: draft a jurisdiction from a city's export and a boundary file."""
