//! The ticket engine (stub).
