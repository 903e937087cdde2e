/** The widget's stylesheet; it lives inside the shadow root, so the page and the widget never mix. */

export const CSS = `
:host{all:initial;position:fixed;z-index:2147483000;right:20px;bottom:20px;--c:#1f6feb;--on:#fff}
.panel,.launcher{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI","PingFang SC","Hiragino Sans GB","Microsoft YaHei",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#1d2129;-webkit-font-smoothing:antialiased;text-align:left;letter-spacing:normal;text-transform:none}
:host([data-mode=page]){inset:0;right:0;bottom:0;background:#eef0f3}
*{box-sizing:border-box}
[hidden]{display:none!important}
button{font:inherit;color:inherit;border:0;background:none;cursor:pointer;padding:0}
button:focus-visible,a:focus-visible,textarea:focus-visible,.log:focus-visible{outline:2px solid var(--c);outline-offset:2px}
svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:1.8;stroke-linecap:round;stroke-linejoin:round;display:block}
a{color:inherit}
.launcher{width:56px;height:56px;border-radius:50%;background:var(--c);color:var(--on);display:grid;place-items:center;
box-shadow:0 6px 20px rgba(0,0,0,.2);transition:transform .15s;margin-left:auto;position:relative}
.launcher:hover{transform:scale(1.06)}
.launcher svg{width:26px;height:26px;transition:transform .2s,opacity .2s;grid-area:1/1}
.launcher svg+svg,:host([data-open]) .launcher svg:first-child{opacity:0;transform:rotate(-60deg) scale(.6)}
:host([data-open]) .launcher svg+svg{opacity:1;transform:none}
.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#f53f3f;
color:#fff;font-size:12px;font-weight:600;line-height:20px;text-align:center;box-shadow:0 0 0 2px #fff}
.panel{width:372px;height:min(620px,calc(100vh - 110px));margin-bottom:14px;background:#fff;border-radius:14px;overflow:hidden;
display:flex;flex-direction:column;box-shadow:0 12px 48px rgba(0,0,0,.18),0 0 0 1px rgba(0,0,0,.04);animation:kw-in .18s ease-out}
@keyframes kw-in{from{opacity:0;transform:translateY(10px)}}
:host([data-mode=page]) .panel{width:100%;max-width:760px;height:100%;margin:0 auto;border-radius:0;animation:none}
.head{display:flex;align-items:center;gap:10px;padding:12px 12px 12px 16px;background:var(--c);color:var(--on);flex:none}
.avatar{width:36px;height:36px;border-radius:50%;flex:none;object-fit:cover;background:rgba(255,255,255,.9);
display:grid;place-items:center;font-weight:600;color:var(--c);font-size:16px;overflow:hidden}
.who{flex:1;min-width:0;display:flex;flex-direction:column}
.who strong{font-size:15px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.who span{font-size:12px;opacity:.85;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.icon-btn{width:34px;height:34px;border-radius:8px;display:grid;place-items:center;flex:none;color:#4e5969}
.icon-btn:hover{background:rgba(0,0,0,.06);color:#1d2129}
.head .icon-btn{color:var(--on)}
.head .icon-btn:hover{background:rgba(255,255,255,.18);color:var(--on)}
.status{flex:none;padding:8px 14px;font-size:12.5px;background:#fff7e8;color:#ad5f00;border-bottom:1px solid #ffe4ba;text-align:center}
.status.ended{background:#f2f3f5;color:#4e5969;border-color:#e5e6eb}
.status.bad{background:#ffece8;color:#cb2634;border-color:#fdcdc5}
.log{outline-offset:-2px!important;flex:1;overflow-y:auto;padding:14px 14px 8px;background:#f5f6f8;display:flex;flex-direction:column;gap:2px;overscroll-behavior:contain}
.more{align-self:center;font-size:12px;color:#4e5969;background:#fff;border:1px solid #e5e6eb;border-radius:14px;padding:4px 12px;margin-bottom:8px}
.more:hover{color:var(--c);border-color:var(--c)}
.more[disabled]{cursor:default;color:#86909c;border-color:transparent;background:none}
.prior,.current{display:flex;flex-direction:column;gap:2px}
.divider{align-self:center;font-size:12px;color:#86909c;margin:8px 0;display:flex;align-items:center;gap:8px;width:100%}
.divider::before,.divider::after{content:"";flex:1;border-top:1px solid #e5e6eb}
.row{display:flex;flex-direction:column;align-items:flex-start;max-width:100%;margin:4px 0}
.row.mine{align-items:flex-end}
.row.grouped{margin-bottom:0}
.grouped>.meta{display:none}
.theirs.grouped+.theirs .bubble{border-top-left-radius:4px}
.mine.grouped+.mine .bubble{border-top-right-radius:4px}
.bubble{max-width:82%;padding:8px 12px;border-radius:14px 14px 14px 4px;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.06);
white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}
.mine .bubble{background:var(--c);color:var(--on);border-radius:14px 14px 4px 14px}
.bubble a{text-decoration:underline;text-underline-offset:2px}
.welcome .bubble{border-left:3px solid var(--c)}
.menu{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.menu-item{border:1px solid var(--c);color:var(--c);background:#fff;border-radius:14px;padding:4px 12px;font:inherit;font-size:13px;cursor:pointer}
.menu-item:hover,.menu-item:focus-visible{background:var(--c);color:var(--on)}
.menu-item:disabled{opacity:.5;cursor:default}
.k-image,.k-card{padding:0;overflow:hidden;background:#fff!important}
.image{display:block;line-height:0}
.image img{display:block;max-width:220px;max-height:240px;min-width:60px;min-height:40px;object-fit:cover;background:#eef0f3}
.k-file,.k-location{background:#fff!important;color:#1d2129!important}
.mine .k-file,.mine .k-location{box-shadow:0 0 0 1px #e5e6eb}
.file,.location{display:flex;align-items:center;gap:10px;min-width:200px;white-space:normal}
.file-icon{width:36px;height:36px;border-radius:8px;background:#e8f3ff;background:color-mix(in srgb,var(--c) 12%,#fff);color:var(--c);display:grid;place-items:center;flex:none}
.file-info{flex:1;min-width:0;display:flex;flex-direction:column}
.file-name{font-weight:500;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:190px}
.file-size{font-size:12px;color:#86909c}
.file-get{font-size:12.5px;color:var(--c)!important;text-decoration:none!important;flex:none;font-weight:500}
.file.expired .file-name{color:#86909c;text-decoration:line-through}
progress{width:100%;height:4px;margin-top:4px;accent-color:var(--c)}
.k-voice{padding:6px;background:#fff!important}
audio{display:block;height:36px;max-width:240px}
.card{width:240px;white-space:normal;color:#1d2129}
.card>img{display:block;width:100%;max-height:140px;object-fit:cover}
.card-body{padding:10px 12px}
.card-title{font-weight:600}
.card-body a{text-decoration:none}
.card-body a .card-title{color:var(--c)}
.card-desc{color:#4e5969;font-size:13px;margin-top:2px}
.card-fields{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:8px 0 0;font-size:12.5px}
.card-fields dt{color:#86909c}
.card-fields dd{margin:0}
.meta{font-size:11.5px;color:#86909c;margin:3px 4px 0;display:flex;align-items:center;gap:6px}
.failed{display:flex;align-items:center;gap:6px;color:#cb2634}
.retry{width:18px;height:18px;border-radius:50%;background:#f53f3f;color:#fff;font-weight:700;font-size:12px;line-height:18px}
.pending.sending .bubble{opacity:.75}
.system{align-items:center}
.note{font-size:12px;color:#86909c;background:#eceef1;padding:3px 10px;border-radius:10px;max-width:90%;text-align:center;white-space:pre-wrap}
.composer{flex:none;border-top:1px solid #e5e6eb;background:#fff;padding:8px 10px max(8px,env(safe-area-inset-bottom))}
textarea{width:100%;border:0;resize:none;outline:0;font:inherit;color:inherit;background:none;padding:4px 4px;max-height:120px;min-height:40px;display:block}
textarea:focus-visible{outline:0}
textarea::placeholder{color:#a9aeb8}
.tools{display:flex;align-items:center;gap:2px}
.send{margin-left:auto;height:32px;padding:0 14px;border-radius:8px;background:var(--c);color:var(--on);display:flex;align-items:center;gap:6px;font-weight:500}
.send svg{width:16px;height:16px}
.send[disabled]{opacity:.4;cursor:default}
.notice{font-size:12px;color:#cb2634;padding:0 4px 4px}
.emoji{display:grid;grid-template-columns:repeat(8,1fr);gap:2px;padding:8px;border-top:1px solid #e5e6eb;background:#fff;flex:none}
.emoji button{font-size:20px;height:36px;border-radius:6px;font-family:"Apple Color Emoji","Segoe UI Emoji","Noto Color Emoji",sans-serif}
.emoji button:hover{background:#f2f3f5}
@media (max-width:480px){
:host(:not([data-mode=page])){right:16px;bottom:16px}
:host([data-open]:not([data-mode=page])){inset:0}
:host([data-open]) .panel{position:fixed;inset:0;width:100%;height:100%;margin:0;border-radius:0}
:host([data-open]) .launcher{display:none}
}
`
