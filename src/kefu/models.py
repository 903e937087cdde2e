"""Imports every domain's tables so metadata (migrations, tests) sees all of them."""

from __future__ import annotations


def load_all_models() -> None:
    import kefu.accounts.models
    import kefu.announcements.models
    import kefu.approvals.models
    import kefu.attachments.models
    import kefu.audit.models
    import kefu.automations.models
    import kefu.blacklist.models
    import kefu.canned.models
    import kefu.channels.models
    import kefu.colleagues.models
    import kefu.conversations.models
    import kefu.csat.models
    import kefu.customers.models
    import kefu.exports.models
    import kefu.history.models
    import kefu.knowledge.models
    import kefu.leave_messages.models
    import kefu.notifications.models
    import kefu.presence.models
    import kefu.roles.models
    import kefu.routing.models
    import kefu.session_tags.models
    import kefu.tags.models
    import kefu.teams.models
    import kefu.tenants.models
    import kefu.visitors.models
    import kefu.workers.models  # noqa: F401
