/** Every text the widget shows, in zh-CN (default) and en. `{n}`-style slots are filled by t(). */

const zh = {
  launcher: '联系客服',
  panel: '在线客服对话',
  close: '关闭对话窗口',
  send: '发送',
  emoji: '插入表情',
  image: '发送图片',
  file: '发送文件',
  composer: '输入消息',
  placeholder: '输入消息，Enter 发送，Shift+Enter 换行',
  log: '对话消息',
  more: '查看更早的消息',
  noMore: '没有更早的消息了',
  earlier: '以上为历史对话',
  queue: '正在排队，您当前排在第 {n} 位',
  queueWait: '正在为您转接客服，请稍候',
  menu: '请选择您要咨询的业务',
  tagline: '我们通常在几分钟内回复',
  connecting: '正在连接…',
  offline: '网络连接中断，正在重新连接…',
  refused: '当前网站暂时无法使用在线客服',
  ended: '本次对话已结束，发送消息可开始新的对话',
  retry: '发送失败，点击重新发送',
  sending: '发送中',
  uploading: '正在上传 {p}%',
  tooLarge: '文件不能超过 10 MB',
  expired: '文件已过期',
  download: '下载',
  openImage: '在新窗口查看图片',
  voice: '语音消息',
  location: '位置',
  card: '卡片消息',
  unread: '{n} 条新消息',
  failed: '出错了，请稍后再试',
}

export type TextKey = keyof typeof zh

const en: Record<TextKey, string> = {
  launcher: 'Chat with us',
  panel: 'Customer service chat',
  close: 'Close chat',
  send: 'Send',
  emoji: 'Insert emoji',
  image: 'Send a picture',
  file: 'Send a file',
  composer: 'Message',
  placeholder: 'Write a message. Enter sends, Shift+Enter adds a line',
  log: 'Chat messages',
  more: 'Show earlier messages',
  noMore: 'No earlier messages',
  earlier: 'Earlier conversations above',
  queue: 'You are number {n} in the queue',
  queueWait: 'Finding an agent for you, one moment please',
  menu: 'What can we help you with?',
  tagline: 'We usually answer within a few minutes',
  connecting: 'Connecting…',
  offline: 'Connection lost, trying again…',
  refused: 'Chat is not available on this site right now',
  ended: 'This chat has ended. Send a message to start a new one',
  retry: 'Not sent. Click to send again',
  sending: 'Sending',
  uploading: 'Uploading {p}%',
  tooLarge: 'Files can be at most 10 MB',
  expired: 'File expired',
  download: 'Download',
  openImage: 'Open the picture in a new tab',
  voice: 'Voice message',
  location: 'Location',
  card: 'Card',
  unread: '{n} new messages',
  failed: 'Something went wrong, please try again later',
}

let table: Record<TextKey, string> = zh
export let lang: 'zh-CN' | 'en' = 'zh-CN'

/** Picks the first of the candidates that names a language; Chinese unless it is English. */
export function setLanguage(...candidates: (string | null | undefined)[]): void {
  const pick = candidates.find((c) => c && c !== 'auto') || 'zh-CN'
  lang = pick.toLowerCase().startsWith('en') ? 'en' : 'zh-CN'
  table = lang === 'en' ? en : zh
}

export function t(key: TextKey, slots: Record<string, string | number> = {}): string {
  return table[key].replace(/\{(\w+)\}/g, (_, name: string) => String(slots[name] ?? ''))
}
