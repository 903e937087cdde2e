"""Error codes with zh-CN/en messages, and the handlers that render every error the same way."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kefu.core.i18n import pick

# code -> (HTTP status, zh-CN, en). Messages may use str.format fields.
CODES: dict[str, tuple[int, str, str]] = {
    "validation_error": (422, "提交的内容有误：{detail}", "Invalid input: {detail}"),
    "bad_request": (400, "请求无效", "Bad request"),
    "unauthenticated": (401, "请先登录", "Please sign in first"),
    "invalid_credentials": (401, "邮箱或密码错误", "Wrong email or password"),
    "mfa_invalid": (401, "验证码错误或已过期", "The verification code is wrong or expired"),
    "mfa_code_wrong": (
        422,
        "验证码错误，请输入验证器中当前的 6 位数字",
        "Wrong code; enter the current 6 digits from your authenticator",
    ),
    "mfa_token_invalid": (
        401,
        "登录步骤已过期，请重新输入密码",
        "This sign-in step has expired; enter your password again",
    ),
    "account_disabled": (403, "该账号已停用，请联系管理员", "This account is disabled"),
    "tenant_expired": (
        403,
        "企业账户已到期，请联系管理员续费",
        "Your organisation's subscription has expired",
    ),
    "forbidden": (403, "没有权限执行此操作", "You do not have permission to do this"),
    "origin_forbidden": (403, "请求来源不被允许", "Requests from this origin are not allowed"),
    "platform_key_invalid": (401, "平台密钥无效", "Invalid platform key"),
    "platform_api_disabled": (
        404,
        "未配置平台密钥，平台接口未开放",
        "The platform API is disabled: no platform key is configured",
    ),
    "not_found": (404, "对象不存在", "Not found"),
    "method_not_allowed": (405, "不支持该请求方法", "Method not allowed"),
    "email_taken": (409, "该邮箱已被使用", "This email is already in use"),
    "employee_number_taken": (
        409,
        "该工号已被其他客服使用",
        "This employee number is used by another agent",
    ),
    "role_name_taken": (409, "角色名称已存在", "A role with this name already exists"),
    "team_name_taken": (409, "同级团队名称已存在", "A sibling team already has this name"),
    "seats_exceeded": (
        409,
        "启用的账号数不能超过购买的坐席数（{seats} 个）",
        "Enabled accounts cannot exceed the purchased seats ({seats})",
    ),
    "seats_below_enabled": (
        409,
        "已启用 {used} 个账号，坐席数不能少于此数；请先停用部分账号",
        "{used} accounts are enabled; disable some before lowering the seats below that",
    ),
    "builtin_role_readonly": (
        409,
        "系统内置角色只能修改“需要两步验证”设置",
        "Built-in roles only allow changing the two-factor requirement",
    ),
    "role_in_use": (
        409,
        "仍有 {count} 个账号使用该角色，无法删除",
        "{count} accounts still use this role; it cannot be deleted",
    ),
    "team_root_protected": (
        409,
        "总部为预置根团队，不能删除或移动",
        "Headquarters is the preset root team and cannot be deleted or moved",
    ),
    "team_not_empty": (
        409,
        "请先删除下级团队",
        "Delete the sub-teams first",
    ),
    "team_cycle": (
        409,
        "不能把团队移动到它自己的下级",
        "A team cannot move under its own sub-team",
    ),
    "user_offline": (
        409,
        "该用户已离线，不能强制设为在线状态",
        "This user is offline and cannot be forced online",
    ),
    "approval_decided": (
        409,
        "该申请已处理（已通过、已拒绝或已撤销）",
        "This request was already approved, rejected or withdrawn",
    ),
    "cannot_delete_self": (409, "不能删除自己的账号", "You cannot delete your own account"),
    "cannot_disable_self": (409, "不能停用自己的账号", "You cannot disable your own account"),
    "last_admin": (
        409,
        "至少需要保留一个已启用的管理员",
        "At least one enabled administrator must remain",
    ),
    "max_concurrent_locked": (
        403,
        "最大接待人数由管理员设置",
        "Only administrators can set the maximum concurrent sessions",
    ),
    "max_concurrent_range": (
        422,
        "最大接待人数应在 0 到 {ceiling} 之间",
        "Max concurrent must be between 0 and {ceiling}",
    ),
    "wrong_password": (422, "原密码不正确", "The current password is wrong"),
    "weak_password": (
        422,
        "密码需为 8-64 位，且同时包含字母和数字",
        "Passwords need 8-64 characters with both letters and digits",
    ),
    "reset_token_invalid": (
        400,
        "重置链接无效或已过期",
        "This reset link is invalid or has expired",
    ),
    "mfa_required_by_role": (
        409,
        "你的角色要求两步验证，不能关闭",
        "Your role requires two-factor login; it cannot be turned off",
    ),
    "mfa_not_setup": (409, "请先获取两步验证密钥", "Start two-factor setup first"),
    "too_many_attempts": (
        429,
        "尝试次数过多，请 {minutes} 分钟后再试",
        "Too many attempts; try again in {minutes} minutes",
    ),
    "payload_too_large": (413, "文件不能超过 {limit}", "The file must not exceed {limit}"),
    "unsupported_media_type": (
        415,
        "仅支持 {types} 格式的文件",
        "Only {types} files are accepted",
    ),
    "empty_file": (422, "文件是空的", "The file is empty"),
    "client_msg_id_conflict": (
        409,
        "该消息编号已用于另一条内容不同的消息",
        "This client message id was already used for a different message",
    ),
    "conversation_not_yours": (
        409,
        "该会话不在你的进行中会话里，无法发送",
        "This conversation is not one of your ongoing conversations",
    ),
    "conversation_not_ongoing": (409, "会话未在进行中", "The conversation is not ongoing"),
    "recall_not_own": (403, "只能撤回自己发送的消息", "You can only recall your own messages"),
    "recall_too_late": (
        409,
        "消息发出已超过 2 分钟，无法撤回",
        "Messages can only be recalled within 2 minutes",
    ),
    "attachment_not_found": (
        422,
        "附件不存在或已过期，请重新上传",
        "The attachment is unknown or expired; upload it again",
    ),
    "association_name_taken": (409, "关联名称已存在", "An association with this name exists"),
    "widget_not_found": (404, "网页插件不存在或已停用", "This chat widget does not exist"),
    "identity_invalid": (
        401,
        "访客身份签名无效或已过期",
        "The visitor identity signature is invalid or expired",
    ),
    "resync_required": (
        409,
        "落后太多，请重新加载会话",
        "Too far behind; reload the conversation",
    ),
    "server_busy": (
        503,
        "服务器繁忙，消息未发送，请重试",
        "The server is busy; not sent, please retry",
    ),
    "link_expired": (403, "链接已过期，请刷新后重试", "This link has expired; refresh and retry"),
    "internal_error": (500, "服务器内部错误", "Internal server error"),
}


def register_codes(codes: dict[str, tuple[int, str, str]]) -> None:
    """Add a domain's own error codes (kept beside the domain that raises them)."""
    clash = set(codes) & set(CODES)
    if clash:
        raise ValueError(f"error codes defined twice: {sorted(clash)}")
    CODES.update(codes)


class ApiError(Exception):
    """A client-facing error: a stable code and a message in the caller's language."""

    def __init__(
        self,
        code: str,
        *,
        status: int | None = None,
        fields: list[dict[str, str]] | None = None,
        **params: Any,
    ) -> None:
        self.code = code
        self.status = status or CODES[code][0]
        self.fields = fields
        self.params = params
        super().__init__(code)

    def body(self) -> dict[str, Any]:
        _, zh, en = CODES[self.code]
        err: dict[str, Any] = {"code": self.code, "message": pick(zh, en).format(**self.params)}
        if self.fields:
            err["fields"] = self.fields
        return {"error": err}


def field_error(field: str, rule: str, zh: str, en: str) -> ApiError:
    """A validation error for one field, raised by business rules outside Pydantic."""
    message = pick(f"{field}：{zh}", f"{field}: {en}")
    return ApiError(
        "validation_error",
        fields=[{"field": field, "rule": rule, "message": message}],
        detail=message,
    )


_RULES: dict[str, tuple[str, str, str]] = {
    "missing": ("required", "必填", "is required"),
    "string_too_short": (
        "min_length",
        "长度不能少于 {min_length}",
        "needs at least {min_length} characters",
    ),
    "string_too_long": (
        "max_length",
        "长度不能超过 {max_length}",
        "must be at most {max_length} characters",
    ),
    "too_short": ("min_items", "至少需要 {min_length} 项", "needs at least {min_length} items"),
    "too_long": ("max_items", "最多 {max_length} 项", "must have at most {max_length} items"),
    "greater_than_equal": ("min", "不能小于 {ge}", "must be at least {ge}"),
    "less_than_equal": ("max", "不能大于 {le}", "must be at most {le}"),
    "greater_than": ("min", "必须大于 {gt}", "must be greater than {gt}"),
    "less_than": ("max", "必须小于 {lt}", "must be less than {lt}"),
    "string_pattern_mismatch": ("format", "格式不正确", "has an invalid format"),
    "value_error": ("format", "格式不正确", "has an invalid format"),
    "literal_error": ("enum", "取值不在允许范围内：{expected}", "must be one of {expected}"),
    "enum": ("enum", "取值不在允许范围内：{expected}", "must be one of {expected}"),
    "int_parsing": ("type", "必须是整数", "must be an integer"),
    "int_type": ("type", "必须是整数", "must be an integer"),
    "int_from_float": ("type", "必须是整数", "must be an integer"),
    "bool_parsing": ("type", "必须是布尔值", "must be true or false"),
    "bool_type": ("type", "必须是布尔值", "must be true or false"),
    "string_type": ("type", "必须是文本", "must be a string"),
    "dict_type": ("type", "必须是对象", "must be an object"),
    "list_type": ("type", "必须是数组", "must be a list"),
    "model_attributes_type": ("type", "必须是对象", "must be an object"),
    "json_invalid": ("json", "不是有效的 JSON", "is not valid JSON"),
    "datetime_parsing": ("type", "必须是日期时间", "must be a date-time"),
    "datetime_from_date_parsing": ("type", "必须是日期时间", "must be a date-time"),
    "date_from_datetime_parsing": ("type", "必须是日期", "must be a date"),
    "extra_forbidden": ("unknown", "不是允许的字段", "is not an allowed field"),
}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def validation_fields(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Turn Pydantic errors into {field, rule, message} in the caller's language."""
    out = []
    for e in errors:
        field = _field_name(tuple(e.get("loc", ())))
        ctx = {k: v for k, v in (e.get("ctx") or {}).items()}
        rule, zh, en = _RULES.get(e.get("type", ""), ("invalid", "无效", "is invalid"))
        if e.get("type") == "value_error" and "error" in ctx:
            # Our own validators raise ValueError("rule|zh|en").
            raw = str(ctx["error"])
            bits = raw.split("|")
            if len(bits) == 3:
                rule, zh, en = bits
        try:
            text = pick(zh, en).format(**ctx)
        except (KeyError, IndexError, ValueError):
            text = pick(zh, en)
        out.append(
            {"field": field, "rule": rule, "message": pick(f"{field}：{text}", f"{field}: {text}")}
        )
    return out


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _json(exc.status, exc.body())

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = validation_fields(list(exc.errors()))
        detail = "; ".join(f["message"] for f in fields[:5])
        return _json(422, ApiError("validation_error", fields=fields, detail=detail).body())

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        name = code.get(exc.status_code, "bad_request")
        err = ApiError(name, status=exc.status_code)
        return _json(exc.status_code, err.body(), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("kefu").exception("unhandled error", exc_info=exc)
        return _json(500, ApiError("internal_error").body())
