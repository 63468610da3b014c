"""Request dependencies as ``Annotated`` aliases: routes declare what they need by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from veronica.errors import VeronicaError
from veronica.service import FaceService
from veronica.settings import Settings


class NotReadyError(VeronicaError):
    code = "not_ready"
    status = 503


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> FaceService:
    service: FaceService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise NotReadyError("the face engine is still loading")
    return service


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[FaceService, Depends(get_service)]
