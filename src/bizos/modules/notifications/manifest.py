"""Notifications: what each user is told, and whether they have read it."""

from bizos.core.manifest import Manifest
from bizos.modules.notifications import models
from bizos.modules.notifications.api import router

MANIFEST = Manifest(name="notifications", models=(models,), routers=(router,))
