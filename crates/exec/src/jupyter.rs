//! The Jupyter backend (REST + WebSocket).
