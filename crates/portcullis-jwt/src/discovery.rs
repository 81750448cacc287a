//! OpenID Connect discovery (OIDC Discovery 1.0 §4): only `issuer` and `jwks_uri` are read.

use serde::Deserialize;

use crate::url::HttpsUrl;

#[derive(Deserialize)]
struct Document {
    issuer: String,
    jwks_uri: String,
}

/// The `.well-known/openid-configuration` URL of an issuer: the issuer with any trailing `/` removed, then the
/// well-known path.
pub(crate) fn well_known_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

/// Reads the `jwks_uri` from a discovery document, which must name exactly the configured issuer (§4.3).
///
/// # Errors
///
/// Not a JSON object with string `issuer` and `jwks_uri`, another issuer, or a `jwks_uri` that is not https.
pub(crate) fn jwks_uri(body: &[u8], expected_issuer: &str) -> Result<HttpsUrl, String> {
    let doc: Document = serde_json::from_slice(body).map_err(|e| format!("not a discovery document: {e}"))?;
    if doc.issuer != expected_issuer {
        return Err("its issuer is not the configured issuer".to_owned());
    }
    HttpsUrl::parse(&doc.jwks_uri).map_err(|e| format!("jwks_uri: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_location() {
        assert_eq!(well_known_url("https://idp/"), "https://idp/.well-known/openid-configuration");
        assert_eq!(well_known_url("https://idp/tenant"), "https://idp/tenant/.well-known/openid-configuration");
    }

    #[test]
    fn requires_the_issuer_and_an_https_jwks_uri() {
        let ok = br#"{"issuer":"https://idp","jwks_uri":"https://idp/keys","other":[1]}"#;
        assert_eq!(jwks_uri(ok, "https://idp").unwrap().path_and_query, "/keys");
        assert!(jwks_uri(ok, "https://idp/").is_err());
        assert!(jwks_uri(br#"{"issuer":"https://idp","jwks_uri":"http://idp/keys"}"#, "https://idp").is_err());
        assert!(jwks_uri(br#"{"issuer":"https://idp"}"#, "https://idp").is_err());
        assert!(jwks_uri(b"<html>", "https://idp").is_err());
    }
}
