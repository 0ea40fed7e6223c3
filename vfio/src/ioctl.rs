//! VFIO ioctl request numbers.
//!
//! `linux/vfio.h` defines every request as `_IO(VFIO_TYPE, VFIO_BASE + n)`
//! with `VFIO_TYPE = ';'` (0x3b) and `VFIO_BASE = 100`. `_IO` carries no size
//! and no direction bits, so a request number is simply `type << 8 | nr`.
//! vfio-bindings (bindgen output) has the constants and structs but not the
//! request numbers, because bindgen cannot expand the `_IO` macro.

use libc::c_ulong;
use vfio_bindings::bindings::vfio::{VFIO_BASE, VFIO_TYPE};

/// `_IO(';', 100 + n)`.
const fn vfio_io(n: u32) -> c_ulong {
    (((VFIO_TYPE as u32) << 8) | (VFIO_BASE + n)) as c_ulong
}

pub const VFIO_GET_API_VERSION: c_ulong = vfio_io(0);
pub const VFIO_CHECK_EXTENSION: c_ulong = vfio_io(1);
pub const VFIO_SET_IOMMU: c_ulong = vfio_io(2);
pub const VFIO_GROUP_GET_STATUS: c_ulong = vfio_io(3);
pub const VFIO_GROUP_SET_CONTAINER: c_ulong = vfio_io(4);
pub const VFIO_GROUP_GET_DEVICE_FD: c_ulong = vfio_io(6);
pub const VFIO_DEVICE_GET_INFO: c_ulong = vfio_io(7);
pub const VFIO_DEVICE_GET_REGION_INFO: c_ulong = vfio_io(8);
pub const VFIO_DEVICE_GET_IRQ_INFO: c_ulong = vfio_io(9);
pub const VFIO_DEVICE_SET_IRQS: c_ulong = vfio_io(10);
pub const VFIO_DEVICE_RESET: c_ulong = vfio_io(11);
pub const VFIO_IOMMU_GET_INFO: c_ulong = vfio_io(12);
pub const VFIO_IOMMU_MAP_DMA: c_ulong = vfio_io(13);
pub const VFIO_IOMMU_UNMAP_DMA: c_ulong = vfio_io(14);

#[cfg(test)]
mod tests {
    use super::*;

    /// The values the kernel's `_IO(';', ...)` expands to (checked against
    /// `linux/vfio.h` with a C compiler: `printf("%#lx", VFIO_GET_API_VERSION)`).
    #[test]
    fn numbers_match_the_kernel() {
        assert_eq!(VFIO_GET_API_VERSION, 0x3b64);
        assert_eq!(VFIO_CHECK_EXTENSION, 0x3b65);
        assert_eq!(VFIO_SET_IOMMU, 0x3b66);
        assert_eq!(VFIO_GROUP_GET_STATUS, 0x3b67);
        assert_eq!(VFIO_GROUP_SET_CONTAINER, 0x3b68);
        assert_eq!(VFIO_GROUP_GET_DEVICE_FD, 0x3b6a);
        assert_eq!(VFIO_DEVICE_GET_INFO, 0x3b6b);
        assert_eq!(VFIO_DEVICE_GET_REGION_INFO, 0x3b6c);
        assert_eq!(VFIO_DEVICE_GET_IRQ_INFO, 0x3b6d);
        assert_eq!(VFIO_DEVICE_SET_IRQS, 0x3b6e);
        assert_eq!(VFIO_DEVICE_RESET, 0x3b6f);
        assert_eq!(VFIO_IOMMU_GET_INFO, 0x3b70);
        assert_eq!(VFIO_IOMMU_MAP_DMA, 0x3b71);
        assert_eq!(VFIO_IOMMU_UNMAP_DMA, 0x3b72);
    }
}
