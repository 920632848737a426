//! Strategic merge patch cases: what kubectl sends (kubectl-contract.md §3), the behaviours
//! upstream's strategicpatch tests document (restated here against a small test type), the
//! error messages, and the table's facts for the built-in kinds.

use serde_json::{json, Value};

use super::*;

// A test type shaped like upstream's test item: one field of each strategy.
pub(super) static ITEM: Schema = Schema {
    name: "item",
    fields: &[
        Field {
            name: "mergingList",
            strategy: Strategy::Merge,
            merge_key: Some("name"),
            retain_keys: false,
            child: Some(&ITEM),
        },
        Field {
            name: "mergingIntList",
            strategy: Strategy::Merge,
            merge_key: None,
            retain_keys: false,
            child: None,
        },
        Field {
            name: "replacingItem",
            strategy: Strategy::Replace,
            merge_key: None,
            retain_keys: false,
            child: None,
        },
        Field {
            name: "retainKeysMap",
            strategy: Strategy::Default,
            merge_key: None,
            retain_keys: true,
            child: Some(&RETAIN_ITEM),
        },
        Field {
            name: "retainKeysMergingList",
            strategy: Strategy::Merge,
            merge_key: Some("name"),
            retain_keys: true,
            child: Some(&ITEM),
        },
        Field {
            name: "mergeItemPtr",
            strategy: Strategy::Merge,
            merge_key: Some("name"),
            retain_keys: false,
            child: Some(&ITEM),
        },
    ],
};

pub(super) static RETAIN_ITEM: Schema = Schema {
    name: "retainItem",
    fields: &[
        Field {
            name: "mergingIntList",
            strategy: Strategy::Merge,
            merge_key: None,
            retain_keys: false,
            child: None,
        },
        Field {
            name: "mergingList",
            strategy: Strategy::Merge,
            merge_key: Some("name"),
            retain_keys: false,
            child: Some(&ITEM),
        },
    ],
};

fn apply(original: Value, patch: Value) -> Value {
    strategic_merge(&original, &patch, &ITEM).unwrap_or_else(|e| panic!("patch failed: {e}"))
}

fn apply_err(original: Value, patch: Value) -> PatchError {
    match strategic_merge(&original, &patch, &ITEM) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

fn deployment() -> &'static Schema {
    schema_for("apps", "v1", "Deployment").unwrap()
}

/// No `$`-prefixed key anywhere in the value.
fn assert_no_directives(v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                assert!(!k.starts_with('$'), "directive {k} left in the result");
                assert_no_directives(v);
            }
        }
        Value::Array(l) => l.iter().for_each(assert_no_directives),
        _ => {}
    }
}

// ---- what kubectl sends ----

#[test]
fn kubectl_set_image_changes_one_container_and_keeps_the_rest() {
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "sidecar", "image": "busybox"}
        ]}}}
    });
    let patch = json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],
        "containers":[{"image":"nginx:1.27","name":"nginx"}]}}}});
    let out = strategic_merge(&live, &patch, deployment()).unwrap();
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "sidecar", "image": "busybox"}
        ])
    );
    assert_eq!(out["spec"]["replicas"], 1);
    assert_no_directives(&out);
}

#[test]
fn kubectl_second_apply_deletes_an_env_var_and_orders_the_rest() {
    let live = json!({
        "metadata": {"name": "demo", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old\n"}},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
        ]}}}
    });
    let patch = json!({"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"new\n"}},
        "spec":{"replicas":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],
        "containers":[{"$setElementOrder/env":[{"name":"A"},{"name":"C"}],
        "env":[{"name":"C","value":"3"},{"$patch":"delete","name":"B"}],
        "image":"nginx:1.26","name":"nginx"}]}}}});
    let out = strategic_merge(&live, &patch, deployment()).unwrap();
    assert_eq!(
        out,
        json!({
            "metadata": {"name": "demo", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new\n"}},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.26", "imagePullPolicy": "IfNotPresent",
                 "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]}
            ]}}}
        })
    );
}

#[test]
fn container_ports_merge_by_container_port_and_service_ports_by_port() {
    let pod = schema_for("", "v1", "Pod").unwrap();
    let live = json!({"spec": {"containers": [{"name": "c", "ports": [
        {"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}]}]}});
    let patch = json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 443, "hostPort": 8443}]}]}});
    let out = strategic_merge(&live, &patch, pod).unwrap();
    assert_eq!(
        out["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https", "hostPort": 8443}])
    );

    let svc = schema_for("", "v1", "Service").unwrap();
    let live = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let patch = json!({"spec": {"ports": [{"port": 80, "$patch": "delete"}]}});
    let out = strategic_merge(&live, &patch, svc).unwrap();
    assert_eq!(out["spec"]["ports"], json!([{"port": 443}]));
}

#[test]
fn deployment_strategy_retain_keys_drops_rolling_update_when_switching_to_recreate() {
    let live = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = strategic_merge(&live, &patch, deployment()).unwrap();
    assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
}

#[test]
fn volumes_merge_by_name_and_retain_keys_switches_the_source() {
    let pod = schema_for("", "v1", "Pod").unwrap();
    let live = json!({"spec": {"volumes": [
        {"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]}});
    let patch = json!({"spec": {"volumes": [{"$retainKeys": ["hostPath", "name"], "name": "data", "hostPath": {"path": "/d"}}]}});
    let out = strategic_merge(&live, &patch, pod).unwrap();
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "data", "hostPath": {"path": "/d"}}, {"name": "cfg", "configMap": {"name": "c"}}])
    );
}

#[test]
fn finalizers_are_a_merged_set_and_delete_from_primitive_list_removes() {
    let cm = schema_for("", "v1", "ConfigMap").unwrap();
    let live = json!({"metadata": {"finalizers": ["a", "b"]}});
    let out = strategic_merge(&live, &json!({"metadata": {"finalizers": ["b", "c"]}}), cm).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let patch =
        json!({"metadata": {"$setElementOrder/finalizers": ["a", "c"], "$deleteFromPrimitiveList/finalizers": ["b"]}});
    let out = strategic_merge(&out, &patch, cm).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
}

#[test]
fn tolerations_and_taints_have_no_merge_key_so_they_are_replaced() {
    let pod = schema_for("", "v1", "Pod").unwrap();
    let live = json!({"spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}});
    let patch = json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}});
    let out = strategic_merge(&live, &patch, pod).unwrap();
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "b", "operator": "Exists"}]));
    let node = schema_for("", "v1", "Node").unwrap();
    assert!(node.field_at("spec.taints").is_none());
}

#[test]
fn cronjob_reaches_the_pod_template_through_the_job_template() {
    let cj = schema_for("batch", "v1", "CronJob").unwrap();
    let live = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}]}]}}}}}});
    let patch = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "K", "value": "2"}]}]}}}}}});
    let out = strategic_merge(&live, &patch, cj).unwrap();
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "x", "env": [{"name": "K", "value": "2"}]}])
    );
}

#[test]
fn pdb_selector_is_replaced_not_merged() {
    let pdb = schema_for("policy", "v1", "PodDisruptionBudget").unwrap();
    let live = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}});
    let patch = json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}});
    let out = strategic_merge(&live, &patch, pdb).unwrap();
    assert_eq!(out["spec"]["selector"], json!({"matchLabels": {"b": "2"}}));
}

// ---- upstream's documented behaviours ----

#[test]
fn maps_merge_recursively_and_null_deletes() {
    let out = apply(
        json!({"name": 1, "value": 1, "simpleMap": {"key1": 1, "key2": 1}}),
        json!({"name": null, "other": "a", "simpleMap": {"key2": null, "key3": 3}}),
    );
    assert_eq!(
        out,
        json!({"value": 1, "simpleMap": {"key1": 1, "key3": 3}, "other": "a"})
    );
    // A null for a key that is not there is simply ignored.
    assert_eq!(apply(json!({"name": 1}), json!({"value": null})), json!({"name": 1}));
}

#[test]
fn non_merging_lists_are_replaced_whole() {
    let out = apply(
        json!({"nonMergingIntList": [1, 2], "nonMergingList": [{"name": 1, "value": 1}]}),
        json!({"nonMergingIntList": [2, 3], "nonMergingList": [{"name": 1}]}),
    );
    assert_eq!(
        out,
        json!({"nonMergingIntList": [2, 3], "nonMergingList": [{"name": 1}]})
    );
    assert_eq!(
        apply(
            json!({"nonMergingList": [{"name": 1}]}),
            json!({"nonMergingList": null})
        ),
        json!({})
    );
}

#[test]
fn merging_list_merges_items_by_key() {
    let out = apply(
        json!({"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2}]}),
        json!({"mergingList": [{"name": 1, "value": "x", "other": null}]}),
    );
    assert_eq!(
        out,
        json!({"mergingList": [{"name": 1, "value": "x"}, {"name": 2, "value": 2}]})
    );
}

#[test]
fn new_items_go_before_the_server_only_ones_unless_an_order_is_set() {
    // Upstream places a patched item the original list does not have before the items only
    // the server has; kubectl always sends $setElementOrder with a new item to avoid that.
    let out = apply(
        json!({"mergingList": [{"name": 1}, {"name": 2}]}),
        json!({"mergingList": [{"name": 3}]}),
    );
    assert_eq!(out, json!({"mergingList": [{"name": 3}, {"name": 1}, {"name": 2}]}));
    let out = apply(
        json!({"mergingList": [{"name": 1}, {"name": 2}]}),
        json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], "mergingList": [{"name": 3}]}),
    );
    assert_eq!(out, json!({"mergingList": [{"name": 1}, {"name": 2}, {"name": 3}]}));
}

#[test]
fn patched_items_keep_their_place_among_server_only_items() {
    let out = apply(
        json!({"mergingList": [{"name": 1}, {"name": 2}, {"name": 3}]}),
        json!({"mergingList": [{"name": 2, "value": 2}]}),
    );
    assert_eq!(
        out,
        json!({"mergingList": [{"name": 1}, {"name": 2, "value": 2}, {"name": 3}]})
    );
}

#[test]
fn delete_directive_removes_items_by_key_even_missing_ones() {
    let out = apply(
        json!({"mergingList": [{"name": 1}, {"name": 2}, {"name": 1, "dup": true}]}),
        json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 9, "$patch": "delete"}]}),
    );
    assert_eq!(out, json!({"mergingList": [{"name": 2}]}));
    let out = apply(
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": [{"name": 1, "$patch": "delete"}]}),
    );
    assert_eq!(out, json!({"mergingList": []}));
}

#[test]
fn add_and_delete_in_one_merging_list() {
    let out = apply(
        json!({"mergingList": [{"name": 1}, {"name": 2}]}),
        json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
               "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]}),
    );
    assert_eq!(out, json!({"mergingList": [{"name": 2}, {"name": 3}]}));
}

#[test]
fn replace_directive_in_a_list_makes_the_other_items_the_list() {
    let out = apply(
        json!({"mergingList": [{"name": 1, "value": 1}, {"name": 2}]}),
        json!({"mergingList": [{"name": 3}, {"$patch": "replace"}, {"name": 1}]}),
    );
    assert_eq!(out, json!({"mergingList": [{"name": 3}, {"name": 1}]}));
}

#[test]
fn replace_and_delete_directives_on_maps() {
    let out = apply(
        json!({"simpleMap": {"a": 1, "b": 2}, "name": "n"}),
        json!({"simpleMap": {"$patch": "replace", "c": 3}}),
    );
    assert_eq!(out, json!({"simpleMap": {"c": 3}, "name": "n"}));
    // Upstream answers an empty map for a deleted map that exists, and nothing for one that doesn't.
    let out = apply(
        json!({"simpleMap": {"a": 1}, "name": "n"}),
        json!({"simpleMap": {"$patch": "delete"}, "other": {"$patch": "delete"}}),
    );
    assert_eq!(out, json!({"simpleMap": {}, "name": "n"}));
    // A whole-object replace.
    assert_eq!(
        apply(json!({"a": 1}), json!({"$patch": "replace", "b": 2})),
        json!({"b": 2})
    );
}

#[test]
fn replace_strategy_field_is_replaced_whole() {
    let out = apply(
        json!({"replacingItem": {"a": 1, "b": {"c": 2}}}),
        json!({"replacingItem": {"b": {"d": 3}}}),
    );
    assert_eq!(out, json!({"replacingItem": {"b": {"d": 3}}}));
}

#[test]
fn primitive_merge_lists_are_unions_in_order() {
    let out = apply(json!({"mergingIntList": [1, 2]}), json!({"mergingIntList": [2, 3]}));
    assert_eq!(out, json!({"mergingIntList": [1, 2, 3]}));
    let out = apply(json!({"mergingIntList": [1, 2, 2]}), json!({"mergingIntList": [3, 3]}));
    assert_eq!(out, json!({"mergingIntList": [3, 1, 2]}));
}

#[test]
fn delete_from_primitive_list_removes_every_copy_and_adds_nothing() {
    let out = apply(
        json!({"mergingIntList": [1, 2, 2, 3]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [2, 4]}),
    );
    assert_eq!(out, json!({"mergingIntList": [1, 3]}));
    // Also on a list without a merge strategy, and never creating the list.
    let out = apply(
        json!({"nonMergingIntList": [1, 2]}),
        json!({"$deleteFromPrimitiveList/nonMergingIntList": [1]}),
    );
    assert_eq!(out, json!({"nonMergingIntList": [2]}));
    let out = apply(
        json!({"foo": ["bar"]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
    );
    assert_eq!(out, json!({"foo": ["bar"]}));
    // Adding and deleting in one patch.
    let out = apply(
        json!({"mergingIntList": [1, 2]}),
        json!({"$setElementOrder/mergingIntList": [1, 3], "mergingIntList": [3], "$deleteFromPrimitiveList/mergingIntList": [2]}),
    );
    assert_eq!(out, json!({"mergingIntList": [1, 3]}));
}

#[test]
fn set_element_order_places_server_only_items_among_ordered_ones() {
    let out = apply(
        json!({"mergingList": [{"name": 1}, {"name": 4, "v": 4}, {"name": 2}, {"name": 3}]}),
        json!({"$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}], "mergingList": [{"name": 2, "value": 2}]}),
    );
    assert_eq!(
        out,
        json!({"mergingList": [{"name": 4, "v": 4}, {"name": 3}, {"name": 2, "value": 2}, {"name": 1}]})
    );
    let out = apply(
        json!({"mergingIntList": [1, 3, 2]}),
        json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
    );
    assert_eq!(out, json!({"mergingIntList": [3, 2, 1]}));
}

#[test]
fn set_element_order_after_a_delete_and_an_add_keeps_server_items_where_the_deleted_one_was() {
    // Upstream orders server-only items against the original array as its in-place delete and
    // append left it: "web" takes the freed slot, so the server's "log" stays before it.
    let out = apply(
        json!({"mergingList": [{"name": "old"}, {"name": "app", "v": 1}, {"name": "log", "v": 2}]}),
        json!({"$setElementOrder/mergingList": [{"name": "app"}, {"name": "web"}],
               "mergingList": [{"name": "web"}, {"name": "old", "$patch": "delete"}]}),
    );
    assert_eq!(
        out,
        json!({"mergingList": [{"name": "app", "v": 1}, {"name": "log", "v": 2}, {"name": "web"}]})
    );
    // Without the server-only item nothing moves.
    let out = apply(
        json!({"mergingList": [{"name": "old"}, {"name": "app"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "app"}, {"name": "web"}],
               "mergingList": [{"name": "web"}, {"name": "old", "$patch": "delete"}]}),
    );
    assert_eq!(out, json!({"mergingList": [{"name": "app"}, {"name": "web"}]}));
}

#[test]
fn set_element_order_that_contradicts_the_patch_list_is_refused() {
    let err = apply_err(
        json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]}),
        json!({"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
               "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
    );
    assert!(err.to_string().contains("doesn't match $setElementOrder list"), "{err}");
    assert_eq!(err.code(), 422);
}

#[test]
fn nested_merging_lists_merge_at_every_level() {
    let out = apply(
        json!({"mergingList": [{"name": 1, "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]}, {"name": 2}]}),
        json!({"mergingList": [{"name": 1, "mergingList": [{"name": 2, "value": null, "other": "b"}, {"name": 1, "$patch": "delete"}]}]}),
    );
    assert_eq!(
        out,
        json!({"mergingList": [{"name": 1, "mergingList": [{"name": 2, "other": "b"}]}, {"name": 2}]})
    );
}

#[test]
fn merging_list_nested_in_an_atomic_list_is_replaced_with_it() {
    let out = apply(
        json!({"nonMergingList": [{"name": 1, "mergingList": [{"name": 1}]}]}),
        json!({"nonMergingList": [{"name": 1, "mergingList": [{"name": 2}]}]}),
    );
    assert_eq!(
        out,
        json!({"nonMergingList": [{"name": 1, "mergingList": [{"name": 2}]}]})
    );
}

#[test]
fn retain_keys_clears_unlisted_fields_after_merging() {
    let out = apply(
        json!({"retainKeysMap": {"name": "foo", "value": "bar", "other": "x"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "baz"}}),
    );
    assert_eq!(out, json!({"retainKeysMap": {"name": "foo", "value": "baz"}}));
    let out = apply(
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2]}}),
        json!({"retainKeysMap": {"$retainKeys": ["mergingIntList", "name"], "mergingIntList": [3]}}),
    );
    assert_eq!(
        out,
        json!({"retainKeysMap": {"name": "foo", "mergingIntList": [3, 1, 2]}})
    );
    let out = apply(
        json!({"retainKeysMergingList": [{"name": 1, "value": 1, "other": "a"}]}),
        json!({"retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": 1, "value": 2}]}),
    );
    assert_eq!(out, json!({"retainKeysMergingList": [{"name": 1, "value": 2}]}));
}

#[test]
fn retain_keys_must_list_every_patched_field() {
    let err = apply_err(
        json!({"retainKeysMap": {"name": "foo"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "v"}}),
    );
    assert_eq!(err, PatchError::BadRetainKeys);
    assert_eq!(err.to_string(), "invalid patch format of retainKeys");
    assert_eq!(err.code(), 400);
}

#[test]
fn new_values_carry_no_directives() {
    let out = apply(
        json!({"name": "n"}),
        json!({"mergingList": [{"name": 1, "$setElementOrder/mergingList": [{"name": 5}], "mergingList": [{"name": 5}],
                                "gone": {"$patch": "delete"}, "nul": null},
                               {"name": 2, "$patch": "delete"}],
               "simpleMap": {"$patch": "replace", "k": "v", "$retainKeys": ["k"]}}),
    );
    assert_eq!(
        out,
        json!({"name": "n", "mergingList": [{"name": 1, "mergingList": [{"name": 5}]}], "simpleMap": {"k": "v"}})
    );
    assert_no_directives(&out);
    // Appended items and atomic replacements are cleaned too.
    let out = apply(
        json!({"mergingList": [{"name": 1}], "nonMergingList": [{"name": 1}]}),
        json!({"mergingList": [{"name": 2, "mergingList": [{"name": 3, "$patch": "delete"}], "x": {"$retainKeys": []}}],
               "nonMergingList": [{"name": 2, "$patch": "delete"}, {"name": 3}]}),
    );
    assert_eq!(
        out,
        json!({"mergingList": [{"name": 2, "mergingList": [], "x": {}}, {"name": 1}], "nonMergingList": [{"name": 3}]})
    );
    assert_no_directives(&out);
}

#[test]
fn numbers_match_merge_keys_whatever_their_spelling() {
    let out = apply(
        json!({"mergingList": [{"name": 1, "v": 1}]}),
        json!({"mergingList": [{"name": 1.0, "v": 2}]}),
    );
    assert_eq!(out["mergingList"].as_array().unwrap().len(), 1);
    assert_eq!(out["mergingList"][0]["v"], 2);
}

#[test]
fn a_null_patch_changes_nothing_and_a_non_object_is_refused() {
    let original = json!({"a": 1});
    assert_eq!(strategic_merge(&original, &Value::Null, &ITEM).unwrap(), original);
    let err = strategic_merge(&original, &json!([1]), &ITEM).unwrap_err();
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(err.code(), 400);
    let err = strategic_merge(&original, &json!("x"), &ITEM).unwrap_err();
    assert_eq!(err, PatchError::NotAnObject("string"));
}

// ---- errors, with upstream's words ----

#[test]
fn an_item_without_its_merge_key_is_refused() {
    let err = apply_err(
        json!({"mergingList": [{"name": 1, "value": "a"}]}),
        json!({"mergingList": [{"value": "b"}]}),
    );
    assert_eq!(
        err.to_string(),
        "map: map[value:b] does not contain declared merge key: name"
    );
    assert_eq!(err.code(), 422);

    let pod = schema_for("", "v1", "Pod").unwrap();
    let live = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
    let patch = json!({"spec": {"containers": [{"image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}});
    let err = strategic_merge(&live, &patch, pod).unwrap_err();
    assert_eq!(
        err.to_string(),
        "map: map[image:nginx:1.25 ports:[map[containerPort:80]]] does not contain declared merge key: name"
    );
    let err = apply_err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": [{"$patch": "delete", "value": 1}]}),
    );
    assert_eq!(
        err.to_string(),
        "map: map[$patch:delete value:1] does not contain declared merge key: name"
    );
}

#[test]
fn unknown_patch_directives_are_refused() {
    let err = apply_err(
        json!({"simpleMap": {"a": 1}}),
        json!({"simpleMap": {"$patch": "frobnicate"}}),
    );
    assert_eq!(
        err.to_string(),
        "unknown patch type: frobnicate in map: map[$patch:frobnicate]"
    );
    let err = apply_err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": [{"name": 1, "$patch": 7}]}),
    );
    assert_eq!(
        err.to_string(),
        "unknown patch type: %!s(float64=7) in map: map[$patch:7 name:1]"
    );
    let err = apply_err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": [{"$patch": "merge"}]}),
    );
    assert_eq!(err, PatchError::MergeDirectiveInList);
}

#[test]
fn malformed_directives_are_bad_requests() {
    let err = apply_err(json!({"mergingIntList": [1]}), json!({"$deleteFromPrimitiveList": [1]}));
    assert_eq!(err.to_string(), "invalid patch format of primitive list");
    assert_eq!(err.code(), 400);
    let err = apply_err(json!({}), json!({"$setElementOrderX/mergingList": []}));
    assert_eq!(err.to_string(), "invalid patch format of setElementOrder list");
    let err = apply_err(
        json!({"retainKeysMap": {}}),
        json!({"retainKeysMap": {"$retainKeys": "name"}}),
    );
    assert_eq!(err, PatchError::BadRetainKeys);
    let err = apply_err(json!({}), json!({"$setElementOrder/mergingList": {"name": 1}}));
    assert_eq!(
        err.to_string(),
        "expected a []interface {}, but received a map[string]interface {}"
    );
}

#[test]
fn lists_of_lists_and_mixed_lists_are_refused() {
    let err = apply_err(json!({"mergingIntList": [[1]]}), json!({"mergingIntList": [[2]]}));
    assert_eq!(err.to_string(), "lists of lists are not supported");
    assert_eq!(err.code(), 422);
    let err = apply_err(json!({"mergingIntList": [1]}), json!({"mergingIntList": ["a"]}));
    assert_eq!(err.to_string(), "list element types are not identical: [[1] [a]]");
}

#[test]
fn go_formatting_of_numbers_matches_fmt_v() {
    use super::strategic::go_fmt;
    for (v, s) in [
        (json!(80), "80"),
        (json!(0.5), "0.5"),
        (json!(100000), "100000"),
        (json!(1000000), "1e+06"),
        (json!(1234567), "1.234567e+06"),
        (json!(0.0001), "0.0001"),
        (json!(0.00001), "1e-05"),
        (json!(-2.5), "-2.5"),
        (
            json!({"b": [1, "x"], "a": null, "c": true}),
            "map[a:<nil> b:[1 x] c:true]",
        ),
    ] {
        assert_eq!(go_fmt(&v), s);
    }
}

// ---- SMP without lists is JSON merge patch ----

#[test]
fn without_lists_or_directives_it_is_a_json_merge_patch() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    fn doc(rng: &mut StdRng, depth: u32, nulls: bool) -> Value {
        let mut m = serde_json::Map::new();
        for _ in 0..rng.random_range(0..5) {
            let key = ["a", "b", "c", "d", "e"][rng.random_range(0..5)].to_string();
            let v = match rng.random_range(0..6) {
                0 if depth < 3 => doc(rng, depth + 1, nulls),
                1 if nulls => Value::Null,
                2 => json!(rng.random_range(0..3)),
                3 => json!(rng.random_bool(0.5)),
                4 if depth < 3 => doc(rng, depth + 1, nulls),
                _ => json!(["x", "y", "z"][rng.random_range(0..3)]),
            };
            m.insert(key, v);
        }
        Value::Object(m)
    }
    let mut rng = StdRng::seed_from_u64(33);
    for _ in 0..2000 {
        let original = doc(&mut rng, 0, false);
        let patch = doc(&mut rng, 0, true);
        let mut expected = original.clone();
        json_patch::merge(&mut expected, &patch);
        let got = strategic_merge(&original, &patch, &Schema::UNKNOWN).unwrap();
        assert_eq!(got, expected, "original {original} patch {patch}");
        // A kind whose top level has no lists behaves the same (ConfigMap: data, labels, ...).
        let cm = schema_for("", "v1", "ConfigMap").unwrap();
        assert_eq!(strategic_merge(&original, &patch, cm).unwrap(), expected);
    }
}

#[test]
fn random_patches_never_panic_and_never_leave_directives() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    const KEYS: &[&str] = &[
        "name",
        "value",
        "mergingList",
        "mergingIntList",
        "nonMergingList",
        "retainKeysMap",
        "replacingItem",
        "$patch",
        "$retainKeys",
        "$setElementOrder/mergingList",
        "$deleteFromPrimitiveList/mergingIntList",
        "$setElementOrder/mergingIntList",
        "$setElementOrder",
        "spec",
        "containers",
        "env",
        "$setElementOrder/containers",
    ];
    fn value(rng: &mut StdRng, depth: u32) -> Value {
        match rng.random_range(0..10) {
            0 | 1 if depth < 4 => {
                let mut m = serde_json::Map::new();
                for _ in 0..rng.random_range(0..4) {
                    m.insert(KEYS[rng.random_range(0..KEYS.len())].to_string(), value(rng, depth + 1));
                }
                Value::Object(m)
            }
            2 | 3 if depth < 4 => Value::Array((0..rng.random_range(0..4)).map(|_| value(rng, depth + 1)).collect()),
            4 => Value::Null,
            5 => json!(["delete", "replace", "merge", "x"][rng.random_range(0..4)]),
            6 => json!(rng.random_range(0..3)),
            7 => json!(rng.random_bool(0.5)),
            _ => json!(["a", "b", "name"][rng.random_range(0..3)]),
        }
    }
    let pod = schema_for("", "v1", "Pod").unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..20000 {
        let original = value(&mut rng, 0);
        let patch = value(&mut rng, 0);
        for schema in [&ITEM, pod, &Schema::UNKNOWN] {
            if let Ok(out) = strategic_merge(&original, &patch, schema) {
                let clean_original = !original.to_string().contains('$');
                if clean_original {
                    assert_no_directives(&out);
                }
            }
        }
    }
}

#[test]
fn unknown_kinds_treat_every_list_as_atomic() {
    let original = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
    let patch = json!({"spec": {"containers": [{"name": "b"}]}});
    let out = strategic_merge(&original, &patch, &Schema::UNKNOWN).unwrap();
    assert_eq!(out, patch);
}

// ---- the table ----

#[test]
fn every_served_kind_has_a_schema() {
    for def in crate::registry::all() {
        let schema = schema_for(def.group, def.version, def.kind);
        assert!(
            schema.is_some(),
            "no patch schema for {}/{} {}",
            def.group,
            def.version,
            def.kind
        );
        let meta = schema.unwrap().field("metadata").and_then(|f| f.child).unwrap();
        assert_eq!(meta.field("ownerReferences").unwrap().merge_key, Some("uid"));
        assert_eq!(meta.field("finalizers").unwrap().patch_strategy(), Some("merge"));
        let patchable = ["status", "scale", "resize", "ephemeralcontainers"];
        for sub in def.subresources.iter().filter(|s| patchable.contains(&s.name)) {
            assert!(
                schema_for(sub.group, sub.version, sub.kind).is_some(),
                "{} {}",
                def.qualified(),
                sub.name
            );
        }
    }
    assert!(schema_for("autoscaling", "v1", "Scale").is_some());
    assert!(schema_for("example.com", "v1", "Widget").is_none());
}

#[test]
fn the_table_holds_upstreams_merge_keys() {
    let pod = schema_for("", "v1", "Pod").unwrap();
    let key = |path: &str| pod.field_at(path).and_then(|f| f.merge_key);
    assert_eq!(key("spec.containers"), Some("name"));
    assert_eq!(key("spec.initContainers"), Some("name"));
    assert_eq!(key("spec.ephemeralContainers"), Some("name"));
    assert_eq!(key("spec.containers.env"), Some("name"));
    assert_eq!(key("spec.containers.ports"), Some("containerPort"));
    assert_eq!(key("spec.containers.volumeMounts"), Some("mountPath"));
    assert_eq!(key("spec.containers.volumeDevices"), Some("devicePath"));
    assert_eq!(key("spec.ephemeralContainers.env"), Some("name"));
    assert_eq!(key("spec.imagePullSecrets"), Some("name"));
    assert_eq!(key("spec.hostAliases"), Some("ip"));
    assert_eq!(key("spec.topologySpreadConstraints"), Some("topologyKey"));
    assert_eq!(key("spec.schedulingGates"), Some("name"));
    assert_eq!(key("spec.resourceClaims"), Some("name"));
    assert_eq!(key("status.conditions"), Some("type"));
    assert_eq!(key("status.podIPs"), Some("ip"));
    assert_eq!(key("metadata.ownerReferences"), Some("uid"));
    assert_eq!(
        pod.field_at("spec.volumes").unwrap().patch_strategy(),
        Some("merge,retainKeys")
    );
    assert_eq!(pod.field_at("spec.volumes").unwrap().merge_key, Some("name"));
    // No strategy: atomic.
    for path in [
        "spec.tolerations",
        "spec.readinessGates",
        "spec.containers.envFrom",
        "spec.containers.command",
        "status.containerStatuses",
        "spec.affinity",
    ] {
        assert!(pod.field_at(path).is_none(), "{path}");
    }

    let deploy = deployment();
    assert_eq!(
        deploy.field_at("spec.template.spec.containers.env").unwrap().merge_key,
        Some("name")
    );
    assert_eq!(
        deploy.field_at("spec.strategy").unwrap().patch_strategy(),
        Some("retainKeys")
    );
    assert_eq!(deploy.field_at("status.conditions").unwrap().merge_key, Some("type"));
    let node = schema_for("", "v1", "Node").unwrap();
    assert_eq!(node.field_at("status.addresses").unwrap().merge_key, Some("type"));
    assert_eq!(node.field_at("status.conditions").unwrap().merge_key, Some("type"));
    assert_eq!(node.field_at("spec.podCIDRs").unwrap().patch_strategy(), Some("merge"));
    assert_eq!(node.field_at("spec.podCIDRs").unwrap().merge_key, None);
    let svc = schema_for("", "v1", "Service").unwrap();
    assert_eq!(svc.field_at("spec.ports").unwrap().merge_key, Some("port"));
    let sa = schema_for("", "v1", "ServiceAccount").unwrap();
    assert_eq!(sa.field_at("secrets").unwrap().merge_key, Some("name"));
    let pdb = schema_for("policy", "v1", "PodDisruptionBudget").unwrap();
    assert_eq!(pdb.field_at("spec.selector").unwrap().patch_strategy(), Some("replace"));
    for (g, k) in [
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
    ] {
        let s = schema_for(g, "v1", k).unwrap();
        assert_eq!(
            s.field_at("spec.template.spec.containers").unwrap().merge_key,
            Some("name"),
            "{k}"
        );
    }
    assert!(schema_for("", "v1", "PodTemplate")
        .unwrap()
        .field_at("template.spec.volumes")
        .is_some());
    assert!(schema_for("", "v1", "ReplicationController")
        .unwrap()
        .field_at("spec.template.spec.containers")
        .is_some());
    // PodSpec is one node shared by every kind that embeds it.
    let a = deploy.field_at("spec.template.spec").unwrap().child.unwrap();
    let b = pod.field("spec").unwrap().child.unwrap();
    assert!(std::ptr::eq(a, b));
}
