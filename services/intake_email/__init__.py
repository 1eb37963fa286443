"""Email intake: reads the city's 311 mailbox (IMAP) and turns each resident mail into
intake.message_received on intake.messages; automatic mail (out-of-office, bounces, reports) never
becomes a case. The pure parsing and classification core is in `domain`."""
