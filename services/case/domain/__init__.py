"""Pure case rules: numbers, threading hints, merges and the Open311 view. No I/O here."""
