#!/usr/bin/env python3
"""Cut an OpenAPI document down to the paths we use, keeping every component they reach.

usage: trim.py SPEC.yaml|json 'PATH_REGEX' OUT.json [--prefer-scheme NAME]
example: trim.py dd-v1.yaml '^/api/v1/(monitor|dashboard|slo|synthetics/tests)' dd-trim.json
--prefer-scheme NAME puts the security scheme NAME first among every kept
operation's alternatives (Cloudflare's 2023 document lists only email + key
on DNS and zone settings, though those take API tokens too).
A smaller document starts much faster in a validator such as Prism."""
import json, re, sys
import yaml

src, pattern, out_path = sys.argv[1:4]
prefer = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--prefer-scheme" else None
class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Keeps dates as strings (the specs use them as keys)."""

Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in Loader.yaml_implicit_resolvers.copy().items()
}
loader = Loader
with open(src) as f:
    doc = json.load(f) if src.endswith(".json") else yaml.load(f, Loader=loader)
keep = re.compile(pattern)
paths = {p: v for p, v in doc["paths"].items() if keep.search(p)}
components, seen = {}, set()

def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/") and v not in seen:
                seen.add(v)
                parts = [p.replace("~1", "/").replace("~0", "~") for p in v.split("/")[2:]]
                target = doc["components"]
                try:
                    for p in parts:
                        target = target[p]
                except KeyError:
                    print("dangling reference", v, file=sys.stderr)
                    continue
                components.setdefault(parts[0], {})[parts[1]] = target
                walk(target)
            else:
                walk(v)
    elif isinstance(node, list):
        for item in node:
            walk(item)

walk(paths)
if prefer:
    for item in paths.values():
        for op in item.values():
            if isinstance(op, dict) and "security" in op and {prefer: []} not in op["security"]:
                op["security"].insert(0, {prefer: []})
schemes = doc.get("components", {}).get("securitySchemes")
if schemes:
    components["securitySchemes"] = schemes
trimmed = {k: v for k, v in doc.items() if k not in ("paths", "components")}
trimmed["paths"], trimmed["components"] = paths, components
with open(out_path, "w") as f:
    json.dump(trimmed, f, default=str)
print(f"{len(paths)} paths, {sum(len(v) for v in components.values())} components -> {out_path}")
