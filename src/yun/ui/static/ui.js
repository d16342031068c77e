// Yun's dashboard: the little the server cannot do alone. Every page works without this;
// with it, actions ask first, the instances and the deployment stay current, the log follows
// and the charts draw (uPlot). Text from the server goes in as text nodes, never as markup,
// except the fragments the server rendered (and escaped) itself.
"use strict";

document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("change", (event) => {
  if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});

function live() {
  const box = document.getElementById("live");
  if (!box) return;
  const refresh = async () => {
    try {
      const answer = await fetch(box.dataset.src, { credentials: "same-origin" });
      if (answer.status === 401) { location.href = "/ui/login"; return; }
      if (answer.ok) box.innerHTML = await answer.text();
    } catch (_) { /* the server restarting: try again next time */ }
  };
  setInterval(refresh, 2000);
}

function logTail() {
  const pre = document.getElementById("log");
  if (!pre) return;
  const keep = 500;
  const add = (item) => {
    if (!item.source) return;
    const stamp = new Date(item.ts * 1000).toLocaleTimeString();
    const near = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 30;
    pre.appendChild(document.createTextNode(`${stamp} [${item.source}] ${item.message}\n`));
    while (pre.childNodes.length > keep) pre.removeChild(pre.firstChild);
    if (near) pre.scrollTop = pre.scrollHeight;
  };
  const follow = async () => {
    try {
      const answer = await fetch(pre.dataset.src, { credentials: "same-origin" });
      if (!answer.ok) { add({ ts: Date.now() / 1000, source: "UI", message: await answer.text() }); return; }
      pre.textContent = "";
      const reader = answer.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop();
        for (const line of lines) if (line.trim()) add(JSON.parse(line));
      }
    } catch (_) { /* the connection went: follow again */ }
    setTimeout(follow, 2000);
  };
  follow();
}

function charts() {
  const box = document.querySelector(".charts");
  if (!box || typeof uPlot === "undefined") return;
  const drawn = new Map();
  const draw = async () => {
    let found;
    try {
      const answer = await fetch(box.dataset.src, { credentials: "same-origin" });
      if (!answer.ok) return;
      found = await answer.json();
    } catch (_) { return; }
    const { fields, points } = found.app;
    const times = points.map((p) => p[0]);
    for (const el of box.querySelectorAll(".chart")) {
      const at = fields.indexOf(el.dataset.field);
      const scale = Number(el.dataset.scale || 1);
      const values = points.map((p) => (p[1][at] == null ? null : p[1][at] / scale));
      el.dataset.points = String(values.filter((v) => v != null).length);
      const data = [times, values];
      const chart = drawn.get(el);
      if (chart) { chart.setData(data); continue; }
      const width = Math.max(200, el.clientWidth);
      drawn.set(el, new uPlot({
        width, height: 160,
        legend: { show: false },
        scales: { x: { time: true } },
        series: [{}, { stroke: "#2563eb", width: 1.5, spanGaps: false }],
        axes: [{ size: 30 }, { size: 50 }],
      }, data, el));
    }
  };
  draw();
  setInterval(draw, 10000);
  window.addEventListener("resize", () => {
    for (const [el, chart] of drawn) chart.setSize({ width: Math.max(200, el.clientWidth), height: 160 });
  });
}

live();
logTail();
charts();
