//! The decoded values of a buffered request body, for every policy that
//! inspects values (the firewall first): form fields by name (URL-encoded
//! or multipart), JSON leaves by JSON pointer, XML text and attributes by
//! element path, each decoded as the upstream will read it. Built once per
//! request and shared through the context; bounded like the request view.

use std::fmt;
use std::sync::Arc;

use portcullis_core::{Ctx, Pairs, form_pairs};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use crate::json_pointer;
use crate::media::MediaType;
use crate::{multipart, xml};

/// `(location, value)` pairs of one body.
#[derive(Debug)]
pub struct BodyValues(Pairs);

impl BodyValues {
    /// The values of `body` as its `Content-Type` declares it; `None` for
    /// other media types and for bodies that do not parse.
    pub fn parse(content_type: &str, body: &[u8]) -> Option<Self> {
        let media = MediaType::parse(content_type)?;
        if media.kind == "application" && media.subtype == "x-www-form-urlencoded" {
            return std::str::from_utf8(body).ok().map(|text| Self(form_pairs(text)));
        }
        let mut out = Pairs::default();
        if media.kind == "multipart" && media.subtype == "form-data" {
            form_fields(multipart::boundary(content_type)?, body, &mut out)?;
        } else if media.is_json() {
            let mut parser = serde_json::Deserializer::from_slice(body);
            Leaves { pointer: &mut String::new(), out: &mut out }.deserialize(&mut parser).ok()?;
            parser.end().ok()?;
        } else if media.is_xml() {
            xml_values(std::str::from_utf8(body).ok()?, &mut out)?;
        } else {
            return None;
        }
        Some(Self(out))
    }

    /// The values of this request's body, parsed once and cached in `cx`.
    pub fn of(content_type: &str, body: &[u8], cx: &mut Ctx) -> Option<Arc<Self>> {
        if let Some(cached) = cx.extensions.get::<Arc<Self>>() {
            return Some(cached.clone());
        }
        let values = Arc::new(Self::parse(content_type, body)?);
        cx.extensions.insert(values.clone());
        Some(values)
    }

    /// `(location, value)`: a form field's name, a JSON pointer, or an XML
    /// element path (`/order/item`, `/order/item/@qty` for attributes).
    pub fn values(&self) -> &Pairs {
        &self.0
    }
}

/// A `multipart/form-data` body's fields by name: a text field's content
/// (invalid UTF-8 replaced), a file's file name (its bytes are the malware
/// scanner's).
fn form_fields(boundary: &str, body: &[u8], out: &mut Pairs) -> Option<()> {
    for field in multipart::fields(body, boundary)? {
        match &field.filename {
            Some(filename) => out.push(&field.name, filename),
            None => out.push(&field.name, &String::from_utf8_lossy(field.content)),
        }
    }
    Some(())
}

/// A JSON document's leaves, by JSON pointer, in document order, read as
/// the document is parsed (no tree). A key that repeats gives each of its
/// values: a tree would keep only the last, and an upstream that reads the
/// first would get a value no inspection saw.
struct Leaves<'a> {
    pointer: &'a mut String,
    out: &'a mut Pairs,
}

impl Leaves<'_> {
    /// The same leaves, for a member or element whose step was just pushed.
    fn below(&mut self) -> Leaves<'_> {
        Leaves { pointer: self.pointer, out: self.out }
    }

    fn leaf<E>(self, text: &str) -> Result<(), E> {
        self.out.push(self.pointer, text);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Leaves<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, parser: D) -> Result<(), D::Error> {
        parser.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Leaves<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: Error>(self) -> Result<(), E> {
        self.leaf("null")
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<(), E> {
        self.leaf(if v { "true" } else { "false" })
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<(), E> {
        self.leaf(itoa::Buffer::new().format(v))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<(), E> {
        self.leaf(itoa::Buffer::new().format(v))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<(), E> {
        // Written as serde_json writes the number.
        let number = Number::from_f64(v).ok_or_else(|| E::custom("not a finite number"))?;
        self.leaf(&number.to_string())
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<(), E> {
        self.leaf(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut items: A) -> Result<(), A::Error> {
        let len = self.pointer.len();
        for i in 0usize.. {
            json_pointer::push_index(self.pointer, i);
            let more = items.next_element_seed(self.below())?.is_some();
            self.pointer.truncate(len);
            if !more {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut entries: A) -> Result<(), A::Error> {
        let len = self.pointer.len();
        while let Some(key) = entries.next_key::<String>()? {
            json_pointer::push_key(self.pointer, &key);
            entries.next_value_seed(self.below())?;
            self.pointer.truncate(len);
        }
        Ok(())
    }
}

/// Element text (with CDATA and the characters its references stand for, as
/// one value up to the next markup) by element path, and attribute values
/// with their references resolved: a `&lt;script&gt;` is seen as the
/// `<script>` the upstream will read.
fn xml_values(text: &str, out: &mut Pairs) -> Option<()> {
    let mut reader = Reader::from_str(text);
    let (mut path, mut ends, mut run) = (String::new(), Vec::new(), String::new());
    loop {
        let event = reader.read_event().ok()?;
        match &event {
            Event::Text(t) => run.push_str(t),
            Event::CData(t) => run.push_str(t),
            Event::GeneralRef(r) => run.push(xml::referenced(r)?),
            _ => {
                let value = run.trim();
                if !value.is_empty() {
                    out.push(&path, value);
                }
                run.clear();
            }
        }
        match event {
            Event::Start(e) => {
                ends.push(path.len());
                path.push('/');
                path.push_str(e.name().as_ref());
                attributes(&e, &path, out)?;
            }
            Event::Empty(e) => {
                let name = e.name();
                let name: &str = name.as_ref();
                attributes(&e, &format!("{path}/{name}"), out)?;
            }
            Event::End(_) => path.truncate(ends.pop()?),
            Event::Eof => return Some(()),
            _ => {}
        }
    }
}

/// An element's attributes by `element/@name`, each value as an XML parser
/// reads it (references resolved, white space normalized); `None` if one
/// does not parse, rather than a view without it.
fn attributes(e: &BytesStart<'_>, element: &str, out: &mut Pairs) -> Option<()> {
    for attr in e.attributes() {
        let attr = attr.ok()?;
        let value = attr.normalized_value(XmlVersion::Implicit1_0).ok()?;
        out.push(&format!("{element}/@{}", attr.key.as_ref()), &value);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(media: &str, body: &str) -> Vec<(String, String)> {
        let parsed = BodyValues::parse(media, body.as_bytes()).unwrap();
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
    fn every_value_of_a_repeated_key_is_seen() {
        assert_eq!(
            values("application/json", r#"{"q":"' or 1=1--","n":[1.5,-2],"q":"ok","o":{"q":"x"}}"#),
            pairs(&[("/q", "' or 1=1--"), ("/n/0", "1.5"), ("/n/1", "-2"), ("/q", "ok"), ("/o/q", "x")])
        );
        let media = "application/json";
        for bad in [r#"{"q":"a""#, r#"{"q":1} {}"#, "[1,]"] {
            assert!(BodyValues::parse(media, bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn xml_references_are_seen_as_the_characters_they_stand_for() {
        assert_eq!(
            values(
                "application/xml",
                "<o a=\"&lt;b&#62;\"><q> &lt;script&gt;alert(1)&#x3C;/script&gt; </q><i>x<![CDATA[<y>]]>z</i></o>"
            ),
            pairs(&[("/o/@a", "<b>"), ("/o/q", "<script>alert(1)</script>"), ("/o/i", "x<y>z")])
        );
        assert_eq!(values("application/xml", "<o a=\"x\ny\"/>"), pairs(&[("/o/@a", "x y")]), "normalized");
        let media = "application/xml";
        for bad in ["<o>&undefined;</o>", "<o a=\"&nope;\"/>", "<o>&#0;</o>"] {
            assert!(BodyValues::parse(media, bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn an_xml_element_with_a_bad_attribute_has_no_view() {
        // Skipping the attribute would hide its value from every inspection.
        let media = "application/xml";
        for bad in [r#"<a q="1" q="2"/>"#, r#"<a><b q="1" q="2">t</b></a>"#, r#"<a q=1/>"#] {
            assert!(BodyValues::parse(media, bad.as_bytes()).is_none(), "{bad}");
        }
        assert_eq!(values("application/xml", r#"<a q="1" r="2"/>"#), pairs(&[("/a/@q", "1"), ("/a/@r", "2")]));
    }

    #[test]
    fn multipart_fields_give_their_text_and_files_their_names() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n' or 1=1--\r\n--b\r\n\
            Content-Disposition: form-data; name=\"up\"; filename=\"../../x.php\"\r\n\r\n<?php\r\n--b--";
        assert_eq!(
            values("multipart/form-data; boundary=b", body),
            pairs(&[("q", "' or 1=1--"), ("up", "../../x.php")])
        );
        assert!(BodyValues::parse("multipart/form-data", body.as_bytes()).is_none(), "no boundary");
        assert!(BodyValues::parse("multipart/form-data; boundary=c", body.as_bytes()).is_none(), "another boundary");
    }

    #[test]
    fn values_are_cached_per_request() {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let mut cx = Ctx::new("t".into(), ip, ip, false);
        let first = BodyValues::of("application/json", b"[1]", &mut cx).unwrap();
        let second = BodyValues::of("application/json", b"[2]", &mut cx).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert!(BodyValues::parse("image/png", b"").is_none());
    }
}
