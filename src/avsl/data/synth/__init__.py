"""A procedurally generated audio-visual benchmark whose sounding object is known exactly."""
