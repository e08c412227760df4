//! Go (RE2) patterns on the regex crate, and Go's replacement-template expansion.
//!
//! The regex crate speaks nearly the same dialect as Go's regexp. What is rewritten: Go's Perl
//! classes \d \w \s are ASCII (the crate's are Unicode), \Q...\E quotes a literal, octal escapes,
//! and a '{' that does not start a repetition is a literal. \b, \B and the negated classes inside
//! a bracket stay Unicode-aware, as the Python engine (the reference) has them.

use regex::{Captures, Regex};

const D: &str = "0-9";
const W: &str = "0-9A-Za-z_";
const S: &str = "\\t\\n\\f\\r ";

fn push_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

fn is_repeat(chars: &[char], i: usize) -> bool {
    // \{\d+(,\d*)?\}
    let mut j = i + 1;
    let start = j;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    if j == start {
        return false;
    }
    if j < chars.len() && chars[j] == ',' {
        j += 1;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
    }
    j < chars.len() && chars[j] == '}'
}

fn octal(chars: &[char], i: &mut usize, first: char, out: &mut String) {
    let mut v = first.to_digit(8).unwrap();
    let mut n = 1;
    while n < 3 && *i < chars.len() && chars[*i].is_digit(8) {
        v = v * 8 + chars[*i].to_digit(8).unwrap();
        *i += 1;
        n += 1;
    }
    out.push_str(&format!("\\x{{{:x}}}", v));
}

/// Go syntax to the regex crate's, for a pattern the Python engine already accepted.
pub fn translate(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 16);
    let mut i = 0;
    let mut in_class = false;
    let mut class_first = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let e = chars[i + 1];
            i += 2;
            match e {
                'd' | 'w' | 's' => {
                    let set = match e { 'd' => D, 'w' => W, _ => S };
                    if in_class {
                        out.push_str(set);
                    } else {
                        out.push('[');
                        out.push_str(set);
                        out.push(']');
                    }
                }
                'D' | 'W' | 'S' if !in_class => {
                    let set = match e { 'D' => D, 'W' => W, _ => S };
                    out.push_str("[^");
                    out.push_str(set);
                    out.push(']');
                }
                'Q' => {
                    let mut lit = String::new();
                    while i < chars.len() {
                        if chars[i] == '\\' && i + 1 < chars.len() && chars[i + 1] == 'E' {
                            i += 2;
                            break;
                        }
                        lit.push(chars[i]);
                        i += 1;
                    }
                    for ch in lit.chars() {
                        if in_class {
                            out.push_str(&format!("\\x{{{:x}}}", ch as u32));
                        } else {
                            push_escaped(&mut out, ch);
                        }
                    }
                }
                '0'..='7' => octal(&chars, &mut i, e, &mut out),
                _ => {
                    out.push('\\');
                    out.push(e);
                }
            }
            class_first = false;
            continue;
        }
        if in_class {
            if c == ']' && !class_first {
                in_class = false;
                out.push(']');
                i += 1;
                continue;
            }
            if c == '[' && i + 1 < chars.len() && chars[i + 1] == ':' {
                // a POSIX class: copy through ":]"
                if let Some(end) = (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']') {
                    for ch in &chars[i..end + 2] {
                        out.push(*ch);
                    }
                    i = end + 2;
                    class_first = false;
                    continue;
                }
            }
            if matches!(c, '[' | '&' | '~' | '-') && !(c == '-') {
                out.push('\\');
                out.push(c);
            } else {
                out.push(c);
            }
            class_first = false;
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_first = true;
                out.push('[');
                i += 1;
                if i < chars.len() && chars[i] == '^' {
                    out.push('^');
                    i += 1;
                }
                continue;
            }
            '{' if !is_repeat(&chars, i) => out.push_str("\\{"),
            '}' => {
                // a '}' closing a repetition was copied with it; a lone one is a literal
                out.push_str("\\}");
            }
            '{' => {
                while i < chars.len() && chars[i] != '}' {
                    out.push(chars[i]);
                    i += 1;
                }
                out.push('}');
            }
            '(' if chars.get(i + 1) == Some(&'?') && chars.get(i + 2) == Some(&'<')
                && !matches!(chars.get(i + 3), Some('=') | Some('!')) => {
                out.push_str("(?P<");
                i += 3;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

pub fn compile(p: &str) -> Result<Regex, String> {
    let t = translate(p);
    regex::RegexBuilder::new(&t)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| format!("{}", e))
}

/// Regexp.Expand of `template` for one match.
fn expand(template: &str, caps: &Captures, re: &Regex, out: &mut String) {
    let t = template.as_bytes();
    let mut i = 0;
    while i < t.len() {
        let j = match template[i..].find('$') {
            None => {
                out.push_str(&template[i..]);
                return;
            }
            Some(off) => i + off,
        };
        out.push_str(&template[i..j]);
        let rest = &template[j..];
        if rest.starts_with("$$") {
            out.push('$');
            i = j + 2;
            continue;
        }
        match extract(rest) {
            None => {
                out.push('$');
                i = j + 1;
            }
            Some((name, consumed)) => {
                i = j + consumed;
                out.push_str(group_text(caps, re, name));
            }
        }
    }
}

fn extract(rest: &str) -> Option<(&str, usize)> {
    let b = rest.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let brace = b[1] == b'{';
    let mut k = if brace { 2 } else { 1 };
    let start = k;
    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
        k += 1;
    }
    if k == start {
        return None;
    }
    let name = &rest[start..k];
    if brace {
        if k >= b.len() || b[k] != b'}' {
            return None;
        }
        k += 1;
    }
    Some((name, k))
}

fn group_text<'t>(caps: &Captures<'t>, re: &Regex, name: &str) -> &'t str {
    let numeric = name.bytes().all(|c| c.is_ascii_digit())
        && !(name.starts_with('0') && name.len() > 1)
        && name.len() <= 8;
    if numeric {
        let num: usize = name.parse().unwrap();
        if num < re.captures_len() {
            return caps.get(num).map(|m| m.as_str()).unwrap_or("");
        }
        return "";
    }
    caps.name(name).map(|m| m.as_str()).unwrap_or("")
}

/// Regexp.ReplaceAllString: an empty match right after the previous match is skipped.
pub fn replace_all(re: &Regex, s: &str, template: &str) -> String {
    let mut out = String::with_capacity(s.len() + template.len());
    let mut last = 0;
    let mut prev_end: Option<usize> = None;
    if !template.contains('$') {
        for m in re.find_iter(s) {
            if m.start() == m.end() && Some(m.start()) == prev_end {
                continue;
            }
            prev_end = Some(m.end());
            out.push_str(&s[last..m.start()]);
            out.push_str(template);
            last = m.end();
        }
    } else {
        for caps in re.captures_iter(s) {
            let m = caps.get(0).unwrap();
            if m.start() == m.end() && Some(m.start()) == prev_end {
                continue;
            }
            prev_end = Some(m.end());
            out.push_str(&s[last..m.start()]);
            expand(template, &caps, re, &mut out);
            last = m.end();
        }
    }
    out.push_str(&s[last..]);
    out
}
