"""One module per audit.json section: each turns its part of the result into report blocks."""
