//! Fetching an issuer's key set from its URL: discovery document first when configured, then the JWKS.

use crate::discovery;
use crate::fetch::{FetchError, HttpsClient};
use crate::jwk;
use crate::keyset::KeySet;
use crate::url::HttpsUrl;

/// Where and how to fetch one issuer's keys.
#[derive(Debug)]
pub(crate) struct Remote {
    location: Location,
    client: HttpsClient,
    issuer: String,
}

#[derive(Debug)]
enum Location {
    Discovery(HttpsUrl),
    Jwks(HttpsUrl),
}

impl Remote {
    pub(crate) fn discovery(url: HttpsUrl, client: HttpsClient, issuer: String) -> Self {
        Self { location: Location::Discovery(url), client, issuer }
    }

    pub(crate) fn jwks(url: HttpsUrl, client: HttpsClient, issuer: String) -> Self {
        Self { location: Location::Jwks(url), client, issuer }
    }

    /// Fetches and parses the current key set. The discovery document, when used, is read on every fetch, so a
    /// changed `jwks_uri` is followed.
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub(crate) async fn fetch(&self) -> Result<KeySet, FetchError> {
        let discovered;
        let jwks_url = match &self.location {
            Location::Jwks(url) => url,
            Location::Discovery(url) => {
                let body = self.client.get(url).await?;
                discovered = discovery::jwks_uri(&body, &self.issuer)
                    .map_err(|detail| FetchError::Discovery { url: url.as_str().to_owned(), detail })?;
                &discovered
            }
        };
        let body = self.client.get(jwks_url).await?;
        let keys =
            jwk::parse_jwks(&body).map_err(|detail| FetchError::Jwks { url: jwks_url.as_str().to_owned(), detail })?;
        Ok(KeySet::new(keys))
    }
}
