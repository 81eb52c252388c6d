"""Check one followir-mini topic file: python check_topic.py FILE.json"""
import json
import re
import sys

NEG = re.compile(r"\b(not|no|never|nor|without|excluding|exclude|except|irrelevant|non-relevant)\b", re.I)

def words(s):
    return len(s.split())

def check(path):
    t = json.load(open(path))
    errs = []
    keys = ["id", "query", "instruction_og", "instruction_changed", "keywords", "short_query", "rationale", "passages"]
    for k in keys:
        if k not in t:
            errs.append(f"missing key {k}")
    if errs:
        return errs, t
    n = words(t["instruction_og"])
    if not 40 <= n <= 90:
        errs.append(f"instruction_og has {n} words, need 40-90")
    if words(t["instruction_changed"]) <= n:
        errs.append("instruction_changed should be the og instruction plus an added constraint/exclusion "
                    "(longer than og)")
    if not isinstance(t["keywords"], str) or not t["keywords"].strip():
        errs.append("keywords must be a non-empty string")
    if words(t["query"]) > 12:
        errs.append("query should be short (<= 12 words)")
    ids = set()
    og_rel = ch_rel = removed = 0
    for p in t["passages"]:
        for k in ["id", "title", "text", "og", "changed", "kind"]:
            if k not in p:
                errs.append(f"passage {p.get('id')} missing {k}")
        if p["id"] in ids:
            errs.append(f"duplicate passage id {p['id']}")
        ids.add(p["id"])
        w = words(p["text"])
        if not 60 <= w <= 250:
            errs.append(f"passage {p['id']} has {w} words, need 60-250")
        if p["og"] not in (0, 1) or p["changed"] not in (0, 1):
            errs.append(f"passage {p['id']} og/changed must be 0 or 1")
        if p["changed"] == 1 and p["og"] == 0:
            errs.append(f"passage {p['id']} relevant under changed but not og: changed must only narrow")
        og_rel += p["og"]
        ch_rel += p["changed"]
        removed += p["og"] == 1 and p["changed"] == 0
        if p["kind"] not in ("relevant", "removed", "trap", "offtopic"):
            errs.append(f"passage {p['id']} kind {p['kind']!r} not one of relevant/removed/trap/offtopic")
        if p["kind"] == "relevant" and not (p["og"] == 1 and p["changed"] == 1):
            errs.append(f"passage {p['id']} kind relevant needs og=1 changed=1")
        if p["kind"] == "removed" and not (p["og"] == 1 and p["changed"] == 0):
            errs.append(f"passage {p['id']} kind removed needs og=1 changed=0")
        if p["kind"] in ("trap", "offtopic") and p["og"] != 0:
            errs.append(f"passage {p['id']} kind {p['kind']} needs og=0")
    if len(t["passages"]) < 25:
        errs.append(f"{len(t['passages'])} passages, need >= 25")
    if og_rel < 8:
        errs.append(f"{og_rel} og-relevant passages, need >= 8")
    if removed < 3:
        errs.append(f"{removed} passages removed by the changed instruction, need >= 3")
    traps = sum(p["kind"] == "trap" for p in t["passages"])
    if traps < 5:
        errs.append(f"{traps} trap passages, need >= 5")
    return errs, dict(og_rel=og_rel, changed_rel=ch_rel, removed=removed, traps=traps,
                      n=len(t["passages"]), negation_in_og=bool(NEG.search(t["instruction_og"])))

if __name__ == "__main__":
    for f in sys.argv[1:]:
        errs, info = check(f)
        print(f, "OK" if not errs else "ERRORS", info if not errs else "")
        for e in errs:
            print("  -", e)
