//! Label and field selectors: Kubernetes' grammar, error messages and matching rules
//! (k8s.io/apimachinery pkg/labels and pkg/fields). Parsed once per request or per
//! controller object; matching is pure.

use std::fmt;

use serde_json::{Map, Value};

use super::names::{aggregate, quote, validate_label_key, validate_label_value};

/// A label requirement's operator (selection.Operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

impl Operator {
    /// The operator's spelling in Kubernetes messages ("in", "=", "!", "gt", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// The binary operators, in upstream's order, as listed in "expected: ..." messages.
const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

/// One `key op values` term of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    /// labels.NewRequirement: validates the key, the value count for the operator and each
    /// value, and reports every problem at once in upstream's words.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Requirement, String> {
        let mut errs: Vec<String> = Vec::new();
        let key_errs = validate_label_key(key);
        if !key_errs.is_empty() {
            errs.push(format!("key: Invalid value: {}: {}", quote(key), key_errs.join("; ")));
        }
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: exact-match compatibility requires one single value",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: values set must be empty for exists and does not exist",
                        go_string_slice(&values)
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        go_string_slice(&values)
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(format!(
                            "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                            quote(v)
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = validate_label_value(v);
            if !msgs.is_empty() {
                errs.push(format!("values[{i}][{key}]: Invalid value: {}: {}", quote(v), msgs.join("; ")));
            }
        }
        if errs.is_empty() {
            Ok(Requirement { key: key.to_string(), operator, values })
        } else {
            Err(aggregate(&errs))
        }
    }

    /// Whether `labels` (an object's metadata.labels) satisfy this requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let value = labels.get(&self.key).and_then(Value::as_str);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(have) = value.and_then(|v| v.parse::<i64>().ok()) else { return false };
                let [want] = self.values.as_slice() else { return false };
                let Ok(want) = want.parse::<i64>() else { return false };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut values = self.values.clone();
        values.sort();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: every requirement must hold. `nothing()` (a nil metav1.LabelSelector)
/// matches no object at all; `everything()` (empty) matches every object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Matches every object.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// Matches no object (labels.Nothing()).
    pub fn nothing() -> LabelSelector {
        LabelSelector { requirements: Vec::new(), nothing: true }
    }

    /// labels.Parse: `a=b,c!=d,e in (x,y),f notin (z),g,!h,i>3`.
    pub fn parse(selector: &str) -> Result<LabelSelector, String> {
        let mut requirements = Parser::new(selector).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// metav1.LabelSelectorAsSelector over JSON: `matchLabels` and `matchExpressions`
    /// (In, NotIn, Exists, DoesNotExist). A null or absent selector matches nothing; `{}`
    /// matches everything.
    pub fn from_label_selector_json(selector: &Value) -> Result<LabelSelector, String> {
        let obj = match selector {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => return Err(format!("label selector must be an object, not {other}")),
        };
        let match_labels = match obj.get("matchLabels") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err("matchLabels must be a map of strings".to_string()),
        };
        let expressions = match obj.get("matchExpressions") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err("matchExpressions must be a list".to_string()),
        };
        if match_labels.map_or(0, Map::len) + expressions.len() == 0 {
            return Ok(LabelSelector::everything());
        }
        let mut requirements = Vec::new();
        if let Some(m) = match_labels {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let v = m[k].as_str().ok_or_else(|| format!("matchLabels[{k}] must be a string"))?;
                requirements.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
            }
        }
        for expr in expressions {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
            let op_name = expr.get("operator").and_then(Value::as_str).unwrap_or("");
            let op = match op_name {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(format!("{} is not a valid label selector operator", quote(other))),
            };
            let values = match expr.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(|| "values must be strings".to_string()))
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err("values must be a list of strings".to_string()),
            };
            requirements.push(Requirement::new(key, op, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// labels.SelectorFromSet: every key must equal its value (Service and
    /// ReplicationController selectors). Not validated, as upstream.
    pub fn from_map(labels: &Map<String, Value>) -> LabelSelector {
        let mut requirements: Vec<Requirement> = labels
            .iter()
            .filter_map(|(k, v)| {
                v.as_str().map(|v| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: vec![v.to_string()],
                })
            })
            .collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements, nothing: false }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True when the selector does not restrict anything (matches every object).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for `nothing()`.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether labels (metadata.labels; pass an empty map when absent) satisfy every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// `matches` on an object's metadata.labels (a missing map counts as empty).
    pub fn matches_object(&self, obj: &Value) -> bool {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let labels =
            obj.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        self.matches(labels)
    }

    /// The single value `key` must have (`key=v`, `key==v` or `key in (v)`), if any.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [v]) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// `%#v` of a []string, as field errors print a bad values list. An empty list prints as
/// Go's nil slice: LabelSelectorAsSelector's `append([]string(nil), values...)` yields nil.
fn go_string_slice(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_string();
    }
    let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
    format!("[]string{{{}}}", items.join(", "))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn literal_token(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Upstream's byte lexer; a NUL byte ends the input, as in Go.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        if self.pos < self.s.len() {
            self.pos += 1;
            self.s[self.pos - 1]
        } else {
            0
        }
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special(ch) {
            self.scan_special()
        } else {
            self.scan_id_or_keyword()
        }
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let start = self.pos;
        let mut end;
        loop {
            end = self.pos;
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
        }
        let lit = &self.s[start..end];
        let text = String::from_utf8_lossy(lit).into_owned();
        match literal_token(lit) {
            Some(t) => (t, text),
            None => (Token::Identifier, text),
        }
    }

    fn scan_special(&mut self) -> (Token, String) {
        let mut buffer: Vec<u8> = Vec::new();
        let mut last: Option<(Token, String)> = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special(ch) {
                buffer.push(ch);
                if let Some(t) = literal_token(&buffer) {
                    last = Some((t, String::from_utf8_lossy(&buffer).into_owned()));
                } else if last.is_some() {
                    self.unread();
                    break;
                }
            } else {
                self.unread();
                break;
            }
        }
        last.unwrap_or_else(|| {
            (Token::Error, format!("error expected: keyword found '{}'", String::from_utf8_lossy(&buffer)))
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(selector: &str) -> Parser {
        let mut lexer = Lexer { s: selector.as_bytes(), pos: 0 };
        let mut items = Vec::new();
        loop {
            let (t, lit) = lexer.lex();
            items.push((t, lit));
            if t == Token::EndOfString {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        let (mut t, lit) = self.items[self.position.min(self.items.len() - 1)].clone();
        if ctx == Context::Values && matches!(t, Token::In | Token::NotIn) {
            t = Token::Identifier;
        }
        (t, lit)
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.lookahead(ctx);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (t, lit) = self.lookahead(Context::Values);
            match t {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!("found '{l2}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op @ (Operator::Exists | Operator::DoesNotExist)) = op {
            return Requirement::new(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut op = None;
        let (mut t, mut lit) = self.consume(Context::Values);
        if t == Token::DoesNotExist {
            op = Some(Operator::DoesNotExist);
            (t, lit) = self.consume(Context::Values);
        }
        if t != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let errs = validate_label_key(&lit);
        if !errs.is_empty() {
            return Err(format!("<nil>: Invalid value: {}: {}", quote(&lit), errs.join("; ")));
        }
        let (next, _) = self.lookahead(Context::Values);
        if matches!(next, Token::EndOfString | Token::Comma) && op != Some(Operator::DoesNotExist) {
            op = Some(Operator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (t, lit) = self.consume(Context::KeyAndOperator);
        Ok(match t {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{lit}', expected: {BINARY_OPERATORS}")),
        })
    }

    /// `(a,b,c)`; the set is returned sorted and without repeats, as upstream's sets.String.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (t, lit) = self.consume(Context::Values);
        if t != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (t, lit) = self.lookahead(Context::Values);
        match t {
            Token::Identifier | Token::Comma => {
                let set = self.parse_identifiers_list()?;
                let (t, _) = self.consume(Context::Values);
                if t != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut set: Vec<String> = Vec::new();
        let insert = |set: &mut Vec<String>, v: String| {
            if let Err(i) = set.binary_search(&v) {
                set.insert(i, v);
            }
        };
        loop {
            let (t, lit) = self.consume(Context::Values);
            match t {
                Token::Identifier => {
                    insert(&mut set, lit);
                    let (t2, lit2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        insert(&mut set, String::new());
                    }
                    let (t2, _) = self.lookahead(Context::Values);
                    if t2 == Token::ClosedPar {
                        insert(&mut set, String::new());
                        return Ok(set);
                    }
                    if t2 == Token::Comma {
                        insert(&mut set, String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (t, _) = self.lookahead(Context::Values);
        if matches!(t, Token::EndOfString | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        let (t, lit) = self.consume(Context::Values);
        if t == Token::Identifier {
            Ok(vec![lit])
        } else {
            Err(format!("found '{lit}', expected: identifier"))
        }
    }
}

/// A field selector term's operator (`=` and `==` both mean equality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

/// One `field=value` or `field!=value` term, value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A field selector: every term must hold. Which fields a kind supports is the API's
/// business (ResourceDef.field_labels / field_value).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// fields.ParseSelector: comma-separated terms; `\,`, `\=` and `\\` escape values.
    pub fn parse(selector: &str) -> Result<FieldSelector, String> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut requirements = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, rhs)) = split_term(part) else {
                return Err(format!("invalid selector: '{selector}'; can't understand '{part}'"));
            };
            let value = unescape_value(rhs)?;
            // Upstream's identity transform turns an empty `=` term into "everything".
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement { field: field.to_string(), op, value });
        }
        Ok(FieldSelector { requirements })
    }

    /// The terms, so the API can check each field is supported for the kind.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches, given a lookup of its field values (a field the lookup
    /// does not know reads as "", as upstream's fields.Set).
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let have = get(&r.field).unwrap_or_default();
            match r.op {
                FieldOp::Equals => have == r.value,
                FieldOp::NotEquals => have != r.value,
            }
        })
    }

    /// The value `field` must equal, if some term requires it.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op == FieldOp::Equals).map(|r| r.value.as_str())
    }

    /// `metadata.name=X`: the one name every match must have (other terms still apply).
    pub fn single_name(&self) -> Option<&str> {
        self.requires_exact_match("metadata.name")
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if r.op == FieldOp::Equals { "=" } else { "!=" };
            write!(f, "{}{}{}", r.field, op, escape_value(&r.value))?;
        }
        Ok(())
    }
}

/// fields.EscapeValue.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// fields.UnescapeValue, with upstream's errors (an unescaped rune prints as its number).
pub fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(format!("invalid field selector: invalid escape sequence: \\{c}")),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(format!("invalid field selector: unescaped character in value: {}", c as u32)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

/// Splits on commas not preceded by a backslash.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// The first `!=`, `==` or `=` splits a term into field, operator and raw value.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (tok, op) in [("!=", FieldOp::NotEquals), ("==", FieldOp::Equals), ("=", FieldOp::Equals)] {
            if rest.starts_with(tok) {
                return Some((&term[..i], op, &term[i + tok.len()..]));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn parse_err(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err()
    }

    const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    const KEY_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    #[test]
    fn parses_every_operator() {
        let s = LabelSelector::parse("x in (foo,,baz),y,z notin ()").unwrap();
        assert_eq!(s.to_string(), "x in (,baz,foo),y,z notin ()");
        let s = LabelSelector::parse(" app = web , tier!=db,  env==prod, !legacy, gen>3, n<10 ").unwrap();
        assert_eq!(s.to_string(), "app=web,env==prod,gen>3,!legacy,n<10,tier!=db");
        let ops: Vec<Operator> = s.requirements().iter().map(|r| r.operator).collect();
        assert_eq!(
            ops,
            [
                Operator::Equals,
                Operator::DoubleEquals,
                Operator::GreaterThan,
                Operator::DoesNotExist,
                Operator::LessThan,
                Operator::NotEquals
            ]
        );
        assert!(LabelSelector::parse("").unwrap().is_empty());
        assert!(LabelSelector::parse("   ").unwrap().is_empty());
        assert_eq!(LabelSelector::parse("a=").unwrap().to_string(), "a=");
        assert_eq!(LabelSelector::parse("a=,b").unwrap().to_string(), "a=,b");
        assert_eq!(LabelSelector::parse("x in (in,notin)").unwrap().to_string(), "x in (in,notin)");
        assert_eq!(LabelSelector::parse("in=notin").unwrap().to_string(), "in=notin");
        assert_eq!(LabelSelector::parse("x=a\ty").unwrap_err(), "found 'y', expected: ',' or 'end of string'");
        assert_eq!(
            LabelSelector::parse("app.kubernetes.io/name in (web, api)").unwrap().to_string(),
            "app.kubernetes.io/name in (api,web)"
        );
    }

    #[test]
    fn parse_errors_match_upstream() {
        assert_eq!(parse_err("x=a,"), "found '', expected: identifier after ','");
        assert_eq!(parse_err("x=a,=b"), "found '=', expected: identifier after ','");
        assert_eq!(parse_err("x y"), "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt");
        assert_eq!(parse_err("=a"), "found '=', expected: !, identifier, or 'end of string'");
        assert_eq!(parse_err(",a"), "found ',', expected: !, identifier, or 'end of string'");
        assert_eq!(parse_err("!=a"), "found '!=', expected: !, identifier, or 'end of string'");
        assert_eq!(parse_err("x in a"), "unable to parse requirement: found 'a' expected: '('");
        assert_eq!(parse_err("x in (a b)"), "unable to parse requirement: found 'b', expected: ',' or ')'");
        assert_eq!(parse_err("x in (a"), "unable to parse requirement: found '', expected: ',' or ')'");
        assert_eq!(parse_err("x in (="), "unable to parse requirement: found '=', expected: ',', ')' or identifier");
        assert_eq!(parse_err("x in (a,=)"), "unable to parse requirement: found '=', expected: ',', or identifier");
        assert_eq!(parse_err("x=(a)"), "unable to parse requirement: found '(', expected: identifier");
        assert_eq!(parse_err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            parse_err("Foo_!"),
            format!("unable to parse requirement: <nil>: Invalid value: \"Foo_\": {KEY_MSG}")
        );
        assert_eq!(
            parse_err("-app=x"),
            format!("unable to parse requirement: <nil>: Invalid value: \"-app\": {KEY_MSG}")
        );
        assert_eq!(
            parse_err("app=-x"),
            format!("unable to parse requirement: values[0][app]: Invalid value: \"-x\": {VALUE_MSG}")
        );
        assert_eq!(
            parse_err("app in (-x,ok,_y)"),
            format!(
                "unable to parse requirement: [values[0][app]: Invalid value: \"-x\": {VALUE_MSG}, values[1][app]: Invalid value: \"_y\": {VALUE_MSG}]"
            )
        );
        assert_eq!(
            parse_err("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn special_symbol_lexing() {
        // "x==" is DoubleEquals with an empty value; "x!==a" lexes as != then =.
        assert_eq!(LabelSelector::parse("x==").unwrap().to_string(), "x==");
        assert_eq!(parse_err("x!==a"), "unable to parse requirement: found '=', expected: identifier");
        assert_eq!(parse_err("x=>1"), "unable to parse requirement: found '>', expected: identifier");
    }

    #[test]
    fn matching() {
        let l = labels(json!({"app": "web", "tier": "fe", "gen": "5"}));
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&l);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app=db"));
        assert!(m("app!=db"));
        assert!(m("missing!=x"));
        assert!(m("app in (db,web)"));
        assert!(!m("missing in (x)"));
        assert!(m("missing notin (x)"));
        assert!(!m("app notin (web)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(!m("missing"));
        assert!(m("gen>4,gen<6"));
        assert!(!m("gen>5"));
        assert!(!m("app>1"));
        assert!(!m("missing<1"));
        assert!(LabelSelector::parse("!a").unwrap().matches(&Map::new()));
        let obj = json!({"metadata": {"name": "x"}});
        assert!(LabelSelector::parse("!a").unwrap().matches_object(&obj));
        assert!(!LabelSelector::parse("a").unwrap().matches_object(&obj));
    }

    #[test]
    fn from_metav1_label_selector() {
        let sel = LabelSelector::from_label_selector_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "legacy", "operator": "DoesNotExist"},
                {"key": "env", "operator": "Exists"},
                {"key": "zone", "operator": "NotIn", "values": ["a"]}
            ]
        }))
        .unwrap();
        assert_eq!(sel.to_string(), "app=web,env,!legacy,tier in (be,fe),zone notin (a)");
        assert!(sel.matches(&labels(json!({"app": "web", "tier": "fe", "env": "x"}))));
        assert!(!sel.matches(&labels(json!({"app": "web", "tier": "fe"}))));
        assert_eq!(sel.requires_exact_match("app"), Some("web"));
        assert_eq!(sel.requires_exact_match("tier"), None);

        let all = LabelSelector::from_label_selector_json(&json!({})).unwrap();
        assert!(all.is_empty() && all.matches(&Map::new()));
        let none = LabelSelector::from_label_selector_json(&Value::Null).unwrap();
        assert!(!none.is_empty() && none.matches_nothing() && !none.matches(&Map::new()));

        assert_eq!(
            LabelSelector::from_label_selector_json(&json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}))
                .unwrap_err(),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(
            LabelSelector::from_label_selector_json(
                &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
            )
            .unwrap_err(),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            LabelSelector::from_label_selector_json(
                &json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})
            )
            .unwrap_err(),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            LabelSelector::from_label_selector_json(&json!({"matchLabels": {"-a": "b"}})).unwrap_err(),
            format!("key: Invalid value: \"-a\": {KEY_MSG}")
        );
    }

    #[test]
    fn from_plain_map() {
        let sel = LabelSelector::from_map(&labels(json!({"app": "web", "tier": "fe"})));
        assert_eq!(sel.to_string(), "app=web,tier=fe");
        assert!(sel.matches(&labels(json!({"app": "web", "tier": "fe", "x": "y"}))));
        assert!(!sel.matches(&labels(json!({"app": "web"}))));
        assert!(LabelSelector::from_map(&Map::new()).is_empty());
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=web,status.phase!=Failed").unwrap();
        assert_eq!(f.single_name(), Some("web"));
        assert_eq!(
            f.requirements(),
            &[
                FieldRequirement { field: "metadata.name".into(), op: FieldOp::Equals, value: "web".into() },
                FieldRequirement { field: "status.phase".into(), op: FieldOp::NotEquals, value: "Failed".into() },
            ]
        );
        let get = |phase: &'static str| {
            move |field: &str| match field {
                "metadata.name" => Some("web".to_string()),
                "status.phase" => Some(phase.to_string()),
                _ => None,
            }
        };
        assert!(f.matches(get("Running")));
        assert!(!f.matches(get("Failed")));
        assert!(FieldSelector::parse("spec.nodeName==").unwrap().matches(|_| None));
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",,").unwrap().is_empty());
        assert!(FieldSelector::parse("=").unwrap().is_empty());
        assert_eq!(FieldSelector::parse("a==b").unwrap().requirements()[0].op, FieldOp::Equals);
        assert_eq!(FieldSelector::parse("a!=b").unwrap().single_name(), None);
        // kubectl describe's events selector.
        let ev = FieldSelector::parse("involvedObject.name=p,involvedObject.namespace=default,involvedObject.uid=1-2")
            .unwrap();
        assert_eq!(ev.requirements().len(), 3);
        assert_eq!(ev.to_string(), "involvedObject.name=p,involvedObject.namespace=default,involvedObject.uid=1-2");
    }

    #[test]
    fn field_selector_escapes_and_errors() {
        let f = FieldSelector::parse(r"a=x\,y\=z\\w").unwrap();
        assert_eq!(f.requirements()[0].value, r"x,y=z\w");
        assert_eq!(f.to_string(), r"a=x\,y\=z\\w");
        assert_eq!(FieldSelector::parse("a").unwrap_err(), "invalid selector: 'a'; can't understand 'a'");
        assert_eq!(FieldSelector::parse("b=c,a").unwrap_err(), "invalid selector: 'b=c,a'; can't understand 'a'");
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err(),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(FieldSelector::parse(r"a=b\x").unwrap_err(), r"invalid field selector: invalid escape sequence: \x");
        assert_eq!(FieldSelector::parse(r"a=b\").unwrap_err(), r"invalid field selector: invalid escape sequence: \");
        // "!=" wins over "=" only where it starts first.
        let f = FieldSelector::parse("a!=b").unwrap();
        assert_eq!((f.requirements()[0].field.as_str(), f.requirements()[0].op), ("a", FieldOp::NotEquals));
    }
}
