//! The local sandboxed backend.
