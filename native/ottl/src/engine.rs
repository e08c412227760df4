//! The OTTL subset for the span context, run over a decoded request. Mirrors the Python engine
//! (src/otelflow/ottl/): values, comparisons, paths, editors and converters, error modes.
//!
//! A statement that fails returns `Fail::Error`; under `silent` the engine goes on as the Python
//! engine does, under `ignore` and `propagate` (which log or report the error's text) the whole
//! run is abandoned (`Fail::Bail`) and the processor runs the request through the Python engine
//! from the start, so the texts and the outcome are the reference's own. `Fail::Bail` is also
//! what a value outside the native subset does (a float to a string, say).

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;

use crate::gore;
use crate::proto::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fail {
    Error,
    Bail,
}

pub type R<T> = Result<T, Fail>;

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Propagate,
    Ignore,
    Silent,
}

// ------------------------------------------------------------------------------------ values

pub enum Val<'a> {
    Nil,
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Bytes(Cow<'a, [u8]>),
    Map(&'a [KeyValue]),
    Slice(&'a [AnyValue]),
}

#[derive(Clone)]
pub enum Lit {
    Nil,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl Lit {
    fn val(&self) -> Val<'_> {
        match self {
            Lit::Nil => Val::Nil,
            Lit::Str(s) => Val::Str(Cow::Borrowed(s)),
            Lit::Int(i) => Val::Int(*i),
            Lit::Float(f) => Val::Float(*f),
            Lit::Bool(b) => Val::Bool(*b),
            Lit::Bytes(b) => Val::Bytes(Cow::Borrowed(b)),
        }
    }
}

fn any_val(av: Option<&AnyValue>) -> Val<'_> {
    match av.and_then(|a| a.value.as_ref()) {
        Some(Value::StringValue(s)) => Val::Str(Cow::Borrowed(s)),
        Some(Value::BoolValue(b)) => Val::Bool(*b),
        Some(Value::IntValue(i)) => Val::Int(*i),
        Some(Value::DoubleValue(f)) => Val::Float(*f),
        Some(Value::ArrayValue(a)) => Val::Slice(&a.values),
        Some(Value::KvlistValue(k)) => Val::Map(&k.values),
        Some(Value::BytesValue(b)) => Val::Bytes(Cow::Borrowed(b)),
        Some(Value::StringValueStrindex(_)) | None => Val::Nil,
    }
}

/// What set() writes into an AnyValue (values.set_value): a map is copied with each entry's
/// value made present (the Python engine rebuilds the entries), a slice is copied as it is.
fn to_any(v: &Val) -> Option<Value> {
    match v {
        Val::Nil => None,
        Val::Str(s) => Some(Value::StringValue(s.to_string())),
        Val::Int(i) => Some(Value::IntValue(*i)),
        Val::Float(f) => Some(Value::DoubleValue(*f)),
        Val::Bool(b) => Some(Value::BoolValue(*b)),
        Val::Bytes(b) => Some(Value::BytesValue(b.to_vec())),
        Val::Map(kvs) => Some(Value::KvlistValue(KeyValueList { values: kvs.iter().map(present).collect() })),
        Val::Slice(vals) => Some(Value::ArrayValue(ArrayValue { values: vals.to_vec() })),
    }
}

fn present(kv: &KeyValue) -> KeyValue {
    KeyValue { key: kv.key.clone(), value: Some(kv.value.clone().unwrap_or_default()), key_strindex: 0 }
}

// ------------------------------------------------------------------------------------ compare

#[derive(Clone, Copy)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

fn ord_result(o: Option<Ordering>, op: Op) -> bool {
    match o {
        None => matches!(op, Op::Ne), // NaN: only != holds
        Some(o) => match op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
        },
    }
}

/// An int64 against a float64 exactly, as Python compares int and float.
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f >= 9.3e18 {
        return Some(Ordering::Less);
    }
    if f <= -9.3e18 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    let ti = t as i64; // exact: |t| < 2^63
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Some(Ordering::Less)
            } else if frac < 0.0 {
                Some(Ordering::Greater)
            } else {
                Some(Ordering::Equal)
            }
        }
        o => Some(o),
    }
}

fn eq_only(eq: bool, op: Op) -> bool {
    match op {
        Op::Eq => eq,
        Op::Ne => !eq,
        _ => false,
    }
}

/// compare.py's compare().
pub fn compare(a: &Val, b: &Val, op: Op) -> bool {
    match a {
        Val::Nil => match b {
            Val::Nil => matches!(op, Op::Eq | Op::Le | Op::Ge),
            _ => compare(b, a, op),
        },
        Val::Bool(x) => match b {
            Val::Bool(y) => ord_result(Some(x.cmp(y)), op),
            _ => matches!(op, Op::Ne),
        },
        Val::Int(x) => match b {
            Val::Int(y) => ord_result(Some(x.cmp(y)), op),
            Val::Float(y) => ord_result(cmp_int_float(*x, *y), op),
            _ => matches!(op, Op::Ne),
        },
        Val::Float(x) => match b {
            Val::Int(y) => ord_result(cmp_int_float(*y, *x).map(|o| o.reverse()), op),
            Val::Float(y) => ord_result(x.partial_cmp(y), op),
            _ => matches!(op, Op::Ne),
        },
        Val::Str(x) => match b {
            Val::Str(y) => ord_result(Some(x.as_ref().cmp(y.as_ref())), op),
            _ => matches!(op, Op::Ne),
        },
        Val::Bytes(x) => match b {
            Val::Bytes(y) => ord_result(Some(x.as_ref().cmp(y.as_ref())), op),
            _ => matches!(op, Op::Ne),
        },
        Val::Map(x) => match b {
            Val::Map(y) => eq_only(raw_map_eq(x, y), op),
            _ => matches!(op, Op::Ne),
        },
        Val::Slice(x) => match b {
            Val::Slice(y) => eq_only(x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| raw_eq(&any_val(Some(p)), &any_val(Some(q)))), op),
            _ => matches!(op, Op::Ne),
        },
    }
}

/// AsRaw() of a map: the first entry of a key wins.
fn raw_entries(kvs: &[KeyValue]) -> Vec<(&str, Option<&AnyValue>)> {
    let mut out: Vec<(&str, Option<&AnyValue>)> = Vec::with_capacity(kvs.len());
    for kv in kvs {
        if !out.iter().any(|(k, _)| *k == kv.key) {
            out.push((&kv.key, kv.value.as_ref()));
        }
    }
    out
}

fn raw_map_eq(a: &[KeyValue], b: &[KeyValue]) -> bool {
    let ra = raw_entries(a);
    let rb = raw_entries(b);
    if ra.len() != rb.len() {
        return false;
    }
    ra.iter().all(|(k, v)| match rb.iter().find(|(k2, _)| k2 == k) {
        None => false,
        Some((_, v2)) => raw_eq(&any_val(*v), &any_val(*v2)),
    })
}

/// compare.deep_equal over raw values: kinds must match exactly (an int never equals a float).
fn raw_eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Nil, Val::Nil) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Int(x), Val::Int(y)) => x == y,
        (Val::Float(x), Val::Float(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bytes(x), Val::Bytes(y)) => x == y,
        (Val::Map(x), Val::Map(y)) => raw_map_eq(x, y),
        (Val::Slice(x), Val::Slice(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| raw_eq(&any_val(Some(p)), &any_val(Some(q))))
        }
        _ => false,
    }
}

// ------------------------------------------------------------------------------------ item

pub struct Item<'a> {
    pub res: &'a mut Option<Resource>,
    pub scope: &'a mut Option<InstrumentationScope>,
    pub span: &'a mut Span,
}

#[derive(Clone, Copy)]
pub enum MapRef {
    Span,
    Resource,
    Scope,
}

#[derive(Clone)]
pub enum PathRef {
    SpanName,
    SpanKind,
    SpanTraceState,
    SpanStatusCode,
    SpanStatusMessage,
    SpanTraceIdStr,
    SpanSpanIdStr,
    SpanParentSpanIdStr,
    SpanStart,
    SpanEnd,
    ScopeName,
    ScopeVersion,
    Attr(MapRef, String),
}

const EMPTY_KVS: &[KeyValue] = &[];

fn map_of<'a>(item: &'a Item, m: MapRef) -> &'a [KeyValue] {
    match m {
        MapRef::Span => &item.span.attributes,
        MapRef::Resource => item.res.as_ref().map(|r| r.attributes.as_slice()).unwrap_or(EMPTY_KVS),
        MapRef::Scope => item.scope.as_ref().map(|s| s.attributes.as_slice()).unwrap_or(EMPTY_KVS),
    }
}

fn map_of_mut<'a>(item: &'a mut Item, m: MapRef) -> &'a mut Vec<KeyValue> {
    match m {
        MapRef::Span => &mut item.span.attributes,
        MapRef::Resource => &mut item.res.get_or_insert_with(Default::default).attributes,
        MapRef::Scope => &mut item.scope.get_or_insert_with(Default::default).attributes,
    }
}

/// Whether the map is there to be read without creating its holder (absent resource/scope).
fn map_exists(item: &Item, m: MapRef) -> bool {
    match m {
        MapRef::Span => true,
        MapRef::Resource => item.res.is_some(),
        MapRef::Scope => item.scope.is_some(),
    }
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &c in b {
        s.push(H[(c >> 4) as usize] as char);
        s.push(H[(c & 15) as usize] as char);
    }
    s
}

fn id_string(b: &[u8], size: usize) -> String {
    if b.len() == size {
        hex(b)
    } else {
        "00".repeat(size)
    }
}

impl PathRef {
    pub fn get<'a>(&self, item: &'a Item) -> Val<'a> {
        let span: &'a Span = item.span;
        match self {
            PathRef::SpanName => Val::Str(Cow::Borrowed(&span.name)),
            PathRef::SpanKind => Val::Int(span.kind as i64),
            PathRef::SpanTraceState => Val::Str(Cow::Borrowed(&span.trace_state)),
            PathRef::SpanStatusCode => Val::Int(span.status.as_ref().map(|s| s.code).unwrap_or(0) as i64),
            PathRef::SpanStatusMessage => Val::Str(Cow::Borrowed(span.status.as_ref().map(|s| s.message.as_str()).unwrap_or(""))),
            PathRef::SpanTraceIdStr => Val::Str(Cow::Owned(id_string(&span.trace_id, 16))),
            PathRef::SpanSpanIdStr => Val::Str(Cow::Owned(id_string(&span.span_id, 8))),
            PathRef::SpanParentSpanIdStr => Val::Str(Cow::Owned(id_string(&span.parent_span_id, 8))),
            PathRef::SpanStart => Val::Int(span.start_time_unix_nano as i64),
            PathRef::SpanEnd => Val::Int(span.end_time_unix_nano as i64),
            PathRef::ScopeName => Val::Str(Cow::Borrowed(item.scope.as_ref().map(|s| s.name.as_str()).unwrap_or(""))),
            PathRef::ScopeVersion => Val::Str(Cow::Borrowed(item.scope.as_ref().map(|s| s.version.as_str()).unwrap_or(""))),
            PathRef::Attr(m, key) => {
                let kvs = map_of(item, *m);
                match kvs.iter().find(|kv| kv.key == *key) {
                    Some(kv) => any_val(kv.value.as_ref()),
                    None => Val::Nil,
                }
            }
        }
    }

    /// The path's setter; `v` was computed before (no borrow of the item is alive).
    pub fn set(&self, item: &mut Item, v: Val) -> R<()> {
        match self {
            PathRef::SpanName => item.span.name = expect_str(v)?,
            PathRef::SpanTraceState => item.span.trace_state = expect_str(v)?,
            PathRef::SpanKind => item.span.kind = expect_int(v)? as i32,
            PathRef::SpanStatusCode => {
                let c = expect_int(v)? as i32;
                item.span.status.get_or_insert_with(Default::default).code = c;
            }
            PathRef::SpanStatusMessage => {
                let s = expect_str(v)?;
                item.span.status.get_or_insert_with(Default::default).message = s;
            }
            PathRef::SpanTraceIdStr => item.span.trace_id = parse_id(v, 16)?,
            PathRef::SpanSpanIdStr => item.span.span_id = parse_id(v, 8)?,
            PathRef::SpanParentSpanIdStr => item.span.parent_span_id = parse_id(v, 8)?,
            PathRef::SpanStart => item.span.start_time_unix_nano = expect_int(v)? as u64,
            PathRef::SpanEnd => item.span.end_time_unix_nano = expect_int(v)? as u64,
            PathRef::ScopeName => {
                let s = expect_str(v)?;
                item.scope.get_or_insert_with(Default::default).name = s;
            }
            PathRef::ScopeVersion => {
                let s = expect_str(v)?;
                item.scope.get_or_insert_with(Default::default).version = s;
            }
            PathRef::Attr(m, key) => {
                let value = to_any(&v);
                drop(v);
                let kvs = map_of_mut(item, *m);
                match kvs.iter_mut().find(|kv| kv.key == *key) {
                    Some(kv) => kv.value = Some(AnyValue { value }),
                    None => kvs.push(KeyValue { key: key.clone(), value: Some(AnyValue { value }), key_strindex: 0 }),
                }
            }
        }
        Ok(())
    }
}

fn expect_str(v: Val) -> R<String> {
    match v {
        Val::Str(s) => Ok(s.into_owned()),
        _ => Err(Fail::Error),
    }
}

fn expect_int(v: Val) -> R<i64> {
    match v {
        Val::Int(i) => Ok(i),
        _ => Err(Fail::Error),
    }
}

fn parse_id(v: Val, size: usize) -> R<Vec<u8>> {
    let s = expect_str(v)?;
    let b = s.as_bytes();
    if b.len() / 2 != size || b.len() % 2 != 0 || !b.iter().all(|c| c.is_ascii_hexdigit()) {
        return Err(Fail::Error);
    }
    let raw: Vec<u8> = (0..size)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    Ok(if raw.iter().all(|&c| c == 0) { Vec::new() } else { raw })
}

// ------------------------------------------------------------------------------------ exprs

pub enum Expr {
    Lit(Lit),
    Path(PathRef),
    Concat(Vec<Expr>, String),
    Lower(Box<Expr>),
    Upper(Box<Expr>),
    IsMatch(Box<Expr>, Regex),
}

/// StringLikeGetter's conversion; what the native side does not format (floats, maps, slices)
/// goes back to the Python engine. None for nil.
fn string_like<'a>(v: Val<'a>) -> R<Option<Cow<'a, str>>> {
    Ok(match v {
        Val::Nil => None,
        Val::Str(s) => Some(s),
        Val::Int(i) => Some(Cow::Owned(i.to_string())),
        Val::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        Val::Bytes(b) => Some(Cow::Owned(hex(&b))),
        Val::Float(_) | Val::Map(_) | Val::Slice(_) => return Err(Fail::Bail),
    })
}

impl Expr {
    pub fn eval<'a>(&'a self, item: &'a Item) -> R<Val<'a>> {
        match self {
            Expr::Lit(l) => Ok(l.val()),
            Expr::Path(p) => Ok(p.get(item)),
            Expr::Concat(items, delim) => {
                let mut out = String::new();
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(delim);
                    }
                    match string_like(e.eval(item)?)? {
                        None => out.push_str("<nil>"),
                        Some(s) => out.push_str(&s),
                    }
                }
                Ok(Val::Str(Cow::Owned(out)))
            }
            Expr::Lower(e) | Expr::Upper(e) => {
                let s = match e.eval(item)? {
                    Val::Str(s) => s,
                    _ => return Err(Fail::Error), // StringGetter: "expected string but got ..."
                };
                if !s.is_ascii() {
                    return Err(Fail::Bail); // Go's per-rune case mapping: left to the Python engine
                }
                Ok(Val::Str(Cow::Owned(if matches!(self, Expr::Lower(_)) { s.to_ascii_lowercase() } else { s.to_ascii_uppercase() })))
            }
            Expr::IsMatch(e, re) => Ok(Val::Bool(match string_like(e.eval(item)?)? {
                None => false,
                Some(s) => re.is_match(&s),
            })),
        }
    }
}

// ------------------------------------------------------------------------------------ conditions

pub enum Cond {
    Const(bool),
    Cmp(Op, Expr, Expr),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Call(Expr),
}

impl Cond {
    pub fn eval(&self, item: &Item) -> R<bool> {
        match self {
            Cond::Const(b) => Ok(*b),
            Cond::Cmp(op, l, r) => {
                let a = l.eval(item)?;
                let b = r.eval(item)?;
                Ok(compare(&a, &b, *op))
            }
            Cond::And(parts) => {
                for p in parts {
                    if !p.eval(item)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Cond::Or(parts) => {
                for p in parts {
                    if p.eval(item)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Cond::Not(c) => Ok(!c.eval(item)?),
            Cond::Call(e) => match e.eval(item)? {
                Val::Bool(b) => Ok(b),
                _ => Err(Fail::Error),
            },
        }
    }
}

// ------------------------------------------------------------------------------------ editors

pub enum Editor {
    Set(PathRef, Expr),
    DeleteKey(MapRef, String),
    MatchingKeys(MapRef, Regex, bool), // keep?
    KeepKeys(MapRef, Vec<String>),
    ReplacePattern(PathRef, Regex, String),
    ReplaceAllPatterns(MapRef, bool, Regex, String), // key mode?
    TruncateAll(MapRef, usize, bool, String),
    Limit(MapRef, i64, Vec<String>),
}

pub struct Stmt {
    pub editor: Editor,
    pub cond: Option<Cond>,
}

/// PMap.remove_if: when something goes, the kept entries are rebuilt (their values made present).
fn remove_if(kvs: &mut Vec<KeyValue>, mut drop_it: impl FnMut(&KeyValue) -> bool) -> bool {
    let keep: Vec<bool> = kvs.iter().map(|kv| !drop_it(kv)).collect();
    if keep.iter().all(|k| *k) {
        return false;
    }
    let old = std::mem::take(kvs);
    for (kv, k) in old.into_iter().zip(keep) {
        if k {
            // KeyValue(key=kv.key, value=kv.value): the value present, key_strindex not kept
            kvs.push(KeyValue { key: kv.key, value: Some(kv.value.unwrap_or_default()), key_strindex: 0 });
        }
    }
    true
}

impl Stmt {
    /// Runs the statement; Ok(true) when it may have changed the item.
    pub fn exec(&self, item: &mut Item, allow_nil: bool) -> R<bool> {
        if let Some(c) = &self.cond {
            if !c.eval(item)? {
                return Ok(false);
            }
        }
        match &self.editor {
            Editor::Set(path, expr) => {
                let v = expr.eval(item)?;
                if matches!(v, Val::Nil) && !allow_nil {
                    return Ok(false);
                }
                // the value must not borrow the item while it is written
                let owned = own(v);
                let v = owned.val();
                path.set(item, v)?;
                Ok(true)
            }
            Editor::DeleteKey(m, key) => {
                if !map_exists(item, *m) {
                    return Ok(false);
                }
                let kvs = map_of_mut(item, *m);
                if let Some(i) = kvs.iter().position(|kv| kv.key == *key) {
                    kvs.swap_remove(i);
                    return Ok(true);
                }
                Ok(false)
            }
            Editor::MatchingKeys(m, re, keep) => {
                if !map_exists(item, *m) {
                    return Ok(false);
                }
                Ok(remove_if(map_of_mut(item, *m), |kv| re.is_match(&kv.key) != *keep))
            }
            Editor::KeepKeys(m, keys) => {
                if !map_exists(item, *m) {
                    return Ok(false);
                }
                Ok(remove_if(map_of_mut(item, *m), |kv| !keys.iter().any(|k| *k == kv.key)))
            }
            Editor::Limit(m, limit, prio) => {
                if !map_exists(item, *m) {
                    return Ok(false);
                }
                let kvs = map_of_mut(item, *m);
                if (kvs.len() as i64) <= *limit {
                    return Ok(false);
                }
                let mut count = prio.iter().filter(|k| kvs.iter().any(|kv| kv.key == **k)).count() as i64;
                Ok(remove_if(kvs, |kv| {
                    if prio.iter().any(|k| *k == kv.key) {
                        return false;
                    }
                    if count < *limit {
                        count += 1;
                        return false;
                    }
                    true
                }))
            }
            Editor::ReplacePattern(path, re, repl) => {
                let updated = match path.get(item) {
                    Val::Str(s) if re.is_match(&s) => gore::replace_all(re, &s, repl),
                    _ => return Ok(false),
                };
                path.set(item, Val::Str(Cow::Owned(updated)))?;
                Ok(true)
            }
            Editor::ReplaceAllPatterns(m, key_mode, re, repl) => {
                if !*key_mode {
                    if !map_exists(item, *m) {
                        return Ok(false);
                    }
                    let mut changed = false;
                    for kv in map_of_mut(item, *m).iter_mut() {
                        if let Some(AnyValue { value: Some(Value::StringValue(s)) }) = kv.value.as_mut() {
                            if re.is_match(s) {
                                *s = gore::replace_all(re, s, repl);
                                changed = true;
                            }
                        }
                    }
                    return Ok(changed);
                }
                // key mode: the map is always rebuilt (which makes an absent resource/scope present)
                let kvs = map_of_mut(item, *m);
                let old = std::mem::take(kvs);
                let mut updated: Vec<KeyValue> = Vec::with_capacity(old.len());
                for kv in old {
                    let new_key = if re.is_match(&kv.key) { gore::replace_all(re, &kv.key, repl) } else { kv.key };
                    let value = Some(kv.value.unwrap_or_default());
                    match updated.iter_mut().find(|u| u.key == new_key) {
                        Some(u) => u.value = value,
                        None => updated.push(KeyValue { key: new_key, value, key_strindex: 0 }),
                    }
                }
                *kvs = updated;
                Ok(true)
            }
            Editor::TruncateAll(m, limit, safe, marker) => {
                if !map_exists(item, *m) {
                    return Ok(false);
                }
                let mut changed = false;
                for kv in map_of_mut(item, *m).iter_mut() {
                    if let Some(AnyValue { value: Some(Value::StringValue(s)) }) = kv.value.as_mut() {
                        if s.len() <= *limit {
                            continue;
                        }
                        let b = s.as_bytes();
                        let mut at = limit - marker.len();
                        if *safe {
                            while at > 0 && (b[at] & 0xC0) == 0x80 {
                                at -= 1;
                            }
                        }
                        let mut t = String::from_utf8_lossy(&b[..at]).into_owned();
                        t.push_str(marker);
                        *s = t;
                        changed = true;
                    }
                }
                Ok(changed)
            }
        }
    }
}

/// A value detached from the item it was read from.
enum Owned {
    Nil,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Map(Vec<KeyValue>),
    Slice(Vec<AnyValue>),
}

fn own(v: Val) -> Owned {
    match v {
        Val::Nil => Owned::Nil,
        Val::Str(s) => Owned::Str(s.into_owned()),
        Val::Int(i) => Owned::Int(i),
        Val::Float(f) => Owned::Float(f),
        Val::Bool(b) => Owned::Bool(b),
        Val::Bytes(b) => Owned::Bytes(b.into_owned()),
        Val::Map(m) => Owned::Map(m.to_vec()),
        Val::Slice(s) => Owned::Slice(s.to_vec()),
    }
}

impl Owned {
    fn val(&self) -> Val<'_> {
        match self {
            Owned::Nil => Val::Nil,
            Owned::Str(s) => Val::Str(Cow::Borrowed(s)),
            Owned::Int(i) => Val::Int(*i),
            Owned::Float(f) => Val::Float(*f),
            Owned::Bool(b) => Val::Bool(*b),
            Owned::Bytes(b) => Val::Bytes(Cow::Borrowed(b)),
            Owned::Map(m) => Val::Map(m),
            Owned::Slice(s) => Val::Slice(s),
        }
    }
}

// ------------------------------------------------------------------------------------ programs

pub struct Group {
    pub mode: Mode,
    pub conds: Option<Vec<Cond>>,
    pub stmts: Vec<Stmt>,
}

/// ConditionSequence.eval (ORed); an error is no match under silent, else the run is abandoned.
fn any_match(conds: &[Cond], mode: Mode, item: &Item) -> R<bool> {
    for c in conds {
        match c.eval(item) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(Fail::Error) if mode == Mode::Silent => {}
            Err(_) => return Err(Fail::Bail),
        }
    }
    Ok(false)
}

/// The transform processor's groups over a request; Ok(changed) or Err(Bail).
pub fn transform(groups: &[Group], allow_nil: bool, req: &mut ExportTraceServiceRequest) -> Result<bool, Fail> {
    let mut changed = false;
    for g in groups {
        for rs in req.resource_spans.iter_mut() {
            let ResourceSpans { resource, scope_spans, .. } = rs;
            for ss in scope_spans.iter_mut() {
                let ScopeSpans { scope, spans, .. } = ss;
                for span in spans.iter_mut() {
                    let mut item = Item { res: &mut *resource, scope: &mut *scope, span };
                    if let Some(conds) = &g.conds {
                        if !any_match(conds, g.mode, &item)? {
                            continue;
                        }
                    }
                    for st in &g.stmts {
                        match st.exec(&mut item, allow_nil) {
                            Ok(c) => changed |= c,
                            Err(Fail::Error) if g.mode == Mode::Silent => changed = true,
                            Err(_) => return Err(Fail::Bail),
                        }
                    }
                }
            }
        }
    }
    Ok(changed)
}

pub struct FilterGroup {
    pub mode: Mode,
    pub conds: Option<Vec<Cond>>,
}

/// The filter processor's span-level walks: spans that match go, then scopes without spans, then
/// resources without scopes. Ok((spans dropped, changed)).
pub fn filter(groups: &[FilterGroup], req: &mut ExportTraceServiceRequest) -> Result<(usize, bool), Fail> {
    let mut dropped = 0usize;
    let mut changed = false;
    for g in groups {
        let conds = match &g.conds {
            None => {
                let before = req.resource_spans.len();
                req.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
                changed |= before != req.resource_spans.len();
                continue;
            }
            Some(c) => c,
        };
        let mut err: Option<Fail> = None;
        let before_res = req.resource_spans.len();
        req.resource_spans.retain_mut(|rs| {
            if err.is_some() {
                return true;
            }
            let ResourceSpans { resource, scope_spans, .. } = rs;
            let before_scopes = scope_spans.len();
            scope_spans.retain_mut(|ss| {
                if err.is_some() {
                    return true;
                }
                let ScopeSpans { scope, spans, .. } = ss;
                let mut keep = Vec::with_capacity(spans.len());
                for span in spans.iter_mut() {
                    let item = Item { res: &mut *resource, scope: &mut *scope, span };
                    match any_match(conds, g.mode, &item) {
                        Ok(m) => keep.push(!m),
                        Err(e) => {
                            err = Some(e);
                            return true;
                        }
                    }
                }
                let n = spans.len();
                let mut it = keep.iter();
                spans.retain(|_| *it.next().unwrap());
                dropped += n - spans.len();
                !spans.is_empty()
            });
            changed |= before_scopes != scope_spans.len();
            !scope_spans.is_empty()
        });
        if let Some(e) = err {
            return Err(e);
        }
        changed |= before_res != req.resource_spans.len();
    }
    Ok((dropped, changed || dropped > 0))
}
