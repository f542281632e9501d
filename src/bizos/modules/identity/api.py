from __future__ import annotations

from fastapi import APIRouter

from bizos.api.deps import PublicCtx, SystemSession
from bizos.modules.identity import service
from bizos.modules.identity.schemas import SignupRequest, SignupResponse

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.post("/auth/signup", status_code=201, response_model=SignupResponse)
async def signup(body: SignupRequest, session: SystemSession, ctx: PublicCtx) -> SignupResponse:
    return await service.signup(session, ctx, body)
