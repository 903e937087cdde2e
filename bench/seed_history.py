"""The History/Search benchmark's dataset (bench/history_search.py): generated and bulk-inserted.

One big tenant (`conversations` ended conversations holding `messages` messages in all, ~20
agents, `visitors` visitors, spread over `days` days) and a small second tenant with the same
vocabulary, so that tenant scoping is real. Everything is deterministic for a given seed.

Rows go in with SQLAlchemy core bulk inserts (executemany) in big transactions, with explicit
ids (ids grow with time, as in the app). The database has been migrated first, so whatever
indexes, triggers and FTS tables the migrations created are maintained by these inserts exactly
as by the app's own inserts. On PostgreSQL the id sequences are moved past the inserted ids and
the tables are ANALYZEd afterwards (autovacuum would do it a little later); SQLite is left as
the app leaves it (no ANALYZE).
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from kefu.accounts.models import AuthSession, User
from kefu.channels.models import Widget
from kefu.conversations.models import Conversation, Message, Segment
from kefu.core.db import Base
from kefu.core.security import token_digest
from kefu.csat.models import CsatAttribution, CsatRating
from kefu.roles.models import Role
from kefu.session_tags.models import ConversationTag, SessionTag
from kefu.tenants.actions import provision_tenant
from kefu.visitors.models import Visitor

# -- vocabulary -------------------------------------------------------------------------------

ZH_PRODUCTS = [
    "手机", "耳机", "充电器", "外套", "运动鞋", "笔记本电脑", "会员卡", "咖啡机", "台灯",
    "背包", "保温杯", "空气净化器", "电动牙刷", "行李箱", "显示器", "键盘", "洗衣液", "奶粉",
]  # fmt: skip
ZH_TOPICS = [
    "退款", "发货", "订单", "物流", "优惠券", "发票", "退货", "换货", "快递", "收货地址",
    "支付", "会员", "积分", "售后", "维修", "保修", "价格", "库存", "尺码", "颜色", "赠品",
]  # fmt: skip
ZH_REASONS = [
    "尺码不合适", "颜色和图片不一样", "收到的时候包装破损", "质量有问题", "不想要了",
    "发错货了", "少发了一件", "一直没有收到", "价格降了", "重复下单了",
]  # fmt: skip
ZH_VISITOR = [
    "你好，我的订单{num}什么时候发货？",
    "我想申请{topic}，{product}{reason}。",
    "{product}的{topic}怎么处理？",
    "物流一直没有更新，快递单号是{num}。",
    "优惠券为什么用不了？订单{num}付款的时候提示已过期。",
    "可以帮我开一张发票吗？抬头是个人。",
    "请问{product}还有库存吗？我要{color}的。",
    "我要退款，{reason}。",
    "收货地址填错了，能改一下吗？",
    "已经三天了还没发货，{topic}到底怎么回事？",
    "{product}坏了，在保修期内可以免费维修吗？",
    "会员积分什么时候到账？",
    "好的，谢谢。",
    "在吗？",
    "我昨天买的{product}今天降价了，可以补差价吗？",
    "换货的话运费谁出？",
]  # fmt: skip
ZH_AGENT = [
    "您好，很高兴为您服务，请问有什么可以帮您？",
    "已经为您查询到订单{num}，预计{days}天内发货。",
    "{topic}申请已经提交，请耐心等待审核，一般{days}个工作日内处理完成。",
    "非常抱歉给您带来不便，我们会尽快为您处理。",
    "您的快递已经在路上了，物流信息可能有延迟。",
    "这张优惠券仅限{product}使用，满{amount}元可用。",
    "发票会在确认收货后{days}天内开具，请在订单详情里查看。",
    "{product}目前有货，{color}的库存还比较充足。",
    "麻烦您提供一下订单号，我帮您查一下。",
    "退货地址已经发到您的手机上了，请注意查收。",
    "请问还有其他问题吗？",
    "感谢您的耐心等待，祝您生活愉快！",
    "质量问题的{topic}运费由我们承担。",
]  # fmt: skip
ZH_COLORS = ["黑色", "白色", "红色", "蓝色", "灰色", "粉色", "绿色"]
EN_PRODUCTS = [
    "phone", "headphones", "charger", "jacket", "sneakers", "laptop", "coffee maker",
    "desk lamp", "backpack", "monitor", "keyboard", "suitcase", "water bottle",
]  # fmt: skip
EN_TOPICS = [
    "refund", "shipping", "invoice", "order", "delivery", "coupon", "return", "exchange",
    "warranty", "payment", "tracking number", "discount", "subscription", "address",
]  # fmt: skip
EN_VISITOR = [
    "Hi, when will my order {num} ship?",
    "I would like a refund for the {product}, it arrived damaged.",
    "How do I get an invoice for order {num}?",
    "The tracking number {num} shows no update since Monday.",
    "My coupon does not work at checkout.",
    "Can I change the shipping address of my order?",
    "Is the {product} in stock in {color}?",
    "I want to return the {product}, it does not fit.",
    "Where is my {topic}? It has been a week.",
    "Thanks, that helps.",
    "Hello?",
    "The {product} stopped working, is it under warranty?",
]  # fmt: skip
EN_AGENT = [
    "Hello, thanks for contacting us. How can I help you today?",
    "I found your order {num}; it will ship within {days} days.",
    "Your {topic} request has been submitted and will be processed in {days} business days.",
    "Sorry for the inconvenience, I will look into it right away.",
    "Could you send me your order number, please?",
    "The invoice is available in your account once the order is delivered.",
    "The coupon applies to orders over {amount} dollars.",
    "Your parcel is on its way; tracking can lag by a day.",
    "Is there anything else I can help you with?",
    "Thank you for waiting, have a nice day!",
]  # fmt: skip
EN_COLORS = ["black", "white", "red", "blue", "grey", "green"]
# Words that occur in only a handful of messages (the "rare word" queries).
RARE_EN = "zeppelin"
RARE_ZH = "琥珀色飞艇"
ZH_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
ZH_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰晓红建国文斌宇浩"
EN_FIRST = ["James", "Mary", "John", "Linda", "David", "Emma", "Michael", "Olivia", "Daniel",
            "Sophia", "Chris", "Grace", "Kevin", "Lucy", "Ryan", "Anna"]  # fmt: skip
EN_LAST = ["Smith", "Brown", "Wilson", "Taylor", "Lee", "Walker", "Hall", "Young", "King",
           "Wright", "Green", "Baker", "Adams", "Nelson"]  # fmt: skip
TAG_TREE: dict[str, list[str]] = {
    "咨询": ["商品咨询", "活动咨询", "价格咨询"],
    "售后": ["退款", "退货", "换货", "维修"],
    "物流": ["未发货", "物流慢", "地址修改"],
    "投诉": ["服务态度", "商品质量"],
    "账户": ["会员积分", "发票"],
}
CHANNELS = [("web", 0.70), ("app", 0.20), ("wechat", 0.07), ("weibo", 0.03)]


def _fill(template: str, rng: random.Random, zh: bool) -> str:
    return template.format(
        num=rng.randint(10_000_000, 99_999_999),
        product=rng.choice(ZH_PRODUCTS if zh else EN_PRODUCTS),
        topic=rng.choice(ZH_TOPICS if zh else EN_TOPICS),
        reason=rng.choice(ZH_REASONS),
        color=rng.choice(ZH_COLORS if zh else EN_COLORS),
        days=rng.randint(1, 7),
        amount=rng.choice([50, 99, 199, 299]),
    )


def sentence(rng: random.Random, zh: bool, visitor: bool) -> str:
    pool = (ZH_VISITOR if visitor else ZH_AGENT) if zh else (EN_VISITOR if visitor else EN_AGENT)
    first = _fill(rng.choice(pool), rng, zh)
    if rng.random() < 0.25:
        return first + ("" if zh else " ") + _fill(rng.choice(pool), rng, zh)
    return first


def visitor_display_name(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.30:
        return ""  # anonymous: shown as 访客{id}
    if r < 0.85:
        return rng.choice(ZH_SURNAMES) + "".join(
            rng.choice(ZH_GIVEN) for _ in range(rng.choice((1, 2)))
        )
    return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"


def digest(kind: str, body: dict[str, Any]) -> str:
    # The same content digest the app stores (kefu.conversations.actions.digest).
    return hashlib.sha256(
        json.dumps([kind, body], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()


# -- the dataset ------------------------------------------------------------------------------


@dataclass
class Spec:
    conversations: int
    messages: int
    visitors: int
    agents: int
    days: int
    seed: int
    small_conversations: int
    small_messages: int

    def key(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TenantData:
    tenant_id: int
    admin_id: int
    admin_role_id: int
    agents: list[int]
    agent_names: dict[int, str]
    tags: dict[str, int]  # tag name -> id
    conversations: int = 0
    messages: int = 0
    visitors: int = 0
    segments: int = 0
    transferred: int = 0
    tagged: int = 0
    rated: int = 0
    ended_waiting: int = 0
    channels: dict[str, int] = field(default_factory=dict)


@dataclass
class Seeded:
    big: TenantData
    small: TenantData
    seconds: float
    seconds_by_table: dict[str, float]
    rows_by_table: dict[str, int]
    now: datetime  # the dataset's "now" (conversations end before it)

    def to_json(self) -> dict[str, Any]:
        def t(d: TenantData) -> dict[str, Any]:
            return dict(d.__dict__)

        return {
            "big": t(self.big),
            "small": t(self.small),
            "seconds": self.seconds,
            "seconds_by_table": self.seconds_by_table,
            "rows_by_table": self.rows_by_table,
            "now": self.now.isoformat(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Seeded:
        return cls(
            big=TenantData(**d["big"]),
            small=TenantData(**d["small"]),
            seconds=d["seconds"],
            seconds_by_table=d["seconds_by_table"],
            rows_by_table=d["rows_by_table"],
            now=datetime.fromisoformat(d["now"]),
        )


class Ids:
    """Explicit ids per table, continuing after what provisioning created."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    async def load(self, conn: AsyncConnection, tables: list[Any]) -> None:
        for t in tables:
            self.next[t.__tablename__] = int(await conn.scalar(select(func.max(t.id))) or 0) + 1

    def take(self, table: str) -> int:
        n = self.next[table]
        self.next[table] = n + 1
        return n


class Writer:
    """Buffers rows per table and flushes them with executemany in big transactions."""

    def __init__(self, conn: AsyncConnection, batch: int = 5000) -> None:
        self.conn = conn
        self.batch = batch
        self.rows: dict[Any, list[dict[str, Any]]] = {}
        self.seconds: dict[str, float] = {}
        self.count: dict[str, int] = {}

    async def add(self, table: Any, row: dict[str, Any]) -> None:
        buf = self.rows.setdefault(table, [])
        buf.append(row)
        if len(buf) >= self.batch:
            # All tables, parents first: a child row never goes in before its parent.
            await self.flush_all()

    async def flush(self, table: Any) -> None:
        buf = self.rows.get(table)
        if not buf:
            return
        t0 = time.perf_counter()
        await self.conn.execute(insert(table), buf)
        name = table.__tablename__
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
        self.count[name] = self.count.get(name, 0) + len(buf)
        self.rows[table] = []

    async def flush_all(self) -> None:
        # Parents before children (foreign keys).
        for table in (Visitor, Conversation, Segment, Message, ConversationTag, CsatRating):
            await self.flush(table)
        await self.flush(CsatAttribution)


def _split_counts(rng: random.Random, n: int, total: int, lo: int, hi: int) -> list[int]:
    """n integers in [lo, hi] summing to `total` (when possible), random around the mean."""
    counts = [rng.randint(lo, hi) for _ in range(n)]
    diff = total - sum(counts)
    i = 0
    guard = 0
    while diff != 0 and guard < 50 * n + 100:
        k = rng.randrange(n)
        if diff > 0 and counts[k] < hi * 2:
            counts[k] += 1
            diff -= 1
        elif diff < 0 and counts[k] > lo:
            counts[k] -= 1
            diff += 1
        i += 1
        guard += 1
    return counts


async def _tenant(
    maker: async_sessionmaker[Any], name: str, agents: int, now: datetime
) -> TenantData:
    async with maker() as s:
        prov = await provision_tenant(
            s, name=name, admin_email=f"admin{secrets.token_hex(4)}@bench.test", seats=agents + 5
        )
        await s.commit()
        tenant_id, admin_id, admin_role = prov.tenant.id, prov.admin.id, prov.admin.role_id
    return TenantData(
        tenant_id=tenant_id,
        admin_id=admin_id,
        admin_role_id=admin_role,
        agents=[],
        agent_names={},
        tags={},
    )


async def _people(conn: AsyncConnection, td: TenantData, agents: int, now: datetime) -> int:
    """Agents, session tags and a widget for the tenant; returns the widget id."""
    agent_role = await conn.scalar(
        select(Role.id).where(Role.tenant_id == td.tenant_id, Role.builtin == "agent")
    )
    zh_nick = ["小美", "小王", "阿杰", "小雪", "大伟", "小林", "阿芳", "小陈", "晓晓", "子涵"]
    await conn.execute(
        insert(User),
        [
            {
                "tenant_id": td.tenant_id,
                "email": f"agent{i}.t{td.tenant_id}@bench.test",
                "password_hash": "!bench",
                "nickname": f"{zh_nick[i % len(zh_nick)]}{i // len(zh_nick) or ''}",
                "role_id": agent_role,
                "enabled": True,
                "max_concurrent": 10,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(agents)
        ],
    )
    rows = (
        await conn.execute(
            select(User.id, User.nickname)
            .where(User.tenant_id == td.tenant_id, User.role_id == agent_role)
            .order_by(User.id)
        )
    ).all()
    td.agents = [int(r[0]) for r in rows]
    td.agent_names = {int(r[0]): str(r[1]) for r in rows}
    for position, (parent, children) in enumerate(TAG_TREE.items()):
        pid = int(
            (
                await conn.execute(
                    insert(SessionTag)
                    .values(tenant_id=td.tenant_id, name=parent, position=position, created_at=now)
                    .returning(SessionTag.id)
                )
            ).scalar_one()
        )
        td.tags[parent] = pid
        for cpos, child in enumerate(children):
            cid = int(
                (
                    await conn.execute(
                        insert(SessionTag)
                        .values(
                            tenant_id=td.tenant_id,
                            parent_id=pid,
                            name=child,
                            position=cpos,
                            created_at=now,
                        )
                        .returning(SessionTag.id)
                    )
                ).scalar_one()
            )
            td.tags[f"{parent}/{child}"] = cid
    wid = (
        await conn.execute(
            insert(Widget)
            .values(
                tenant_id=td.tenant_id,
                key=secrets.token_hex(16),
                name="Bench site",
                secret=secrets.token_hex(32),
                created_at=now,
                updated_at=now,
            )
            .returning(Widget.id)
        )
    ).scalar_one()
    return int(wid)


async def _fill_tenant(
    engine: AsyncEngine,
    td: TenantData,
    widget_id: int,
    ids: Ids,
    *,
    conversations: int,
    messages: int,
    visitors: int,
    days: int,
    now: datetime,
    rng: random.Random,
    tx_conversations: int,
    progress: Callable[[str], None],
    writer_stats: dict[str, Any],
) -> None:
    """Visitors, then ended conversations in time order with their segments, messages, tags
    and ratings; one transaction per `tx_conversations` conversations."""
    span = timedelta(days=days).total_seconds()
    # Start times: uniform over the span, a little denser towards now; sorted so ids follow time.
    starts = sorted(
        now - timedelta(seconds=span * (1 - rng.random() ** 0.8) + 3600)
        for _ in range(conversations)
    )
    msg_counts = _split_counts(rng, conversations, messages, 3, 17)
    # Rare words: a handful of messages.
    n_rare = max(3, messages // 40_000)
    rare_en = set(rng.sample(range(messages), min(messages, n_rare)))
    rare_zh = set(rng.sample(range(messages), min(messages, n_rare)))
    visitor_ids = [ids.take("visitors") for _ in range(visitors)]
    visitor_names = {v: visitor_display_name(rng) for v in visitor_ids}
    # Each visitor first appears a little before the start of the first conversation.
    v_created = {v: starts[0] - timedelta(days=1) for v in visitor_ids}
    leaf_tags = [v for k, v in td.tags.items() if "/" in k]
    agent_ids = td.agents
    channel_names = [c for c, _ in CHANNELS]
    channel_weights = [w for _, w in CHANNELS]

    async with engine.begin() as conn:
        w = Writer(conn)
        for v in visitor_ids:
            await w.add(
                Visitor,
                {
                    "id": v,
                    "tenant_id": td.tenant_id,
                    "name": visitor_names[v],
                    "first_widget_id": widget_id,
                    "web_info": {"ip": f"10.{v % 250}.{(v // 250) % 250}.{v % 7 + 1}"},
                    "created_at": v_created[v],
                    "last_seen_at": now - timedelta(hours=1),
                },
            )
        await w.flush_all()
        _merge(writer_stats, w)
    td.visitors += visitors

    msg_index = 0
    done = 0
    while done < conversations:
        upto = min(conversations, done + tx_conversations)
        async with engine.begin() as conn:
            w = Writer(conn)
            for i in range(done, upto):
                cid = ids.take("conversations")
                vid = rng.choice(visitor_ids)
                vname = visitor_names[vid]
                zh = rng.random() < 0.75
                channel = rng.choices(channel_names, channel_weights)[0]
                td.channels[channel] = td.channels.get(channel, 0) + 1
                created = starts[i]
                accepted_ok = rng.random() >= 0.03  # 3 % end while still waiting
                n_msgs = msg_counts[i]
                if not accepted_ok:
                    td.ended_waiting += 1
                wait = timedelta(seconds=rng.randint(2, 90))
                accepted_at = created + wait if accepted_ok else None
                duration = timedelta(seconds=rng.randint(60, 1800))
                ended_at = created + wait + duration
                # Segments: one agent, or two when transferred (10 %).
                segs: list[tuple[int, int, datetime, datetime]] = []  # (seg id, agent, start, end)
                if accepted_ok:
                    a1 = rng.choice(agent_ids)
                    assert accepted_at is not None
                    if rng.random() < 0.10 and len(agent_ids) > 1:
                        a2 = rng.choice([a for a in agent_ids if a != a1])
                        mid = accepted_at + duration / 2
                        segs.append((ids.take("conversation_segments"), a1, accepted_at, mid))
                        segs.append((ids.take("conversation_segments"), a2, mid, ended_at))
                        td.transferred += 1
                    else:
                        segs.append((ids.take("conversation_segments"), a1, accepted_at, ended_at))
                holder = segs[-1][1] if segs else None
                # Messages, evenly spaced between creation and end.
                step = (ended_at - created) / (n_msgs + 1)
                rows: list[dict[str, Any]] = []
                first_reply: dict[int, datetime] = {}
                agent_msgs: dict[int, int] = {}
                last_visitor_at: datetime | None = None
                for k in range(n_msgs):
                    at = created + step * (k + 1)
                    from_visitor = not segs or k == 0 or at < segs[0][2] or rng.random() < 0.5
                    seg = None
                    if not from_visitor:
                        seg = next((s for s in segs if s[2] <= at <= s[3]), segs[-1])
                    txt = sentence(rng, zh, from_visitor)
                    if msg_index in rare_en:
                        txt += f" ({RARE_EN})" if not zh else f"（{RARE_EN}）"
                    if msg_index in rare_zh:
                        txt += f"，{RARE_ZH}" if zh else f" ({RARE_ZH})"
                    msg_index += 1
                    body = {"text": txt}
                    if from_visitor:
                        last_visitor_at = at
                    else:
                        assert seg is not None
                        first_reply.setdefault(seg[0], at)
                        agent_msgs[seg[0]] = agent_msgs.get(seg[0], 0) + 1
                    rows.append(
                        {
                            "id": ids.take("messages"),
                            "tenant_id": td.tenant_id,
                            "conversation_id": cid,
                            "seq": k + 1,
                            "sender_type": "visitor" if from_visitor else "agent",
                            "sender_id": vid if from_visitor else (seg[1] if seg else None),
                            "sender_name": vname
                            if from_visitor
                            else td.agent_names.get(seg[1] if seg else 0, ""),
                            "kind": "text",
                            "body": body,
                            "whisper": False,
                            "client_msg_id": None,
                            "content_digest": digest("text", body),
                            "segment_id": seg[0] if seg else None,
                            "created_at": at,
                            "recalled_at": None,
                        }
                    )
                last = rows[-1]
                ended_by, end_reason, end_actor = "agent", None, holder
                r = rng.random()
                if not accepted_ok:
                    ended_by, end_reason, end_actor = "system", "waiting_timeout", None
                elif r < 0.15:
                    ended_by, end_reason, end_actor = "visitor", None, vid
                elif r < 0.30:
                    ended_by, end_reason, end_actor = "system", "visitor_timeout", None
                await w.add(
                    Conversation,
                    {
                        "id": cid,
                        "tenant_id": td.tenant_id,
                        "visitor_id": vid,
                        "widget_id": widget_id,
                        "association_id": None,
                        "skill_group_id": None,
                        "routed_by": "default",
                        "priority_rank": 11,
                        "channel": channel,
                        "state": "ended",
                        "agent_id": holder,
                        "last_seq": n_msgs,
                        "agent_read_seq": n_msgs,
                        "created_at": created,
                        "queued_at": created,
                        "accepted_at": accepted_at,
                        "ended_at": ended_at,
                        "ended_by": ended_by,
                        "end_actor_id": end_actor,
                        "end_reason": end_reason,
                        "last_message_at": last["created_at"],
                        "last_message_preview": last["body"]["text"][:100],
                        "last_message_sender": last["sender_type"],
                        "last_message_kind": "text",
                        "last_visitor_message_at": last_visitor_at,
                        "entry": {},
                        "web_info": {},
                    },
                )
                for k, (sid, agent, start, end) in enumerate(segs):
                    transferred_out = k < len(segs) - 1
                    await w.add(
                        Segment,
                        {
                            "id": sid,
                            "tenant_id": td.tenant_id,
                            "conversation_id": cid,
                            "agent_id": agent,
                            "start_reason": "transferred_in" if k else "assigned",
                            "skill_group_id": None,
                            "started_at": start,
                            "first_reply_at": first_reply.get(sid),
                            "agent_messages": agent_msgs.get(sid, 0),
                            "ended_at": end,
                            "end_reason": "transferred_out" if transferred_out else "ended",
                        },
                    )
                td.segments += len(segs)
                for row in rows:
                    await w.add(Message, row)
                # Session tags: 60 % one, 15 % two.
                t = rng.random()
                n_tags = 2 if t < 0.15 else 1 if t < 0.75 else 0
                if n_tags and holder is not None:
                    td.tagged += 1
                    for tag in rng.sample(leaf_tags, n_tags):
                        await w.add(
                            ConversationTag,
                            {
                                "id": ids.take("conversation_session_tags"),
                                "tenant_id": td.tenant_id,
                                "conversation_id": cid,
                                "tag_id": tag,
                                "actor_id": holder,
                                "created_at": ended_at,
                            },
                        )
                # Ratings: 30 % of the accepted ones, shared between the agents who took part.
                if segs and rng.random() < 0.30:
                    td.rated += 1
                    score = rng.choices([1, 2, 3, 4, 5], [3, 4, 10, 28, 55])[0]
                    rid = ids.take("csat_ratings")
                    rated_at = ended_at + timedelta(seconds=rng.randint(5, 120))
                    await w.add(
                        CsatRating,
                        {
                            "id": rid,
                            "tenant_id": td.tenant_id,
                            "conversation_id": cid,
                            "visitor_id": vid,
                            "channel": channel,
                            "invited_by": "auto",
                            "inviter_id": None,
                            "invited_at": ended_at,
                            "invite_message_id": None,
                            "score": score,
                            "tags": [],
                            "comment": ("服务很好" if zh else "great service")
                            if score >= 4 and rng.random() < 0.3
                            else ("处理太慢了" if zh else "too slow")
                            if score <= 2
                            else "",
                            "rated_at": rated_at,
                            "first_rated_at": rated_at,
                            "rating_count": 1,
                        },
                    )
                    for agent in sorted({s[1] for s in segs}):
                        await w.add(
                            CsatAttribution,
                            {
                                "id": ids.take("csat_attributions"),
                                "tenant_id": td.tenant_id,
                                "rating_id": rid,
                                "conversation_id": cid,
                                "agent_id": agent,
                                "score": score,
                                "rated_at": rated_at,
                            },
                        )
            await w.flush_all()
            _merge(writer_stats, w)
        td.conversations += upto - done
        td.messages += sum(msg_counts[done:upto])
        done = upto
        progress(f"tenant {td.tenant_id}: {done}/{conversations} conversations")


def _merge(stats: dict[str, Any], w: Writer) -> None:
    for k, v in w.seconds.items():
        stats.setdefault("seconds", {})[k] = stats.setdefault("seconds", {}).get(k, 0.0) + v
    for k, n in w.count.items():
        stats.setdefault("rows", {})[k] = stats.setdefault("rows", {}).get(k, 0) + n


ID_TABLES = [
    Visitor,
    Conversation,
    Segment,
    Message,
    ConversationTag,
    CsatRating,
    CsatAttribution,
]


async def seed(
    engine: AsyncEngine,
    maker: async_sessionmaker[Any],
    spec: Spec,
    *,
    is_postgres: bool,
    tx_conversations: int = 10_000,
    progress: Callable[[str], None] = lambda s: None,
) -> Seeded:
    """Seed both tenants into a migrated, empty database."""
    t0 = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(spec.seed)
    big = await _tenant(maker, "History Bench", spec.agents, now)
    small = await _tenant(maker, "Other Tenant", 2, now)
    async with engine.begin() as conn:
        w_big = await _people(conn, big, spec.agents, now)
        w_small = await _people(conn, small, 2, now)
    ids = Ids()
    async with engine.begin() as conn:
        await ids.load(conn, ID_TABLES)
    stats: dict[str, Any] = {}
    # The small tenant first: its rows are then older than the big tenant's by id.
    await _fill_tenant(
        engine,
        small,
        w_small,
        ids,
        conversations=spec.small_conversations,
        messages=spec.small_messages,
        visitors=max(10, spec.small_conversations // 2),
        days=spec.days,
        now=now,
        rng=random.Random(spec.seed + 1),
        tx_conversations=tx_conversations,
        progress=progress,
        writer_stats=stats,
    )
    await _fill_tenant(
        engine,
        big,
        w_big,
        ids,
        conversations=spec.conversations,
        messages=spec.messages,
        visitors=spec.visitors,
        days=spec.days,
        now=now,
        rng=rng,
        tx_conversations=tx_conversations,
        progress=progress,
        writer_stats=stats,
    )
    inserted = time.perf_counter() - t0
    if is_postgres:
        async with engine.begin() as conn:
            for t in ID_TABLES:
                name = t.__tablename__
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
        t1 = time.perf_counter()
        async with engine.connect() as conn:
            conn2 = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn2.execute(text("ANALYZE"))
        stats.setdefault("seconds", {})["analyze"] = time.perf_counter() - t1
    return Seeded(
        big=big,
        small=small,
        seconds=round(time.perf_counter() - t0, 1),
        seconds_by_table={k: round(v, 1) for k, v in stats.get("seconds", {}).items()}
        | {"inserts_total": round(inserted, 1)},
        rows_by_table=stats.get("rows", {}),
        now=now,
    )


async def admin_token(engine: AsyncEngine, td: TenantData) -> str:
    """A fresh bearer token for the tenant's first admin (an API-client session)."""
    token = secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(AuthSession).values(
                token_digest=token_digest(token),
                tenant_id=td.tenant_id,
                user_id=td.admin_id,
                client="token",
                role_id_at_login=td.admin_role_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(days=1),
            )
        )
    return token


def all_tables() -> Iterator[str]:
    for t in Base.metadata.sorted_tables:
        yield t.name
