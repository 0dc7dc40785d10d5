//! Endpoint parsing (to be written).
