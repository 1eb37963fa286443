"""intake_email adapters: the IMAP mailbox and the SQL of the `intake_email` schema."""
