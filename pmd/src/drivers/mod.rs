//! Drivers: each module is one kind of port.

pub mod virt;
