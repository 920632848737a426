#!/usr/bin/env python3
"""Writes merge_keys.rs: the patch merge keys and strategies of every built-in type.

The facts come from the `patchStrategy` / `patchMergeKey` struct tags of the Go API types,
which is what a real kube-apiserver reads when it applies a strategic merge patch. Point the
script at git checkouts of k8s.io/api and k8s.io/apimachinery and name the release tags:

    python3 gen_merge_keys.py API_GIT_DIR v0.33.9 APIMACHINERY_GIT_DIR v0.33.9 > merge_keys.rs

Only types on a path to a field with a strategy are written; every other field merges as a
map (objects) or is replaced whole (lists), which is the default the merge code applies.
"""

import re
import subprocess
import sys

# Go package (path under k8s.io/api) -> API group, for the group-versions this server serves.
PACKAGES = {
    "core/v1": "",
    "apps/v1": "apps",
    "batch/v1": "batch",
    "autoscaling/v1": "autoscaling",
    "autoscaling/v2": "autoscaling",
    "networking/v1": "networking.k8s.io",
    "policy/v1": "policy",
    "rbac/v1": "rbac.authorization.k8s.io",
    "storage/v1": "storage.k8s.io",
    "scheduling/v1": "scheduling.k8s.io",
    "coordination/v1": "coordination.k8s.io",
    "discovery/v1": "discovery.k8s.io",
    "events/v1": "events.k8s.io",
}
META = "meta/v1"
BUILTINS = {
    "string", "bool", "byte", "int", "int8", "int16", "int32", "int64", "uint", "uint8",
    "uint16", "uint32", "uint64", "float32", "float64", "interface{}", "any",
}


def git_show(git_dir, tag, path):
    return subprocess.run(
        ["git", "--git-dir", git_dir, "show", f"{tag}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout


def strip_comments(src):
    out = []
    for line in src.splitlines():
        s = line.strip()
        if s.startswith("//"):
            continue
        out.append(line)
    return "\n".join(out)


def parse_imports(src):
    """alias -> package key ("core/v1", "meta/v1") or None for packages outside the table."""
    aliases = {}
    m = re.search(r"^import \((.*?)^\)", src, re.S | re.M)
    lines = m.group(1).splitlines() if m else re.findall(r'^import (.*)$', src, re.M)
    for line in lines:
        line = line.strip()
        im = re.match(r'^(\w+\s+)?"([^"]+)"$', line)
        if not im:
            continue
        path = im.group(2)
        alias = (im.group(1) or "").strip() or path.rsplit("/", 1)[-1]
        key = None
        if path.startswith("k8s.io/api/"):
            key = path[len("k8s.io/api/"):]
        elif path == "k8s.io/apimachinery/pkg/apis/meta/v1":
            key = META
        aliases[alias] = key
    return aliases


class Field:
    def __init__(self, json, expr, strategy, merge_key, inline):
        self.json, self.expr, self.strategy, self.merge_key, self.inline = json, expr, strategy, merge_key, inline


def parse_types(pkg, src):
    """Returns ({type name: [Field]} for structs, {type name: underlying expr} for others)."""
    src = strip_comments(src)
    structs, named = {}, {}
    lines = src.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^type (\w+) struct \{\s*$", line)
        if m:
            name, fields, depth = m.group(1), [], 1
            i += 1
            while i < len(lines):
                body = lines[i]
                depth += body.count("{") - body.count("}")
                if depth <= 0:
                    break
                f = parse_field(body)
                if f is not None:
                    fields.append(f)
                i += 1
            structs[name] = fields
        else:
            m = re.match(r"^type (\w+) (.+?)\s*$", line)
            if m and not m.group(2).startswith(("struct", "interface")):
                named[m.group(1)] = m.group(2)
        i += 1
    return structs, named


def parse_field(line):
    m = re.match(r"^\s+(?:(\w+)\s+)?([^\s`]+)\s+`([^`]*)`\s*$", line)
    if not m:
        return None
    go_name, expr, tag = m.groups()
    tags = dict(re.findall(r'(\w+):"([^"]*)"', tag))
    json = tags.get("json", "")
    json_name = json.split(",")[0]
    if json_name == "-":
        return None
    inline = go_name is None and (json_name == "" or ",inline" in json)
    if go_name is None and not inline:
        # An embedded type with its own json name behaves as a named field.
        go_name = expr.lstrip("*").split(".")[-1]
    if not inline and json_name == "":
        json_name = go_name
    return Field(json_name, expr, tags.get("patchStrategy", ""), tags.get("patchMergeKey", ""), inline)


class Universe:
    def __init__(self):
        self.structs = {}  # (pkg, name) -> [Field]
        self.named = {}    # (pkg, name) -> expr
        self.imports = {}  # pkg -> alias map

    def add(self, pkg, src):
        self.imports[pkg] = parse_imports(src)
        structs, named = parse_types(pkg, src)
        for k, v in structs.items():
            self.structs[(pkg, k)] = v
        for k, v in named.items():
            self.named[(pkg, k)] = v

    def resolve(self, pkg, expr):
        """-> (shape, target) with shape in {"leaf", "object", "list", "map", "listlist"}; for
        "object"/"map"/"list", target is the (pkg, name) struct key or None for primitives."""
        expr = expr.lstrip("*")
        if expr == "[]byte":
            return "leaf", None
        if expr.startswith("[]"):
            shape, target = self.resolve(pkg, expr[2:])
            if shape in ("list", "listlist"):
                return "listlist", None
            return "list", target if shape == "object" else None
        if expr.startswith("map["):
            depth, j = 0, 3
            while True:
                if expr[j] == "[":
                    depth += 1
                elif expr[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            shape, target = self.resolve(pkg, expr[j + 1:])
            return ("map", target) if shape == "object" else ("leaf", None)
        if expr in BUILTINS:
            return "leaf", None
        if "." in expr:
            alias, name = expr.split(".", 1)
            other = self.imports[pkg].get(alias)
            if other is None:
                return "leaf", None
            key = (other, name)
        else:
            key = (pkg, expr)
        if key in self.structs:
            return "object", key
        if key in self.named:
            return self.resolve(key[0], self.named[key])
        return "leaf", None

    def fields(self, key):
        """The struct's JSON fields with embedded inline structs flattened, in Go order."""
        out = []
        pkg = key[0]
        for f in self.structs[key]:
            if f.inline:
                shape, target = self.resolve(pkg, f.expr)
                if shape == "object":
                    out.extend(self.fields(target))
                continue
            out.append((f, self.resolve(pkg, f.expr)))
        return out


def main():
    api_dir, api_tag, mach_dir, mach_tag = sys.argv[1:5]
    u = Universe()
    u.add(META, git_show(mach_dir, mach_tag, "pkg/apis/meta/v1/types.go"))
    for pkg in PACKAGES:
        u.add(pkg, git_show(api_dir, api_tag, f"{pkg}/types.go"))

    # Top-level kinds: structs embedding TypeMeta with a "metadata" ObjectMeta.
    roots = []
    for pkg in PACKAGES:
        for (p, name) in sorted(k for k in u.structs if k[0] == pkg):
            raw = u.structs[(p, name)]
            has_type_meta = any(f.inline and f.expr.endswith("TypeMeta") for f in raw)
            has_object_meta = any(f.json == "metadata" and f.expr.lstrip("*").endswith("ObjectMeta") for f in raw)
            if has_type_meta and has_object_meta:
                roots.append((pkg, name))

    # interesting(T): some field below T (through objects, maps and merged lists) has a strategy.
    interesting = {}

    def is_interesting(key, stack=()):
        if key in interesting:
            return interesting[key]
        if key in stack:
            return False
        result = False
        for f, (shape, target) in u.fields(key):
            if f.strategy:
                result = True
            elif shape in ("object", "map") and is_interesting(target, stack + (key,)):
                result = True
        interesting[key] = result
        return result

    def kept_fields(key):
        out = []
        for f, (shape, target) in u.fields(key):
            child = None
            if target is not None and shape in ("object", "map") and is_interesting(target):
                child = target
            if target is not None and shape == "list" and "merge" in f.strategy.split(",") and is_interesting(target):
                child = target
            if f.strategy or child is not None:
                if shape == "map" and child is not None:
                    sys.exit(f"map of objects with patch metadata at {key}.{f.json}: not modelled")
                if shape == "listlist" and f.strategy:
                    sys.exit(f"list of lists with a strategy at {key}.{f.json}: not modelled")
                out.append((f, shape, child))
        return out

    reachable, order = set(), []

    def visit(key):
        if key in reachable:
            return
        reachable.add(key)
        for _, _, child in kept_fields(key):
            if child is not None:
                visit(child)
        order.append(key)

    for r in roots:
        visit(r)

    def ident(key):
        pkg, name = key
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()
        return (pkg.replace("/", "_") + "_" + snake).upper()

    def openapi_name(key):
        pkg, name = key
        if pkg == META:
            return f"io.k8s.apimachinery.pkg.apis.meta.v1.{name}"
        return f"io.k8s.api.{pkg.replace('/', '.')}.{name}"

    w = sys.stdout.write
    w("// @generated by gen_merge_keys.py from the patchStrategy/patchMergeKey struct tags of\n")
    w(f"// k8s.io/api {api_tag} and k8s.io/apimachinery {mach_tag}. Do not edit by hand.\n\n")
    w("//! Patch merge keys and strategies of the built-in types, as a type graph: one `Schema`\n")
    w("//! per Go type that leads to a field with a strategy, shared by every kind that embeds it.\n\n")
    w("use super::schema::{Field, Schema, Strategy};\n\n")
    nfields = 0
    for key in sorted(order, key=ident):
        fields = kept_fields(key)
        w(f"pub static {ident(key)}: Schema = Schema {{\n")
        w(f"    name: \"{openapi_name(key)}\",\n")
        w("    fields: &[\n")
        for f, shape, child in fields:
            strategies = [s for s in f.strategy.split(",") if s]
            main = [s for s in strategies if s != "retainKeys"]
            if len(main) > 1 or any(s not in ("merge", "replace") for s in main):
                sys.exit(f"unexpected strategy {f.strategy} at {key}.{f.json}")
            strategy = {"merge": "Merge", "replace": "Replace"}.get(main[0], None) if main else "Default"
            retain = "true" if "retainKeys" in strategies else "false"
            mk = f"Some(\"{f.merge_key}\")" if f.merge_key and main == ["merge"] else "None"
            ch = f"Some(&{ident(child)})" if child is not None else "None"
            w(f"        Field {{ name: \"{f.json}\", strategy: Strategy::{strategy}, merge_key: {mk}, retain_keys: {retain}, child: {ch} }},\n")
            nfields += 1
        w("    ],\n};\n\n")

    w("/// The schema of a top-level kind, by API group (\"\" for core), version and kind.\n")
    w("pub fn kind(group: &str, version: &str, kind: &str) -> Option<&'static Schema> {\n")
    w("    Some(match (group, version, kind) {\n")
    for (pkg, name) in roots:
        group = PACKAGES[pkg]
        version = pkg.split("/")[1]
        w(f"        (\"{group}\", \"{version}\", \"{name}\") => &{ident((pkg, name))},\n")
    w("        _ => return None,\n    })\n}\n\n")
    w(f"/// {len(order)} types, {nfields} fields, {len(roots)} kinds.\n")
    w(f"pub const COUNTS: (usize, usize, usize) = ({len(order)}, {nfields}, {len(roots)});\n")


if __name__ == "__main__":
    main()
