//! The decoded values of a buffered request body, for every policy that
//! inspects values (the firewall first): form fields by name, JSON leaves by
//! JSON pointer, XML text and attributes by element path. Built once per
//! request and shared through the context; bounded like the request view.

use std::sync::Arc;

use portcullis_core::{Ctx, Pairs, form_pairs};
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;

use crate::media::MediaType;

/// `(location, value)` pairs of one body.
#[derive(Debug)]
pub struct BodyValues(Pairs);

impl BodyValues {
    /// The values of `body` as `media` declares it; `None` for other media
    /// types and for bodies that do not parse.
    pub fn parse(media: &MediaType, body: &[u8]) -> Option<Self> {
        if media.kind == "application" && media.subtype == "x-www-form-urlencoded" {
            return std::str::from_utf8(body).ok().map(|text| Self(form_pairs(text)));
        }
        let mut out = Pairs::default();
        if media.is_json() {
            let value: Value = serde_json::from_slice(body).ok()?;
            json_leaves(&value, &mut String::new(), &mut out);
        } else if media.is_xml() {
            xml_values(std::str::from_utf8(body).ok()?, &mut out)?;
        } else {
            return None;
        }
        Some(Self(out))
    }

    /// The values of this request's body, parsed once and cached in `cx`.
    pub fn of(media: &MediaType, body: &[u8], cx: &mut Ctx) -> Option<Arc<Self>> {
        if let Some(cached) = cx.extensions.get::<Arc<Self>>() {
            return Some(cached.clone());
        }
        let values = Arc::new(Self::parse(media, body)?);
        cx.extensions.insert(values.clone());
        Some(values)
    }

    /// `(location, value)`: a form field's name, a JSON pointer, or an XML
    /// element path (`/order/item`, `/order/item/@qty` for attributes).
    pub fn values(&self) -> &Pairs {
        &self.0
    }
}

fn json_leaves(value: &Value, pointer: &mut String, out: &mut Pairs) {
    let len = pointer.len();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                json_leaves(child, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&i.to_string());
                json_leaves(child, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::String(text) => out.push(pointer, text),
        other => out.push(pointer, &other.to_string()),
    }
}

fn xml_values(text: &str, out: &mut Pairs) -> Option<()> {
    let mut reader = Reader::from_str(text);
    let mut path = String::new();
    let mut ends: Vec<usize> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                ends.push(path.len());
                path.push('/');
                path.push_str(e.name().as_ref());
                for attr in e.attributes().flatten() {
                    out.push(&format!("{path}/@{}", attr.key.as_ref()), &attr.value);
                }
            }
            Event::Empty(e) => {
                let name = e.name();
                let name: &str = name.as_ref();
                for attr in e.attributes().flatten() {
                    out.push(&format!("{path}/{name}/@{}", attr.key.as_ref()), &attr.value);
                }
            }
            Event::End(_) => path.truncate(ends.pop()?),
            Event::Text(t) if !t.trim().is_empty() => out.push(&path, t.trim()),
            Event::CData(t) => out.push(&path, &t),
            Event::Eof => return Some(()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(media: &str, body: &str) -> Vec<(String, String)> {
        let media = MediaType::parse(media).unwrap();
        let parsed = BodyValues::parse(&media, body.as_bytes()).unwrap();
        parsed.values().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn forms_json_and_xml_give_their_values() {
        assert_eq!(
            values("application/x-www-form-urlencoded", "q=a+b&x=%27or%201"),
            pairs(&[("q", "a b"), ("x", "'or 1")])
        );
        assert_eq!(
            values("application/json", r#"{"a":{"b/c":["x",2,true,null]}}"#),
            pairs(&[("/a/b~1c/0", "x"), ("/a/b~1c/1", "2"), ("/a/b~1c/2", "true"), ("/a/b~1c/3", "null")])
        );
        assert_eq!(
            values("application/xml", "<o id=\"7\"><i q=\"2\"/><n> tea </n><![CDATA[<x>]]></o>"),
            pairs(&[("/o/@id", "7"), ("/o/i/@q", "2"), ("/o/n", "tea"), ("/o", "<x>")])
        );
    }

    #[test]
    fn values_are_cached_per_request() {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let mut cx = Ctx::new("t".into(), ip, ip, false);
        let media = MediaType::parse("application/json").unwrap();
        let first = BodyValues::of(&media, b"[1]", &mut cx).unwrap();
        let second = BodyValues::of(&media, b"[2]", &mut cx).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert!(BodyValues::parse(&MediaType::parse("image/png").unwrap(), b"").is_none());
    }
}
