//! The operations of every served resource, as upstream's OpenAPI lists them: paths, verbs,
//! operationIds (`listCoreV1NamespacedPod`, `patchAppsV1NamespacedDeploymentScale`, …),
//! parameters, bodies, responses and the `x-kubernetes-action` / group-version-kind
//! extensions. A neutral model; `render` writes it as Swagger 2.0 or OpenAPI 3.0.

use std::borrow::Cow;

use super::schemas::{self, Definitions, Gvk};
use crate::registry::{self, ResourceDef, Subresource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Integer,
    Boolean,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    /// "query" or "path".
    pub location: &'static str,
    pub description: Cow<'static, str>,
    pub ty: Type,
    pub required: bool,
}

const fn query(name: &'static str, ty: Type, description: &'static str) -> Param {
    Param { name, location: "query", description: Cow::Borrowed(description), ty, required: false }
}

/// What a body or a response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A definition, by name.
    Ref(String),
    /// A plain string (logs, connect streams).
    Text,
}

#[derive(Debug, Clone)]
pub struct Op {
    /// Lower-case HTTP method: get, put, post, patch, delete, head, options.
    pub method: &'static str,
    pub id: String,
    pub description: String,
    /// x-kubernetes-action (None on discovery operations).
    pub action: Option<&'static str>,
    pub gvk: Option<Gvk>,
    pub params: Vec<Param>,
    pub consumes: &'static [&'static str],
    pub produces: &'static [&'static str],
    /// Request body and whether it is required.
    pub body: Option<(Payload, bool)>,
    /// (status code, description); every response carrying `payload` except 401.
    pub responses: Vec<(u16, &'static str)>,
    pub payload: Payload,
    pub tag: String,
}

#[derive(Debug, Clone)]
pub struct PathItem {
    pub path: String,
    /// Parameters shared by every operation of the path.
    pub params: Vec<Param>,
    pub ops: Vec<Op>,
}

pub const PRODUCES: &[&str] = &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
pub const PRODUCES_STREAM: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
const PRODUCES_LOG: &[&str] =
    &["text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];
pub const ANY: &[&str] = &["*/*"];
pub const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

const PRETTY: Param = query("pretty", Type::String, "If 'true', then the output is pretty printed.");
const NAMESPACE: Param = Param {
    name: "namespace",
    location: "path",
    description: Cow::Borrowed("object name and auth scope, such as for teams and projects"),
    ty: Type::String,
    required: true,
};

fn path_name(description: String) -> Param {
    Param { name: "name", location: "path", description: Cow::Owned(description), ty: Type::String, required: true }
}

const ALLOW_WATCH_BOOKMARKS: Param = query(
    "allowWatchBookmarks",
    Type::Boolean,
    "Requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag.",
);
const CONTINUE: Param = query("continue", Type::String, "The continue option, set when more results are to be retrieved from the server: the value the previous list answered in metadata.continue.");
const FIELD_SELECTOR: Param = query(
    "fieldSelector",
    Type::String,
    "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
);
const LABEL_SELECTOR: Param = query(
    "labelSelector",
    Type::String,
    "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
);
const LIMIT: Param = query(
    "limit",
    Type::Integer,
    "The maximum number of responses to return for a list call; more are available through `continue`.",
);
const RESOURCE_VERSION: Param = query(
    "resourceVersion",
    Type::String,
    "Constrains which resource versions a request may be served from. Defaults to unset.",
);
const RESOURCE_VERSION_MATCH: Param = query(
    "resourceVersionMatch",
    Type::String,
    "How resourceVersion is applied to list calls: Exact or NotOlderThan. Defaults to unset.",
);
const SEND_INITIAL_EVENTS: Param = query("sendInitialEvents", Type::Boolean, "With watch=true, begins the watch stream with synthetic events for the current state of the collection, then a \"Bookmark\" event.");
const TIMEOUT_SECONDS: Param = query(
    "timeoutSeconds",
    Type::Integer,
    "Timeout for the list/watch call, regardless of any activity or inactivity.",
);
const WATCH: Param = query("watch", Type::Boolean, "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.");
const DRY_RUN: Param = query("dryRun", Type::String, "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed");
const FIELD_MANAGER: Param = query(
    "fieldManager",
    Type::String,
    "A name associated with the actor or entity that is making these changes (at most 128 printable characters).",
);
const FIELD_MANAGER_APPLY: Param = query("fieldManager", Type::String, "A name associated with the actor or entity that is making these changes (at most 128 printable characters). Required for apply requests (application/apply-patch); optional for the other patch types.");
const FIELD_VALIDATION: Param = query("fieldValidation", Type::String, "How the server handles unknown or duplicate fields in the request object (POST/PUT/PATCH). Valid values are: - Ignore: drop them silently. - Warn: drop them and send a warning header for each (the default). - Strict: fail the request with BadRequest listing them.");
const FORCE: Param = query("force", Type::Boolean, "Force \"Applies\" the request: the changes are applied even if other managers own the fields. Must be unset for non-apply patch requests.");
const GRACE_PERIOD: Param = query("gracePeriodSeconds", Type::Integer, "The duration in seconds before the object should be deleted; zero means delete immediately. Defaults to a per object value.");
const IGNORE_STORE_READ_ERROR: Param = query("ignoreStoreReadErrorWithClusterBreakingPotential", Type::Boolean, "Deletes a resource that cannot be read from storage (corrupt), ignoring finalizers and preconditions. Defaults to false.");
const ORPHAN_DEPENDENTS: Param = query(
    "orphanDependents",
    Type::Boolean,
    "Deprecated: use propagationPolicy. Whether the dependent objects should be orphaned.",
);
const PROPAGATION_POLICY: Param = query(
    "propagationPolicy",
    Type::String,
    "Whether and how garbage collection will be performed: 'Orphan', 'Background' or 'Foreground'.",
);

fn list_params() -> Vec<Param> {
    vec![
        ALLOW_WATCH_BOOKMARKS,
        CONTINUE,
        FIELD_SELECTOR,
        LABEL_SELECTOR,
        LIMIT,
        RESOURCE_VERSION,
        RESOURCE_VERSION_MATCH,
        SEND_INITIAL_EVENTS,
        TIMEOUT_SECONDS,
        WATCH,
    ]
}

fn write_params() -> Vec<Param> {
    vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
}

fn patch_params() -> Vec<Param> {
    vec![DRY_RUN, FIELD_MANAGER_APPLY, FIELD_VALIDATION, FORCE]
}

fn delete_params() -> Vec<Param> {
    vec![DRY_RUN, GRACE_PERIOD, IGNORE_STORE_READ_ERROR, ORPHAN_DEPENDENTS, PROPAGATION_POLICY]
}

fn delete_collection_params() -> Vec<Param> {
    vec![
        CONTINUE,
        DRY_RUN,
        FIELD_SELECTOR,
        GRACE_PERIOD,
        IGNORE_STORE_READ_ERROR,
        LABEL_SELECTOR,
        LIMIT,
        ORPHAN_DEPENDENTS,
        PROPAGATION_POLICY,
        RESOURCE_VERSION,
        RESOURCE_VERSION_MATCH,
        SEND_INITIAL_EVENTS,
        TIMEOUT_SECONDS,
    ]
}

/// "rbac.authorization.k8s.io" -> "RbacAuthorization", "" -> "Core".
pub fn group_camel(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group.trim_end_matches(".k8s.io").split('.').map(upper_first).collect()
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "CoreV1", "AppsV1", "AutoscalingV2".
fn gv_camel(group: &str, version: &str) -> String {
    format!("{}{}", group_camel(group), upper_first(version))
}

/// The tag of a group's discovery operation: "core", "apps", "rbacAuthorization".
pub fn group_tag(group: &str) -> String {
    lower_first(&group_camel(group))
}

/// The tag upstream groups a group-version's operations under: "core_v1", "rbacAuthorization_v1".
pub fn tag(group: &str, version: &str) -> String {
    format!("{}_{}", group_tag(group), version)
}

/// "/api/v1" or "/apis/<group>/<version>".
pub fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// The discovery operation at the root of a group-version: `GET /apis/apps/v1/`.
pub fn resources_path(group: &str, version: &str) -> PathItem {
    PathItem {
        path: format!("{}/", gv_prefix(group, version)),
        params: vec![],
        ops: vec![Op {
            method: "get",
            id: format!("get{}APIResources", gv_camel(group, version)),
            description: "get available resources".into(),
            action: None,
            gvk: None,
            params: vec![],
            consumes: &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"],
            produces: PRODUCES,
            body: None,
            responses: vec![(200, "OK")],
            payload: Payload::Ref(schemas::API_RESOURCE_LIST.into()),
            tag: tag(group, version),
        }],
    }
}

/// A discovery document's single operation: `/api/`, `/apis/`, `/apis/<group>/`, `/version/`.
pub fn discovery_path(path: &str, id: &str, description: &str, tag: &str, payload: &str) -> PathItem {
    let json_only: &'static [&'static str] = &["application/json"];
    PathItem {
        path: path.into(),
        params: vec![],
        ops: vec![Op {
            method: "get",
            id: id.into(),
            description: description.into(),
            action: None,
            gvk: None,
            params: vec![],
            consumes: if tag == "version" {
                json_only
            } else {
                &["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
            },
            produces: if tag == "version" { json_only } else { PRODUCES },
            body: None,
            responses: vec![(200, "OK")],
            payload: Payload::Ref(payload.into()),
            tag: tag.into(),
        }],
    }
}

struct Ctx<'a> {
    def: &'a ResourceDef,
    gv: String,
    tag: String,
    kind_ref: String,
}

impl Ctx<'_> {
    fn op(&self, method: &'static str, id: String, description: String, action: &'static str) -> Op {
        Op {
            method,
            id,
            description,
            action: Some(action),
            gvk: Some(Gvk { group: self.def.group, version: self.def.version, kind: self.def.kind }),
            params: vec![],
            consumes: ANY,
            produces: PRODUCES,
            body: None,
            responses: vec![(200, "OK")],
            payload: Payload::Ref(self.kind_ref.clone()),
            tag: self.tag.clone(),
        }
    }
    /// "Namespaced" for namespaced resources, "" otherwise.
    fn scope(&self) -> &'static str {
        if self.def.namespaced {
            "Namespaced"
        } else {
            ""
        }
    }
}

fn has(def: &ResourceDef, verb: &str) -> bool {
    def.verbs.contains(&verb)
}

/// Every path of one served resource, with its subresources.
pub fn resource_paths(defs: &Definitions, def: &ResourceDef) -> Vec<PathItem> {
    let gvk = Gvk { group: def.group, version: def.version, kind: def.kind };
    let (Some(kind_ref), Some(list_ref)) = (defs.name_of(gvk), defs.list_of(gvk)) else {
        return vec![];
    };
    let c = Ctx {
        def,
        gv: gv_camel(def.group, def.version),
        tag: tag(def.group, def.version),
        kind_ref: kind_ref.to_string(),
    };
    let kind = def.kind;
    let gv = &c.gv;
    let scope = c.scope();
    let prefix = gv_prefix(def.group, def.version);
    let ns_prefix = if def.namespaced { format!("{prefix}/namespaces/{{namespace}}") } else { prefix.clone() };
    let scope_params = |extra: Vec<Param>| -> Vec<Param> {
        let mut v = extra;
        if def.namespaced {
            v.push(NAMESPACE);
        }
        v.push(PRETTY);
        v
    };
    let mut out = Vec::new();

    // Collection: list, create, deletecollection.
    let mut collection =
        PathItem { path: format!("{ns_prefix}/{}", def.plural), params: scope_params(vec![]), ops: vec![] };
    if has(def, "list") {
        let mut op =
            c.op("get", format!("list{gv}{scope}{kind}"), format!("list or watch objects of kind {kind}"), "list");
        op.params = list_params();
        op.produces = PRODUCES_STREAM;
        op.payload = Payload::Ref(list_ref.to_string());
        collection.ops.push(op);
    }
    if has(def, "create") {
        let mut op = c.op("post", format!("create{gv}{scope}{kind}"), format!("create a {kind}"), "post");
        op.params = write_params();
        op.body = Some((Payload::Ref(kind_ref.to_string()), true));
        op.responses = vec![(200, "OK"), (201, "Created"), (202, "Accepted")];
        collection.ops.push(op);
    }
    if has(def, "deletecollection") {
        let mut op = c.op(
            "delete",
            format!("delete{gv}Collection{scope}{kind}"),
            format!("delete collection of {kind}"),
            "deletecollection",
        );
        op.params = delete_collection_params();
        op.body = Some((Payload::Ref(schemas::DELETE_OPTIONS.into()), false));
        op.payload = Payload::Ref(schemas::STATUS.into());
        collection.ops.push(op);
    }
    if !collection.ops.is_empty() {
        out.push(collection);
    }

    // One object: read, replace, patch, delete.
    let mut item = PathItem {
        path: format!("{ns_prefix}/{}/{{name}}", def.plural),
        params: scope_params(vec![path_name_of(kind)]),
        ops: vec![],
    };
    if has(def, "get") {
        item.ops.push(c.op("get", format!("read{gv}{scope}{kind}"), format!("read the specified {kind}"), "get"));
    }
    if has(def, "update") {
        let mut op = c.op("put", format!("replace{gv}{scope}{kind}"), format!("replace the specified {kind}"), "put");
        op.params = write_params();
        op.body = Some((Payload::Ref(kind_ref.to_string()), true));
        op.responses = vec![(200, "OK"), (201, "Created")];
        item.ops.push(op);
    }
    if has(def, "patch") {
        let mut op =
            c.op("patch", format!("patch{gv}{scope}{kind}"), format!("partially update the specified {kind}"), "patch");
        op.params = patch_params();
        op.consumes = PATCH_TYPES;
        op.body = Some((Payload::Ref(schemas::PATCH.into()), true));
        op.responses = vec![(200, "OK"), (201, "Created")];
        item.ops.push(op);
    }
    if has(def, "delete") {
        let mut op = c.op("delete", format!("delete{gv}{scope}{kind}"), format!("delete a {kind}"), "delete");
        op.params = delete_params();
        op.body = Some((Payload::Ref(schemas::DELETE_OPTIONS.into()), false));
        op.payload = Payload::Ref(schemas::STATUS.into());
        op.responses = vec![(200, "OK"), (202, "Accepted")];
        item.ops.push(op);
    }
    if !item.ops.is_empty() {
        out.push(item.clone());
    }

    // Subresources.
    for sub in def.subresources {
        out.extend(subresource_paths(defs, &c, &item, sub));
    }

    // Watch paths (deprecated upstream, still served and listed) and the list across
    // namespaces.
    if has(def, "list") && def.namespaced {
        let mut op = c.op(
            "get",
            format!("list{gv}{kind}ForAllNamespaces"),
            format!("list or watch objects of kind {kind}"),
            "list",
        );
        op.produces = PRODUCES_STREAM;
        op.payload = Payload::Ref(list_ref.to_string());
        out.push(PathItem {
            path: format!("{prefix}/{}", def.plural),
            params: with_pretty(list_params()),
            ops: vec![op],
        });
    }
    if has(def, "watch") {
        let watch_op = |id: String, description: String, action: &'static str| {
            let mut op = c.op("get", id, description, action);
            op.produces = PRODUCES_STREAM;
            op.payload = Payload::Ref(schemas::WATCH_EVENT.into());
            op
        };
        if def.namespaced {
            out.push(PathItem {
                path: format!("{prefix}/watch/{}", def.plural),
                params: with_pretty(list_params()),
                ops: vec![watch_op(
                    format!("watch{gv}{kind}ListForAllNamespaces"),
                    format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                    "watchlist",
                )],
            });
        }
        let watch_prefix =
            if def.namespaced { format!("{prefix}/watch/namespaces/{{namespace}}") } else { format!("{prefix}/watch") };
        out.push(PathItem {
            path: format!("{watch_prefix}/{}", def.plural),
            params: scope_params(list_params()),
            ops: vec![watch_op(
                format!("watch{gv}{scope}{kind}List"),
                format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                "watchlist",
            )],
        });
        let mut params = list_params();
        params.push(path_name_of(kind));
        out.push(PathItem {
            path: format!("{watch_prefix}/{}/{{name}}", def.plural),
            params: scope_params(params),
            ops: vec![watch_op(
                format!("watch{gv}{scope}{kind}"),
                format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."),
                "watch",
            )],
        });
    }
    out
}

fn with_pretty(mut v: Vec<Param>) -> Vec<Param> {
    v.push(PRETTY);
    v
}

fn path_name_of(kind: &str) -> Param {
    path_name(format!("name of the {kind}"))
}

/// Connect subresources: streams, answered with a plain string.
fn is_connect(name: &str) -> bool {
    matches!(name, "attach" | "exec" | "portforward" | "proxy")
}

fn connect_params(sub: &str) -> Vec<Param> {
    let container = query("container", Type::String, "The container in which to execute the command. Defaults to only container if there is only one container in the pod.");
    let stderr = query("stderr", Type::Boolean, "Redirect the standard error stream of the pod for this call.");
    let stdin = query(
        "stdin",
        Type::Boolean,
        "Redirect the standard input stream of the pod for this call. Defaults to false.",
    );
    let stdout = query("stdout", Type::Boolean, "Redirect the standard output stream of the pod for this call.");
    let tty = query("tty", Type::Boolean, "TTY if true indicates that a tty will be allocated for the attach call.");
    match sub {
        "exec" => vec![
            query(
                "command",
                Type::String,
                "Command is the remote command to execute. argv array. Not executed within a shell.",
            ),
            container,
            stderr,
            stdin,
            stdout,
            tty,
        ],
        "attach" => vec![container, stderr, stdin, stdout, tty],
        "portforward" => {
            vec![query("ports", Type::Integer, "List of ports to forward. Required when using WebSockets")]
        }
        _ => vec![],
    }
}

fn log_params() -> Vec<Param> {
    vec![
        query(
            "container",
            Type::String,
            "The container for which to stream logs. Defaults to only container if there is one container in the pod.",
        ),
        query("follow", Type::Boolean, "Follow the log stream of the pod. Defaults to false."),
        query(
            "insecureSkipTLSVerifyBackend",
            Type::Boolean,
            "Skip verifying the identity of the kubelet logs are requested from.",
        ),
        query(
            "limitBytes",
            Type::Integer,
            "The number of bytes to read from the server before terminating the log output.",
        ),
        query("previous", Type::Boolean, "Return previous terminated container logs. Defaults to false."),
        query(
            "sinceSeconds",
            Type::Integer,
            "A relative time in seconds before the current time from which to show logs.",
        ),
        query("stream", Type::String, "Which container log stream to return: All, Stdout or Stderr. Defaults to All."),
        query("tailLines", Type::Integer, "The number of lines from the end of the logs to show."),
        query(
            "timestamps",
            Type::Boolean,
            "Prefix every line of log output with an RFC3339 or RFC3339Nano timestamp. Defaults to false.",
        ),
    ]
}

fn subresource_paths(defs: &Definitions, c: &Ctx, item: &PathItem, sub: &Subresource) -> Vec<PathItem> {
    let def = c.def;
    let (gv, scope, kind) = (&c.gv, c.scope(), def.kind);
    let sub_camel = upper_first(sub.name);
    let sub_gvk = Gvk { group: sub.group, version: sub.version, kind: sub.kind };
    let base = format!("{}/{}", item.path, sub.name);
    let mut params = item.params.clone();
    if is_connect(sub.name) {
        // Connect operations: the options kind names the operation; no pretty.
        params.retain(|p| p.name != "pretty");
        for p in &mut params {
            if p.name == "name" {
                p.description = Cow::Owned(format!("name of the {}", sub.kind));
            }
        }
        let mut extra = connect_params(sub.name);
        if sub.name == "proxy" {
            extra.push(query("path", Type::String, "Path is the URL path to use for the current proxy request."));
        }
        let methods: Vec<&'static str> = sub
            .verbs
            .iter()
            .filter_map(|v| match *v {
                "get" => Some("get"),
                "create" => Some("post"),
                "update" => Some("put"),
                "patch" => Some("patch"),
                "delete" => Some("delete"),
                _ => None,
            })
            .collect();
        let connect_op = |method: &'static str, suffix: &str, params: Vec<Param>| Op {
            method,
            id: format!("connect{}{gv}{scope}{kind}{sub_camel}{suffix}", upper_first(method)),
            description: format!("connect {} requests to {} of {kind}", method.to_uppercase(), sub.name),
            action: Some("connect"),
            gvk: Some(sub_gvk),
            params,
            consumes: ANY,
            produces: ANY,
            body: None,
            responses: vec![(200, "OK")],
            payload: Payload::Text,
            tag: c.tag.clone(),
        };
        let mut out = vec![PathItem {
            path: base.clone(),
            params: params.clone(),
            ops: methods.iter().map(|m| connect_op(m, "", extra.clone())).collect(),
        }];
        if sub.name == "proxy" {
            let mut with_path = params.clone();
            with_path.push(Param {
                name: "path",
                location: "path",
                description: Cow::Borrowed("path to the resource"),
                ty: Type::String,
                required: true,
            });
            let extra: Vec<Param> =
                vec![query("path", Type::String, "Path is the URL path to use for the current proxy request.")];
            out.push(PathItem {
                path: format!("{base}/{{path}}"),
                params: with_path,
                ops: methods.iter().map(|m| connect_op(m, "WithPath", extra.clone())).collect(),
            });
        }
        return out;
    }

    let mk = |method: &'static str, verb: &str, description: String, action: &'static str| Op {
        method,
        id: format!("{verb}{gv}{scope}{kind}{sub_camel}"),
        description,
        action: Some(action),
        gvk: Some(sub_gvk),
        params: vec![],
        consumes: ANY,
        produces: PRODUCES,
        body: None,
        responses: vec![(200, "OK")],
        payload: match defs.name_of(sub_gvk) {
            Some(n) => Payload::Ref(n.to_string()),
            None => Payload::Text,
        },
        tag: c.tag.clone(),
    };
    let mut path = PathItem { path: base, params, ops: vec![] };
    if sub.name == "log" {
        let mut op = mk("get", "read", format!("read log of the specified {kind}"), "get");
        op.params = log_params();
        op.produces = PRODUCES_LOG;
        op.payload = Payload::Text;
        path.ops.push(op);
        return vec![path];
    }
    let Payload::Ref(sub_ref) = mk("get", "", String::new(), "get").payload else {
        return vec![];
    };
    for verb in sub.verbs {
        match *verb {
            "get" => path.ops.push(mk("get", "read", format!("read {} of the specified {kind}", sub.name), "get")),
            "update" => {
                let mut op = mk("put", "replace", format!("replace {} of the specified {kind}", sub.name), "put");
                op.params = write_params();
                op.body = Some((Payload::Ref(sub_ref.clone()), true));
                op.responses = vec![(200, "OK"), (201, "Created")];
                path.ops.push(op);
            }
            "patch" => {
                let mut op =
                    mk("patch", "patch", format!("partially update {} of the specified {kind}", sub.name), "patch");
                op.params = patch_params();
                op.consumes = PATCH_TYPES;
                op.body = Some((Payload::Ref(schemas::PATCH.into()), true));
                op.responses = vec![(200, "OK"), (201, "Created")];
                path.ops.push(op);
            }
            "create" => {
                let mut op = mk("post", "create", format!("create {} of a {kind}", sub.name), "post");
                op.params = write_params();
                op.body = Some((Payload::Ref(sub_ref.clone()), true));
                op.responses = vec![(200, "OK"), (201, "Created"), (202, "Accepted")];
                path.ops.push(op);
            }
            _ => {}
        }
    }
    if path.ops.is_empty() {
        return vec![];
    }
    vec![path]
}

/// Every path of one group-version, the discovery root first, then each resource in
/// registry order.
pub fn group_version_paths(defs: &Definitions, group: &str, version: &str) -> Vec<PathItem> {
    let mut out = vec![resources_path(group, version)];
    for def in registry::all().iter().filter(|d| d.group == group && d.version == version) {
        out.extend(resource_paths(defs, def));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_upstream() {
        assert_eq!(group_camel("rbac.authorization.k8s.io"), "RbacAuthorization");
        assert_eq!(group_camel("apps"), "Apps");
        assert_eq!(tag("rbac.authorization.k8s.io", "v1"), "rbacAuthorization_v1");
        assert_eq!(tag("", "v1"), "core_v1");
        let defs = schemas::build();
        let ids = |g: &str, v: &str| -> Vec<String> {
            group_version_paths(&defs, g, v).into_iter().flat_map(|p| p.ops.into_iter().map(|o| o.id)).collect()
        };
        let core = ids("", "v1");
        for id in [
            "getCoreV1APIResources",
            "listCoreV1NamespacedPod",
            "listCoreV1PodForAllNamespaces",
            "createCoreV1NamespacedPod",
            "readCoreV1NamespacedPod",
            "replaceCoreV1NamespacedPod",
            "patchCoreV1NamespacedPod",
            "deleteCoreV1NamespacedPod",
            "deleteCoreV1CollectionNamespacedPod",
            "watchCoreV1NamespacedPod",
            "watchCoreV1NamespacedPodList",
            "watchCoreV1PodListForAllNamespaces",
            "readCoreV1NamespacedPodLog",
            "readCoreV1NamespacedPodStatus",
            "createCoreV1NamespacedPodBinding",
            "createCoreV1NamespacedPodEviction",
            "connectGetCoreV1NamespacedPodExec",
            "connectPostCoreV1NamespacedPodPortforward",
            "connectGetCoreV1NamespacedServiceProxyWithPath",
            "connectDeleteCoreV1NodeProxy",
            "listCoreV1Node",
            "watchCoreV1NodeList",
            "replaceCoreV1NamespaceFinalize",
            "createCoreV1NamespacedServiceAccountToken",
        ] {
            assert!(core.contains(&id.to_string()), "missing {id}");
        }
        let apps = ids("apps", "v1");
        assert!(apps.contains(&"patchAppsV1NamespacedDeploymentScale".to_string()));
        let mut unique = std::collections::HashSet::new();
        for (g, versions) in
            crate::api::discovery::group_versions().into_iter().chain([(String::new(), vec!["v1".into()])])
        {
            for v in versions {
                for id in ids(&g, &v) {
                    assert!(unique.insert(id.clone()), "duplicate operationId {id}");
                }
            }
        }
    }
}
