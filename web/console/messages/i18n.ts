/** Texts of the message center (消息中心); merged into the console dictionaries under `messages`. */

const zhCN = {
  bell: '消息中心',
  bellUnread: '消息中心，{n} 条未读',
  filter: '筛选消息',
  all: '全部',
  unread: '未读',
  markAllRead: '全部标为已读',
  allRead: '已全部标为已读',
  empty: '暂无消息',
  emptyUnread: '没有未读消息',
  unreadMark: '（未读）',
  details: '查看详情',
  decisions: { approved: '通过', rejected: '拒绝' },
  kinds: {
    max_concurrent_changed: {
      title: '最大接待人数已调整',
      text: '管理员“{actor}”将你的最大接待人数从 {old} 调整为 {new}。',
    },
    status_change_requested: {
      title: '新的状态变更申请',
      text: '客服“{requester}”申请从「{from}」切换为「{to}」，原因：{reason}',
    },
    status_change_decided: {
      title: '状态变更审批结果',
      text: '管理员“{actor}”{decision}了你从「{from}」切换为「{to}」的申请。{comment}',
    },
    queue_overflow: {
      title: '排队溢出',
      text: '',
      moved: '溢出规则“{rule_name}”（{condition}）已触发：技能组「{from_group}」的一位排队客户转入「{to_group}」。该组当前排队 {waiting} 人。',
      kept: '溢出规则“{rule_name}”（{condition}）已触发：技能组「{from_group}」当前排队 {waiting} 人。',
    },
    queue_cap: {
      title: '排队人数告警',
      text: '',
      near: '排队人数已达 {waiting} 人，接近上限 {cap} 人。',
      full: '排队人数已达上限 {cap} 人，新访客暂时无法发起会话。',
    },
    announcement_received: { title: '新通知', text: '“{author_name}”发布了通知：{subject}' },
    announcement_published: { title: '通知已发布', text: '你的通知“{subject}”已发送给 {recipients} 位成员。' },
    permissions_changed: {
      title: '权限已变更',
      text: '',
      role_assigned: '管理员“{actor}”把你的角色从「{old_role_name}」改为「{role_name}」，你能使用的页面随之变化。',
      role_edited: '管理员“{actor}”修改了角色「{role_name}」的权限，你能使用的页面随之变化。',
    },
    unknown: { title: '新消息', text: '你有一条新消息。' },
  },
  overflow: { queue_length: '排队人数超限', all_offline: '全部客服离线' },
}

const en: typeof zhCN = {
  bell: 'Message center',
  bellUnread: 'Message center, {n} unread',
  filter: 'Filter messages',
  all: 'All',
  unread: 'Unread',
  markAllRead: 'Mark all as read',
  allRead: 'All marked as read',
  empty: 'No messages yet',
  emptyUnread: 'No unread messages',
  unreadMark: ' (unread)',
  details: 'View details',
  decisions: { approved: 'approved', rejected: 'rejected' },
  kinds: {
    max_concurrent_changed: {
      title: 'Max concurrent changed',
      text: 'Admin {actor} changed your max concurrent chats from {old} to {new}.',
    },
    status_change_requested: {
      title: 'New status change request',
      text: 'Agent {requester} asks to switch from {from} to {to}. Reason: {reason}',
    },
    status_change_decided: {
      title: 'Status change decided',
      text: 'Admin {actor} {decision} your request to switch from {from} to {to}. {comment}',
    },
    queue_overflow: {
      title: 'Queue overflow',
      text: '',
      moved: 'Overflow rule "{rule_name}" ({condition}) fired: a waiting customer of group {from_group} moved to {to_group}. {waiting} waiting in that group.',
      kept: 'Overflow rule "{rule_name}" ({condition}) fired: {waiting} waiting in group {from_group}.',
    },
    queue_cap: {
      title: 'Waiting queue alert',
      text: '',
      near: '{waiting} customers are waiting, close to the cap of {cap}.',
      full: 'The waiting queue is full ({cap}); new visitors cannot start a chat for now.',
    },
    announcement_received: { title: 'New announcement', text: '{author_name} published an announcement: {subject}' },
    announcement_published: { title: 'Announcement sent', text: 'Your announcement "{subject}" went to {recipients} members.' },
    permissions_changed: {
      title: 'Permissions changed',
      text: '',
      role_assigned: 'Admin {actor} changed your role from {old_role_name} to {role_name}; the pages you can use changed with it.',
      role_edited: 'Admin {actor} changed the permissions of your role {role_name}; the pages you can use changed with it.',
    },
    unknown: { title: 'New message', text: 'You have a new message.' },
  },
  overflow: { queue_length: 'queue too long', all_offline: 'all agents offline' },
}

export default { 'zh-CN': { messages: zhCN }, en: { messages: en } }
