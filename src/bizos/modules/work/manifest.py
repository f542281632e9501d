"""Work: tasks, templates, reminders and escalations."""

from bizos.core.manifest import Manifest
from bizos.core.ports import PrivacyHooks
from bizos.modules.work import handlers, jobs, models, privacy, tools
from bizos.modules.work.api import router
from bizos.modules.work.templates.api import router as templates_router
from bizos.modules.work.timeline import tasks_source

MANIFEST = Manifest(
    name="work",
    models=(models,),
    routers=(router, templates_router),
    subscribers=(handlers.register,),
    jobs=(jobs.task_reminders, jobs.task_escalations),
    tools=tuple(tools.TOOLS),
    timeline_sources={"work.tasks": tasks_source},
    privacy=PrivacyHooks(export=privacy.export),
)
