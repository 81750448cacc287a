//! Keyset pagination and filters shared by every list.

use serde::Serialize;

/// Which slice of a list to return.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Return items whose id sorts after this one (the previous page's `next`).
    pub after: Option<String>,
    /// At most this many items; clamped to 1..=[`MAX_PAGE`].
    pub limit: u32,
    /// Only items whose name starts with this text (matched literally).
    pub name_prefix: Option<String>,
}

/// The largest page a list returns.
pub const MAX_PAGE: u32 = 500;

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items, ordered by id.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<String>,
}

impl ListQuery {
    pub(crate) fn limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, MAX_PAGE))
    }

    pub(crate) fn after(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    /// A LIKE pattern matching the name prefix literally.
    pub(crate) fn like_pattern(&self) -> String {
        like_prefix(self.name_prefix.as_deref().unwrap_or(""))
    }
}

/// A LIKE pattern (with `ESCAPE '\'`) matching values that start with
/// `prefix` literally: `%`, `_` and `\` in it are escaped.
pub(crate) fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched items: the extra one only
    /// tells that another page exists.
    pub(crate) fn from_overfetch(mut items: Vec<T>, limit: i64, id: impl Fn(&T) -> &str) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|item| id(item).to_owned())
        } else {
            None
        };
        Self { items, next }
    }
}
