"""The audit log's read side: ``GET /api/v1/audit`` for admins.

The table and the hook that writes it live in ``core/audit.py`` (every module's writes
are recorded there, below the service code); this module only reads it.
"""
