"""Webcam sessions: errors, origins, signed links and the session service (state in MongoDB)."""
