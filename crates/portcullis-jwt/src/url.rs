//! An `https://` URL, checked once, in the pieces the fetcher needs.

use http::Uri;
use http::uri::Scheme;
use rustls_pki_types::ServerName;

/// A parsed `https` URL without user information.
#[derive(Debug, Clone)]
pub(crate) struct HttpsUrl {
    text: String,
    /// Host to connect to: a DNS name or an IP literal without brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The `Host` header: the URL's authority (host and any explicit port).
    pub(crate) authority: String,
    pub(crate) path_and_query: String,
    /// The name the server certificate must be valid for.
    pub(crate) server_name: ServerName<'static>,
}

impl HttpsUrl {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// Not an absolute URL, a scheme other than `https`, user information, or an unusable host.
    pub(crate) fn parse(text: &str) -> Result<Self, &'static str> {
        let uri: Uri = text.parse().map_err(|_| "not a valid URL")?;
        if uri.scheme() != Some(&Scheme::HTTPS) {
            return Err("only https URLs are fetched");
        }
        let authority = uri.authority().ok_or("URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("URL must not carry user information");
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("URL has no host");
        }
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|_| "URL host is not a valid DNS name or IP")?;
        Ok(Self {
            text: text.to_owned(),
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(443),
            authority: authority.as_str().to_owned(),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            server_name,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_url() {
        let u = HttpsUrl::parse("https://idp.example.com/.well-known/jwks.json?x=1").unwrap();
        assert_eq!(u.host, "idp.example.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.authority, "idp.example.com");
        assert_eq!(u.path_and_query, "/.well-known/jwks.json?x=1");
        let u = HttpsUrl::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path_and_query.as_str()), ("127.0.0.1", 8443, "/"));
        assert!(matches!(u.server_name, ServerName::IpAddress(_)));
        let u = HttpsUrl::parse("https://[::1]:9/k").unwrap();
        assert_eq!((u.host.as_str(), u.authority.as_str()), ("::1", "[::1]:9"));
        assert_eq!(u.as_str(), "https://[::1]:9/k");
    }

    #[test]
    fn refuses_other_schemes_and_userinfo() {
        for bad in ["http://idp/jwks", "ftp://idp/", "/jwks", "idp/jwks", "https://user:pw@idp/jwks", "", "https:///x"]
        {
            assert!(HttpsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
