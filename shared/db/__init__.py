"""PostgreSQL plumbing: pools, migrations, the inbox claim and the transactional outbox."""
