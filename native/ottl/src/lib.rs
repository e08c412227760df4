//! otelflow.native._ottl: the OTTL subset for spans, run natively over a serialized
//! ExportTraceServiceRequest. otelflow/ottl/native.py decides when it applies and builds the
//! program; the Python engine remains the reference and the fallback.

mod engine;
mod gore;
mod proto;

use prost::Message;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use engine::*;

// Decoding a request allocates a string per key and value: mimalloc halves that cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Node<'py> = Vec<Bound<'py, PyAny>>;

fn bad(what: &str) -> PyErr {
    PyValueError::new_err(format!("invalid OTTL native program: {what}"))
}

fn node<'py>(o: &Bound<'py, PyAny>) -> PyResult<(String, Node<'py>)> {
    let items: Node = o.extract()?;
    if items.is_empty() {
        return Err(bad("empty node"));
    }
    let tag: String = items[0].extract()?;
    Ok((tag, items[1..].to_vec()))
}

fn arg<'py, T: for<'a> pyo3::FromPyObject<'a, 'py>>(args: &Node<'py>, i: usize) -> PyResult<T> {
    let a = args.get(i).ok_or_else(|| bad("missing argument"))?;
    a.extract::<T>().map_err(|_| bad("argument of the wrong type"))
}

fn map_ref(name: &str) -> PyResult<MapRef> {
    Ok(match name {
        "span" => MapRef::Span,
        "resource" => MapRef::Resource,
        "scope" => MapRef::Scope,
        _ => return Err(bad("unknown map")),
    })
}

fn path(o: &Bound<'_, PyAny>) -> PyResult<PathRef> {
    let (name, args) = node(o)?;
    Ok(match name.as_str() {
        "span.name" => PathRef::SpanName,
        "span.kind" => PathRef::SpanKind,
        "span.trace_state" => PathRef::SpanTraceState,
        "span.status.code" => PathRef::SpanStatusCode,
        "span.status.message" => PathRef::SpanStatusMessage,
        "span.trace_id.string" => PathRef::SpanTraceIdStr,
        "span.span_id.string" => PathRef::SpanSpanIdStr,
        "span.parent_span_id.string" => PathRef::SpanParentSpanIdStr,
        "span.start_time_unix_nano" => PathRef::SpanStart,
        "span.end_time_unix_nano" => PathRef::SpanEnd,
        "scope.name" => PathRef::ScopeName,
        "scope.version" => PathRef::ScopeVersion,
        "span.attributes" => PathRef::Attr(MapRef::Span, arg(&args, 0)?),
        "resource.attributes" => PathRef::Attr(MapRef::Resource, arg(&args, 0)?),
        "scope.attributes" => PathRef::Attr(MapRef::Scope, arg(&args, 0)?),
        _ => return Err(bad("unknown path")),
    })
}

fn regex(p: &str) -> PyResult<regex::Regex> {
    gore::compile(p).map_err(|e| bad(&format!("regex {p:?}: {e}")))
}

fn lit(args: &Node) -> PyResult<Lit> {
    let kind: String = arg(args, 0)?;
    Ok(match kind.as_str() {
        "nil" => Lit::Nil,
        "string" => Lit::Str(arg(args, 1)?),
        "int" => Lit::Int(arg(args, 1)?),
        "float" => Lit::Float(arg(args, 1)?),
        "bool" => Lit::Bool(arg(args, 1)?),
        "bytes" => Lit::Bytes(arg(args, 1)?),
        _ => return Err(bad("unknown literal")),
    })
}

fn expr(o: &Bound<'_, PyAny>) -> PyResult<Expr> {
    let (tag, args) = node(o)?;
    Ok(match tag.as_str() {
        "lit" => Expr::Lit(lit(&args)?),
        "path" => Expr::Path(path(args.first().ok_or_else(|| bad("path"))?)?),
        "concat" => {
            let items: Node = arg(&args, 0)?;
            Expr::Concat(items.iter().map(expr).collect::<PyResult<_>>()?, arg(&args, 1)?)
        }
        "lower" => Expr::Lower(Box::new(expr(&args[0])?)),
        "upper" => Expr::Upper(Box::new(expr(&args[0])?)),
        "ismatch" => Expr::IsMatch(Box::new(expr(&args[0])?), regex(&arg::<String>(&args, 1)?)?),
        _ => return Err(bad("unknown expression")),
    })
}

fn cond(o: &Bound<'_, PyAny>) -> PyResult<Cond> {
    let (tag, args) = node(o)?;
    Ok(match tag.as_str() {
        "const" => Cond::Const(arg(&args, 0)?),
        "cmp" => {
            let op: String = arg(&args, 0)?;
            let op = match op.as_str() {
                "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                _ => return Err(bad("operator")),
            };
            Cond::Cmp(op, expr(&args[1])?, expr(&args[2])?)
        }
        "and" => Cond::And(arg::<Node>(&args, 0)?.iter().map(cond).collect::<PyResult<_>>()?),
        "or" => Cond::Or(arg::<Node>(&args, 0)?.iter().map(cond).collect::<PyResult<_>>()?),
        "not" => Cond::Not(Box::new(cond(&args[0])?)),
        "call" => Cond::Call(expr(&args[0])?),
        _ => return Err(bad("unknown condition")),
    })
}

fn editor(o: &Bound<'_, PyAny>) -> PyResult<Editor> {
    let (tag, args) = node(o)?;
    let m = || -> PyResult<MapRef> { map_ref(&arg::<String>(&args, 0)?) };
    Ok(match tag.as_str() {
        "set" => Editor::Set(path(&args[0])?, expr(&args[1])?),
        "delete_key" => Editor::DeleteKey(m()?, arg(&args, 1)?),
        "delete_matching_keys" => Editor::MatchingKeys(m()?, regex(&arg::<String>(&args, 1)?)?, false),
        "keep_matching_keys" => Editor::MatchingKeys(m()?, regex(&arg::<String>(&args, 1)?)?, true),
        "keep_keys" => Editor::KeepKeys(m()?, arg(&args, 1)?),
        "replace_pattern" => Editor::ReplacePattern(path(&args[0])?, regex(&arg::<String>(&args, 1)?)?, arg(&args, 2)?),
        "replace_all_patterns" => {
            let mode: String = arg(&args, 1)?;
            Editor::ReplaceAllPatterns(m()?, mode == "key", regex(&arg::<String>(&args, 2)?)?, arg(&args, 3)?)
        }
        "truncate_all" => Editor::TruncateAll(m()?, arg(&args, 1)?, arg(&args, 2)?, arg(&args, 3)?),
        "limit" => Editor::Limit(m()?, arg(&args, 1)?, arg(&args, 2)?),
        _ => return Err(bad("unknown editor")),
    })
}

fn mode(s: &str) -> PyResult<Mode> {
    Ok(match s {
        "propagate" => Mode::Propagate,
        "ignore" => Mode::Ignore,
        "silent" => Mode::Silent,
        _ => return Err(bad("error mode")),
    })
}

fn conds(o: &Bound<'_, PyAny>) -> PyResult<Option<Vec<Cond>>> {
    if o.is_none() {
        return Ok(None);
    }
    let items: Node = o.extract()?;
    Ok(Some(items.iter().map(cond).collect::<PyResult<_>>()?))
}

enum Kind {
    Transform { groups: Vec<Group>, allow_nil: bool },
    Filter { groups: Vec<FilterGroup> },
}

/// A compiled program: `Program(("transform", allow_nil, groups))` or `Program(("filter", groups))`.
#[pyclass(frozen, module = "otelflow.native._ottl")]
struct Program {
    kind: Kind,
}

fn decode(data: &[u8]) -> PyResult<proto::ExportTraceServiceRequest> {
    proto::ExportTraceServiceRequest::decode(data).map_err(|e| PyValueError::new_err(format!("decoding the request: {e}")))
}

#[pymethods]
impl Program {
    #[new]
    fn new(spec: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (tag, args) = node(spec)?;
        let kind = match tag.as_str() {
            "transform" => {
                let allow_nil: bool = arg(&args, 0)?;
                let mut groups = Vec::new();
                for g in arg::<Node>(&args, 1)? {
                    let parts: Node = g.extract()?;
                    let stmts: Node = parts[2].extract()?;
                    let mut out = Vec::new();
                    for s in stmts {
                        let sp: Node = s.extract()?;
                        let c = if sp[1].is_none() { None } else { Some(cond(&sp[1])?) };
                        out.push(Stmt { editor: editor(&sp[0])?, cond: c });
                    }
                    groups.push(Group { mode: mode(&parts[0].extract::<String>()?)?, conds: conds(&parts[1])?, stmts: out });
                }
                Kind::Transform { groups, allow_nil }
            }
            "filter" => {
                let mut groups = Vec::new();
                for g in arg::<Node>(&args, 0)? {
                    let parts: Node = g.extract()?;
                    groups.push(FilterGroup { mode: mode(&parts[0].extract::<String>()?)?, conds: conds(&parts[1])? });
                }
                Kind::Filter { groups }
            }
            _ => return Err(bad("unknown program kind")),
        };
        Ok(Program { kind })
    }

    /// (status, data): status 0 = changed (data is the new request), 1 = unchanged, 2 = run the
    /// request through the Python engine instead.
    fn transform<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<(u8, Option<Bound<'py, PyBytes>>)> {
        let (groups, allow_nil) = match &self.kind {
            Kind::Transform { groups, allow_nil } => (groups, *allow_nil),
            _ => return Err(bad("not a transform program")),
        };
        let out = py.detach(|| -> PyResult<Option<Option<Vec<u8>>>> {
            let mut req = decode(data)?;
            Ok(match engine::transform(groups, allow_nil, &mut req) {
                Err(_) => None,
                Ok(false) => Some(None),
                Ok(true) => Some(Some(req.encode_to_vec())),
            })
        })?;
        Ok(match out {
            None => (2, None),
            Some(None) => (1, None),
            Some(Some(b)) => (0, Some(PyBytes::new(py, &b))),
        })
    }

    /// (status, data, spans dropped, resources left): status as for transform.
    fn filter<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<(u8, Option<Bound<'py, PyBytes>>, usize, usize)> {
        let groups = match &self.kind {
            Kind::Filter { groups } => groups,
            _ => return Err(bad("not a filter program")),
        };
        let out = py.detach(|| -> PyResult<Option<(Option<Vec<u8>>, usize, usize)>> {
            let mut req = decode(data)?;
            Ok(match engine::filter(groups, &mut req) {
                Err(_) => None,
                Ok((dropped, changed)) => {
                    let left = req.resource_spans.len();
                    Some((if changed { Some(req.encode_to_vec()) } else { None }, dropped, left))
                }
            })
        })?;
        Ok(match out {
            None => (2, None, 0, 0),
            Some((None, d, l)) => (1, None, d, l),
            Some((Some(b), d, l)) => (0, Some(PyBytes::new(py, &b)), d, l),
        })
    }
}

/// Decode and encode again (tests: nothing of the request may be lost).
#[pyfunction]
fn roundtrip<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let req = decode(data)?;
    Ok(PyBytes::new(py, &req.encode_to_vec()))
}

/// A Go pattern as the regex crate gets it (tests).
#[pyfunction]
fn translate_regex(pattern: &str) -> String {
    gore::translate(pattern)
}

/// Regexp.ReplaceAllString (tests).
#[pyfunction]
fn replace_all(pattern: &str, s: &str, template: &str) -> PyResult<String> {
    Ok(gore::replace_all(&regex(pattern)?, s, template))
}

#[pymodule]
fn _ottl(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Program>()?;
    m.add_function(wrap_pyfunction!(roundtrip, m)?)?;
    m.add_function(wrap_pyfunction!(translate_regex, m)?)?;
    m.add_function(wrap_pyfunction!(replace_all, m)?)?;
    Ok(())
}
