"""intake_web's handlers: what an Open311 POST, an agent's phone request and the reads ask of the edge."""
