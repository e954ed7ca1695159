//! Command line parsing (stub).
