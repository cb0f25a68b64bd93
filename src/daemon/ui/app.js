/* raftd dashboard (raftd(8), DASHBOARD): polls this node's /status for
 * the members, then each member's /status, /metrics and /events through
 * this node's relay (/ui/member/ID/...), about once a second. Everything
 * a member sends is shown with textContent only. */
"use strict";

var POLL_MS = 1000;
var FETCH_TIMEOUT_MS = 4000;
var TIMELINE_MAX = 300;    /* events kept per member */
var TIMELINE_SHOWN = 150;  /* rows shown, newest first */

var members = [];      /* [{id, url}] from this node's /status */
var rows = {};         /* id -> {tr, cells} */
var last = {};         /* id -> latest status or null */
var prev = {};         /* id -> {t, rpcs, commit, instance} */
var rates = {};        /* id -> {rpcs, commits} */
var cursors = {};      /* id -> {after, instance} */
var events = {};       /* id -> [event] */
var actionsFor = "";
var rounds = 0;

function get(path, asText) {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS);
    return fetch(path, {signal: ctl.signal, cache: "no-store",
                        credentials: "same-origin"})
        .then(function (r) {
            if (!r.ok)
                throw new Error("HTTP " + r.status);
            return asText ? r.text() : r.json();
        })
        .finally(function () { clearTimeout(timer); });
}

function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null)
        e.textContent = String(text);
    if (cls)
        e.className = cls;
    return e;
}

function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
}

function show(v) {
    return v === null || v === undefined ? "-" : String(v);
}

/* The sum of a counter family's samples in Prometheus' text format. */
function counterSum(text, name) {
    var sum = 0, found = false;
    var lines = String(text).split("\n");
    for (var i = 0; i < lines.length; i++) {
        var l = lines[i];
        if (l.indexOf(name) !== 0)
            continue;
        var c = l.charAt(name.length);
        if (c !== " " && c !== "{")
            continue;
        var v = parseFloat(l.slice(l.lastIndexOf(" ") + 1));
        if (isFinite(v)) {
            sum += v;
            found = true;
        }
    }
    return found ? sum : null;
}

var COLUMNS = ["id", "url", "role", "term", "leader", "commit", "applied",
               "log", "entries", "rpcs", "commits", "faults"];

function rowFor(id) {
    if (rows[id])
        return rows[id];
    var tr = el("tr");
    tr.setAttribute("data-id", String(id));
    var cells = {};
    COLUMNS.forEach(function (c) {
        var td = el("td");
        td.setAttribute("data-col", c);
        if (["term", "commit", "applied", "log", "entries", "rpcs",
             "commits"].indexOf(c) >= 0)
            td.className = "num";
        cells[c] = td;
        tr.appendChild(td);
    });
    rows[id] = {tr: tr, cells: cells};
    return rows[id];
}

function renderMembers() {
    var tbody = document.querySelector("#members tbody");
    var want = members.map(function (m) { return String(m.id); });
    Object.keys(rows).forEach(function (id) {
        if (want.indexOf(id) < 0) {
            rows[id].tr.remove();
            delete rows[id];
        }
    });
    members.forEach(function (m) {
        var r = rowFor(m.id), s = last[m.id], c = r.cells;
        c.id.textContent = String(m.id);
        c.url.textContent = m.url;
        if (!s) {
            r.tr.className = "down";
            r.tr.setAttribute("data-role", "unreachable");
            c.role.textContent = "unreachable";
            ["term", "leader", "commit", "applied", "log", "entries", "rpcs",
             "commits", "faults"].forEach(function (k) {
                c[k].textContent = "-";
            });
        } else {
            var role = String(s.state || "?").toLowerCase();
            r.tr.className = role.replace(/[^a-z]/g, "");
            r.tr.setAttribute("data-role", role);
            c.role.textContent = role;
            c.term.textContent = show(num(s.term));
            c.leader.textContent = show(num(s.leader_id));
            c.commit.textContent = show(num(s.commit_index));
            c.applied.textContent = show(num(s.applied_index));
            c.log.textContent = show(num(s.last_log_index));
            var first = num(s.first_log_index), lastI = num(s.last_log_index);
            c.entries.textContent = first !== null && lastI !== null
                ? String(Math.max(0, lastI - first + 1)) : "-";
            var rt = rates[m.id] || {};
            c.rpcs.textContent = show(rt.rpcs);
            c.commits.textContent = show(rt.commits);
            var f = s.faults;
            var active = f && typeof f === "object"
                ? Object.keys(f).filter(function (k) {
                    var v = f[k];
                    return v && !(Array.isArray(v) && v.length === 0) &&
                        !(typeof v === "object" && Object.keys(v).length === 0);
                }) : [];
            c.faults.textContent = s.fault_injection
                ? (active.length ? active.join(", ") : "none") : "off";
        }
        if (r.tr.parentNode !== tbody)
            tbody.appendChild(r.tr);
    });
}

function renderActions() {
    var key = members.map(function (m) { return m.id; }).join(",");
    if (key === actionsFor)
        return;
    actionsFor = key;
    var ul = document.getElementById("actions");
    ul.textContent = "";
    var cmds = [];
    members.forEach(function (m) {
        cmds.push("raftctl fault partition " + m.id);
        cmds.push("raftctl fault election " + m.id);
        cmds.push("raftctl fault crash " + m.id);
        cmds.push("raftctl transfer " + m.id);
    });
    cmds.push("raftctl fault heal");
    cmds.push("raftctl events -f");
    cmds.forEach(function (t) {
        var li = el("li");
        li.appendChild(el("code", t));
        ul.appendChild(li);
    });
}

function renderSummary() {
    var term = null, leader = null, up = 0;
    members.forEach(function (m) {
        var s = last[m.id];
        if (!s)
            return;
        up++;
        var t = num(s.term);
        if (t !== null && (term === null || t > term))
            term = t;
    });
    members.forEach(function (m) {
        var s = last[m.id];
        if (s && String(s.state) === "Leader" && num(s.term) === term)
            leader = m.id;
    });
    document.body.setAttribute("data-term", term === null ? "" : String(term));
    document.body.setAttribute("data-leader",
                               leader === null ? "" : String(leader));
    document.getElementById("summary").textContent =
        up + " of " + members.length + " members answer; term " + show(term) +
        "; leader " + show(leader) + "; updated " +
        new Date().toISOString().slice(11, 19) + " UTC";
}

function renderTimeline() {
    var all = [];
    Object.keys(events).forEach(function (id) {
        all = all.concat(events[id]);
    });
    all.sort(function (a, b) {
        return (a.time_us - b.time_us) || (a.node_id - b.node_id) ||
            (a.seq - b.seq);
    });
    all = all.slice(-TIMELINE_SHOWN).reverse();
    var tbody = document.querySelector("#timeline tbody");
    var frag = document.createDocumentFragment();
    all.forEach(function (e) {
        var tr = el("tr", null, String(e.event).replace(/[^a-z_]/g, ""));
        tr.setAttribute("data-event", String(e.event));
        tr.setAttribute("data-node", String(e.node_id));
        tr.setAttribute("data-term", String(e.term));
        var t = num(e.time_us);
        tr.appendChild(el("td", t === null ? "-"
                          : new Date(t / 1000).toISOString().slice(11, 23)));
        tr.appendChild(el("td", show(num(e.node_id))));
        tr.appendChild(el("td", show(e.event)));
        tr.appendChild(el("td", show(num(e.term))));
        tr.appendChild(el("td", show(e.state)));
        tr.appendChild(el("td", show(num(e.leader))));
        tr.appendChild(el("td", show(e.message), "msg"));
        frag.appendChild(tr);
    });
    tbody.textContent = "";
    tbody.appendChild(frag);
}

function pollMember(m) {
    var id = m.id, base = "/ui/member/" + encodeURIComponent(id) + "/";
    var st = get(base + "status").then(function (s) {
        if (!s || typeof s !== "object")
            throw new Error("not an object");
        last[id] = s;
    }, function () {
        last[id] = null;
    });
    var mt = get(base + "metrics", true).then(function (text) {
        var now = performance.now();
        var rpcs = counterSum(text, "raftd_peer_rpcs_sent_total");
        var s = last[id], commit = s ? num(s.commit_index) : null;
        var p = prev[id];
        if (p && now > p.t) {
            var dt = (now - p.t) / 1000;
            var r = {};
            if (rpcs !== null && p.rpcs !== null && rpcs >= p.rpcs)
                r.rpcs = ((rpcs - p.rpcs) / dt).toFixed(1);
            if (commit !== null && p.commit !== null && commit >= p.commit)
                r.commits = ((commit - p.commit) / dt).toFixed(1);
            rates[id] = r;
        }
        prev[id] = {t: now, rpcs: rpcs, commit: commit};
    }, function () {
        delete prev[id];
        rates[id] = {};
    });
    var c = cursors[id] || {after: 0, instance: ""};
    var q = "?after=" + c.after + (c.instance ? "&instance=" + c.instance : "");
    var ev = get(base + "events" + q).then(function (e) {
        if (!e || !Array.isArray(e.events))
            return;
        if (e.reset || !events[id] || e.instance !== c.instance)
            events[id] = [];
        events[id] = events[id].concat(e.events).slice(-TIMELINE_MAX);
        var inst = /^[0-9a-f]{1,32}$/.test(String(e.instance))
            ? String(e.instance) : "";
        var next = num(e.next);
        cursors[id] = {after: next === null ? 0 : next, instance: inst};
    }, function () {});
    return Promise.all([st.then(function () { return mt; }), ev]);
}

function round() {
    get("/status").then(function (s) {
        if (s && Array.isArray(s.members))
            members = s.members.map(function (m) {
                return {id: num(m.id), url: String(m.url)};
            }).filter(function (m) { return m.id !== null; });
    }, function () {}).then(function () {
        return Promise.all(members.map(pollMember));
    }).then(function () {
        renderMembers();
        renderActions();
        renderSummary();
        renderTimeline();
    }).catch(function (err) {
        document.getElementById("summary").textContent =
            "error: " + String(err);
    }).finally(function () {
        rounds++;
        document.body.setAttribute("data-rounds", String(rounds));
        setTimeout(round, POLL_MS);
    });
}

round();
