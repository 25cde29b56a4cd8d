//! [`IdpError`]: why an operation of the Rust API or the control API failed.

use std::net::SocketAddr;

use crate::introspection::RevocationsFull;
use crate::{keys, tokens};

/// Why an IdP operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server would listen beyond loopback with a control API anyone who reaches it could use.
    #[error(
        "refusing to listen on {addr} without a control token: anyone who reaches it could mint \
         tokens, change keys and inject faults through /_control (set --control-token or \
         MOCK_IDP_CONTROL_TOKEN; in Rust, IdpConfig::control_token)"
    )]
    ControlTokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The request is malformed or contradictory.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No managed key has this kid.
    #[error("unknown kid {0:?}")]
    UnknownKid(String),
    /// The active key cannot be retired; activate another key first.
    #[error("cannot retire {0:?}: it is the active key; activate another key first")]
    RetireActiveKey(String),
    /// The key file could not be read or written.
    #[error("key storage: {0}")]
    KeyStorage(String),
    /// The crypto library failed.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// The revocation list is full of revocations that have not expired; try again later
    /// (a revocation is never dropped before its token expires).
    #[error("the revocation list is full of unexpired revocations; try again later")]
    RevocationsFull,
}

impl IdpError {
    /// Whether the caller's request is at fault (HTTP 400) rather than the IdP (HTTP 500).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            IdpError::InvalidRequest(_) | IdpError::UnknownKid(_) | IdpError::RetireActiveKey(_)
        )
    }
}

impl From<keys::KeyError> for IdpError {
    fn from(err: keys::KeyError) -> Self {
        use keys::KeyError;
        match err {
            KeyError::UnknownKid(kid) => IdpError::UnknownKid(kid),
            KeyError::RetireActive(kid) => IdpError::RetireActiveKey(kid),
            KeyError::Crypto(what) => IdpError::Crypto(what.to_owned()),
            err @ (KeyError::Io { .. } | KeyError::Corrupt { .. }) => {
                IdpError::KeyStorage(err.to_string())
            }
        }
    }
}

impl From<RevocationsFull> for IdpError {
    fn from(RevocationsFull: RevocationsFull) -> Self {
        IdpError::RevocationsFull
    }
}

impl From<tokens::MintError> for IdpError {
    fn from(err: tokens::MintError) -> Self {
        match err {
            tokens::MintError::Invalid(message) => IdpError::InvalidRequest(message),
            tokens::MintError::Key(err) => err.into(),
        }
    }
}
