//! Virtual ports.
