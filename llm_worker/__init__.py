"""Language-model stage: TextTurn in, SpeakRequest out, with the session's history."""
