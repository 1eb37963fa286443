"""Router adapters: the decision log's SQL."""
