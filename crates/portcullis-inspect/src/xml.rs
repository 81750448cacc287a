//! XML threat protection: DTDs (so external entities and entity expansion,
//! XXE and "billion laughs") and processing instructions are refused
//! outright; depth, element count, attributes, text and namespace
//! declarations are bounded. quick-xml is a pull parser: it never builds a
//! tree and never expands an entity, so memory stays bounded by the limits.

use memchr::memmem;
use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

/// Limits for one XML document. Every field has a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Deepest element nesting.
    pub max_depth: u32,
    /// Elements in the document.
    pub max_elements: u32,
    /// Attributes on one element.
    pub max_attributes: u32,
    /// Bytes in one attribute value.
    pub max_attribute_len: u32,
    /// Bytes in one text or CDATA node.
    pub max_text_len: u32,
    /// Bytes in an element or attribute name.
    pub max_name_len: u32,
    /// Namespace declarations (`xmlns`, `xmlns:p`) in the document.
    pub max_namespaces: u32,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_elements: 10_000,
            max_attributes: 32,
            max_attribute_len: 4096,
            max_text_len: 64 * 1024,
            max_name_len: 256,
            max_namespaces: 16,
        }
    }
}

impl XmlLimits {
    /// Limits that only check well-formedness and refuse DTDs and PIs.
    pub fn syntax_only() -> Self {
        Self {
            max_depth: 512,
            max_elements: u32::MAX,
            max_attributes: u32::MAX,
            max_attribute_len: u32::MAX,
            max_text_len: u32::MAX,
            max_name_len: u32::MAX,
            max_namespaces: u32::MAX,
        }
    }
}

/// Why an XML body is refused. Each has a stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("XML is not well-formed")]
    Syntax,
    /// Not UTF-8.
    #[error("invalid UTF-8")]
    Utf8,
    /// A DOCTYPE (DTD): external entities and entity expansion live there.
    #[error("DTD not allowed")]
    Dtd,
    /// A processing instruction.
    #[error("processing instruction not allowed")]
    ProcessingInstruction,
    /// A reference to an entity other than the five predefined ones.
    #[error("undefined entity")]
    Entity,
    /// Nested too deep.
    #[error("nesting too deep")]
    Depth,
    /// Too many elements.
    #[error("too many elements")]
    Elements,
    /// Too many attributes on an element.
    #[error("too many attributes")]
    Attributes,
    /// An attribute value too long.
    #[error("attribute too long")]
    AttributeLength,
    /// A text node too long.
    #[error("text too long")]
    TextLength,
    /// A name too long.
    #[error("name too long")]
    NameLength,
    /// Too many namespace declarations.
    #[error("too many namespace declarations")]
    Namespaces,
}

impl XmlError {
    /// The stable reason code for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Syntax => "inspect.xml.syntax",
            Self::Utf8 => "inspect.xml.utf8",
            Self::Dtd => "inspect.xml.dtd",
            Self::ProcessingInstruction => "inspect.xml.processing_instruction",
            Self::Entity => "inspect.xml.entity",
            Self::Depth => "inspect.xml.depth",
            Self::Elements => "inspect.xml.elements",
            Self::Attributes => "inspect.xml.attributes",
            Self::AttributeLength => "inspect.xml.attribute_length",
            Self::TextLength => "inspect.xml.text_length",
            Self::NameLength => "inspect.xml.name_length",
            Self::Namespaces => "inspect.xml.namespaces",
        }
    }
}

fn too_long(len: usize, max: u32) -> bool {
    u32::try_from(len).map_or(true, |len| len > max)
}

/// Checks one whole document against `limits`.
///
/// # Errors
/// The first rule the document breaks.
pub fn scan(doc: &[u8], limits: &XmlLimits) -> Result<(), XmlError> {
    // Markup declarations in any spelling (`<!DOCTYPE`, `<!doctype`,
    // `<!ENTITY` …) are refused before parsing: only comments and CDATA may
    // start with `<!`. Lenient parsers differ on case; this does not.
    // Found by `memmem`'s SIMD search: `str::match_indices` took a quarter
    // of the scan's time on a document with no declaration at all.
    let declarations = memmem::find_iter(doc, b"<!").any(|i| {
        let rest = &doc[i + 2..];
        !(rest.starts_with(b"--") || rest.starts_with(b"[CDATA["))
    });
    if declarations {
        return Err(XmlError::Dtd);
    }
    // quick-xml checks UTF-8 in every piece it reads (its `from_str` reads
    // the same bytes with the same checks), so the document is not checked
    // whole beforehand: that was a second pass over every byte.
    let mut reader = Reader::from_reader(doc);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.trim_text(false);
    let (mut depth, mut elements, mut namespaces, mut roots) = (0u32, 0u32, 0u32, 0u32);
    loop {
        let event = reader.read_event().map_err(|e| match e {
            quick_xml::Error::Encoding(_) => XmlError::Utf8,
            _ => XmlError::Syntax,
        })?;
        match event {
            Event::Start(e) => {
                if depth == 0 {
                    roots += 1;
                }
                depth += 1;
                if depth > limits.max_depth {
                    return Err(XmlError::Depth);
                }
                element(&e, limits, &mut elements, &mut namespaces)?;
            }
            Event::Empty(e) => {
                if depth == 0 {
                    roots += 1;
                }
                if depth + 1 > limits.max_depth {
                    return Err(XmlError::Depth);
                }
                element(&e, limits, &mut elements, &mut namespaces)?;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) => {
                if too_long(t.len(), limits.max_text_len) {
                    return Err(XmlError::TextLength);
                }
                if depth == 0 && t.bytes().any(|b| !b.is_ascii_whitespace()) {
                    return Err(XmlError::Syntax);
                }
            }
            Event::CData(t) => {
                if too_long(t.len(), limits.max_text_len) {
                    return Err(XmlError::TextLength);
                }
                if depth == 0 {
                    return Err(XmlError::Syntax);
                }
            }
            Event::GeneralRef(r) => {
                referenced(&r).ok_or(XmlError::Entity)?;
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::PI(_) => return Err(XmlError::ProcessingInstruction),
            Event::Comment(_) | Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if depth != 0 || roots != 1 {
        return Err(XmlError::Syntax);
    }
    Ok(())
}

fn element(e: &BytesStart<'_>, limits: &XmlLimits, elements: &mut u32, namespaces: &mut u32) -> Result<(), XmlError> {
    *elements += 1;
    if *elements > limits.max_elements {
        return Err(XmlError::Elements);
    }
    if too_long(e.name().as_ref().len(), limits.max_name_len) {
        return Err(XmlError::NameLength);
    }
    let mut count = 0u32;
    for attr in e.attributes().with_checks(true) {
        let attr = attr.map_err(|_| XmlError::Syntax)?;
        count += 1;
        if count > limits.max_attributes {
            return Err(XmlError::Attributes);
        }
        let key = attr.key.as_ref();
        if too_long(key.len(), limits.max_name_len) {
            return Err(XmlError::NameLength);
        }
        if too_long(attr.value.len(), limits.max_attribute_len) {
            return Err(XmlError::AttributeLength);
        }
        if attr.value.contains('&') && !entities_are_predefined(&attr.value) {
            return Err(XmlError::Entity);
        }
        if key == "xmlns" || key.starts_with("xmlns:") {
            *namespaces += 1;
            if *namespaces > limits.max_namespaces {
                return Err(XmlError::Namespaces);
            }
        }
    }
    Ok(())
}

/// The character a reference stands for: one of the five predefined
/// entities or a character reference. No other entity exists here (a
/// document with a DTD is refused).
pub(crate) fn referenced(r: &BytesRef<'_>) -> Option<char> {
    match &**r {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => r.resolve_char_ref().ok().flatten(),
    }
}

/// Whether every `&...;` in an attribute value is predefined or a character reference.
fn entities_are_predefined(value: &str) -> bool {
    value.split('&').skip(1).all(|rest| {
        let Some((name, _)) = rest.split_once(';') else { return false };
        matches!(name, "lt" | "gt" | "amp" | "apos" | "quot")
            || name.strip_prefix("#x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            || name.strip_prefix('#').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(doc: &str) -> Result<(), XmlError> {
        scan(doc.as_bytes(), &XmlLimits::default())
    }

    #[test]
    fn well_formed_documents_pass() {
        for doc in [
            "<a/>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<order id=\"1\"><item qty=\"2\">tea &amp; cake &#233;</item><!-- note --><![CDATA[x<y]]></order>\n",
            "<p:a xmlns:p=\"urn:x\"><p:b/></p:a>",
        ] {
            assert_eq!(check(doc), Ok(()), "{doc}");
        }
    }

    #[test]
    fn xxe_and_entity_bombs_are_refused() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><foo>&xxe;</foo>";
        assert_eq!(check(xxe), Err(XmlError::Dtd));
        let laughs = "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
        assert_eq!(check(laughs), Err(XmlError::Dtd));
        assert_eq!(check("<a>&xxe;</a>"), Err(XmlError::Entity));
        // Found by fuzz/xml_threat: a mixed-case declaration was not seen as one.
        assert_eq!(check("<a><!DOCTyPE x></a>"), Err(XmlError::Dtd));
        assert_eq!(check("<!doctype a><a/>"), Err(XmlError::Dtd));
        assert_eq!(check("<a b=\"&xxe;\"/>"), Err(XmlError::Entity));
        assert_eq!(check("<?xml-stylesheet href=\"x\"?><a/>"), Err(XmlError::ProcessingInstruction));
    }

    #[test]
    fn malformed_documents_are_refused() {
        for doc in ["", "<a>", "<a></b>", "<a/><b/>", "text", "<a b=1/>", "<a b=\"1\" b=\"2\"/>", "<a/>junk"] {
            assert_eq!(check(doc), Err(XmlError::Syntax), "{doc}");
        }
        // Bytes that are not UTF-8 are refused wherever they stand.
        for doc in [
            &b"<a>\xff</a>"[..],
            b"<a b=\"\xc3\x28\"/>",
            b"<a\xe2\x82/>",
            b"<a><!-- \xed\xa0\x80 --></a>",
            b"<a><![CDATA[\xf8]]></a>",
            b"<a/>\n\xff",
            b"<?xml version=\"1.0\" encoding=\"\xff\"?><a/>",
            b"<a>x</a\xff>",
        ] {
            assert_eq!(scan(doc, &XmlLimits::default()), Err(XmlError::Utf8), "{}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = XmlLimits {
            max_depth: 3,
            max_elements: 4,
            max_attributes: 2,
            max_attribute_len: 5,
            max_text_len: 5,
            max_name_len: 8,
            max_namespaces: 1,
        };
        let run = |doc: &str| scan(doc.as_bytes(), &limits);
        assert_eq!(run("<a><b><c><d/></c></b></a>"), Err(XmlError::Depth));
        assert_eq!(run("<a><b/><b/><b/><b/></a>"), Err(XmlError::Elements));
        assert_eq!(run("<a x=\"1\" y=\"2\" z=\"3\"/>"), Err(XmlError::Attributes));
        assert_eq!(run("<a x=\"123456\"/>"), Err(XmlError::AttributeLength));
        assert_eq!(run("<a>123456</a>"), Err(XmlError::TextLength));
        assert_eq!(run("<abcdefghi/>"), Err(XmlError::NameLength));
        assert_eq!(run("<a xmlns=\"u\"><b xmlns:p=\"v\"/></a>"), Err(XmlError::Namespaces));
        assert_eq!(run("<a x=\"1\"><b>12</b></a>"), Ok(()));
    }
}
