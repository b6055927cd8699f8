//! Writing events back as XML.

use std::collections::BTreeMap;

use super::document::*;
use super::*;

/// Split an extra key into its element path and its repeat number (1 when none).
pub(super) fn split_extra_key(key: &str) -> (&str, usize) {
    if let Some((base, n)) = key.rsplit_once('#') {
        if let Ok(n) = n.parse::<usize>() {
            return (base, n);
        }
    }
    (key, 1)
}

pub(super) fn is_extra_key(key: &str) -> bool {
    let base = match key.rsplit_once('#') {
        Some((base, n)) => {
            let ok = !n.starts_with('0')
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<usize>().is_ok_and(|n| n >= 2);
            if !ok {
                return false;
            }
            base
        }
        None => key,
    };
    let mut segments = 0;
    for (i, segment) in base.split('/').enumerate() {
        segments += 1;
        if !is_xml_name(segment) || (i == 0 && known_slot(segment.as_bytes()).is_some()) {
            return false;
        }
    }
    segments <= MAX_EVENT_DEPTH
}

pub(super) fn write_cdata(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

pub(super) fn push_cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    let mut parts = value.split("]]>");
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        // "]]>" cannot appear in CDATA: end the section after "]]" and start a new one.
        out.push_str("]]]]><![CDATA[>");
        out.push_str(part);
    }
    out.push_str("]]>");
}

pub(super) fn write_opt_cdata(out: &mut String, name: &str, value: &Option<String>) {
    if let Some(value) = value {
        write_cdata(out, name, value);
    }
}

pub(super) fn write_plain(out: &mut String, name: &str, value: i64) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "<{name}>{value}</{name}>");
}

pub(super) fn write_flag(out: &mut String, name: &str, value: Option<bool>) {
    if let Some(value) = value {
        write_plain(out, name, i64::from(value));
    }
}

pub(super) fn write_extra(out: &mut String, extra: &BTreeMap<String, String>) {
    if extra.is_empty() {
        return;
    }
    let mut entries: Vec<(&str, usize, &str)> = extra
        .iter()
        .map(|(k, v)| {
            let (base, n) = split_extra_key(k);
            (base, n, v.as_str())
        })
        .collect();
    // Repeats in numeric order, so that re-parsing numbers them the same way.
    entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    for (path, _, value) in entries {
        for segment in path.split('/') {
            out.push('<');
            out.push_str(segment);
            out.push('>');
        }
        push_cdata(out, value);
        for segment in path.rsplit('/') {
            out.push_str("</");
            out.push_str(segment);
            out.push('>');
        }
    }
}
