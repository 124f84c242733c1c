// Interface strings in English and Chinese. t(key, vars) fills {name} placeholders.

const STRINGS = {
  en: {
    "skip": "Skip to content",
    "nav.chat": "Chat", "nav.arena": "Arena", "nav.leaderboard": "Leaderboard", "nav.runs": "Runs",
    "key.button": "API key", "key.title": "API key", "key.label": "Key",
    "key.help": "This server needs an API key. Create one with `coe keys create --name NAME`. It is kept in this browser only.",
    "cancel": "Cancel", "save": "Save", "close": "Close", "loading": "Loading…",
    "mindmap.title": "Mind map", "mindmap.download": "Download SVG", "mindmap.open": "Mind map",
    "chat.new": "New chat", "chat.history": "Conversations", "chat.empty": "No conversations yet.",
    "chat.placeholder": "Ask anything… (Enter to send, Shift+Enter for a new line)",
    "chat.send": "Send", "chat.stop": "Stop", "chat.mode": "Mode", "chat.team": "Team",
    "chat.team.auto": "auto", "chat.team.help": "Pick the models that fill the roles, in order. None picked: CoE chooses.",
    "chat.maxTokens": "Max tokens", "chat.welcome": "Ask a question. Several models answer together; watch each stage below.",
    "chat.copy": "Copy", "chat.copied": "Copied", "chat.regenerate": "Regenerate", "chat.trace": "Trace",
    "chat.stopped": "Stopped.", "chat.delete": "Delete conversation",
    "chat.stages": "{n} stages · {models} · {tokens} tokens · {latency} · {cost}",
    "chat.stage1": "1 stage · {models} · {tokens} tokens · {latency} · {cost}",
    "chat.stage.running": "running", "chat.stage.ok": "done", "chat.stage.failed": "failed",
    "chat.stage.skipped": "skipped", "chat.stage.stopped": "stopped", "chat.stage.final": "Writing the answer…",
    "chat.fallback": "failed ({error}); trying {model}", "chat.references": "References",
    "chat.followups": "Follow-up questions",
    "mode.auto": "Auto", "mode.concise": "Concise", "mode.standard": "Standard", "mode.deep": "Deep",
    "mode.collaborate": "Collaborate (3)", "mode.collaborate-5": "Collaborate (5)", "mode.moa": "Mixture of agents",
    "arena.title": "Arena", "arena.intro": "Models answer side by side. Vote for the best; names are revealed after the vote.",
    "arena.anonymous": "Anonymous (random models)", "arena.pick": "Pick models", "arena.n": "Number of models",
    "arena.prompt": "Prompt", "arena.start": "Start battle", "arena.vote.best": "{label} is best",
    "arena.vote.tie": "Tie", "arena.vote.bad": "All bad", "arena.comment": "Comment (optional)",
    "arena.voted": "Thanks! Your vote is counted.", "arena.pickHelp": "Choose 2 to 6 models.",
    "arena.category": "Category: {category}", "arena.toLeaderboard": "See the leaderboard",
    "lb.title": "Leaderboard", "lb.category": "Category", "lb.overall": "Overall", "lb.votes": "Votes: {n}",
    "lb.rank": "Rank", "lb.model": "Model", "lb.rating": "Rating", "lb.interval": "95% interval",
    "lb.battles": "Battles", "lb.winrate": "Win rate (row beats column)", "lb.empty": "Not enough votes yet. Run a battle in the arena.",
    "lb.plot": "Ratings with 95% bootstrap intervals",
    "runs.title": "Runs", "runs.when": "When", "runs.mode": "Mode", "runs.question": "Question",
    "runs.status": "Status", "runs.cost": "Cost", "runs.latency": "Latency", "runs.more": "Load more",
    "runs.empty": "No runs yet.", "runs.back": "All runs", "runs.prompt": "Prompt", "runs.output": "Output",
    "runs.attempts": "Attempts", "runs.error": "Error", "runs.answer": "Answer", "runs.usage": "{in} in / {out} out tokens",
    "error.network": "Cannot reach the server.", "error.generic": "Something went wrong: {message}",
  },
  zh: {
    "skip": "跳到正文",
    "nav.chat": "对话", "nav.arena": "竞技场", "nav.leaderboard": "排行榜", "nav.runs": "运行记录",
    "key.button": "API 密钥", "key.title": "API 密钥", "key.label": "密钥",
    "key.help": "此服务器需要 API 密钥。用 `coe keys create --name NAME` 创建。密钥只保存在本浏览器中。",
    "cancel": "取消", "save": "保存", "close": "关闭", "loading": "加载中…",
    "mindmap.title": "思维导图", "mindmap.download": "下载 SVG", "mindmap.open": "思维导图",
    "chat.new": "新对话", "chat.history": "对话记录", "chat.empty": "还没有对话。",
    "chat.placeholder": "输入问题…（Enter 发送，Shift+Enter 换行）",
    "chat.send": "发送", "chat.stop": "停止", "chat.mode": "模式", "chat.team": "团队",
    "chat.team.auto": "自动", "chat.team.help": "按顺序选择担任各角色的模型。不选则由 CoE 决定。",
    "chat.maxTokens": "最大 token 数", "chat.welcome": "提一个问题，多个模型协同作答；下面可以看到每个阶段。",
    "chat.copy": "复制", "chat.copied": "已复制", "chat.regenerate": "重新生成", "chat.trace": "运行详情",
    "chat.stopped": "已停止。", "chat.delete": "删除对话",
    "chat.stages": "{n} 个阶段 · {models} · {tokens} tokens · {latency} · {cost}",
    "chat.stage1": "1 个阶段 · {models} · {tokens} tokens · {latency} · {cost}",
    "chat.stage.running": "进行中", "chat.stage.ok": "完成", "chat.stage.failed": "失败",
    "chat.stage.skipped": "已跳过", "chat.stage.stopped": "已停止", "chat.stage.final": "正在写最终回答…",
    "chat.fallback": "失败（{error}），改用 {model}", "chat.references": "参考资料",
    "chat.followups": "可以继续问",
    "mode.auto": "自动", "mode.concise": "简洁", "mode.standard": "标准", "mode.deep": "深度",
    "mode.collaborate": "协作（3 个模型）", "mode.collaborate-5": "协作（5 个模型）", "mode.moa": "混合智能体",
    "arena.title": "竞技场", "arena.intro": "多个模型并排作答。投票选出最好的；投票后揭晓模型名称。",
    "arena.anonymous": "匿名（随机模型）", "arena.pick": "自选模型", "arena.n": "模型数量",
    "arena.prompt": "问题", "arena.start": "开始对战", "arena.vote.best": "{label} 最好",
    "arena.vote.tie": "平局", "arena.vote.bad": "都不好", "arena.comment": "评论（可选）",
    "arena.voted": "谢谢！已记录你的投票。", "arena.pickHelp": "请选择 2 到 6 个模型。",
    "arena.category": "类别：{category}", "arena.toLeaderboard": "查看排行榜",
    "lb.title": "排行榜", "lb.category": "类别", "lb.overall": "总榜", "lb.votes": "票数：{n}",
    "lb.rank": "名次", "lb.model": "模型", "lb.rating": "评分", "lb.interval": "95% 区间",
    "lb.battles": "对战数", "lb.winrate": "胜率（行胜列）", "lb.empty": "票数还不够。去竞技场发起一场对战吧。",
    "lb.plot": "评分及 95% bootstrap 区间",
    "runs.title": "运行记录", "runs.when": "时间", "runs.mode": "模式", "runs.question": "问题",
    "runs.status": "状态", "runs.cost": "费用", "runs.latency": "耗时", "runs.more": "加载更多",
    "runs.empty": "还没有运行记录。", "runs.back": "全部记录", "runs.prompt": "提示词", "runs.output": "输出",
    "runs.attempts": "尝试", "runs.error": "错误", "runs.answer": "回答", "runs.usage": "输入 {in} / 输出 {out} tokens",
    "error.network": "无法连接服务器。", "error.generic": "出错了：{message}",
  },
};

let lang = localStorage.getItem("coe.lang") || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");

export function getLang() { return lang; }

export function setLang(value) {
  lang = value === "zh" ? "zh" : "en";
  localStorage.setItem("coe.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** Fill every element that has data-i18n (text) or data-i18n-placeholder / -label (attributes). */
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}
