//! Object names, generateName and label keys/values, checked with Kubernetes' own rules and
//! worded with its exact messages (k8s.io/apimachinery util/validation and api/validation).
//! Pure functions: the registry and the selector parser call them.

use rand::Rng;

use super::{FieldError, NameRule};

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_LABEL_MAX: usize = 63;

const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MAX: usize = 253;

const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const DNS1035_LABEL_MAX: usize = 63;

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_MAX: usize = 63;

const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MAX: usize = 63;

/// Longest generateName base kept before the random suffix (upstream's
/// `MaxGeneratedNameLength = 63 - 5`).
pub const MAX_GENERATED_NAME_LENGTH: usize = 63 - RANDOM_LENGTH;
const RANDOM_LENGTH: usize = 5;
/// k8s.io/apimachinery/pkg/util/rand: no vowels, no look-alikes.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The messages Kubernetes gives for an invalid object name under `rule`; empty when valid.
pub fn validate(rule: NameRule, name: &str) -> Vec<String> {
    match rule {
        NameRule::Subdomain => is_dns1123_subdomain(name),
        NameRule::Label => is_dns1123_label(name),
        NameRule::Label1035 => is_dns1035_label(name),
        NameRule::PathSegment => is_valid_path_segment_name(name),
    }
}

/// The messages for a `metadata.generateName` prefix: as `validate`, but a trailing '-' is
/// allowed (upstream's maskTrailingDash, including its habit of dropping two characters).
pub fn validate_prefix(rule: NameRule, prefix: &str) -> Vec<String> {
    match rule {
        NameRule::PathSegment => {
            ["/", "%"].iter().filter(|c| prefix.contains(*c)).map(|c| format!("may not contain '{c}'")).collect()
        }
        _ => {
            let masked;
            let name = if prefix.len() > 1 && prefix.ends_with('-') {
                // Upstream: name[:len(name)-2] + "a".
                let cut = floor_char_boundary(prefix, prefix.len() - 2);
                masked = format!("{}a", &prefix[..cut]);
                masked.as_str()
            } else {
                prefix
            };
            validate(rule, name)
        }
    }
}

/// The error detail of an invalid name, as a FieldError message: `Invalid value: "Foo_x": <msg>`,
/// several messages joined with "; " as Kubernetes does inside one field error.
pub fn invalid_message(value: &str, msgs: &[String]) -> String {
    invalid_body(value, &msgs.join("; "))
}

/// `Invalid value: "<value>": <detail>` — a field error's body (field.Error.ErrorBody).
pub fn invalid_body(value: &str, detail: &str) -> String {
    if detail.is_empty() {
        format!("Invalid value: {}", quote(value))
    } else {
        format!("Invalid value: {}: {}", quote(value), detail)
    }
}

/// `<field>: Invalid value: "<value>": <msg>` for each message, aggregated as Kubernetes
/// prints a field.ErrorList (one error alone, several as `[e1, e2]`, duplicates dropped).
pub fn invalid_field_message(field: &str, value: &str, msgs: &[String]) -> String {
    let errs: Vec<String> = msgs.iter().map(|m| format!("{field}: {}", invalid_body(value, m))).collect();
    aggregate(&errs)
}

/// One `FieldValueInvalid` error per message, as ValidateObjectMeta reports `metadata.name`.
pub fn name_errors(rule: NameRule, name: &str) -> Vec<FieldError> {
    validate(rule, name)
        .iter()
        .map(|m| FieldError {
            field: "metadata.name".into(),
            reason: "FieldValueInvalid",
            message: invalid_body(name, m),
        })
        .collect()
}

/// As `name_errors`, for `metadata.generateName`.
pub fn generate_name_errors(rule: NameRule, prefix: &str) -> Vec<FieldError> {
    validate_prefix(rule, prefix)
        .iter()
        .map(|m| FieldError {
            field: "metadata.generateName".into(),
            reason: "FieldValueInvalid",
            message: invalid_body(prefix, m),
        })
        .collect()
}

/// metav1 ValidateLabels: each bad key and each bad value is its own error at `field`
/// ("metadata.labels", "spec.selector.matchLabels"), in key order.
pub fn label_errors(labels: &serde_json::Map<String, serde_json::Value>, field: &str) -> Vec<FieldError> {
    let mut keys: Vec<&String> = labels.keys().collect();
    keys.sort();
    let mut errs = Vec::new();
    for k in keys {
        for m in validate_label_key(k) {
            errs.push(FieldError {
                field: field.to_string(),
                reason: "FieldValueInvalid",
                message: invalid_body(k, &m),
            });
        }
        if let Some(v) = labels[k].as_str() {
            for m in validate_label_value(v) {
                errs.push(FieldError {
                    field: field.to_string(),
                    reason: "FieldValueInvalid",
                    message: invalid_body(v, &m),
                });
            }
        }
    }
    errs
}

/// `base` (cut to 58 bytes) followed by 5 random characters, as SimpleNameGenerator does.
pub fn generate_name(base: &str) -> String {
    let cut = floor_char_boundary(base, base.len().min(MAX_GENERATED_NAME_LENGTH));
    let mut rng = rand::rng();
    let mut out = String::with_capacity(cut + RANDOM_LENGTH);
    out.push_str(&base[..cut]);
    for _ in 0..RANDOM_LENGTH {
        out.push(ALPHANUMS[rng.random_range(0..ALPHANUMS.len())] as char);
    }
    out
}

/// IsQualifiedName: a label (or annotation) key, `[prefix/]name`.
pub fn validate_label_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(is_dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX {
        errs.push(format!("name part {}", max_len_error(QUALIFIED_NAME_MAX)));
    }
    if !is_qualified_name_part(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// IsValidLabelValue.
pub fn validate_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX {
        errs.push(max_len_error(LABEL_VALUE_MAX));
    }
    if !(value.is_empty() || is_qualified_name_part(value)) {
        errs.push(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// IsDNS1123Label.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_error(DNS1123_LABEL_MAX));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

/// IsDNS1123Subdomain.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// IsDNS1035Label.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX {
        errs.push(max_len_error(DNS1035_LABEL_MAX));
    }
    let b = value.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b[b.len() - 1] != b'-';
    if !ok {
        errs.push(regex_error(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, &["my-name", "abc-123"]));
    }
    errs
}

/// IsValidPathSegmentName.
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    for bad in [".", ".."] {
        if name == bad {
            return vec![format!("may not be '{bad}'")];
        }
    }
    ["/", "%"].iter().filter(|c| name.contains(*c)).map(|c| format!("may not contain '{c}'")).collect()
}

/// `must be no more than N characters`.
pub fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// Upstream RegexError, including its odd "',  or '" spacing between examples.
pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(e);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

/// Go's `%q` / strconv.Quote, as field errors print bad values.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// utilerrors.NewAggregate(...).Error(): one error as is, several as `[a, b]` without repeats.
pub fn aggregate(errs: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for e in errs {
        if !seen.contains(&e.as_str()) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen[0].to_string(),
        _ => format!("[{}]", seen.join(", ")),
    }
}

fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const LABEL1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

    #[test]
    fn subdomain_names() {
        for ok in ["a", "web", "web-1", "a.b.c", "1abc", "0", "my.example-name.com"] {
            assert!(validate(NameRule::Subdomain, ok).is_empty(), "{ok}");
        }
        for bad in ["", "Foo", "foo_x", "-a", "a-", "a..b", ".a", "a.", "a.-b", "é"] {
            assert_eq!(validate(NameRule::Subdomain, bad), vec![SUBDOMAIN_MSG.to_string()], "{bad}");
        }
        let long = "a".repeat(254);
        assert_eq!(validate(NameRule::Subdomain, &long), vec!["must be no more than 253 characters".to_string()]);
        assert!(validate(NameRule::Subdomain, &"a".repeat(253)).is_empty());
        let long_bad = format!("{}_", "a".repeat(253));
        assert_eq!(validate(NameRule::Subdomain, &long_bad).len(), 2);
    }

    #[test]
    fn label_names() {
        assert!(validate(NameRule::Label, "kube-system").is_empty());
        assert!(validate(NameRule::Label, "123").is_empty());
        assert_eq!(validate(NameRule::Label, "a.b"), vec!["must not contain dots".to_string()]);
        assert_eq!(validate(NameRule::Label, "Default"), vec![LABEL_MSG.to_string()]);
        assert_eq!(validate(NameRule::Label, "a_b.c"), vec![LABEL_MSG.to_string()]);
        assert_eq!(validate(NameRule::Label, &"a".repeat(64)), vec!["must be no more than 63 characters".to_string()]);
    }

    #[test]
    fn label1035_names() {
        assert!(validate(NameRule::Label1035, "my-svc").is_empty());
        assert!(validate(NameRule::Label1035, "a1").is_empty());
        for bad in ["1abc", "-a", "a-", "My", "a.b", ""] {
            assert_eq!(validate(NameRule::Label1035, bad), vec![LABEL1035_MSG.to_string()], "{bad}");
        }
    }

    #[test]
    fn path_segment_names() {
        assert!(validate(NameRule::PathSegment, "system:controller:x").is_empty());
        assert_eq!(validate(NameRule::PathSegment, "."), vec!["may not be '.'"]);
        assert_eq!(validate(NameRule::PathSegment, ".."), vec!["may not be '..'"]);
        assert_eq!(validate(NameRule::PathSegment, "a/b%c"), vec!["may not contain '/'", "may not contain '%'"]);
        assert_eq!(validate(NameRule::PathSegment, "a%"), vec!["may not contain '%'"]);
    }

    #[test]
    fn generate_name_prefixes() {
        assert!(validate_prefix(NameRule::Subdomain, "web-").is_empty());
        assert!(validate_prefix(NameRule::Label1035, "svc-").is_empty());
        assert_eq!(validate_prefix(NameRule::Subdomain, "Web-"), vec![SUBDOMAIN_MSG.to_string()]);
        assert!(validate_prefix(NameRule::PathSegment, "..").is_empty());
        let errs = generate_name_errors(NameRule::Subdomain, "Web-");
        assert_eq!(errs[0].field, "metadata.generateName");
        assert_eq!(errs[0].message, format!("Invalid value: \"Web-\": {SUBDOMAIN_MSG}"));
    }

    #[test]
    fn messages_quote_like_go() {
        assert_eq!(
            invalid_message("Foo_x", &[SUBDOMAIN_MSG.to_string()]),
            format!("Invalid value: \"Foo_x\": {SUBDOMAIN_MSG}")
        );
        assert_eq!(
            invalid_field_message("metadata.name", "Foo_x", &[SUBDOMAIN_MSG.to_string()]),
            format!("metadata.name: Invalid value: \"Foo_x\": {SUBDOMAIN_MSG}")
        );
        assert_eq!(
            invalid_field_message("f", "x", &["a".into(), "b".into(), "a".into()]),
            "[f: Invalid value: \"x\": a, f: Invalid value: \"x\": b]"
        );
        assert_eq!(quote("a\"b\\c\n\t\u{1}é"), "\"a\\\"b\\\\c\\n\\t\\x01é\"");
        assert_eq!(quote("\u{a0}"), "\"\\u00a0\"");
        let errs = name_errors(NameRule::Subdomain, "Foo");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "metadata.name");
        assert_eq!(errs[0].reason, "FieldValueInvalid");
    }

    #[test]
    fn generated_names() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
        assert!(n[4..].bytes().all(|c| ALPHANUMS.contains(&c)));
        let long = "x".repeat(70);
        let n = generate_name(&long);
        assert_eq!(n.len(), 63);
        assert!(n.starts_with(&"x".repeat(58)));
        assert!(validate(NameRule::Subdomain, &generate_name("a-")).is_empty());
        assert_ne!(generate_name("a-"), generate_name("a-"));
    }

    #[test]
    fn label_keys() {
        for ok in ["app", "app.kubernetes.io/name", "A_b.c-d", "example.com/MyName", "1"] {
            assert!(validate_label_key(ok).is_empty(), "{ok}");
        }
        let name_msg = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        assert_eq!(validate_label_key("-app"), vec![name_msg.to_string()]);
        assert_eq!(validate_label_key(""), vec!["name part must be non-empty".to_string(), name_msg.to_string()]);
        assert_eq!(validate_label_key("/app"), vec!["prefix part must be non-empty".to_string()]);
        assert_eq!(validate_label_key("Example.com/app"), vec![format!("prefix part {SUBDOMAIN_MSG}")]);
        assert_eq!(
            validate_label_key("a/b/c"),
            vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
        );
        assert_eq!(
            validate_label_key(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn label_values() {
        for ok in ["", "v1", "my_value", "A.b-c"] {
            assert!(validate_label_value(ok).is_empty(), "{ok}");
        }
        let msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        assert_eq!(validate_label_value("a b"), vec![msg.to_string()]);
        assert_eq!(validate_label_value("-a"), vec![msg.to_string()]);
        assert_eq!(validate_label_value(&"a".repeat(64)), vec!["must be no more than 63 characters".to_string()]);
    }

    #[test]
    fn label_maps() {
        let labels = serde_json::json!({"ok": "v", "bad key": "v", "k": "bad value"});
        let errs = label_errors(labels.as_object().unwrap(), "metadata.labels");
        assert_eq!(errs.len(), 2);
        assert!(errs[0].message.starts_with("Invalid value: \"bad key\": name part must consist"));
        assert!(errs[1].message.starts_with("Invalid value: \"bad value\": a valid label"));
    }
}
