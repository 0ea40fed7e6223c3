//! MSI-X for a virtio-net port: which vector carries what, and a receive
//! queue's side of its vector.
//!
//! Vector [`CONFIG_VECTOR`] (0) carries configuration changes
//! (`msix_config`: the link), vector 1 + q receive queue q
//! (`queue_msix_vector`); transmit queues get none (VIRTIO_MSI_NO_VECTOR):
//! the driver reclaims transmitted buffers when it sends, as every
//! poll-mode driver does. VFIO hands each vector to user space as an
//! eventfd. A device with too few vectors, or one that refuses a vector
//! (it reads back NO_VECTOR), leaves that part polled, said once in a
//! `log` warning: the link thread then reads the link every 500 ms, and the
//! receive queue refuses `enable_interrupt` (so `--rx-mode adaptive`
//! keeps polling).
//!
//! With MSI-X the ISR status register is never read: it exists for INTx,
//! where one shared line must be told apart (queue or configuration) and
//! its read deasserts the line (§4.1.4.5). Here each cause has its own
//! vector and an MSI-X message is an edge with nothing to acknowledge.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use ferrite_vfio::EventFd;

use crate::port::Counter;

/// The vector of configuration changes.
pub const CONFIG_VECTOR: u16 = 0;

/// The vector of receive queue `q`.
pub fn rx_vector(q: u16) -> u16 {
    1 + q
}

/// Vectors a port with `rx_queues` receive queues uses.
pub fn vectors_for(rx_queues: u16) -> u32 {
    1 + u32::from(rx_queues)
}

/// The eventfds of an open port's vectors, in vector order.
pub struct Msix {
    /// Configuration changes.
    pub config: Arc<EventFd>,
    /// Receive queue q's is `rx[q]`.
    pub rx: Vec<Arc<EventFd>>,
}

impl Msix {
    /// Splits one eventfd per vector (as VFIO returns them) by role; `None`
    /// for an empty list.
    pub fn from_fds(fds: Vec<EventFd>) -> Option<Msix> {
        let mut fds = fds.into_iter().map(Arc::new);
        let config = fds.next()?;
        Some(Msix { config, rx: fds.collect() })
    }
}

/// A receive queue's interrupt: its vector's eventfd and its counter.
pub struct RxIrq {
    efd: Arc<EventFd>,
    /// Device interrupts taken (the queue's own wake-ups excluded).
    interrupts: Arc<Counter>,
    /// Wake-ups the queue wrote itself since the last drain.
    self_wakes: u64,
}

impl RxIrq {
    /// The interrupt signalled through `efd`, counted in `interrupts`.
    pub fn new(efd: Arc<EventFd>, interrupts: Arc<Counter>) -> RxIrq {
        RxIrq { efd, interrupts, self_wakes: 0 }
    }

    /// Makes the fd readable now (work was already waiting when armed).
    pub fn wake_self(&mut self) {
        if self.efd.write(1).is_ok() {
            self.self_wakes += 1;
        }
    }

    /// Consumes any pending wake-up, counting the device's share: VFIO
    /// adds 1 per MSI-X message and the queue 1 per own wake-up, so the
    /// difference is what the device sent.
    pub fn drain(&mut self) {
        if let Ok(Some(n)) = self.efd.read() {
            let device = n.saturating_sub(self.self_wakes);
            if device > 0 {
                self.interrupts.add(device);
            }
        }
        self.self_wakes = 0;
    }

    /// The descriptor to wait on.
    pub fn fd(&self) -> RawFd {
        self.efd.as_raw_fd()
    }
}

/// Where a port's vectors come from.
pub enum VectorSource<'a> {
    /// The device's MSI-X through VFIO.
    Vfio(&'a ferrite_vfio::VfioDevice),
    /// Plain eventfds standing for a device with this many vectors (tests
    /// against a device in software).
    #[cfg(test)]
    Soft(u32),
}

/// Enables the vectors a port with `rx_queues` receive queues needs, or
/// says (a `log` warning, once per open) why it runs polled.
pub fn enable(src: VectorSource<'_>, who: &str, rx_queues: u16) -> Option<Msix> {
    let want = vectors_for(rx_queues);
    let fds = match src {
        VectorSource::Vfio(dev) => match dev.irq_count(ferrite_vfio::IrqKind::Msix) {
            Ok(have) if have >= want => dev.enable_irqs(ferrite_vfio::IrqKind::Msix, want).map_err(|e| e.to_string()),
            Ok(have) => Err(too_few(have, want)),
            Err(e) => Err(e.to_string()),
        },
        #[cfg(test)]
        VectorSource::Soft(have) if have >= want => {
            (0..want).map(|_| EventFd::new()).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())
        }
        #[cfg(test)]
        VectorSource::Soft(have) => Err(too_few(have, want)),
    };
    match fds {
        Ok(fds) => Msix::from_fds(fds),
        Err(why) => {
            log::warn!("ferrite virtio: {who}: no MSI-X ({why}): link polled, no rx interrupts");
            None
        }
    }
}

fn too_few(have: u32, want: u32) -> String {
    format!(
        "the device has {have} MSI-X vectors, {want} needed: one for configuration changes and one per receive \
         queue; QEMU: -device virtio-net-pci,vectors={want} or more"
    )
}
