"""Task templates: tasks made whenever a trigger fires."""
