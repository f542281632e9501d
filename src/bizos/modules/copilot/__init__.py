"""The copilot: questions about the business answered from its own data, with the working
shown (figures with their query, filters and records; sources; the plan), follow-ups in a
conversation, and actions proposed for confirmation. Also served to outside agents over
MCP."""
