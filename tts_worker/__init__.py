"""Text-to-speech stage: SpeakRequest in, Reply (MP3) out to the asking gateway."""
