"""intake_email service layer: ingesting one raw message, and the loop that watches the mailbox."""
