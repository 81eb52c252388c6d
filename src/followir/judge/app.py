"""The judging web page (Flask, ``pip install 'followir[judge]'``), bound to 127.0.0.1 unless told otherwise.

An assessor gives a name, picks a topic, sees the og and changed narratives side by side with the change marked
(a word diff), then one og-relevant document at a time: ``r`` relevant, ``n`` not relevant (``Esc`` leaves the
note field), each judgement saved at once. ``/agreement`` shows Cohen's kappa between assessors, a pre-judging
model's agreement with them, and the disagreements, each with an adjudication form.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from urllib.parse import quote

from followir.construction.judgements import load_judging
from followir.construction.narratives import load_narratives
from followir.construction.topics import load_topics
from followir.judge.store import JudgementStore, in_overlap, narrative_hash
from followir.models.runtime import require

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>followir judge{{ ' - ' + title if title }}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;line-height:1.4}
.pair{display:flex;gap:1em}.pair>div{flex:1;border:1px solid #ccc;padding:.5em}del{background:#fdd}
ins,mark{background:#cfc;text-decoration:none}.doc{border:1px solid #888;padding:1em;margin:1em 0;white-space:pre-wrap}
button{font-size:1.1em;margin-right:1em}.hint{color:#555}table{border-collapse:collapse}td,th{padding:.2em .6em;
border-bottom:1px solid #ddd}</style></head><body>{{ body|safe }}</body></html>"""


def word_diff(og: str, changed: str) -> tuple[str, str]:
    """Both narratives as HTML: words only in the og one in ``<del>``, only in the changed one in ``<ins>``.

    >>> word_diff("a b c", "a b x c")
    ('a b c', 'a b <ins>x</ins> c')
    """
    from markupsafe import escape

    a, b = og.split(), changed.split()
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = str(escape(" ".join(a[i1:i2]))), str(escape(" ".join(b[j1:j2])))
        if op == "equal":
            left.append(old)
            right.append(new)
        else:
            if old:
                left.append(f"<del>{old}</del>")
            if new:
                right.append(f"<ins>{new}</ins>")
    return " ".join(left), " ".join(right)


class Judging:
    """What the page needs: the topics, narratives and items of a work folder, and the store."""

    def __init__(self, work: str | Path, database: str | Path, overlap: float = 1.0):
        if not 0 <= overlap <= 1:
            raise ValueError(f"overlap={overlap}: use a share between 0 and 1")
        self.topics = load_topics(work)
        self.narratives = {n.topic: n for n in load_narratives(work)}
        self.items = load_judging(work)
        self.store = JudgementStore(database)
        self.overlap = overlap
        # judgements count only against the changed narrative they were made against (see followir.judge.store)
        self.current = {topic: narrative_hash(n.narrative_changed) for topic, n in self.narratives.items()}
        self.store.stamp_unstamped(self.current)

    def queue(self, topic: str, assessor: str) -> tuple[list, int]:
        """The items this assessor still has to judge in ``topic``, in order, and how many they judged."""
        judged = self.store.judged_by(self.current)
        todo, done = [], 0
        for item in self.items:
            if item.topic != topic:
                continue
            labels = judged.get((item.topic, item.doc), {})
            if assessor in labels:
                done += 1
            elif not labels or in_overlap(item.topic, item.doc, self.overlap):
                todo.append(item)
        return todo, done


def create_app(judging: Judging, *, show_prejudge: bool = False):
    flask = require("flask", "judge")
    from markupsafe import escape

    app = flask.Flask("followir.judge")

    def page(body: str, title: str = ""):
        return flask.render_template_string(PAGE, body=body, title=title)

    def assessor_name() -> str:
        return " ".join(flask.request.values.get("assessor", "").split())[:64]

    @app.get("/")
    def index():
        name = assessor_name()
        if not name:
            return page('<h1>followir judge</h1><form action="/" method="get"><label>Your name (required) '
                        '<input name="assessor" id="assessor" required autofocus></label> '
                        '<button type="submit" id="start">Start</button></form>')
        rows = []
        for topic in judging.topics:
            todo, done = judging.queue(topic.number, name)
            rows.append(f'<tr><td><a href="/topic/{escape(topic.number)}?assessor={escape(quote(name))}" '
                        f'id="topic-{escape(topic.number)}">{escape(topic.number)}</a></td><td>{escape(topic.title)}'
                        f'</td><td class="progress">{done} / {done + len(todo)}</td></tr>')
        return page(f"<h1>Topics for {escape(name)}</h1><table><tr><th>topic</th><th>title</th><th>judged</th></tr>"
                    f'{"".join(rows)}</table><p><a href="/agreement?assessor={escape(quote(name))}">agreement and '
                    "disagreements</a></p>", "topics")

    @app.get("/topic/<topic>")
    def topic_page(topic):
        name = assessor_name()
        if not name:
            return flask.redirect("/")
        match = [t for t in judging.topics if t.number == topic]
        if not match:
            flask.abort(404)
        narrative = judging.narratives[topic]
        left, right = word_diff(narrative.narrative_og, narrative.narrative_changed)
        todo, done = judging.queue(topic, name)
        head = (f"<h1>Topic {escape(topic)}: {escape(match[0].title)}</h1><p id='progress'>{done} judged, "
                f"{len(todo)} to go</p><div class='pair'><div><h3>og narrative</h3><p id='og'>{left}</p></div>"
                f"<div><h3>changed narrative (judge against this)</h3><p id='changed'>{right}</p></div></div>")
        if not todo:
            return page(head + f"<p id='done'>All documents of this topic are judged.</p>"
                        f"<p><a href='/?assessor={escape(quote(name))}'>back to the topics</a></p>", topic)
        item = todo[0]
        hint = ""
        if show_prejudge and flask.request.args.get("hint") == "1":
            pre = judging.store.prejudgement(item.topic, item.doc)
            hint = (f"<p class='hint' id='hint'>{escape(pre[0])}: p(relevant) = {pre[1]:.2f}</p>" if pre
                    else "<p class='hint' id='hint'>no model judgement for this document</p>")
        elif show_prejudge:
            hint = f"<p><a href='?assessor={escape(quote(name))}&hint=1'>show the model's judgement</a></p>"
        body = (head + f"<div class='doc' id='document' data-doc='{escape(item.doc)}'><b>{escape(item.doc)}"
                f"{': ' + str(escape(item.title)) if item.title else ''}</b>\n{escape(item.text)}</div>{hint}"
                "<form method='post' action='/judge' id='judgement'>"
                f"<input type='hidden' name='assessor' value='{escape(name)}'>"
                f"<input type='hidden' name='topic' value='{escape(item.topic)}'>"
                f"<input type='hidden' name='doc' value='{escape(item.doc)}'>"
                "<input type='hidden' name='relevant' id='relevant'>"
                "<p><label>Note (optional) <textarea name='note' id='note' rows='2' cols='60'></textarea></label></p>"
                "<button type='button' id='yes' onclick='send(1)'>Relevant (r)</button>"
                "<button type='button' id='no' onclick='send(0)'>Not relevant (n)</button></form>"
                "<script>function send(v){document.getElementById('relevant').value=v;"
                "document.getElementById('judgement').submit();}"
                "document.addEventListener('keydown',function(e){var t=e.target.tagName;"
                "if(t==='TEXTAREA'||t==='INPUT'){if(e.key==='Escape'){e.target.blur();}return;}"
                "if(e.key==='r'){send(1);}else if(e.key==='n'){send(0);}});</script>")
        return page(body, topic)

    @app.post("/judge")
    def judge():
        name, form = assessor_name(), flask.request.form
        topic, doc, value = form.get("topic", ""), form.get("doc", ""), form.get("relevant", "")
        if not name or value not in ("0", "1") or not any(i.topic == topic and i.doc == doc for i in judging.items):
            flask.abort(400, "a judgement needs an assessor, a known topic and document, and relevant 0 or 1")
        judging.store.save(topic, doc, name, value == "1", form.get("note", ""), judging.current.get(topic, ""))
        return flask.redirect(f"/topic/{quote(topic)}?assessor={quote(name)}", code=303)

    @app.get("/agreement")
    def agreement():
        name = assessor_name()
        store, current = judging.store, judging.current
        kappas = "".join(f"<tr><td>{escape(a)}</td><td>{escape(b)}</td><td>{g.items}</td><td>{g.agreement:.3f}</td>"
                         f"<td>{g.kappa:.3f}</td></tr>" for (a, b), g in store.pairwise_kappa(current).items())
        models = "".join(f"<tr><td>{escape(m)}</td><td>{g.items}</td><td>{g.agreement:.3f}</td><td>{g.kappa:.3f}"
                         "</td></tr>" for m, g in store.model_agreement(current).items())
        _, disputed = store.final_labels(current)
        judged = store.judgements(current=current)
        rows = []
        for topic, doc in disputed:
            labels = ", ".join(f"{escape(a)}: {'relevant' if r else 'not relevant'}"
                               + (f" ({escape(n)})" if n else "") for (t, d, a), (r, n, _) in sorted(judged.items())
                               if (t, d) == (topic, doc))
            form = "" if not name else (
                f"<form method='post' action='/adjudicate'><input type='hidden' name='assessor' value='{escape(name)}'>"
                f"<input type='hidden' name='topic' value='{escape(topic)}'><input type='hidden' name='doc' "
                f"value='{escape(doc)}'><button name='relevant' value='1'>relevant</button><button name='relevant' "
                "value='0'>not relevant</button></form>")
            rows.append(f"<tr class='disagreement'><td>{escape(topic)}</td><td>{escape(doc)}</td><td>{labels}</td>"
                        f"<td>{form}</td></tr>")
        return page("<h1>Agreement</h1><h2>Assessors (Cohen's kappa)</h2><table id='kappa'><tr><th>assessor</th>"
                    "<th>assessor</th><th>documents</th><th>agreement</th><th>kappa</th></tr>" + kappas + "</table>"
                    "<h2>Pre-judging models against the people</h2><table id='models'><tr><th>model</th><th>documents"
                    "</th><th>agreement</th><th>kappa</th></tr>" + models + "</table><h2>Disagreements</h2>"
                    "<table id='disagreements'>" + "".join(rows) + "</table>", "agreement")

    @app.post("/adjudicate")
    def adjudicate():
        name, form = assessor_name(), flask.request.form
        if not name or form.get("relevant") not in ("0", "1"):
            flask.abort(400, "an adjudication needs a name and relevant 0 or 1")
        topic = form.get("topic", "")
        judging.store.adjudicate(topic, form.get("doc", ""), name, form["relevant"] == "1",
                                 narrative=judging.current.get(topic, ""))
        return flask.redirect(f"/agreement?assessor={quote(name)}", code=303)

    return app


def make_server(app, host: str = "127.0.0.1", port: int = 8765):
    """A threaded WSGI server (werkzeug's, which Flask ships); ``port=0`` picks a free port."""
    from werkzeug.serving import make_server as werkzeug_server

    return werkzeug_server(host, port, app, threaded=True)
