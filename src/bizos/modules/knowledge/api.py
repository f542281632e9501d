"""Knowledge-base router: documents and search, summaries, contracts."""

from __future__ import annotations

from fastapi import APIRouter

from bizos.modules.knowledge.contracts import api as contracts_api
from bizos.modules.knowledge.documents import api as documents_api
from bizos.modules.knowledge.summaries import api as summaries_api

router = APIRouter()
router.include_router(documents_api.router)
router.include_router(summaries_api.router)
router.include_router(contracts_api.router)
