//! The one error type of the port API.

use std::fmt;

/// Why a port operation failed. Every variant carries enough words for the
/// user to act on (what is wrong and, where known, what to run).
#[derive(Debug)]
pub enum PortError {
    /// The driver does not implement this operation (like `-EOPNOTSUPP`).
    NotSupported(&'static str),
    /// A configuration value is out of range or inconsistent.
    InvalidConfig(String),
    /// The operation is not allowed in the port's current state
    /// (for example, resizing rings while the port runs).
    InvalidState(String),
    /// Buffers or DMA memory could not be had.
    NoMemory(String),
    /// The device did not respond as the datasheet says it should.
    Device(String),
    /// The device did not finish something in time.
    Timeout(String),
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::NotSupported(op) => write!(f, "operation not supported by this driver: {op}"),
            PortError::InvalidConfig(s) => write!(f, "invalid configuration: {s}"),
            PortError::InvalidState(s) => write!(f, "invalid state: {s}"),
            PortError::NoMemory(s) => write!(f, "out of memory: {s}"),
            PortError::Device(s) => write!(f, "device error: {s}"),
            PortError::Timeout(s) => write!(f, "timed out: {s}"),
        }
    }
}

impl std::error::Error for PortError {}

impl PortError {
    /// The same error with `what` (the port or step it concerns) before its
    /// message; the kind, and so a program's exit status, stays.
    pub fn context(self, what: &str) -> PortError {
        match self {
            PortError::NotSupported(op) => PortError::InvalidConfig(format!("{what}: operation not supported: {op}")),
            PortError::InvalidConfig(s) => PortError::InvalidConfig(format!("{what}: {s}")),
            PortError::InvalidState(s) => PortError::InvalidState(format!("{what}: {s}")),
            PortError::NoMemory(s) => PortError::NoMemory(format!("{what}: {s}")),
            PortError::Device(s) => PortError::Device(format!("{what}: {s}")),
            PortError::Timeout(s) => PortError::Timeout(format!("{what}: {s}")),
        }
    }
}

impl From<ferrite_hugepages::DmaError> for PortError {
    fn from(e: ferrite_hugepages::DmaError) -> Self {
        use ferrite_hugepages::DmaError;
        match e {
            // IOVA mode pa where it cannot work (no right to read physical
            // addresses, no hugepages to keep buffers physically contiguous):
            // the memory is there, the asked-for mode is not possible.
            DmaError::PagemapDenied | DmaError::PaNeedsHugepages => PortError::InvalidConfig(e.to_string()),
            _ => PortError::NoMemory(e.to_string()),
        }
    }
}

impl From<ferrite_vfio::VfioError> for PortError {
    fn from(e: ferrite_vfio::VfioError) -> Self {
        PortError::Device(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_hugepages::DmaError;

    #[test]
    fn pa_mode_refusals_are_not_out_of_memory() {
        for e in [DmaError::PagemapDenied, DmaError::PaNeedsHugepages] {
            let p = PortError::from(e);
            assert!(matches!(p, PortError::InvalidConfig(_)), "{p:?}");
            assert!(!p.to_string().contains("out of memory"), "{p}");
        }
        let p = PortError::from(DmaError::NoHugepages { page_size: 2 << 20, needed: 4, free: 0, reserved: 0 });
        assert!(matches!(p, PortError::NoMemory(_)), "{p:?}");
    }
}
