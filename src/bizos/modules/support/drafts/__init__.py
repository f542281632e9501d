"""AI-drafted replies: the durable draft workflow, approval and sending."""
