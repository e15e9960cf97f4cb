"""Speech-to-text stage: AudioTurn in, TextTurn out."""
