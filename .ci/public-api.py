#!/usr/bin/env python3
"""Lists a crate's public items (rustdoc JSON `paths`, crate 0) and public inherent methods;
used for docs/public-api.md. Usage: public-api.py target/doc/CRATE.json"""
import json, sys
# Lists a crate's public surface from rustdoc JSON: items by path, plus public inherent methods.
def listing(fn):
    d = json.load(open(fn))
    idx, paths = d["index"], d["paths"]
    out = []
    for iid, p in paths.items():
        if p["crate_id"] != 0: continue
        out.append((p["kind"], "::".join(p["path"])))
    names = {iid: "::".join(p["path"]) for iid, p in paths.items() if p["crate_id"] == 0}
    for iid, it in idx.items():
        inner = it.get("inner", {})
        if "impl" not in inner: continue
        imp = inner["impl"]
        if imp.get("trait") is not None or imp.get("is_synthetic") or imp.get("blanket_impl"): continue
        ty = imp["for"]
        rid = ty.get("resolved_path", {}).get("id") if isinstance(ty, dict) else None
        owner = names.get(str(rid)) or names.get(rid)
        if owner is None: continue
        for mid in imp["items"]:
            m = idx.get(str(mid))
            if m and m.get("visibility") == "public" and m.get("name"):
                kind = next(iter(m["inner"]))
                out.append((kind if kind != "function" else "method", owner + "::" + m["name"]))
    return sorted(set(out), key=lambda x: x[1])
for fn in sys.argv[1:]:
    for k, p in listing(fn):
        print(f"{k:12} {p}")
