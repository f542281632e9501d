"""CRM: contacts, companies, leads, deals, scoring, assignment, forecast and imports."""

from bizos.core.manifest import Manifest
from bizos.core.ports import PrivacyHooks
from bizos.modules.crm import models, privacy, tools
from bizos.modules.crm.api import router
from bizos.modules.crm.companies.service import get_company
from bizos.modules.crm.contacts import handlers as contacts_handlers
from bizos.modules.crm.contacts.service import get_contact
from bizos.modules.crm.deals.schemas import STAGES as DEAL_STAGES
from bizos.modules.crm.deals.service import get_deal
from bizos.modules.crm.imports import handlers as imports_handlers
from bizos.modules.crm.imports.workflows import run_import
from bizos.modules.crm.leads import handlers as leads_handlers
from bizos.modules.crm.leads.service import get_lead
from bizos.modules.crm.leads.workflows import lead_flow
from bizos.modules.crm.scoring import handlers as scoring_handlers
from bizos.modules.crm.scoring.jobs import retrain_scoring_models
from bizos.modules.crm.timeline import CRM_SOURCES

MANIFEST = Manifest(
    name="crm",
    models=(models,),
    routers=(router,),
    subscribers=(
        contacts_handlers.register,
        imports_handlers.register,
        leads_handlers.register,
        scoring_handlers.register,
    ),
    workflows=(lead_flow, run_import),
    jobs=(retrain_scoring_models,),
    tools=tuple(tools.TOOLS),
    timeline_sources=CRM_SOURCES,
    record_resolvers={
        "contact": get_contact,
        "lead": get_lead,
        "deal": get_deal,
        "company": get_company,
    },
    # A deal entering a stage runs that stage's task templates (deals.service).
    task_triggers=tuple(f"deal.stage:{stage}" for stage in DEAL_STAGES),
    name_lookup=privacy.privacy_names,
    privacy=PrivacyHooks(export=privacy.export),
)
