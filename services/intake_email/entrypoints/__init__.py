"""intake_email's entry points: the mailbox watcher for the service's lifetime, and the staff HTTP routes (media, problems, messages, mailbox)."""
