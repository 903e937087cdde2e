"""Every page of agent mode and admin mode that a role can be granted, with zh-CN/en titles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["agent", "admin"]


@dataclass(frozen=True)
class Page:
    key: str
    mode: Mode
    group: str
    zh: str
    en: str
    parent: str | None = None


_AGENT = [
    ("sessions", "会话", "Sessions"),
    ("waiting", "待接入", "Waiting"),
    ("leave_messages", "留言", "Leave messages"),
    ("history", "历史会话", "History"),
    ("qa", "质检", "QA"),
    ("search", "搜索", "Search"),
    ("customers", "客户中心", "Customer center"),
    ("exports", "导出管理", "Export management"),
    ("message_center", "消息中心", "Message center"),
    ("stats", "统计", "Statistics"),
    ("video", "视频", "Video"),
    ("personal", "个人信息", "Personal info"),
    ("canned", "常用语", "Canned replies"),
    ("knowledge", "知识库", "Knowledge base"),
]

_ADMIN: list[tuple[str, str, str, str]] = [
    ("setup", "members.agents", "客服管理", "Agents"),
    ("setup", "members.skill_groups", "技能组", "Skill groups"),
    ("setup", "members.teams", "团队管理", "Teams"),
    ("setup", "channels", "渠道管理", "Channels"),
    ("setup", "materials", "素材库", "Material library"),
    ("setup", "knowledge", "知识库", "Knowledge base"),
    ("setup", "settings.enterprise", "企业信息", "Enterprise info"),
    ("setup", "settings.switches", "系统开关", "System switches"),
    ("setup", "settings.permissions", "权限管理", "Permissions"),
    ("setup", "settings.canned", "公共常用语", "Public canned replies"),
    ("setup", "settings.session_tags", "会话标签", "Session tags"),
    ("setup", "settings.visitor_tags", "访客标签", "Visitor tags"),
    ("setup", "settings.csat", "满意度评价", "Satisfaction"),
    ("setup", "settings.qa_score", "质检评分", "QA scoring"),
    ("setup", "settings.info_interface", "自定义信息接口", "Custom info interface"),
    ("setup", "settings.event_push", "自定义事件推送", "Event push"),
    ("setup", "settings.pre_inquiry", "询前引导", "Pre-inquiry guide"),
    ("setup", "settings.time_plans", "时间计划", "Time plans"),
    ("setup", "settings.emoji", "自定义表情", "Custom emoji"),
    ("setup", "settings.assignment_rules", "会话分配规则", "Assignment rules"),
    ("setup", "settings.keywords", "关键字匹配", "Keyword matching"),
    ("setup", "settings.customer_settings", "客户中心设置", "Customer center settings"),
    ("setup", "settings.monitor_settings", "会话监控设置", "Session monitor settings"),
    ("setup", "settings.audit", "操作日志", "Audit log"),
    ("monitoring", "home", "管理员首页", "Admin home"),
    ("monitoring", "current_sessions", "当前会话", "Current sessions"),
    ("monitoring", "monitor.realtime", "实时监控", "Real-time monitor"),
    ("monitoring", "monitor.field", "现场管理", "Field management"),
    ("monitoring", "monitor.big_screen", "大屏监控", "Big screen"),
    ("monitoring", "approvals", "审批管理", "Approvals"),
    ("monitoring", "qa", "质量检查", "Quality inspection"),
    ("monitoring", "alerts", "告警记录", "Alert records"),
    ("monitoring", "message_center", "消息中心", "Message center"),
    ("data", "history", "历史会话", "History"),
    ("data", "history.transfers", "历史会话：转接记录", "History: transfer records"),
    ("data", "history.csat", "历史会话：满意度记录", "History: satisfaction records"),
    ("data", "search", "搜索", "Search"),
    ("data", "customers", "客户中心", "Customer center"),
    ("data", "leave_messages", "留言", "Leave messages"),
    ("data", "exports", "导出管理", "Export management"),
    ("data", "stats", "会话统计", "Session statistics"),
    ("data", "custom_reports", "自定义报表", "Custom reports"),
    ("data", "customer_voice", "客户声音", "Customer voice"),
    ("other", "robot", "智能机器人", "Robot"),
    ("other", "tickets", "工单", "Tickets"),
]

PAGES: tuple[Page, ...] = tuple(
    [Page(f"agent.{k}", "agent", "agent", zh, en) for k, zh, en in _AGENT]
    + [
        Page(
            f"admin.{k}",
            "admin",
            g,
            zh,
            en,
            parent="admin.history" if k.startswith("history.") else None,
        )
        for g, k, zh, en in _ADMIN
    ]
)
PAGE_KEYS: frozenset[str] = frozenset(p.key for p in PAGES)
ADMIN_PAGES: frozenset[str] = frozenset(p.key for p in PAGES if p.mode == "admin")
AGENT_PAGES: frozenset[str] = frozenset(p.key for p in PAGES if p.mode == "agent")

# Pages whose data a role sees through a scope (SPEC §1.3).
SCOPED_DATA = ("customers", "history", "current_sessions")
SCOPES = ("tenant", "skill_group", "team")

GROUP_TITLES = {
    "agent": ("客服模式", "Agent mode"),
    "setup": ("设置", "Setup"),
    "monitoring": ("监控", "Monitoring"),
    "data": ("数据", "Data"),
    "other": ("其他", "Other"),
}

ADMIN_ROLE_SCOPES = {name: "tenant" for name in SCOPED_DATA}
# Built-in agents see only what they took part in; "self" is not offered to custom roles.
AGENT_ROLE_SCOPES = {name: "self" for name in SCOPED_DATA}
