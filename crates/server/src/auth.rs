//! API keys and users. With keys configured, every request but `/health(z)` carries
//! `Authorization: Bearer KEY`, which names its user; each user's sessions and conversations
//! are their own. A session id a user names is kept under `{user}.{id}` in the engine (user
//! names have no `.`), so the same id used by two users names two different sessions, and no
//! request of one user can reach another's. Without keys (the default on loopback) there is
//! one user and ids are used as they are.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use codeact_protocol::{ErrorCode, SessionInfo};
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// The server's API keys: user name → key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeys(BTreeMap<String, String>);

impl ApiKeys {
    /// Keys from `(user, key)` pairs. User names are 1-64 letters, digits, `-` or `_`; keys
    /// are at least 16 characters; neither may repeat.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for (user, key) in pairs {
            let user_ok = !user.is_empty()
                && user.len() <= 64
                && user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
            if !user_ok {
                return Err(format!(
                    "user name {user:?} must be 1-64 letters, digits, '-' or '_'"
                ));
            }
            if key.chars().count() < 16 {
                return Err(format!("the key of {user:?} is shorter than 16 characters"));
            }
            if map.values().any(|k| k == &key) {
                return Err(format!("the key of {user:?} is another user's key too"));
            }
            if map.insert(user.clone(), key).is_some() {
                return Err(format!("user {user:?} has two keys"));
            }
        }
        Ok(Self(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The user whose key `presented` is, comparing every key in constant time.
    fn user_of(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (user, key) in &self.0 {
            if bool::from(key.as_bytes().ct_eq(presented.as_bytes())) {
                found = Some(user.as_str());
            }
        }
        found
    }
}

/// Who made a request: a user of the server's keys, or the one user of a server without keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(Option<String>);

impl Caller {
    /// The caller's user name; `""` on a server without keys.
    pub fn user(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// The engine's id of the caller's session `id`.
    pub fn scope(&self, id: &str) -> String {
        match &self.0 {
            Some(user) => format!("{user}.{id}"),
            None => id.to_string(),
        }
    }

    /// The caller's own id of an engine session, if it is the caller's.
    pub fn own(&self, engine_id: &str) -> Option<String> {
        match &self.0 {
            Some(user) => engine_id
                .strip_prefix(user.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
                .map(str::to_string),
            None => Some(engine_id.to_string()),
        }
    }

    /// `info` as the caller sees it (its own id).
    pub fn view(&self, mut info: SessionInfo) -> SessionInfo {
        if let Some(id) = self.own(&info.id) {
            info.id = id;
        }
        info
    }
}

/// Middleware: finds the caller of every request (`/health` and `/healthz` need no key;
/// `/metrics` does) and stores it as a request extension.
pub async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let keys = &s.config.api_keys;
    let open = matches!(
        req.uri().path(),
        "/" | "/health" | "/healthz" | "/openapi.json"
    );
    let caller = if keys.is_empty() || open {
        Caller(None)
    } else {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match presented.and_then(|k| keys.user_of(k)) {
            Some(user) => Caller(Some(user.to_string())),
            None => {
                let why = if presented.is_some() {
                    "unknown API key"
                } else {
                    "this server needs an API key: send Authorization: Bearer KEY"
                };
                return ApiError::new(ErrorCode::Unauthorized, why).into_response();
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> Result<ApiKeys, String> {
        ApiKeys::new(pairs.iter().map(|(u, k)| (u.to_string(), k.to_string())))
    }

    #[test]
    fn keys_name_their_users() {
        let k = keys(&[("alice", "aaaaaaaaaaaaaaaa1"), ("bob", "bbbbbbbbbbbbbbbb2")]).unwrap();
        assert_eq!(k.user_of("bbbbbbbbbbbbbbbb2"), Some("bob"));
        assert_eq!(k.user_of("bbbbbbbbbbbbbbbb"), None);
        assert!(keys(&[("a.b", "aaaaaaaaaaaaaaaa1")]).is_err());
        assert!(keys(&[("alice", "short")]).is_err());
        assert!(keys(&[("a", "aaaaaaaaaaaaaaaa1"), ("b", "aaaaaaaaaaaaaaaa1")]).is_err());
    }

    #[test]
    fn a_users_ids_are_their_own() {
        let alice = Caller(Some("alice".into()));
        assert_eq!(alice.scope("s1"), "alice.s1");
        assert_eq!(alice.own("alice.s1").as_deref(), Some("s1"));
        assert_eq!(alice.own("alicex.s1"), None);
        assert_eq!(alice.own("bob.s1"), None);
        assert_eq!(alice.own("s1"), None);
        let anyone = Caller(None);
        assert_eq!(anyone.scope("s1"), "s1");
        assert_eq!(anyone.own("bob.s1").as_deref(), Some("bob.s1"));
    }
}
