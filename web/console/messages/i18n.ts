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
    unknown: { title: '新消息', text: '你有一条新消息。' },
  },
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
    unknown: { title: 'New message', text: 'You have a new message.' },
  },
}

export default { 'zh-CN': { messages: zhCN }, en: { messages: en } }
