"""Pure case rules: numbers, the threading rule, merges, what the handlers write and the Open311 view. No I/O here."""
