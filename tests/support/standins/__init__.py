"""Local stand-ins for the chat servers, speaking their real wire formats on 127.0.0.1."""
