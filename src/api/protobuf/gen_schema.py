#!/usr/bin/env python3
"""Generates tables.rs: the protobuf <-> JSON schema of the built-in API types.

Two upstream sources are joined per message and field number:
  - generated.proto gives the wire shape (field numbers, scalar or message types, repeated, map);
  - the Go structs (types.go and friends) give the JSON side, exactly as Go's encoding/json
    sees it: the json name, omitempty, pointer or value, `,inline` embedding, and the
    declaration order that Go's JSON output follows.
Registered kinds come from each package's register.go (AddKnownTypes).

Usage (from the repository root, with checkouts of kubernetes/api and kubernetes/apimachinery
at the tag that matches the served Kubernetes version):
    python3 src/api/protobuf/gen_schema.py --api ../api --apimachinery ../apimachinery \
        --tag v0.33.9 > src/api/protobuf/tables.rs
"""

import argparse
import os
import re
import sys

# API packages (directory under kubernetes/api) whose GA versions the schema covers.
API_DIRS = [
    "admission/v1", "admissionregistration/v1", "apidiscovery/v2", "apps/v1", "authentication/v1",
    "authorization/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1", "certificates/v1",
    "coordination/v1", "core/v1", "discovery/v1", "events/v1", "flowcontrol/v1", "networking/v1",
    "node/v1", "policy/v1", "rbac/v1", "scheduling/v1", "storage/v1",
]
MACHINERY_DIRS = ["pkg/apis/meta/v1", "pkg/runtime", "pkg/api/resource", "pkg/util/intstr"]

# Messages whose JSON form is not their fields (custom MarshalJSON in Go).
SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "FieldsV1",
}
# Runtime-internal messages with no JSON form of their own; kept for the envelope only.
SKIP_JSON_CHECK = {
    "k8s.io.apimachinery.pkg.runtime.Unknown", "k8s.io.apimachinery.pkg.runtime.TypeMeta",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Timestamp",
}
SCALARS = {"bool": "Bool", "int32": "Int32", "int64": "Int64", "string": "String", "bytes": "Bytes"}
# metav1.AddToGroupVersion registers these in every group version.
META_OPTIONS = ["WatchEvent", "ListOptions", "GetOptions", "DeleteOptions", "CreateOptions",
                "UpdateOptions", "PatchOptions"]
# ... and these as unversioned types, served as apiVersion "v1".
META_UNVERSIONED = ["Status", "APIVersions", "APIGroupList", "APIGroup", "APIResourceList"]


def fail(msg):
    sys.exit("gen_schema: " + msg)


def parse_proto(path):
    text = open(path).read()
    pkg = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    msgs = {}
    cur = None
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"message (\w+) \{$", line)
        if m:
            if cur is not None:
                fail(f"nested message in {path}: {line}")
            cur = m.group(1)
            msgs[cur] = []
            continue
        if line == "}":
            cur = None
            continue
        if cur is None:
            continue
        m = re.match(r"(optional|repeated) ([\w.]+) (\w+) = (\d+);$", line)
        if m:
            label, ty, name, num = m.groups()
            msgs[cur].append({"label": "One" if label == "optional" else "Repeated",
                              "type": resolve(pkg, ty), "name": name, "num": int(num)})
            continue
        m = re.match(r"map<string, ?([\w.]+)> (\w+) = (\d+);$", line)
        if m:
            ty, name, num = m.groups()
            msgs[cur].append({"label": "Map", "type": resolve(pkg, ty), "name": name, "num": int(num)})
            continue
        fail(f"unparsed proto line in {path}: {raw!r}")
    return pkg, msgs


def resolve(pkg, ty):
    if ty in SCALARS:
        return ty
    if ty.startswith("."):
        return ty[1:]
    return pkg + "." + ty


def go_files(d):
    for f in sorted(os.listdir(d)):
        if f.endswith(".go") and not f.endswith("_test.go") and not f.startswith("zz_generated") \
                and f not in ("generated.pb.go", "types_swagger_doc_generated.go"):
            yield os.path.join(d, f)


TAG_RE = re.compile(r'(\w+):"([^"]*)"')


def parse_go(d):
    """Go structs -> list of fields; named slice types -> element type."""
    structs, slices = {}, {}
    for path in go_files(d):
        lines = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S).splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.match(r"type (\w+) \[\](\w+)\s*$", line)
            if m:
                slices[m.group(1)] = m.group(2)
            m = re.match(r"type (\w+) metav1\.(\w+)\s*$", line)
            if m:
                # A defined type over a meta/v1 struct (core/v1 List): same fields.
                structs[m.group(1)] = ("metav1", m.group(2))
            m = re.match(r"type (\w+) struct ?\{\}", line)
            if m:
                structs[m.group(1)] = []
                i += 1
                continue
            m = re.match(r"type (\w+) struct \{\s*$", line)
            if not m:
                i += 1
                continue
            name, fields, depth = m.group(1), [], 1
            i += 1
            while i < len(lines):
                body = lines[i]
                i += 1
                code = re.sub(r"//.*$", "", body.split("`")[0]).strip() if "`" in body else re.sub(r"//.*$", "", body).strip()
                if depth == 1 and code == "}":
                    break
                if "struct {" in code:
                    depth += 1
                    continue
                if depth > 1:
                    if code.startswith("}"):
                        depth -= 1
                    continue
                if not code:
                    continue
                tags = dict(TAG_RE.findall(body.split("`")[1])) if body.count("`") >= 2 else {}
                parts = code.split()
                if len(parts) == 1:
                    fname, ftype, embedded = parts[0].split(".")[-1].lstrip("*"), parts[0], True
                elif len(parts) == 2:
                    fname, ftype, embedded = parts[0], parts[1], False
                else:
                    # Not an API struct shape (func types, multi-name fields): unusable if asked for.
                    fields.append({"broken": body})
                    continue
                fields.append({"name": fname, "type": ftype, "embedded": embedded, "tags": tags})
            structs[name] = fields
    return structs, slices


def json_info(gf):
    tag = gf["tags"].get("json")
    if tag is None:
        # encoding/json: an embedded struct without a tag is inlined; other fields use their Go name.
        return ("", True, False) if gf["embedded"] else (gf["name"], False, False)
    parts = tag.split(",")
    name, opts = parts[0], parts[1:]
    if name == "-" and not opts:
        return None
    inline = "inline" in opts or (gf["embedded"] and name == "")
    return (name if not inline else ""), inline, ("omitempty" in opts)


def proto_num(gf):
    p = gf["tags"].get("protobuf")
    if not p or p == "-":
        return None
    for part in p.split(","):
        if part.isdigit():
            return int(part)
    fail(f"no field number in protobuf tag {p!r}")


def group_of(d):
    reg = os.path.join(d, "register.go")
    if not os.path.exists(reg):
        return None
    text = open(reg).read()
    m = re.search(r'const GroupName = "([^"]*)"', text)
    if not m:
        return None
    return m.group(1)


def known_types(d):
    """Kinds from AddKnownTypes(SchemeGroupVersion, ...): (kind, package prefix or '')."""
    text = open(os.path.join(d, "register.go")).read()
    out = []
    for call in re.finditer(r"AddKnownTypes\(SchemeGroupVersion,(.*?)\)\n", text, re.S):
        for m in re.finditer(r"&(?:(\w+)\.)?(\w+)\{\}", call.group(1)):
            out.append((m.group(2), m.group(1) or ""))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--apimachinery", required=True)
    ap.add_argument("--tag", required=True)
    args = ap.parse_args()

    dirs = [(os.path.join(args.apimachinery, d), d) for d in MACHINERY_DIRS] + \
           [(os.path.join(args.api, d), d) for d in API_DIRS]
    messages = {}   # full name -> (fields, go struct fields or None, slice elem or None)
    order = []
    kinds = []      # (apiVersion, kind, message full name)
    meta_pkg = "k8s.io.apimachinery.pkg.apis.meta.v1"
    for path, rel in dirs:
        pkg, msgs = parse_proto(os.path.join(path, "generated.proto"))
        structs, slices = parse_go(path)
        if rel == "pkg/apis/meta/v1":
            meta_structs = structs
        structs = {k: (meta_structs[v[1]] if isinstance(v, tuple) else v) for k, v in structs.items()}
        for name, pfields in msgs.items():
            full = pkg + "." + name
            order.append(full)
            messages[full] = (pfields, structs.get(name), slices.get(name))
        if rel in API_DIRS:
            group, version = group_of(path), rel.split("/")[1]
            if group is None:
                fail(f"no GroupName in {path}")
            api_version = f"{group}/{version}" if group else version
            for kind, prefix in known_types(path):
                full = (meta_pkg if prefix == "metav1" else pkg) + "." + kind
                if full not in messages and prefix != "metav1":
                    fail(f"registered kind {kind} of {rel} has no message")
                kinds.append((api_version, kind, full))
            for kind in META_OPTIONS:
                kinds.append((api_version, kind, meta_pkg + "." + kind))
    # meta.k8s.io/v1 itself, and the unversioned meta types.
    for kind in META_OPTIONS + ["PartialObjectMetadata", "PartialObjectMetadataList"]:
        kinds.append(("meta.k8s.io/v1", kind, meta_pkg + "." + kind))
    for kind in META_UNVERSIONED:
        kinds.append(("v1", kind, meta_pkg + "." + kind))
    kinds = sorted({(a, k): f for a, k, f in kinds}.items())

    index = {name: i for i, name in enumerate(order)}
    out = []
    w = out.append
    w(f"// @generated by gen_schema.py from kubernetes/api and kubernetes/apimachinery {args.tag}.")
    w("// Do not edit by hand: rerun the generator (see its docstring).")
    w("")
    w("use super::schema::{f, Label::*, Message, Special, Ty::*, INLINE, OMITEMPTY, POINTER};")
    w("")
    w(f"pub(super) static MESSAGES: [Message; {len(order)}] = [")
    for full in order:
        pfields, gstruct, elem = messages[full]
        special = SPECIAL.get(full)
        by_num = {f["num"]: f for f in pfields}
        fields = []
        if special is None and elem is not None:
            special = "List"
            if [f["num"] for f in pfields] != [1] or pfields[0]["label"] != "Repeated":
                fail(f"{full}: named slice type without a single repeated items field")
        if special is not None or full in SKIP_JSON_CHECK:
            # Wire fields only, in number order; JSON comes from the special rule.
            for f in pfields:
                fields.append((f, f["name"], 0))
        else:
            if gstruct is None:
                fail(f"{full}: no Go struct")
            seen = set()
            for gf in gstruct:
                if "broken" in gf:
                    fail(f"{full}: unparsed Go field {gf['broken']!r}")
                num = proto_num(gf)
                info = json_info(gf)
                if num is None:
                    if info is not None and not info[1] and not info[2] and info[0] not in ("",):
                        print(f"note: {full}.{gf['name']} is JSON-only (not omitempty)", file=sys.stderr)
                    continue
                if num not in by_num:
                    fail(f"{full}: Go field {gf['name']} has protobuf number {num} not in the proto")
                if info is None:
                    fail(f"{full}: Go field {gf['name']} has a protobuf tag but json:\"-\"")
                jname, inline, omitempty = info
                flags = []
                if gf["type"].startswith("*"):
                    flags.append("POINTER")
                if omitempty:
                    flags.append("OMITEMPTY")
                if inline:
                    flags.append("INLINE")
                    if by_num[num]["label"] != "One" or by_num[num]["type"] in SCALARS:
                        fail(f"{full}: inline field {gf['name']} is not a single message")
                seen.add(num)
                fields.append((by_num[num], jname, "|".join(flags) or "0"))
            missing = set(by_num) - seen
            if missing:
                fail(f"{full}: proto fields {sorted(missing)} have no Go field")
        w(f"    Message {{ name: {full!r}, special: Special::{special or 'None'}, fields: &[".replace("'", '"'))
        for f, jname, flags in fields:
            ty = f["type"]
            if ty in SCALARS:
                tys = SCALARS[ty]
            else:
                if ty not in index:
                    fail(f"{full}.{f['name']}: unknown message type {ty}")
                tys = f"Msg({index[ty]})"
            w(f'        f("{jname}", {f["num"]}, {tys}, {f["label"]}, {flags}),')
        w("    ]},")
    w("];")
    w("")
    w("/// (apiVersion, kind) -> index into MESSAGES, sorted for binary search.")
    w(f"pub(super) static KINDS: [(&str, &str, u16); {len(kinds)}] = [")
    for (api_version, kind), full in kinds:
        if full not in index:
            fail(f"kind {api_version} {kind}: no message {full}")
        w(f'    ("{api_version}", "{kind}", {index[full]}),')
    w("];")
    print("\n".join(out))


if __name__ == "__main__":
    main()
