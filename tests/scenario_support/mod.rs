//! Helpers for the scenario-runner tests: run the binary, write temporary scenarios, and a
//! small XML well-formedness check for the JUnit report.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn icephone(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_icephone"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("icephone runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A file in the temporary directory, unique to this process and call.
pub fn temp_path(stem: &str, ext: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "icephone-{stem}-{}-{}.{ext}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

pub fn write_temp(stem: &str, contents: &str) -> PathBuf {
    let p = temp_path(stem, "toml");
    std::fs::write(&p, contents).expect("temp file");
    p
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Checks XML 1.0 well-formedness for what a JUnit report uses: one root element, balanced
/// and properly nested tags, quoted attributes, no duplicate attributes, known entities,
/// no `<` or bare `&` in text. Returns the element names in document order.
pub fn check_xml(xml: &str) -> Result<Vec<String>, String> {
    let mut rest = xml;
    if let Some(r) = rest.strip_prefix("<?xml") {
        let end = r.find("?>").ok_or("unclosed XML declaration")?;
        rest = &r[end + 2..];
    }
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut roots = 0;
    while !rest.is_empty() {
        match rest.find('<') {
            None => {
                check_text(rest)?;
                if !rest.trim().is_empty() && stack.is_empty() {
                    return Err("text outside the root".into());
                }
                break;
            }
            Some(i) => {
                let t = &rest[..i];
                check_text(t)?;
                if !t.trim().is_empty() && stack.is_empty() {
                    return Err(format!("text outside the root: {t:?}"));
                }
                rest = &rest[i..];
            }
        }
        let end = rest.find('>').ok_or("unclosed tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .ok_or(format!("</{name}> without an open tag"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_:.".contains(c))
        {
            return Err(format!("bad element name in <{tag}>"));
        }
        check_attributes(&body[name.len()..])?;
        if stack.is_empty() {
            roots += 1;
        }
        names.push(name.clone());
        if !self_closing {
            stack.push(name);
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> is never closed"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(names)
}

fn check_text(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(i) = rest.find('&') {
        let after = &rest[i + 1..];
        let end = after.find(';').ok_or("bare & in text")?;
        let entity = &after[..end];
        if !["amp", "lt", "gt", "quot", "apos"].contains(&entity) {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

fn check_attributes(mut a: &str) -> Result<(), String> {
    let mut seen = Vec::new();
    loop {
        a = a.trim_start();
        if a.is_empty() {
            return Ok(());
        }
        let eq = a
            .find('=')
            .ok_or(format!("attribute without a value: {a}"))?;
        let name = a[..eq].trim().to_string();
        if seen.contains(&name) {
            return Err(format!("duplicate attribute {name}"));
        }
        seen.push(name);
        let v = a[eq + 1..].trim_start();
        let quote = v.chars().next().ok_or("missing attribute value")?;
        if quote != '"' && quote != '\'' {
            return Err("unquoted attribute value".into());
        }
        let close = v[1..].find(quote).ok_or("unclosed attribute value")?;
        let value = &v[1..1 + close];
        if value.contains('<') {
            return Err("< in an attribute value".into());
        }
        check_text(value)?;
        a = &v[close + 2..];
    }
}

#[test]
fn the_xml_check_rejects_what_it_should() {
    assert!(check_xml("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; u</a>\n").is_ok());
    assert!(check_xml("<a><b></a></b>").is_err());
    assert!(check_xml("<a>x & y</a>").is_err());
    assert!(check_xml("<a x=1/>").is_err());
    assert!(check_xml("<a x=\"1\" x=\"2\"/>").is_err());
    assert!(check_xml("<a/><b/>").is_err());
    assert!(check_xml("<a>").is_err());
}
