//! MAC and PHY control: register access, global reset, EEPROM, the MAC
//! address, PHY registers through MDIC, link setup and link status.
//!
//! Everything here runs on the control path and may sleep; nothing here is
//! called per packet except [`Hw::write`] for doorbells.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::regs::*;
use crate::port::{Duplex, LinkSettings, LinkStatus, MacAddr, PortError};

/// 32-bit access to a device's register window (BAR 0). Implemented for the
/// VFIO BAR mapping; tests implement it with a register file in memory.
pub trait RegisterIo: Send + Sync {
    /// Volatile 32-bit read at byte offset `off`.
    fn read32(&self, off: u32) -> u32;
    /// Volatile 32-bit write at byte offset `off`.
    fn write32(&self, off: u32, val: u32);
    /// Gives the window back so the device can be removed; accesses after
    /// this reach no device. The default (a register file) has nothing to
    /// give back.
    fn revoke(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the port talks through: the 82576's media decides link setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// Internal copper PHY, autonegotiation through MDIC.
    Copper,
    /// Fiber or SerDes: link comes from the PCS; no MDIO PHY to program.
    SerDes,
}

impl Media {
    /// Media of an 82576 device ID.
    pub fn of(device_id: u16) -> Media {
        match device_id {
            0x10E6 | 0x10E7 | 0x1518 | 0x150D => Media::SerDes,
            _ => Media::Copper,
        }
    }
}

/// The device's registers plus the procedures of the datasheet's chapter 4.
///
/// A device that is unplugged, or whose PCIe link is lost, answers every
/// read with all ones. As Linux's `igb_rd32`, a read of all ones is checked
/// against CTRL (which has reserved bits, so is never all ones): if CTRL
/// reads all ones too, the device is gone. From then on reads return all
/// ones and writes are dropped without touching the device.
pub struct Hw {
    io: Box<dyn RegisterIo>,
    media: Media,
    gone: AtomicBool,
}

/// How long hardware gets for things that take microseconds in practice.
const ENABLE_TIMEOUT: Duration = Duration::from_millis(100);
/// MDIC transactions take tens of microseconds (datasheet: 64 MDC clocks).
const MDIC_TIMEOUT: Duration = Duration::from_millis(100);
/// EEPROM auto-read after reset (Linux allows 10 ms).
const AUTO_RD_TIMEOUT: Duration = Duration::from_millis(10);
/// PCIe master disable: outstanding requests drain (Linux allows 80 ms).
const MASTER_TIMEOUT: Duration = Duration::from_millis(80);

impl Hw {
    /// Wraps a register window.
    pub fn new(io: Box<dyn RegisterIo>, media: Media) -> Hw {
        Hw { io, media, gone: AtomicBool::new(false) }
    }

    /// Whether the device is gone (see the type's docs).
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }

    /// Marks the device gone and says why, once.
    #[cold]
    pub fn mark_gone(&self, why: &str) {
        if !self.gone.swap(true, Ordering::Relaxed) {
            log::warn!("ferrite igb: {why}");
        }
    }

    /// Gives the register window back (see [`RegisterIo::revoke`]); the
    /// device counts as gone from then on.
    pub fn revoke(&self) -> std::io::Result<()> {
        self.gone.store(true, Ordering::Relaxed);
        self.io.revoke()
    }

    /// A read returned all ones: is the device still there?
    #[cold]
    #[inline(never)]
    fn check_all_ones(&self, off: u32) {
        if off == CTRL || self.io.read32(CTRL) == u32::MAX {
            self.mark_gone(&format!(
                "the device answers register reads with all ones (read {off:#x}, then CTRL): it was removed or \
                 its PCIe link is down; the port stops using it"
            ));
        }
    }

    /// The media type.
    pub fn media(&self) -> Media {
        self.media
    }

    /// Reads a register.
    #[inline(always)]
    pub fn read(&self, off: u32) -> u32 {
        if self.is_gone() {
            return u32::MAX;
        }
        let v = self.io.read32(off);
        if v == u32::MAX {
            self.check_all_ones(off);
        }
        v
    }

    /// Writes a register.
    #[inline(always)]
    pub fn write(&self, off: u32, val: u32) {
        if !self.is_gone() {
            self.io.write32(off, val)
        }
    }

    /// Sets bits (read-modify-write).
    pub fn set_bits(&self, off: u32, bits: u32) {
        self.write(off, self.read(off) | bits);
    }

    /// Clears bits (read-modify-write).
    pub fn clear_bits(&self, off: u32, bits: u32) {
        self.write(off, self.read(off) & !bits);
    }

    /// Polls until `(reg & mask) == want` or `timeout` passes.
    pub fn wait(&self, off: u32, mask: u32, want: u32, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.read(off) & mask == want {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            sleep(Duration::from_micros(20));
        }
    }

    /// Posted writes reach the device before a read returns (PCIe ordering).
    pub fn flush(&self) {
        let _ = self.read(STATUS);
    }

    /// Masks every interrupt cause, legacy and extended (§8.8). The driver
    /// polls, so nothing is ever unmasked.
    pub fn mask_irqs(&self) {
        self.write(IMC, IRQ_ALL);
        self.write(EIMC, IRQ_ALL);
        self.write(EIAC, 0);
        self.flush();
    }

    /// Stops the device's DMA and resets its MAC (datasheet §4.3.1
    /// software reset; Linux `igb_reset_hw_82575`). Works on a device a
    /// previous process left running (e.g. killed with SIGKILL).
    pub fn global_reset(&self) -> Result<(), PortError> {
        // Stop new DMA requests and let outstanding ones finish, so the
        // reset does not cut a transaction in half.
        self.set_bits(CTRL, CTRL_GIO_MASTER_DISABLE);
        let drained = self.wait(STATUS, STATUS_GIO_MASTER_ENABLE, 0, MASTER_TIMEOUT);
        if !drained {
            log::warn!("ferrite igb: PCIe master requests did not drain; resetting anyway");
        }
        self.mask_irqs();
        self.write(RCTL, 0);
        self.write(TCTL, TCTL_PSP);
        self.flush();
        sleep(Duration::from_millis(10));

        self.write(CTRL, self.read(CTRL) | CTRL_RST);
        // The reset takes about 1 µs; the register file is unreachable
        // meanwhile, so wait before polling the self-clearing bit.
        sleep(Duration::from_millis(2));
        if !self.wait(CTRL, CTRL_RST, 0, ENABLE_TIMEOUT) {
            return Err(PortError::Timeout("CTRL.RST did not self-clear after a global reset".into()));
        }
        // Reset re-enables some causes' state; mask again and clear pending.
        self.mask_irqs();
        let _ = self.read(ICR);
        let _ = self.read(EICR);
        Ok(())
    }

    /// Waits for the EEPROM auto-read that follows a reset (EEC.AUTO_RD).
    /// Returns false on timeout, which is not fatal: boards without an
    /// EEPROM (and QEMU's igb, which never sets the bit) still work.
    pub fn wait_eeprom_auto_read(&self) -> bool {
        self.wait(EECD, EECD_AUTO_RD, EECD_AUTO_RD, AUTO_RD_TIMEOUT)
    }

    /// Reads one 16-bit EEPROM word through EERD (§8.4.2).
    pub fn eeprom_read(&self, word: u16) -> Option<u16> {
        self.write(EERD, ((word as u32) << EERD_ADDR_SHIFT) | EERD_START);
        if !self.wait(EERD, EERD_DONE, EERD_DONE, ENABLE_TIMEOUT) {
            return None;
        }
        Some((self.read(EERD) >> EERD_DATA_SHIFT) as u16)
    }

    /// The address in receive address entry 0, where the hardware put the
    /// EEPROM's MAC after reset; falls back to the EEPROM words 0..3.
    pub fn read_mac(&self) -> Option<MacAddr> {
        let (lo, hi) = (self.read(ral(0)), self.read(rah(0)));
        let l = lo.to_le_bytes();
        let h = hi.to_le_bytes();
        let mac = MacAddr([l[0], l[1], l[2], l[3], h[0], h[1]]);
        if hi & RAH_AV != 0 && mac.is_valid_unicast() {
            return Some(mac);
        }
        let mut b = [0u8; 6];
        for i in 0..3u16 {
            let w = self.eeprom_read(i)?.to_le_bytes();
            b[2 * i as usize] = w[0];
            b[2 * i as usize + 1] = w[1];
        }
        let mac = MacAddr(b);
        mac.is_valid_unicast().then_some(mac)
    }

    /// Programs receive address entry 0 (the port's unicast filter).
    pub fn write_mac(&self, mac: MacAddr) {
        let m = mac.0;
        let lo = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
        let hi = u32::from_le_bytes([m[4], m[5], 0, 0]) | RAH_AV;
        // Invalidate while the halves disagree, then write low, then high.
        self.write(rah(0), 0);
        self.write(ral(0), lo);
        self.write(rah(0), hi);
        self.flush();
    }

    fn mdic(&self, cmd: u32) -> Result<u32, PortError> {
        if self.media != Media::Copper {
            return Err(PortError::NotSupported("PHY access on a fiber/SerDes 82576"));
        }
        self.write(MDIC, cmd);
        let deadline = Instant::now() + MDIC_TIMEOUT;
        loop {
            let v = self.read(MDIC);
            if v & MDIC_READY != 0 {
                if v & MDIC_ERROR != 0 {
                    return Err(PortError::Device(format!("MDIC reported an error for PHY command {cmd:#010x}")));
                }
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(PortError::Timeout("MDIC PHY access did not complete".into()));
            }
            sleep(Duration::from_micros(50));
        }
    }

    /// Reads PHY register `reg` (§8.2.4).
    pub fn phy_read(&self, reg: u32) -> Result<u16, PortError> {
        let v = self.mdic((reg << MDIC_REG_SHIFT) | (PHY_ADDR << MDIC_PHY_SHIFT) | MDIC_OP_READ)?;
        Ok((v & MDIC_DATA_MASK) as u16)
    }

    /// Writes PHY register `reg`.
    pub fn phy_write(&self, reg: u32, val: u16) -> Result<(), PortError> {
        self.mdic(val as u32 | (reg << MDIC_REG_SHIFT) | (PHY_ADDR << MDIC_PHY_SHIFT) | MDIC_OP_WRITE)?;
        Ok(())
    }

    /// Link setup with autonegotiation: the MAC follows the PHY
    /// (CTRL.SLU, no forced speed/duplex); the PHY advertises 10/100 half
    /// and full, 1000 full and pause, then restarts autonegotiation.
    pub fn setup_link_autoneg(&self) -> Result<(), PortError> {
        let ctrl = self.read(CTRL);
        self.write(CTRL, (ctrl | CTRL_SLU) & !(CTRL_FRCSPD | CTRL_FRCDPX | CTRL_GIO_MASTER_DISABLE));
        if self.media != Media::Copper {
            return Ok(());
        }
        self.phy_write(
            PHY_ANAR,
            ANAR_CSMA | ANAR_10HALF | ANAR_10FULL | ANAR_100HALF | ANAR_100FULL | ANAR_PAUSE | ANAR_ASYM_PAUSE,
        )?;
        self.phy_write(PHY_CTRL1000, CTRL1000_FULL)?;
        let bmcr = self.phy_read(PHY_BMCR)?;
        let bmcr = (bmcr | BMCR_ANENABLE | BMCR_ANRESTART) & !(BMCR_PDOWN | BMCR_SPEED100 | BMCR_SPEED1000);
        self.phy_write(PHY_BMCR, bmcr)
    }

    /// Forces speed and duplex (autonegotiation off). 1000 Mb/s cannot be
    /// forced on copper (1000BASE-T needs autonegotiation).
    pub fn setup_link_forced(&self, speed_mbps: u32, duplex: Duplex) -> Result<(), PortError> {
        let (spd, bmcr_speed) = match speed_mbps {
            10 => (CTRL_SPD_10, 0),
            100 => (CTRL_SPD_100, BMCR_SPEED100),
            1000 => {
                return Err(PortError::InvalidConfig(
                    "1000 Mb/s cannot be forced on copper (1000BASE-T needs autonegotiation); use autoneg on".into(),
                ))
            }
            s => return Err(PortError::InvalidConfig(format!("speed {s} Mb/s is not one of 10, 100, 1000"))),
        };
        let full = match duplex {
            Duplex::Full => true,
            Duplex::Half => false,
            Duplex::Unknown => return Err(PortError::InvalidConfig("a forced link needs a duplex".into())),
        };
        let mut ctrl = self.read(CTRL) & !(CTRL_SPD_MASK | CTRL_FD);
        ctrl |= CTRL_SLU | CTRL_FRCSPD | CTRL_FRCDPX | spd;
        if full {
            ctrl |= CTRL_FD;
        }
        self.write(CTRL, ctrl);
        if self.media == Media::Copper {
            let mut bmcr = self.phy_read(PHY_BMCR)? & !(BMCR_ANENABLE | BMCR_SPEED100 | BMCR_SPEED1000 | BMCR_PDOWN);
            bmcr &= !BMCR_FULL_DUPLEX;
            bmcr |= bmcr_speed;
            if full {
                bmcr |= BMCR_FULL_DUPLEX;
            }
            self.phy_write(PHY_BMCR, bmcr)?;
        }
        Ok(())
    }

    /// Restarts autonegotiation (`ethtool -r`).
    pub fn restart_autoneg(&self) -> Result<(), PortError> {
        let bmcr = self.phy_read(PHY_BMCR)?;
        if bmcr & BMCR_ANENABLE == 0 {
            return Err(PortError::InvalidState("autonegotiation is off; turn it on with set_link_settings".into()));
        }
        self.phy_write(PHY_BMCR, bmcr | BMCR_ANRESTART)
    }

    /// Powers the PHY down or up (administrative link down/up).
    pub fn phy_power(&self, up: bool) -> Result<(), PortError> {
        if self.media != Media::Copper {
            return Ok(());
        }
        let bmcr = self.phy_read(PHY_BMCR)?;
        let bmcr = if up { (bmcr & !BMCR_PDOWN) | BMCR_ANRESTART } else { bmcr | BMCR_PDOWN };
        self.phy_write(PHY_BMCR, bmcr)
    }

    /// Whether the PHY autonegotiates (false when forced or not copper).
    pub fn autoneg_enabled(&self) -> bool {
        self.media == Media::Copper && self.phy_read(PHY_BMCR).map(|b| b & BMCR_ANENABLE != 0).unwrap_or(false)
    }

    /// Carrier, speed and duplex as the MAC sees them (STATUS, §8.2.2).
    pub fn link_status(&self) -> LinkStatus {
        if self.is_gone() {
            return LinkStatus::DOWN;
        }
        let status = self.read(STATUS);
        if status & STATUS_LU == 0 {
            return LinkStatus::DOWN;
        }
        let speed_mbps = match (status & STATUS_SPEED_MASK) >> STATUS_SPEED_SHIFT {
            0 => 10,
            1 => 100,
            _ => 1000,
        };
        let duplex = if status & STATUS_FD != 0 { Duplex::Full } else { Duplex::Half };
        let autoneg = self.read(CTRL) & (CTRL_FRCSPD | CTRL_FRCDPX) == 0;
        LinkStatus { up: true, speed_mbps, duplex, autoneg }
    }

    /// Current link settings for `ethtool`.
    pub fn link_settings(&self) -> LinkSettings {
        let st = self.link_status();
        let ctrl = self.read(CTRL);
        let forced = ctrl & CTRL_FRCSPD != 0;
        let autoneg = !forced && (self.media != Media::Copper || self.autoneg_enabled());
        let (speed_mbps, duplex) = if st.up {
            (st.speed_mbps, st.duplex)
        } else if forced {
            let speed = match ctrl & CTRL_SPD_MASK {
                CTRL_SPD_10 => 10,
                CTRL_SPD_100 => 100,
                _ => 1000,
            };
            (speed, if ctrl & CTRL_FD != 0 { Duplex::Full } else { Duplex::Half })
        } else {
            (0, Duplex::Unknown)
        };
        LinkSettings { autoneg, speed_mbps, duplex }
    }

    /// Clears a queue's enable bit and waits until the hardware confirms
    /// the queue stopped (RXDCTL/TXDCTL.ENABLE reads 0).
    pub fn disable_queue(&self, ctl_reg: u32) -> Result<(), PortError> {
        if self.is_gone() {
            // Removed: no queue runs, and waiting for one to say so would
            // only time out.
            return Ok(());
        }
        self.clear_bits(ctl_reg, DCTL_ENABLE);
        if !self.wait(ctl_reg, DCTL_ENABLE, 0, ENABLE_TIMEOUT) {
            return Err(PortError::Timeout(format!("queue control register {ctl_reg:#x} kept its enable bit")));
        }
        Ok(())
    }

    /// Writes a queue control value with the enable bit and waits until the
    /// hardware confirms the queue runs.
    pub fn enable_queue(&self, ctl_reg: u32, value: u32) -> Result<(), PortError> {
        self.write(ctl_reg, value | DCTL_ENABLE);
        if !self.wait(ctl_reg, DCTL_ENABLE, DCTL_ENABLE, ENABLE_TIMEOUT) {
            return Err(PortError::Timeout(format!("queue control register {ctl_reg:#x} did not report enabled")));
        }
        Ok(())
    }
}
