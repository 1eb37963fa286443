"""Pure rules of the SMS/voice channel: addresses, keywords, locations, replies and the IVR. No I/O."""
