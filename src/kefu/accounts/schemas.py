"""Request and response bodies for sign-in, the current user and user administration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from kefu.core.schemas import Email, Line30, Mobile, Model, Name30, PatchModel, Text500

AgentType = Literal["online", "ticket", "call_center", "omni"]
LanguageCode = Literal["zh-CN", "en"]
PresenceStatus = Literal["idle", "busy", "away", "invisible", "offline"]


def _password_rule(value: str) -> str:
    if (
        not (8 <= len(value) <= 64)
        or not any(c.isdigit() for c in value)
        or not any(c.isalpha() for c in value)
    ):
        raise ValueError(
            "password_rule|需为 8-64 位，且同时包含字母和数字|"
            "needs 8-64 characters with both letters and digits"
        )
    return value


Password = Annotated[str, StringConstraints(max_length=64), AfterValidator(_password_rule)]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=128)]
TotpCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
OpaqueToken = Annotated[
    str, StringConstraints(min_length=10, max_length=200, pattern=r"^[A-Za-z0-9_\-]+$")
]
EmployeeNumber = Annotated[
    str, StringConstraints(max_length=30, strip_whitespace=True, pattern=r"^[A-Za-z0-9_\-]*$")
]
MaxConcurrent = Annotated[int, Field(ge=0, le=200)]


class LoginIn(Model):
    email: Email
    password: AnyPassword
    remember: bool = False
    invisible: bool = False
    client: Literal["cookie", "token"] = "cookie"


class MfaIn(Model):
    mfa_token: OpaqueToken
    code: TotpCode


class ForgotIn(Model):
    email: Email


class ResetIn(Model):
    token: OpaqueToken
    new_password: Password


class ChangePasswordIn(Model):
    old_password: AnyPassword
    new_password: Password


class MfaCodeIn(Model):
    code: TotpCode


class RoleRef(BaseModel):
    id: int
    name: str
    builtin: str | None


class TenantRef(BaseModel):
    id: int
    name: str


class MeOut(BaseModel):
    id: int
    email: str
    nickname: str
    real_name: str
    employee_number: str | None
    mobile: str
    avatar_url: str
    agent_type: AgentType
    role: RoleRef
    team_id: int | None
    max_concurrent: int
    max_concurrent_ceiling: int
    can_set_max_concurrent: bool
    language: LanguageCode
    greeting_text: str
    greeting_enabled: bool
    mfa_enabled: bool
    mfa_required: bool
    pages: list[str]
    modes: list[str]
    data_scopes: dict[str, str]
    relogin_required: bool = Field(
        description="The role changed since sign-in; new rights apply after signing in again"
    )
    tenant: TenantRef
    status: PresenceStatus


class LoginOut(BaseModel):
    status: Literal["ok", "mfa_required", "mfa_setup_required"]
    user: MeOut | None = None
    token: str | None = Field(default=None, description="Bearer token, only when client=token")
    mfa_token: str | None = None
    secret: str | None = None
    otpauth_uri: str | None = None


class MfaSetupOut(BaseModel):
    secret: str
    otpauth_uri: str


class MePatch(PatchModel):
    nullable_fields = frozenset({"employee_number"})

    nickname: Name30 | None = None
    real_name: Line30 | None = None
    employee_number: EmployeeNumber | None = None
    mobile: Mobile | None = None
    language: LanguageCode | None = None
    greeting_text: Text500 | None = None
    greeting_enabled: bool | None = None
    max_concurrent: MaxConcurrent | None = None


class UserOut(BaseModel):
    id: int
    email: str
    nickname: str
    real_name: str
    employee_number: str | None
    mobile: str
    avatar_url: str
    agent_type: AgentType
    role_id: int
    role_name: str
    role_builtin: str | None
    team_id: int | None
    enabled: bool
    max_concurrent: int
    language: LanguageCode
    mfa_enabled: bool
    created_at: datetime
    status: PresenceStatus


class UserCreate(Model):
    email: Email
    password: Password
    nickname: Name30
    real_name: Line30 = ""
    employee_number: EmployeeNumber | None = None
    mobile: Mobile = ""
    agent_type: AgentType = "online"
    role_id: Annotated[int, Field(ge=1, le=2**53)]
    team_id: Annotated[int, Field(ge=1, le=2**53)] | None = None
    enabled: bool = True
    max_concurrent: MaxConcurrent = 10
    language: LanguageCode = "zh-CN"


class UserPatch(PatchModel):
    nullable_fields = frozenset({"employee_number", "team_id"})

    email: Email | None = None
    password: Password | None = None
    nickname: Name30 | None = None
    real_name: Line30 | None = None
    employee_number: EmployeeNumber | None = None
    mobile: Mobile | None = None
    agent_type: AgentType | None = None
    role_id: Annotated[int, Field(ge=1, le=2**53)] | None = None
    team_id: Annotated[int, Field(ge=1, le=2**53)] | None = None
    enabled: bool | None = None
    max_concurrent: MaxConcurrent | None = None
