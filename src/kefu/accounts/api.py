"""HTTP routes: sign-in, the current user, and user administration (Members > Agents)."""

from __future__ import annotations

import logging
from typing import Annotated

import pyotp
from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import FileResponse
from sqlalchemy import func, or_, select

from kefu.access.guards import require_page
from kefu.access.principal import SESSION_COOKIE, Principal, SignedIn, principal_for_session
from kefu.accounts import actions, auth_actions, throttle
from kefu.accounts.access import get_user
from kefu.accounts.models import User
from kefu.accounts.presenters import me_out, users_out
from kefu.accounts.schemas import (
    ChangePasswordIn,
    ForgotIn,
    LoginIn,
    LoginOut,
    MeOut,
    MePatch,
    MfaCodeIn,
    MfaIn,
    MfaSetupOut,
    ResetIn,
    UserCreate,
    UserOut,
    UserPatch,
)
from kefu.api.deps import Db, UnitOfWorkRoute, client_ip
from kefu.core import images, mail
from kefu.core.config import Settings
from kefu.core.errors import ApiError
from kefu.core.schemas import BigInt, PageOut, PageParams, SearchText
from kefu.roles.models import Role

log = logging.getLogger("kefu.accounts")

auth_router = APIRouter(prefix="/auth", tags=["auth"], route_class=UnitOfWorkRoute)
me_router = APIRouter(prefix="/me", tags=["me"], route_class=UnitOfWorkRoute)
users_router = APIRouter(prefix="/users", tags=["users"], route_class=UnitOfWorkRoute)
ManageAgents = require_page("admin.members.agents")
UserId = Annotated[int, Path(ge=1, le=2**53)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _login_answer(
    request: Request, response: Response, db: Db, outcome: auth_actions.Outcome
) -> LoginOut:
    if outcome.status != "ok":
        return LoginOut(
            status=outcome.status,
            mfa_token=outcome.mfa_token,
            secret=outcome.secret,
            otpauth_uri=outcome.otpauth_uri,
        )
    assert outcome.session is not None and outcome.token is not None
    sess = outcome.session
    if sess.client == "cookie":
        settings = _settings(request)
        secure = settings.base_url.startswith("https") or request.url.scheme == "https"
        response.set_cookie(
            SESSION_COOKIE,
            outcome.token,
            max_age=auth_actions.REMEMBER_DAYS * 86400 if sess.remember else None,
            httponly=True,
            secure=secure,
            samesite="lax",
            path="/",
        )
    await db.flush()
    principal = await principal_for_session(db, sess)
    return LoginOut(
        status="ok",
        user=await me_out(db, principal),
        token=outcome.token if sess.client == "token" else None,
    )


@auth_router.post("/login", summary="Sign in with email and password")
async def login(body: LoginIn, request: Request, response: Response, db: Db) -> LoginOut:
    outcome = await auth_actions.login(
        db,
        email=body.email,
        password=body.password,
        remember=body.remember,
        invisible=body.invisible,
        client=body.client,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        settings=_settings(request),
    )
    return await _login_answer(request, response, db, outcome)


@auth_router.post("/login/mfa", summary="Finish signing in with the TOTP code")
async def login_mfa(body: MfaIn, request: Request, response: Response, db: Db) -> LoginOut:
    outcome = await auth_actions.complete_second_factor(
        db,
        mfa_token=body.mfa_token,
        code=body.code,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
        settings=_settings(request),
    )
    return await _login_answer(request, response, db, outcome)


@auth_router.post("/logout", status_code=204, summary="End this session")
async def logout(principal: SignedIn, response: Response, db: Db) -> Response:
    await auth_actions.logout(db, principal.session)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@auth_router.post("/password/forgot", status_code=202, summary="Email a password-reset link")
async def forgot_password(
    body: ForgotIn, request: Request, db: Db, tasks: BackgroundTasks
) -> dict[str, str]:
    ip = client_ip(request)
    await throttle.check(db, "forgot", ip)
    await throttle.hit(db, "forgot", ip)
    user = await db.scalar(select(User).where(User.email == body.email))
    settings = _settings(request)
    if user is not None and user.enabled:
        if mail.smtp_configured(settings):
            link = await auth_actions.create_reset_link(db, user, settings)
            subject, text = mail.reset_mail(user.language, link)
            tasks.add_task(mail.send_mail, settings, to=user.email, subject=subject, body=text)
        else:
            log.info(
                "password reset asked for user %s, but no SMTP is configured; "
                "an administrator can send a reset link from Members > Agents",
                user.id,
            )
    # The same answer whether or not the email exists.
    return {"status": "accepted"}


@auth_router.post(
    "/password/reset", status_code=204, summary="Choose a new password with a reset link"
)
async def reset_password(body: ResetIn, db: Db) -> Response:
    await auth_actions.reset_password(db, token=body.token, new_password=body.new_password)
    return Response(status_code=204)


@me_router.get("", summary="The signed-in user, their role, pages and modes")
async def get_me(principal: SignedIn, db: Db) -> MeOut:
    return await me_out(db, principal)


@me_router.patch("", summary="Edit my personal info")
async def patch_me(body: MePatch, principal: SignedIn, db: Db) -> MeOut:
    await actions.update_me(db, principal, body)
    return await me_out(db, principal)


@me_router.post("/password", status_code=204, summary="Change my password (ends my other sessions)")
async def change_password(body: ChangePasswordIn, principal: SignedIn, db: Db) -> Response:
    await auth_actions.change_password(
        db, principal.user, principal.session, body.old_password, body.new_password
    )
    return Response(status_code=204)


@me_router.post("/avatar", summary="Upload my avatar (PNG/GIF/JPG, at most 2 MB)")
async def upload_avatar(
    principal: SignedIn, request: Request, db: Db, file: Annotated[UploadFile, File()]
) -> MeOut:
    data, ext = await images.read_image(file)
    user = principal.user
    user.avatar_path = images.store(_settings(request), user.tenant_id, "avatars", data, ext)
    return await me_out(db, principal)


@me_router.post("/mfa/setup", summary="Start two-factor setup: a new TOTP secret")
async def mfa_setup(principal: SignedIn) -> MfaSetupOut:
    user = principal.user
    if user.totp_enabled:
        raise ApiError("forbidden")
    user.totp_secret = pyotp.random_base32()
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=user.email, issuer_name=auth_actions.TOTP_ISSUER
    )
    return MfaSetupOut(secret=user.totp_secret, otpauth_uri=uri)


@me_router.post("/mfa/enable", summary="Confirm two-factor setup with a first code")
async def mfa_enable(body: MfaCodeIn, principal: SignedIn, db: Db) -> MeOut:
    user = principal.user
    if not user.totp_secret or user.totp_enabled:
        raise ApiError("mfa_not_setup")
    if not auth_actions.verify_totp(user, user.totp_secret, body.code):
        raise await auth_actions.fail(db, "mfa_code_wrong", [("mfa", str(user.id))])
    user.totp_enabled = True
    return await me_out(db, principal)


@me_router.post("/mfa/disable", summary="Turn two-factor login off (needs a current code)")
async def mfa_disable(body: MfaCodeIn, principal: SignedIn, db: Db) -> MeOut:
    user = principal.user
    if principal.role.require_mfa:
        raise ApiError("mfa_required_by_role")
    if not user.totp_enabled or not user.totp_secret:
        raise ApiError("mfa_not_setup")
    if not auth_actions.verify_totp(user, user.totp_secret, body.code):
        raise await auth_actions.fail(db, "mfa_code_wrong", [("mfa", str(user.id))])
    user.totp_enabled = False
    user.totp_secret = None
    return await me_out(db, principal)


@users_router.get("/{user_id}/avatar", summary="A user's avatar image", response_class=FileResponse)
async def user_avatar(
    user_id: UserId, principal: SignedIn, request: Request, db: Db
) -> FileResponse:
    user = await get_user(db, principal, user_id)
    path = images.resolve(_settings(request), user.avatar_path)
    headers = {"Cache-Control": "private, max-age=86400"}
    if path is None:
        return FileResponse(
            images.ASSETS_DIR / "default-avatar.svg", media_type="image/svg+xml", headers=headers
        )
    return FileResponse(path, media_type=images.media_type(path), headers=headers)


SORTS = {
    "nickname": User.nickname,
    "email": User.email,
    "created_at": User.created_at,
    "max_concurrent": User.max_concurrent,
    "role": Role.name,
    "enabled": User.enabled,
}


@users_router.get("", summary="List agents and admins (exact search, filters, sort)")
async def list_users(
    db: Db,
    params: Annotated[PageParams, Depends()],
    principal: Principal = ManageAgents,
    q: Annotated[
        SearchText | None,
        Query(
            max_length=254,
            description="Exact nickname, email, real name, mobile or employee number",
        ),
    ] = None,
    role_id: Annotated[BigInt | None, Query()] = None,
    enabled: Annotated[bool | None, Query()] = None,
    team_id: Annotated[BigInt | None, Query()] = None,
) -> PageOut[UserOut]:
    stmt = (
        select(User)
        .join(Role, Role.id == User.role_id)
        .where(User.tenant_id == principal.tenant_id)
    )
    if q and q.strip():
        term = q.strip()
        stmt = stmt.where(
            or_(
                User.nickname == term,
                User.email == term.lower(),
                User.real_name == term,
                User.mobile == term,
                User.employee_number == term,
            )
        )
    if role_id is not None:
        stmt = stmt.where(User.role_id == role_id)
    if enabled is not None:
        stmt = stmt.where(User.enabled == enabled)
    if team_id is not None:
        stmt = stmt.where(User.team_id == team_id)
    total = int(await db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    key = (params.sort or "created_at").lstrip("-")
    if key not in SORTS:
        raise ApiError(
            "validation_error",
            fields=[{"field": "sort", "rule": "enum", "message": f"sort: {', '.join(SORTS)}"}],
            detail="sort",
        )
    column = SORTS[key]
    order = column.desc() if (params.sort or "").startswith("-") else column.asc()
    rows = (
        await db.scalars(
            stmt.order_by(order, User.id).offset(params.offset).limit(params.page_size)
        )
    ).all()
    return PageOut[UserOut](
        items=await users_out(db, list(rows)),
        total=total,
        page=params.page,
        page_size=params.page_size,
    )


@users_router.post("", status_code=201, summary="Add an agent or admin")
async def create_user(
    body: UserCreate, request: Request, db: Db, principal: Principal = ManageAgents
) -> UserOut:
    user = await actions.create_user(db, principal, body, client_ip(request))
    return (await users_out(db, [user]))[0]


@users_router.get("/{user_id}", summary="One agent or admin")
async def read_user(user_id: UserId, db: Db, principal: Principal = ManageAgents) -> UserOut:
    return (await users_out(db, [await get_user(db, principal, user_id)]))[0]


@users_router.patch("/{user_id}", summary="Edit an agent or admin (role, seat, password, ...)")
async def patch_user(
    user_id: UserId, body: UserPatch, request: Request, db: Db, principal: Principal = ManageAgents
) -> UserOut:
    user = await get_user(db, principal, user_id)
    await actions.update_user(db, principal, user, body, client_ip(request))
    return (await users_out(db, [user]))[0]


@users_router.delete("/{user_id}", status_code=204, summary="Delete an agent or admin")
async def delete_user(
    user_id: UserId, request: Request, db: Db, principal: Principal = ManageAgents
) -> Response:
    user = await get_user(db, principal, user_id)
    await actions.delete_user(db, principal, user, client_ip(request))
    return Response(status_code=204)


@users_router.post(
    "/{user_id}/password-reset",
    status_code=202,
    summary="Send the user a reset link (written to the log without SMTP)",
)
async def admin_password_reset(
    user_id: UserId,
    request: Request,
    db: Db,
    tasks: BackgroundTasks,
    principal: Principal = ManageAgents,
) -> dict[str, str]:
    user = await get_user(db, principal, user_id)
    settings = _settings(request)
    link = await auth_actions.create_reset_link(db, user, settings)
    from kefu.audit.actions import record

    record(
        db,
        principal,
        tenant_id=principal.tenant_id,
        action="user.password_reset_link",
        target_type="user",
        target_id=user.id,
        ip=client_ip(request),
    )
    if mail.smtp_configured(settings):
        subject, text = mail.reset_mail(user.language, link)
        tasks.add_task(mail.send_mail, settings, to=user.email, subject=subject, body=text)
        return {"status": "emailed"}
    # Without SMTP the operator relays the link; the issue asks for it in the server log.
    log.warning("password reset link for user %s (%s): %s", user.id, user.email, link)
    return {"status": "logged"}
